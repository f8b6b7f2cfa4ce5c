// Package retrieval keeps organisations' knowledge in PostgreSQL with pgvector and
// finds what is relevant to a meeting: documents are extracted, chunked, embedded and
// stored per entity; search fuses nearest-neighbour and full-text results.
//
// Isolation is structural: every entity's chunks live in a partition of their own
// (LIST partitioning on entity_id) with its own HNSW and full-text indexes. A query
// names one entity, the planner reads only that partition, and the HNSW index serves
// the entity filter exactly instead of discarding other entities' candidates.
package retrieval

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/pgvector/pgvector-go"
	pgxvec "github.com/pgvector/pgvector-go/pgx"
)

// Errors callers can test with errors.Is.
var (
	ErrInvalid  = errors.New("invalid knowledge request")
	ErrNotFound = errors.New("not found")
)

var idRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)

// Store is the knowledge tables of one PostgreSQL database, for vectors of one size.
type Store struct {
	pool *pgxpool.Pool
	dims int
}

// DefaultEfSearch is how many candidates an HNSW search keeps by default: at 1M
// chunks (100k per entity) 64 finds 97.6% of the exact top 5 in p50 2.4 ms, and
// 100 only 0.5% more for 1.3x the time (bench/retrieval.go's corpus).
const DefaultEfSearch = 64

// Open connects to the database at url (migrated with internal/migrate) for vectors
// of dims dimensions. efSearch is how many candidates an HNSW search keeps (pgvector's
// hnsw.ef_search; 0 for DefaultEfSearch): more finds more of the true nearest
// neighbours, in more time.
func Open(ctx context.Context, url string, dims, efSearch int) (*Store, error) {
	if dims < 1 || dims > 16000 {
		return nil, fmt.Errorf("%w: %d dimensions; pgvector stores 1 to 16000", ErrInvalid, dims)
	}
	if efSearch == 0 {
		efSearch = DefaultEfSearch
	}
	if efSearch < 1 || efSearch > 1000 {
		return nil, fmt.Errorf("%w: ef_search %d; pgvector takes 1 to 1000", ErrInvalid, efSearch)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("retrieval: database url: %w", err)
	}
	cfg.AfterConnect = pgxvec.RegisterTypes
	// Searches read one department table at a time with no filter, so ef_search
	// candidates are all usable; pgvector 0.8's iterative scan still serves a LIMIT
	// larger than ef_search rather than returning too few.
	cfg.ConnConfig.RuntimeParams["hnsw.iterative_scan"] = "relaxed_order"
	cfg.ConnConfig.RuntimeParams["hnsw.ef_search"] = strconv.Itoa(efSearch)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("retrieval: connect: %w", err)
	}
	return &Store{pool: pool, dims: dims}, nil
}

// Close closes the connections.
func (s *Store) Close() { s.pool.Close() }

// Dims is the size of the vectors the store keeps.
func (s *Store) Dims() int { return s.dims }

// Entity is an organisation: its instructions come first in every context.
type Entity struct {
	ID, Name, Instructions string
}

// Department is part of an entity, with instructions of its own.
type Department struct {
	Entity, ID, Name, Instructions string
}

// partition is the name of the table holding entity's chunks.
func partition(entity string) string {
	h := sha1.Sum([]byte(entity))
	return "knowledge_chunks_" + hex.EncodeToString(h[:8])
}

// PutEntity creates or updates an entity and makes sure its chunk partition and the
// partition's indexes exist.
func (s *Store) PutEntity(ctx context.Context, e Entity) error {
	return s.putEntity(ctx, e, `INSERT INTO entities (id, name, instructions) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO UPDATE SET name = $2, instructions = $3, updated_at = now()`)
}

// EnsureEntity creates an entity that does not exist yet (an existing one is left as
// it is) and makes sure its chunk partition exists.
func (s *Store) EnsureEntity(ctx context.Context, e Entity) error {
	return s.putEntity(ctx, e, `INSERT INTO entities (id, name, instructions) VALUES ($1, $2, $3)
		ON CONFLICT (id) DO NOTHING`)
}

func (s *Store) putEntity(ctx context.Context, e Entity, upsert string) error {
	if !idRE.MatchString(e.ID) {
		return fmt.Errorf("%w: entity id %q must be 1-64 letters, digits or _.:-", ErrInvalid, e.ID)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, upsert, e.ID, e.Name, e.Instructions); err != nil {
		return fmt.Errorf("retrieval: put entity %s: %w", e.ID, err)
	}
	// Partitions are created under a lock so two writers do not race on the DDL.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('attendant.knowledge_partitions'))`); err != nil {
		return err
	}
	var dims int
	err = tx.QueryRow(ctx, `SELECT coalesce((SELECT vector_dims(embedding) FROM knowledge_chunks WHERE entity_id = $1 LIMIT 1), $2)`, e.ID, s.dims).Scan(&dims)
	if err != nil {
		return err
	}
	if dims != s.dims {
		return fmt.Errorf("%w: entity %s holds %d-dimensional vectors; this store embeds %d (re-ingest its documents with the configured embedder)", ErrInvalid, e.ID, dims, s.dims)
	}
	if err := s.createEntityPartition(ctx, tx, e.ID); err != nil {
		return fmt.Errorf("retrieval: partition for entity %s: %w", e.ID, err)
	}
	return tx.Commit(ctx)
}

// DeleteEntity removes an entity with its departments, documents and chunks, and
// drops its partition's tables.
func (s *Store) DeleteEntity(ctx context.Context, entity string) error {
	if !idRE.MatchString(entity) {
		return fmt.Errorf("%w: entity id %q", ErrInvalid, entity)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('attendant.knowledge_partitions'))`); err != nil {
		return err
	}
	// Dropping the tables first spares the row-by-row cascade from the documents.
	if _, err := tx.Exec(ctx, `DROP TABLE IF EXISTS `+pgx.Identifier{partition(entity)}.Sanitize()); err != nil {
		return fmt.Errorf("retrieval: delete entity %s: %w", entity, err)
	}
	tag, err := tx.Exec(ctx, `DELETE FROM entities WHERE id = $1`, entity)
	if err != nil {
		return fmt.Errorf("retrieval: delete entity %s: %w", entity, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: entity %q", ErrNotFound, entity)
	}
	return tx.Commit(ctx)
}

// PutDepartment creates or updates a department of an existing entity.
func (s *Store) PutDepartment(ctx context.Context, d Department) error {
	return s.putDepartment(ctx, d, `ON CONFLICT (entity_id, id) DO UPDATE SET name = $3, instructions = $4, updated_at = now()`)
}

// EnsureDepartment creates a department of an existing entity unless it exists.
func (s *Store) EnsureDepartment(ctx context.Context, d Department) error {
	err := s.putDepartment(ctx, d, `ON CONFLICT (entity_id, id) DO NOTHING`)
	if errors.Is(err, errUnchanged) {
		return nil
	}
	return err
}

var errUnchanged = errors.New("unchanged")

func (s *Store) putDepartment(ctx context.Context, d Department, conflict string) error {
	if !idRE.MatchString(d.ID) {
		return fmt.Errorf("%w: department id %q must be 1-64 letters, digits or _.:-", ErrInvalid, d.ID)
	}
	var exists bool
	if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM entities WHERE id = $1)`, d.Entity).Scan(&exists); err != nil {
		return err
	}
	if !exists {
		return fmt.Errorf("%w: entity %q", ErrNotFound, d.Entity)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	tag, err := tx.Exec(ctx, `INSERT INTO departments (entity_id, id, name, instructions)
		VALUES ($1, $2, $3, $4) `+conflict, d.Entity, d.ID, d.Name, d.Instructions)
	if err != nil {
		return fmt.Errorf("retrieval: put department %s/%s: %w", d.Entity, d.ID, err)
	}
	if err := s.createDepartmentTable(ctx, tx, d.Entity, d.ID); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return errUnchanged
	}
	return nil
}

// createDepartmentTable makes sure department's table (and its entity's partition)
// exists, under the partition lock.
func (s *Store) createDepartmentTable(ctx context.Context, tx pgx.Tx, entity, department string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('attendant.knowledge_partitions'))`); err != nil {
		return err
	}
	if err := s.createEntityPartition(ctx, tx, entity); err != nil {
		return fmt.Errorf("retrieval: partition for entity %s: %w", entity, err)
	}
	if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES IN (%s)`,
		pgx.Identifier{subpartition(entity, department)}.Sanitize(), pgx.Identifier{partition(entity)}.Sanitize(),
		quoteLiteral(department))); err != nil {
		return fmt.Errorf("retrieval: partition for department %s/%s: %w", entity, department, err)
	}
	return nil
}

// ensureDepartmentTable creates the table of an existing department that has none:
// one added by other means than PutDepartment (the control plane's own SQL).
func (s *Store) ensureDepartmentTable(ctx context.Context, entity, department string) error {
	var ok bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, subpartition(entity, department)).Scan(&ok); err != nil || ok {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM departments WHERE entity_id = $1 AND id = $2)`, entity, department).Scan(&ok); err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("%w: department %q of entity %q", ErrNotFound, department, entity)
	}
	if err := s.createDepartmentTable(ctx, tx, entity, department); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

// createEntityPartition makes sure entity's partition exists, partitioned in turn by
// department: one table for the entity-wide chunks and one per department, each with
// its own HNSW and full-text indexes. A search for a department reads two small
// graphs without a filter, instead of one large graph whose scan must skip the rows
// of other departments. An entity partition made before departments had tables of
// their own is rebuilt in this form, its chunks kept. The caller holds the
// partition lock.
func (s *Store) createEntityPartition(ctx context.Context, tx pgx.Tx, entity string) error {
	p := partition(entity)
	pid := pgx.Identifier{p}.Sanitize()
	var kind, flat string
	err := tx.QueryRow(ctx, `SELECT relkind::text FROM pg_class WHERE relname = $1 AND relnamespace = current_schema()::regnamespace`, p).Scan(&kind)
	switch {
	case errors.Is(err, pgx.ErrNoRows):
	case err != nil:
		return err
	case kind == "p":
		return nil
	default: // a flat partition: move its chunks into the new form
		flat = pgx.Identifier{p + "_flat"}.Sanitize()
		for _, q := range []string{
			`ALTER TABLE knowledge_chunks DETACH PARTITION ` + pid,
			`ALTER TABLE ` + pid + ` RENAME TO ` + flat,
			`DROP INDEX IF EXISTS ` + pgx.Identifier{p + "_hnsw"}.Sanitize(),
			`DROP INDEX IF EXISTS ` + pgx.Identifier{p + "_tsv"}.Sanitize(),
			`DROP INDEX IF EXISTS ` + pgx.Identifier{p + "_dept"}.Sanitize(),
		} {
			if _, err := tx.Exec(ctx, q); err != nil {
				return err
			}
		}
	}
	stmts := []string{
		fmt.Sprintf(`CREATE TABLE %s PARTITION OF knowledge_chunks FOR VALUES IN (%s) PARTITION BY LIST (department_id)`,
			pid, quoteLiteral(entity)),
		fmt.Sprintf(`CREATE TABLE %s PARTITION OF %s FOR VALUES IN (NULL)`, pgx.Identifier{p + "_all"}.Sanitize(), pid),
		fmt.Sprintf(`ALTER TABLE %s ADD CONSTRAINT %s CHECK (vector_dims(embedding) = %d)`,
			pid, pgx.Identifier{p + "_dims"}.Sanitize(), s.dims),
		s.vectorIndexSQL(entity),
		fmt.Sprintf(`CREATE INDEX %s ON %s USING gin (tsv)`, pgx.Identifier{p + "_tsv"}.Sanitize(), pid),
	}
	for _, q := range stmts {
		if _, err := tx.Exec(ctx, q); err != nil {
			return err
		}
	}
	// Departments made before (or while the entity had a flat partition) get theirs.
	rows, err := tx.Query(ctx, `SELECT id FROM departments WHERE entity_id = $1`, entity)
	if err != nil {
		return err
	}
	depts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return err
	}
	for _, d := range depts {
		if _, err := tx.Exec(ctx, fmt.Sprintf(`CREATE TABLE %s PARTITION OF %s FOR VALUES IN (%s)`,
			pgx.Identifier{subpartition(entity, d)}.Sanitize(), pid, quoteLiteral(d))); err != nil {
			return err
		}
	}
	if flat == "" {
		return nil
	}
	if _, err := tx.Exec(ctx, `INSERT INTO knowledge_chunks (entity_id, document_id, department_id, idx, content, tokens, embedding)
		SELECT entity_id, document_id, department_id, idx, content, tokens, embedding FROM `+flat); err != nil {
		return err
	}
	_, err = tx.Exec(ctx, `DROP TABLE `+flat)
	return err
}

// subpartition is the name of the table holding the chunks of one department.
func subpartition(entity, department string) string {
	h := sha1.Sum([]byte(department))
	return partition(entity) + "_" + hex.EncodeToString(h[:6])
}

// HNSW build parameters, pgvector's defaults, written out: on the benchmark corpus
// they give recall@5 0.976 at 1M chunks with ef_search 64, and each step up costs
// build time (about 35 s per 100k chunks on two cores already).
const (
	hnswM              = 16
	hnswEfConstruction = 64
)

// vectorIndexSQL creates entity's HNSW index (on every department table).
func (s *Store) vectorIndexSQL(entity string) string {
	p := partition(entity)
	return fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %s ON %s USING hnsw ((embedding::vector(%d)) vector_cosine_ops) WITH (m = %d, ef_construction = %d)`,
		pgx.Identifier{p + "_hnsw"}.Sanitize(), pgx.Identifier{p}.Sanitize(), s.dims, hnswM, hnswEfConstruction)
}

// quoteLiteral quotes s as an SQL string literal (ids are checked against idRE too).
func quoteLiteral(s string) string {
	out := []byte{'\''}
	for i := range len(s) {
		if s[i] == '\'' {
			out = append(out, '\'')
		}
		out = append(out, s[i])
	}
	return string(append(out, '\''))
}

// Document describes a stored document.
type Document struct {
	ID         int64
	Entity     string
	Department string // "" for the whole entity
	Name       string
	Format     string
	Bytes      int64
	SHA256     []byte
	Status     string
	Error      string
	Chunks     int
	Embedder   string
	UpdatedAt  time.Time
}

// Chunk is one piece of a document, embedded.
type Chunk struct {
	Text      string
	Tokens    int
	Embedding []float32
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// ReplaceDocument stores doc's chunks, replacing those of the document of the same
// name in the same entity and department, all at once: a search sees either the old
// chunks or the new ones. It returns the document's id.
func (s *Store) ReplaceDocument(ctx context.Context, doc Document, chunks []Chunk) (int64, error) {
	if doc.Name == "" || len(doc.Name) > 255 {
		return 0, fmt.Errorf("%w: document name must be 1-255 bytes", ErrInvalid)
	}
	for i, c := range chunks {
		if len(c.Embedding) != s.dims {
			return 0, fmt.Errorf("%w: chunk %d has %d dimensions; want %d", ErrInvalid, i, len(c.Embedding), s.dims)
		}
	}
	if doc.Department != "" {
		if err := s.ensureDepartmentTable(ctx, doc.Entity, doc.Department); err != nil {
			return 0, err
		}
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // a no-op after Commit
	var id int64
	err = tx.QueryRow(ctx, `INSERT INTO knowledge_documents
			(entity_id, department_id, name, format, bytes, sha256, status, chunks, embedder)
		VALUES ($1, $2, $3, $4, $5, $6, 'ready', $7, $8)
		ON CONFLICT (entity_id, coalesce(department_id, ''), name) DO UPDATE
		SET format = $4, bytes = $5, sha256 = $6, status = 'ready', error = '', chunks = $7,
		    embedder = $8, updated_at = now()
		RETURNING id`,
		doc.Entity, nullable(doc.Department), doc.Name, doc.Format, doc.Bytes, doc.SHA256, len(chunks), doc.Embedder).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("retrieval: store document %s: %w", doc.Name, err)
	}
	if _, err := tx.Exec(ctx, `DELETE FROM knowledge_chunks WHERE entity_id = $1 AND document_id = $2`, doc.Entity, id); err != nil {
		return 0, err
	}
	rows := make([][]any, len(chunks))
	for i, c := range chunks {
		rows[i] = []any{doc.Entity, id, nullable(doc.Department), i, c.Text, c.Tokens, pgvector.NewVector(c.Embedding)}
	}
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"knowledge_chunks"},
		[]string{"entity_id", "document_id", "department_id", "idx", "content", "tokens", "embedding"},
		pgx.CopyFromRows(rows)); err != nil {
		return 0, fmt.Errorf("retrieval: store chunks of %s: %w", doc.Name, err)
	}
	return id, tx.Commit(ctx)
}

// DeleteDocument removes a document of entity and its chunks.
func (s *Store) DeleteDocument(ctx context.Context, entity string, id int64) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM knowledge_documents WHERE entity_id = $1 AND id = $2`, entity, id)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("%w: document %d of entity %s", ErrNotFound, id, entity)
	}
	return nil
}

// Documents lists entity's documents, newest first.
func (s *Store) Documents(ctx context.Context, entity string) ([]Document, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, entity_id, coalesce(department_id, ''), name, format, bytes, sha256,
		status, error, chunks, embedder, updated_at FROM knowledge_documents WHERE entity_id = $1 ORDER BY updated_at DESC, id DESC`, entity)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Document, error) {
		var d Document
		err := r.Scan(&d.ID, &d.Entity, &d.Department, &d.Name, &d.Format, &d.Bytes, &d.SHA256,
			&d.Status, &d.Error, &d.Chunks, &d.Embedder, &d.UpdatedAt)
		return d, err
	})
}

// Room is a meeting room's place in an organisation and what shapes the assistant's
// context there.
type Room struct {
	ID, Entity, Department string
	// Prompt is the room's own instructions; Topic what the meeting is about.
	Prompt, Topic string
	ScheduledAt   time.Time
}

// PutRoom creates or updates a room of an existing entity (and department).
func (s *Store) PutRoom(ctx context.Context, r Room) error {
	var at *time.Time
	if !r.ScheduledAt.IsZero() {
		at = &r.ScheduledAt
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO rooms (id, entity_id, department_id, prompt, topic, scheduled_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (id) DO UPDATE SET entity_id = $2, department_id = $3, prompt = $4, topic = $5,
		    scheduled_at = $6, updated_at = now()`,
		r.ID, r.Entity, nullable(r.Department), r.Prompt, r.Topic, at)
	if err != nil {
		return fmt.Errorf("retrieval: put room %s: %w", r.ID, err)
	}
	return nil
}

// roomContext is what the database says about a room: its place and the
// instructions from each level.
type roomContext struct {
	Room
	EntityInstructions, DepartmentInstructions string
}

func (s *Store) roomContext(ctx context.Context, room string) (roomContext, error) {
	var rc roomContext
	var dept *string
	err := s.pool.QueryRow(ctx, `SELECT r.id, r.entity_id, r.department_id, r.prompt, r.topic,
			e.instructions, coalesce(d.instructions, '')
		FROM rooms r JOIN entities e ON e.id = r.entity_id
		LEFT JOIN departments d ON d.entity_id = r.entity_id AND d.id = r.department_id
		WHERE r.id = $1`, room).Scan(&rc.ID, &rc.Entity, &dept, &rc.Prompt, &rc.Topic,
		&rc.EntityInstructions, &rc.DepartmentInstructions)
	if errors.Is(err, pgx.ErrNoRows) {
		return rc, fmt.Errorf("%w: room %q", ErrNotFound, room)
	}
	if dept != nil {
		rc.Department = *dept
	}
	return rc, err
}

// roomsOf lists the rooms of entity, of one department if department is not empty.
func (s *Store) roomsOf(ctx context.Context, entity, department string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM rooms WHERE entity_id = $1 AND ($2 = '' OR department_id = $2)`, entity, department)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// roomsStarting lists the rooms whose meeting starts within lead of now, before or
// after.
func (s *Store) roomsStarting(ctx context.Context, lead time.Duration) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT id FROM rooms
		WHERE scheduled_at BETWEEN now() - $1::interval AND now() + $1::interval ORDER BY scheduled_at`, lead)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// DropVectorIndex drops entity's HNSW index, so that a bulk load (benchmarks) does
// not update it row by row; BuildVectorIndex builds it again.
func (s *Store) DropVectorIndex(ctx context.Context, entity string) error {
	_, err := s.pool.Exec(ctx, `DROP INDEX IF EXISTS `+pgx.Identifier{partition(entity) + "_hnsw"}.Sanitize())
	return err
}

// BuildVectorIndex builds entity's HNSW index if it is missing.
func (s *Store) BuildVectorIndex(ctx context.Context, entity string) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	for _, q := range []string{`SET maintenance_work_mem = '1GB'`, `SET max_parallel_maintenance_workers = 2`,
		s.vectorIndexSQL(entity), `RESET maintenance_work_mem`, `RESET max_parallel_maintenance_workers`} {
		if _, err := conn.Exec(ctx, q); err != nil {
			return err
		}
	}
	return nil
}

// Assistant is how an entity wants its assistant to be in its rooms, as its admins
// set it in the control plane. Empty fields leave the worker's own configuration.
type Assistant struct {
	Name, Voice           string
	STTProvider, STTModel string
	LLMProvider, LLMModel string
	TTSProvider, TTSModel string
}

// RoomAssistant returns the assistant settings of room's entity; a room that is not
// in the database is ErrNotFound.
func (s *Store) RoomAssistant(ctx context.Context, room string) (Assistant, error) {
	var a Assistant
	err := s.pool.QueryRow(ctx, `SELECT e.assistant_name, e.voice, e.stt_provider, e.stt_model, e.llm_provider,
			e.llm_model, e.tts_provider, e.tts_model
		FROM rooms r JOIN entities e ON e.id = r.entity_id WHERE r.id = $1`, room).
		Scan(&a.Name, &a.Voice, &a.STTProvider, &a.STTModel, &a.LLMProvider, &a.LLMModel, &a.TTSProvider, &a.TTSModel)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, fmt.Errorf("%w: room %q", ErrNotFound, room)
	}
	return a, err
}
