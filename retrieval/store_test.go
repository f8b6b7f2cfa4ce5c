package retrieval

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"

	"github.com/attendant/attendant/internal/migrate"
	"github.com/attendant/attendant/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const dims = 8

// openStore migrates a fresh database and opens a store of dims-dimensional vectors.
func openStore(t *testing.T) (*Store, string) {
	t.Helper()
	return openStoreDims(t, dims)
}

// openStoreDims is openStore for vectors of n dimensions.
func openStoreDims(t *testing.T, n int) (*Store, string) {
	t.Helper()
	url := testenv.Database(t)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Up(ctx, conn); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	s, err := Open(ctx, url, n, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, url
}

// axis is a unit vector along dimension i, tilted a little towards j.
func axis(i, j int) []float32 {
	v := make([]float32, dims)
	v[i] = 1
	v[j] += 0.1
	n := float32(math.Sqrt(float64(1 + 0.01)))
	if i == j {
		n = 1.1
	}
	for k := range v {
		v[k] /= n
	}
	return v
}

func chunks(texts ...string) []Chunk {
	out := make([]Chunk, len(texts))
	for i, t := range texts {
		out[i] = Chunk{Text: t, Tokens: len(strings.Fields(t)), Embedding: axis(i%dims, (i+1)%dims)}
	}
	return out
}

func put(t *testing.T, s *Store, doc Document, cs []Chunk) int64 {
	t.Helper()
	doc.Format, doc.SHA256, doc.Embedder = "text", []byte{1}, "test"
	id, err := s.ReplaceDocument(context.Background(), doc, cs)
	if err != nil {
		t.Fatalf("ReplaceDocument(%s): %v", doc.Name, err)
	}
	return id
}

func search(t *testing.T, s *Store, q Query) []Hit {
	t.Helper()
	hits, err := s.Search(context.Background(), q)
	if err != nil {
		t.Fatalf("Search(%+v): %v", q, err)
	}
	return hits
}

// An entity's search never returns another entity's chunks, whatever it asks; a
// department sees its own documents and the entity-wide ones, never another
// department's.
func TestIsolation(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	for _, e := range []string{"acme", "globex"} {
		if err := s.PutEntity(ctx, Entity{ID: e, Name: e}); err != nil {
			t.Fatal(err)
		}
	}
	for _, d := range []string{"cardiology", "billing"} {
		if err := s.PutDepartment(ctx, Department{Entity: "acme", ID: d}); err != nil {
			t.Fatal(err)
		}
	}
	put(t, s, Document{Entity: "acme", Name: "handbook.txt"}, chunks("Acme opens at nine.", "Acme parking is in the garage."))
	put(t, s, Document{Entity: "acme", Department: "cardiology", Name: "protocol.txt"}, chunks("Cardiology protocol: ECG before discharge."))
	put(t, s, Document{Entity: "acme", Department: "billing", Name: "invoices.txt"}, chunks("Billing sends invoices monthly."))
	// Globex's chunks share Acme's vectors and words: only the partition keeps them apart.
	put(t, s, Document{Entity: "globex", Name: "secret.txt"}, chunks("Globex opens at nine.", "Globex parking is in the garage."))

	docsOf := func(hits []Hit) map[string]bool {
		m := map[string]bool{}
		for _, h := range hits {
			m[h.Document] = true
		}
		return m
	}
	for i := range dims {
		for _, text := range []string{"opens nine", "Globex secret parking garage", "invoices", "ECG"} {
			got := docsOf(search(t, s, Query{Entity: "acme", Department: "cardiology", Text: text, Vector: axis(i, i), K: 10}))
			if got["secret.txt"] || got["invoices.txt"] {
				t.Fatalf("acme/cardiology asking %q found %v; want only acme's entity-wide and cardiology documents", text, got)
			}
			got = docsOf(search(t, s, Query{Entity: "acme", Text: text, Vector: axis(i, i), K: 10}))
			if got["secret.txt"] || got["invoices.txt"] || got["protocol.txt"] {
				t.Fatalf("acme (no department) asking %q found %v; want only entity-wide documents", text, got)
			}
			got = docsOf(search(t, s, Query{Entity: "globex", Text: text, Vector: axis(i, i), K: 10}))
			for d := range got {
				if d != "secret.txt" {
					t.Fatalf("globex asking %q found %s", text, d)
				}
			}
		}
	}
	hits := search(t, s, Query{Entity: "acme", Department: "cardiology", Text: "ECG discharge", Vector: axis(0, 1), K: 10})
	if got := docsOf(hits); !got["protocol.txt"] || !got["handbook.txt"] {
		t.Errorf("acme/cardiology found %v; want its protocol and the handbook", got)
	}
	// The partitions are separate tables.
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_inherits WHERE inhparent = 'knowledge_chunks'::regclass`).Scan(&n); err != nil || n != 2 {
		t.Errorf("%d chunk partitions (%v); want one per entity", n, err)
	}
}

func TestSearchFusesVectorAndText(t *testing.T) {
	s, _ := openStore(t)
	if err := s.PutEntity(context.Background(), Entity{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	put(t, s, Document{Entity: "acme", Name: "a.txt"}, chunks(
		"The office opens at nine in the morning.",
		"Visitors park in the garage behind the building.",
		"Expense reports are due on the fifth of each month.",
	))
	// The vector points at chunk 1; the words at chunk 2: both come back, and the
	// chunk found both ways (none here) would lead.
	hits := search(t, s, Query{Entity: "acme", Text: "expense reports", Vector: axis(1, 2), K: 2})
	if len(hits) != 2 || hits[0].Index != 1 && hits[0].Index != 2 {
		t.Fatalf("hits %+v; want chunks 1 (vector) and 2 (text)", hits)
	}
	byIndex := map[int]Hit{}
	for _, h := range hits {
		byIndex[h.Index] = h
	}
	if h := byIndex[1]; h.VectorRank != 1 || h.Similarity < 0.99 {
		t.Errorf("vector hit %+v; want rank 1, similarity about 1", h)
	}
	if h := byIndex[2]; h.TextRank != 1 {
		t.Errorf("text hit %+v; want text rank 1", h)
	}
	// A chunk found both ways scores above one found one way.
	hits = search(t, s, Query{Entity: "acme", Text: "garage", Vector: axis(1, 2), K: 3})
	if hits[0].Index != 1 || hits[0].VectorRank == 0 || hits[0].TextRank == 0 {
		t.Errorf("first hit %+v; want chunk 1, found by vector and text", hits[0])
	}
	// The similarity threshold applies after the search, to vector-only hits.
	hits = search(t, s, Query{Entity: "acme", Text: "garage", Vector: axis(1, 2), K: 3, MinSimilarity: 0.9})
	for _, h := range hits {
		if h.TextRank == 0 && h.Similarity < 0.9 {
			t.Errorf("hit %+v under the similarity threshold", h)
		}
	}
}

func TestReplaceAndDelete(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	if err := s.PutEntity(ctx, Entity{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	id := put(t, s, Document{Entity: "acme", Name: "policy.txt"}, chunks("Old policy one.", "Old policy two.", "Old policy three."))
	id2 := put(t, s, Document{Entity: "acme", Name: "policy.txt"}, chunks("New policy."))
	if id2 != id {
		t.Errorf("re-upload got document id %d; want the same document %d", id2, id)
	}
	hits := search(t, s, Query{Entity: "acme", Text: "policy", Vector: axis(0, 1), K: 10})
	if len(hits) != 1 || hits[0].Text != "New policy." {
		t.Fatalf("after re-upload found %+v; want only the new chunk", hits)
	}
	docs, err := s.Documents(ctx, "acme")
	if err != nil || len(docs) != 1 || docs[0].Chunks != 1 || docs[0].Status != "ready" {
		t.Fatalf("documents %+v (%v); want one ready document of one chunk", docs, err)
	}
	// A failed replacement changes nothing.
	bad := chunks("Broken.")
	bad[0].Embedding = bad[0].Embedding[:3]
	if _, err := s.ReplaceDocument(ctx, Document{Entity: "acme", Name: "policy.txt", Format: "text", SHA256: []byte{2}}, bad); !errors.Is(err, ErrInvalid) {
		t.Errorf("replace with a short vector = %v; want ErrInvalid", err)
	}
	if hits := search(t, s, Query{Entity: "acme", Text: "policy", Vector: axis(0, 1)}); len(hits) != 1 || hits[0].Text != "New policy." {
		t.Errorf("after a failed replacement found %+v; want the stored chunk untouched", hits)
	}
	if err := s.DeleteDocument(ctx, "acme", id); err != nil {
		t.Fatal(err)
	}
	if hits := search(t, s, Query{Entity: "acme", Text: "policy", Vector: axis(0, 1)}); len(hits) != 0 {
		t.Errorf("after delete found %+v", hits)
	}
	if err := s.DeleteDocument(ctx, "acme", id); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete = %v; want ErrNotFound", err)
	}
}

// A search that cannot finish in time returns ErrDeadline promptly.
func TestSearchDeadline(t *testing.T) {
	s, url := openStore(t)
	ctx := context.Background()
	if err := s.PutEntity(ctx, Entity{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	put(t, s, Document{Entity: "acme", Name: "a.txt"}, chunks("Anything."))
	// Another session holds the entity's partition locked: the search waits on it.
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx) //nolint:errcheck
	if _, err := tx.Exec(ctx, `LOCK TABLE `+pgx.Identifier{partition("acme")}.Sanitize()+` IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	qctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err = s.Search(qctx, Query{Entity: "acme", Text: "anything", Vector: axis(0, 1)})
	if !errors.Is(err, ErrDeadline) {
		t.Fatalf("Search behind a lock = %v; want ErrDeadline", err)
	}
	if took := time.Since(start); took > 500*time.Millisecond {
		t.Errorf("Search gave up after %s; want about its 50ms deadline", took)
	}
}

func TestBadRequests(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	if err := s.PutEntity(ctx, Entity{ID: "bad id; DROP TABLE entities"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("PutEntity with a bad id = %v; want ErrInvalid", err)
	}
	if err := s.PutDepartment(ctx, Department{Entity: "nobody", ID: "x"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("PutDepartment of a missing entity = %v; want ErrNotFound", err)
	}
	if _, err := s.Search(ctx, Query{Entity: "acme", Vector: []float32{1}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("Search with a short vector = %v; want ErrInvalid", err)
	}
	if err := s.PutEntity(ctx, Entity{ID: "o'brien"}); !errors.Is(err, ErrInvalid) {
		t.Errorf("PutEntity with a quote = %v; want ErrInvalid", err)
	}
}

// A department's search reads two tables, the department's and the entity-wide one,
// each through its own HNSW index with no filter left for the scan to apply.
func TestSearchPlanReadsDepartmentTables(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	if err := s.PutEntity(ctx, Entity{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"cardiology", "billing"} {
		if err := s.PutDepartment(ctx, Department{Entity: "acme", ID: d}); err != nil {
			t.Fatal(err)
		}
	}
	put(t, s, Document{Entity: "acme", Department: "cardiology", Name: "c.txt"}, chunks("ECG.", "Echo."))
	put(t, s, Document{Entity: "acme", Department: "billing", Name: "b.txt"}, chunks("Invoices."))
	put(t, s, Document{Entity: "acme", Name: "all.txt"}, chunks("Opening hours."))
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	// A few rows are cheaper to sort than to look up: price sorting out, so the plan
	// shows whether the index serves the ORDER BY (the expressions must match).
	if _, err := conn.Exec(ctx, `SET enable_sort = off`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `RESET enable_sort`) //nolint:errcheck
	var plan strings.Builder
	rows, err := conn.Query(ctx, `EXPLAIN (COSTS OFF) `+nearestSQL(dims), "acme", "cardiology", pgvector.NewVector(axis(0, 1)), 5)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	p := plan.String()
	for _, table := range []string{subpartition("acme", "cardiology"), partition("acme") + "_all"} {
		if !strings.Contains(p, "Index Scan using "+table) || !strings.Contains(p, " on "+table) {
			t.Errorf("plan does not read %s through its HNSW index:\n%s", table, p)
		}
	}
	if strings.Contains(p, subpartition("acme", "billing")) {
		t.Errorf("plan reads another department's table:\n%s", p)
	}
}

// An entity partition of the earlier, flat form is rebuilt by department when the
// entity is next used, its chunks kept and found.
func TestFlatPartitionIsRebuiltByDepartment(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	flat := pgx.Identifier{partition("acme")}.Sanitize()
	for _, q := range []string{
		`INSERT INTO entities (id) VALUES ('acme')`,
		`INSERT INTO departments (entity_id, id) VALUES ('acme', 'cardiology')`,
		`CREATE TABLE ` + flat + ` PARTITION OF knowledge_chunks FOR VALUES IN ('acme')`,
		`CREATE INDEX ` + pgx.Identifier{partition("acme") + "_hnsw"}.Sanitize() + ` ON ` + flat + ` USING hnsw ((embedding::vector(8)) vector_cosine_ops)`,
		`INSERT INTO knowledge_documents (id, entity_id, department_id, name, format, bytes, sha256) VALUES
			(1, 'acme', NULL, 'all.txt', 'text', 1, '\x00'), (2, 'acme', 'cardiology', 'c.txt', 'text', 1, '\x00')`,
		`INSERT INTO knowledge_chunks (entity_id, document_id, department_id, idx, content, tokens, embedding) VALUES
			('acme', 1, NULL, 0, 'Opening hours are nine to five.', 6, '[1,0,0,0,0,0,0,0]'),
			('acme', 2, 'cardiology', 0, 'ECG before discharge.', 3, '[0,1,0,0,0,0,0,0]')`,
		`SELECT setval(pg_get_serial_sequence('knowledge_documents', 'id'), 2)`,
	} {
		if _, err := s.pool.Exec(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := s.EnsureEntity(ctx, Entity{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	var kind string
	if err := s.pool.QueryRow(ctx, `SELECT relkind::text FROM pg_class WHERE relname = $1`, partition("acme")).Scan(&kind); err != nil || kind != "p" {
		t.Fatalf("entity partition kind %q (%v); want a partitioned table", kind, err)
	}
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{subpartition("acme", "cardiology")}.Sanitize()).Scan(&n); err != nil || n != 1 {
		t.Errorf("cardiology table holds %d chunks (%v); want 1", n, err)
	}
	hits := search(t, s, Query{Entity: "acme", Department: "cardiology", Text: "ECG discharge opening", Vector: axis(1, 1), K: 5})
	if len(hits) != 2 || hits[0].Text != "ECG before discharge." {
		t.Errorf("after the rebuild found %+v; want both chunks, the ECG one first", hits)
	}
	// The rebuilt form takes new documents as before.
	put(t, s, Document{Entity: "acme", Name: "more.txt"}, chunks("Parking."))
	if err := s.EnsureEntity(ctx, Entity{ID: "acme"}); err != nil {
		t.Fatalf("EnsureEntity again: %v", err)
	}
}

// Deleting an entity removes its rows and drops its tables; others are untouched.
func TestDeleteEntity(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	for _, e := range []string{"acme", "globex"} {
		if err := s.PutEntity(ctx, Entity{ID: e}); err != nil {
			t.Fatal(err)
		}
		put(t, s, Document{Entity: e, Name: "a.txt"}, chunks("Opening hours."))
	}
	if err := s.PutDepartment(ctx, Department{Entity: "acme", ID: "cardiology"}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteEntity(ctx, "acme"); err != nil {
		t.Fatal(err)
	}
	var tables int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM pg_class WHERE relname LIKE $1 || '%'`, partition("acme")).Scan(&tables); err != nil || tables != 0 {
		t.Errorf("%d of acme's tables left (%v)", tables, err)
	}
	if docs, err := s.Documents(ctx, "acme"); err != nil || len(docs) != 0 {
		t.Errorf("acme's documents after delete: %v (%v)", docs, err)
	}
	if hits := search(t, s, Query{Entity: "globex", Text: "opening", Vector: axis(0, 1)}); len(hits) != 1 {
		t.Errorf("globex found %v after acme was deleted; want its one chunk", hits)
	}
	if err := s.DeleteEntity(ctx, "acme"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second delete = %v; want ErrNotFound", err)
	}
}

// A department added by other means than PutDepartment gets its table when its first
// document is stored; a department that does not exist is refused.
func TestDocumentOfDepartmentAddedElsewhere(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	if err := s.PutEntity(ctx, Entity{ID: "acme"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO departments (entity_id, id) VALUES ('acme', 'radiology')`); err != nil {
		t.Fatal(err)
	}
	put(t, s, Document{Entity: "acme", Department: "radiology", Name: "mri.txt"}, chunks("MRI safety checklist."))
	if hits := search(t, s, Query{Entity: "acme", Department: "radiology", Text: "MRI", Vector: axis(0, 1)}); len(hits) != 1 {
		t.Errorf("found %v; want the radiology chunk", hits)
	}
	_, err := s.ReplaceDocument(ctx, Document{Entity: "acme", Department: "nowhere", Name: "x.txt", Format: "text", SHA256: []byte{1}}, chunks("X."))
	if !errors.Is(err, ErrNotFound) {
		t.Errorf("document of a missing department = %v; want ErrNotFound", err)
	}
}

// A room's assistant settings are its entity's; a room not in the database is
// ErrNotFound.
func TestRoomAssistant(t *testing.T) {
	s, _ := openStore(t)
	ctx := context.Background()
	if err := s.PutEntity(ctx, Entity{ID: "acme", Name: "Acme"}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutRoom(ctx, Room{ID: "acme-room", Entity: "acme"}); err != nil {
		t.Fatal(err)
	}
	a, err := s.RoomAssistant(ctx, "acme-room")
	if err != nil || a.Name != "Assistant" || a.Voice != "" || a.LLMModel != "" {
		t.Errorf("defaults: %+v, %v", a, err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE entities SET assistant_name = 'Nurse Joy', voice = 'en-gb', llm_provider = 'openai',
		llm_model = 'small' WHERE id = 'acme'`); err != nil {
		t.Fatal(err)
	}
	want := Assistant{Name: "Nurse Joy", Voice: "en-gb", LLMProvider: "openai", LLMModel: "small"}
	if a, err := s.RoomAssistant(ctx, "acme-room"); err != nil || a != want {
		t.Errorf("RoomAssistant = %+v, %v; want %+v", a, err, want)
	}
	if _, err := s.RoomAssistant(ctx, "no-such-room"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown room: %v; want ErrNotFound", err)
	}
}
