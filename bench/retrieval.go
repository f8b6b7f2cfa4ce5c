package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/attendant/attendant/retrieval"
)

// RetrievalOptions configures the retrieval scenario.
type RetrievalOptions struct {
	// Chunks is how many synthetic chunks the entities hold in all; Dims their size.
	Chunks, Dims int
	// Entities share the chunks equally; each has Departments of uneven size plus
	// entity-wide documents, and Topics its chunks are drawn around.
	Entities, Departments, Topics int
	// Queries is how many searches are timed.
	Queries int
	// EfSearch is the HNSW search's candidate list (0: the store's default).
	EfSearch int
	// DatabaseURL is a migrated database; RedisAddr a Redis server.
	DatabaseURL, RedisAddr string
	Seed                   uint64
	Logger                 *slog.Logger
}

// RetrievalReport is what the retrieval scenario measured. Times are in milliseconds.
type RetrievalReport struct {
	Scenario string    `json:"scenario"`
	Started  time.Time `json:"started"`
	Chunks   int       `json:"chunks"`
	Dims     int       `json:"dims"`
	Entities int       `json:"entities"`
	Queries  int       `json:"queries"`
	EfSearch int       `json:"ef_search"`
	Loaded   bool      `json:"loaded"` // false: a loaded set was reused
	LoadS    float64   `json:"load_s"`
	IndexS   float64   `json:"index_s"`
	// Filtered top-5 search through the entity's HNSW index.
	P50 float64 `json:"p50_ms"`
	P95 float64 `json:"p95_ms"`
	P99 float64 `json:"p99_ms"`
	QPS float64 `json:"qps"`
	// RecallAt5 is the share of the exact top 5 (same filter) the search found.
	RecallAt5 float64 `json:"recall_at_5"`
	// ForeignRecallAt5 is the recall over the queries (of the mix) drawn from other
	// entities' topics.
	ForeignRecallAt5 float64 `json:"foreign_recall_at_5"`
	// Off-field queries, about a theme no entity writes about, are measured apart
	// from the mix: their exact top 5 are barely nearer than the rest.
	OffFieldQueries   int     `json:"off_field_queries"`
	OffFieldRecallAt5 float64 `json:"off_field_recall_at_5"`
	OffFieldP99       float64 `json:"off_field_p99_ms"`
	ExactP50          float64 `json:"exact_p50_ms"`
	ExactP99          float64 `json:"exact_p99_ms"`
	// The original plan's query form on the same data.
	NaiveP50 float64 `json:"naive_p50_ms"`
	NaiveP99 float64 `json:"naive_p99_ms"`
	// Reading a room's assembled context from Redis.
	ContextFetchP50 float64 `json:"context_fetch_p50_ms"`
	ContextFetchP99 float64 `json:"context_fetch_p99_ms"`
}

// naiveSQL is the query form of the original plan: the threshold in WHERE and the
// order by similarity keep any index from serving it.
const naiveSQL = `SELECT content, 1 - (embedding::vector(%[1]d) <=> $1::vector(%[1]d)) AS similarity
FROM knowledge_chunks
WHERE entity_id = $2 AND (department_id = $3 OR department_id IS NULL)
  AND 1 - (embedding::vector(%[1]d) <=> $1::vector(%[1]d)) > 0.7
ORDER BY similarity DESC LIMIT 5`

// corpus generates the synthetic knowledge: clustered as real sentence embeddings
// are, rather than spread evenly over the sphere. Organisations in one field write
// about the same subjects (the field's themes: every hospital has an infection
// control policy), each in its own words: an entity's topic is its own take on a
// theme. A topic has sections; a passage varies around its section mostly along a
// few directions of its topic (text embeddings have an intrinsic dimension of tens,
// not hundreds) plus a little noise in every direction. A query is drawn the way a
// passage is, around a section of some entity's topic; off-field queries, around a
// theme no entity writes about, are measured apart.
type corpus struct {
	o        RetrievalOptions
	themes   [][]float32
	sections [][][][]float32 // [entity][topic][section]
	bases    [][][][]float32 // [entity][topic]: the topic's own directions
	shares   []float64       // department shares; the last is entity-wide
}

// The corpus's shape. corpusVersion names it in the loaded set, so a set generated
// otherwise is reloaded rather than reused.
const (
	corpusVersion   = "field-v3"
	sectionsPer     = 40
	topicDirections = 24
	topicSpread     = 0.8  // an entity's take on a theme: cosine 0.78 to it
	sectionSpread   = 0.6  // a section's tilt away from its topic
	passageSpread   = 0.35 // a passage's, along its topic's directions
	passageNoise    = 0.2  // and in every direction
)

func entityID(i int) string { return fmt.Sprintf("bench-e%02d", i) }
func deptID(i int) string   { return fmt.Sprintf("d%d", i) }

// fingerprint identifies the corpus o generates.
func (o RetrievalOptions) fingerprint() string {
	return fmt.Sprintf("bench corpus %s: %d chunks, %d dims, %d entities, %d departments, %d topics, seed %d",
		corpusVersion, o.Chunks, o.Dims, o.Entities, o.Departments, o.Topics, o.Seed)
}

func gaussian(r *rand.Rand, n int, scale float64) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = scale * r.NormFloat64()
	}
	return v
}

func normalize(v []float64) []float32 {
	var n float64
	for _, x := range v {
		n += x * x
	}
	n = math.Sqrt(n)
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x / n)
	}
	return out
}

// tilt is normalize(centre + spread·g) for g a random vector of expected length 1.
func tilt(r *rand.Rand, centre []float32, spread float64) []float32 {
	g := gaussian(r, len(centre), spread/math.Sqrt(float64(len(centre))))
	for i := range g {
		g[i] += float64(centre[i])
	}
	return normalize(g)
}

// passage draws a vector around section s of entity e's topic t.
func (c *corpus) passage(r *rand.Rand, e, t, s int) []float32 {
	return around(r, c.sections[e][t][s], c.bases[e][t])
}

// around draws a passage-like vector around centre, varying along bases.
func around(r *rand.Rand, centre []float32, bases [][]float32) []float32 {
	v := gaussian(r, len(centre), passageNoise/math.Sqrt(float64(len(centre))))
	for i := range v {
		v[i] += float64(centre[i])
	}
	for _, b := range bases {
		w := passageSpread / math.Sqrt(topicDirections) * r.NormFloat64()
		for i := range v {
			v[i] += w * float64(b[i])
		}
	}
	return normalize(v)
}

// offField draws a query about a theme no entity writes about: the entity's top 5
// for it are whatever happens to lean its way.
func (c *corpus) offField(r *rand.Rand) []float32 {
	unit := func() []float32 { return normalize(gaussian(r, c.o.Dims, 1)) }
	section := tilt(r, tilt(r, unit(), topicSpread), sectionSpread)
	bases := make([][]float32, topicDirections)
	for i := range bases {
		bases[i] = unit()
	}
	return around(r, section, bases)
}

func newCorpus(o RetrievalOptions) *corpus {
	r := rand.New(rand.NewPCG(o.Seed, 1))
	c := &corpus{o: o}
	unit := func() []float32 { return normalize(gaussian(r, o.Dims, 1)) }
	for range o.Topics {
		c.themes = append(c.themes, unit())
	}
	c.sections = make([][][][]float32, o.Entities)
	c.bases = make([][][][]float32, o.Entities)
	for e := range o.Entities {
		c.sections[e] = make([][][]float32, o.Topics)
		c.bases[e] = make([][][]float32, o.Topics)
		for t := range o.Topics {
			topic := tilt(r, c.themes[t], topicSpread)
			for range sectionsPer {
				c.sections[e][t] = append(c.sections[e][t], tilt(r, topic, sectionSpread))
			}
			for range topicDirections {
				c.bases[e][t] = append(c.bases[e][t], unit())
			}
		}
	}
	// Uneven departments: each half the size of the one before, and a share of
	// entity-wide documents as large as the second department.
	total := 0.0
	for d := range o.Departments {
		c.shares = append(c.shares, math.Pow(0.5, float64(d)))
		total += c.shares[d]
	}
	c.shares = append(c.shares, 0.5)
	total += 0.5
	for i := range c.shares {
		c.shares[i] /= total
	}
	return c
}

// Retrieval loads (or reuses) the synthetic corpus and times filtered search.
func Retrieval(ctx context.Context, o RetrievalOptions) (RetrievalReport, error) {
	if o.Entities <= 0 {
		o.Entities = 10
	}
	if o.Departments <= 0 {
		o.Departments = 4
	}
	if o.Topics <= 0 {
		o.Topics = 20
	}
	if o.Queries <= 0 {
		o.Queries = 1000
	}
	if o.Seed == 0 {
		o.Seed = 7
	}
	if o.EfSearch == 0 {
		o.EfSearch = retrieval.DefaultEfSearch
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	rep := RetrievalReport{Scenario: "retrieval", Started: time.Now().UTC(), Chunks: o.Chunks, Dims: o.Dims, Entities: o.Entities, Queries: o.Queries, EfSearch: o.EfSearch}
	store, err := retrieval.Open(ctx, o.DatabaseURL, o.Dims, o.EfSearch)
	if err != nil {
		return rep, err
	}
	defer store.Close()
	conn, err := pgx.Connect(ctx, o.DatabaseURL)
	if err != nil {
		return rep, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	c := newCorpus(o)
	var have int
	var made string
	if err := conn.QueryRow(ctx, `SELECT count(*), coalesce((SELECT instructions FROM entities WHERE id = $1), '')
		FROM knowledge_chunks WHERE entity_id LIKE 'bench-e%'`, entityID(0)).Scan(&have, &made); err != nil {
		return rep, err
	}
	if have != o.Chunks || made != o.fingerprint() {
		rep.Loaded = true
		if rep.LoadS, rep.IndexS, err = c.load(ctx, store, conn); err != nil {
			return rep, err
		}
	}
	// As after any bulk load: statistics for the planner, and the visibility map set
	// now rather than by an autovacuum in the middle of the measurement.
	maintenance := `ANALYZE knowledge_chunks`
	if rep.Loaded {
		maintenance = `VACUUM (ANALYZE) knowledge_chunks`
	}
	if _, err := conn.Exec(ctx, maintenance); err != nil {
		return rep, err
	}

	// The queries are drawn first, then timed in separate passes, so the exact and
	// naive scans (which read every vector the filter admits) do not evict the index
	// pages between the searches being timed.
	type query struct {
		entity, dept string
		kind         int // own, foreign or offField
		vec          []float32
	}
	const (
		own = iota
		foreign
		offField
	)
	r := rand.New(rand.NewPCG(o.Seed, 2))
	// The measured mix, and after it a fifth as many off-field queries measured apart.
	qs := make([]query, o.Queries+o.Queries/5)
	for i := range qs {
		e := r.IntN(o.Entities)
		q := query{entity: entityID(e)}
		if r.Float64() < 0.8 {
			q.dept = deptID(r.IntN(o.Departments))
		}
		from := e
		switch {
		case i >= o.Queries:
			q.kind = offField
			q.vec = c.offField(r)
			qs[i] = q
			continue
		case r.Float64() < 0.2: // one query in five is about another entity's topics
			from, q.kind = (e+1+r.IntN(o.Entities-1))%o.Entities, foreign
		}
		q.vec = c.passage(r, from, r.IntN(o.Topics), r.IntN(sectionsPer))
		qs[i] = q
	}
	// One untimed pass first: the timed one measures a warm index, as a running
	// worker sees it, not the first reads of a freshly started database.
	for _, q := range qs {
		if _, err := store.Nearest(ctx, q.entity, q.dept, q.vec, 5, false); err != nil {
			return rep, err
		}
	}
	var times, offTimes, exact, naive []float64
	got := make([][]retrieval.Neighbor, len(qs))
	var searchTime time.Duration
	for i, q := range qs {
		t0 := time.Now()
		n, err := store.Nearest(ctx, q.entity, q.dept, q.vec, 5, false)
		took := time.Since(t0)
		if err != nil {
			return rep, err
		}
		got[i] = n
		if q.kind == offField {
			offTimes = append(offTimes, ms(took))
			continue
		}
		searchTime += took
		times = append(times, ms(took))
	}
	var all, foreignRecall, offRecall recall
	for i, q := range qs {
		t0 := time.Now()
		want, err := store.Nearest(ctx, q.entity, q.dept, q.vec, 5, true)
		if err != nil {
			return rep, err
		}
		if q.kind != offField {
			exact = append(exact, ms(time.Since(t0)))
		}
		hit := map[[2]int64]bool{}
		for _, n := range got[i] {
			hit[[2]int64{n.DocumentID, int64(n.Index)}] = true
		}
		found := 0
		for _, n := range want {
			if hit[[2]int64{n.DocumentID, int64(n.Index)}] {
				found++
			}
		}
		switch q.kind {
		case offField:
			offRecall.add(found, len(want))
			continue
		case foreign:
			foreignRecall.add(found, len(want))
		}
		all.add(found, len(want))
	}
	qs = qs[:o.Queries]
	naiveQuery := fmt.Sprintf(naiveSQL, o.Dims)
	for _, q := range qs {
		var deptArg *string
		if q.dept != "" {
			deptArg = &q.dept
		}
		t0 := time.Now()
		rows, err := conn.Query(ctx, naiveQuery, pgvector.NewVector(q.vec), q.entity, deptArg)
		if err != nil {
			return rep, err
		}
		for rows.Next() {
		}
		rows.Close()
		if rows.Err() != nil {
			return rep, rows.Err()
		}
		naive = append(naive, ms(time.Since(t0)))
	}
	s := Summarize(times)
	rep.P50, rep.P95, rep.P99 = s.P50, s.P95, s.P99
	rep.QPS = round2(float64(o.Queries) / searchTime.Seconds())
	rep.RecallAt5, rep.ForeignRecallAt5, rep.OffFieldRecallAt5 = all.rate(), foreignRecall.rate(), offRecall.rate()
	so := Summarize(offTimes)
	rep.OffFieldQueries, rep.OffFieldP99 = len(offTimes), so.P99
	se, sn := Summarize(exact), Summarize(naive)
	rep.ExactP50, rep.ExactP99 = se.P50, se.P99
	rep.NaiveP50, rep.NaiveP99 = sn.P50, sn.P99
	if rep.ContextFetchP50, rep.ContextFetchP99, err = contextFetch(ctx, o, store); err != nil {
		return rep, err
	}
	return rep, nil
}

// load replaces the bench entities' chunks with the synthetic corpus, then builds
// each entity's HNSW index; it returns the seconds each part took.
func (c *corpus) load(ctx context.Context, store *retrieval.Store, conn *pgx.Conn) (loadS, indexS float64, err error) {
	o := c.o
	rows, err := conn.Query(ctx, `SELECT id FROM entities WHERE id LIKE 'bench-e%'`)
	if err != nil {
		return 0, 0, err
	}
	old, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return 0, 0, err
	}
	for _, id := range old {
		if err := store.DeleteEntity(ctx, id); err != nil {
			return 0, 0, err
		}
	}
	started := time.Now()
	r := rand.New(rand.NewPCG(o.Seed, 3))
	perEntity := o.Chunks / o.Entities
	const perDoc = 1000
	for e := range o.Entities {
		id := entityID(e)
		if err := store.PutEntity(ctx, retrieval.Entity{ID: id, Name: id, Instructions: o.fingerprint()}); err != nil {
			return 0, 0, err
		}
		for d := range o.Departments {
			if err := store.PutDepartment(ctx, retrieval.Department{Entity: id, ID: deptID(d)}); err != nil {
				return 0, 0, err
			}
		}
		if err := store.DropVectorIndex(ctx, id); err != nil {
			return 0, 0, err
		}
		n := perEntity
		if e == o.Entities-1 {
			n = o.Chunks - perEntity*(o.Entities-1)
		}
		for di, share := range c.shares {
			dept := ""
			if di < o.Departments {
				dept = deptID(di)
			}
			count := int(math.Round(share * float64(n)))
			if di == len(c.shares)-1 {
				count = n - sumShares(c.shares[:di], n)
			}
			for doc := 0; count > 0; doc++ {
				m := min(perDoc, count)
				count -= m
				chunks := make([]retrieval.Chunk, m)
				for i := range chunks {
					t, sec := r.IntN(o.Topics), r.IntN(sectionsPer)
					chunks[i] = retrieval.Chunk{Text: fmt.Sprintf("topic %d section %d of %s, passage %d", t, sec, id, i), Tokens: 8,
						Embedding: c.passage(r, e, t, sec)}
				}
				name := fmt.Sprintf("%s-%s-%d", id, dept, doc)
				if _, err := store.ReplaceDocument(ctx, retrieval.Document{Entity: id, Department: dept, Name: name,
					Format: "text", SHA256: []byte{0}, Embedder: "bench"}, chunks); err != nil {
					return 0, 0, err
				}
			}
		}
		o.Logger.Info("entity loaded", "entity", id, "chunks", n)
	}
	loadS = time.Since(started).Seconds()
	started = time.Now()
	for e := range o.Entities {
		if err := store.BuildVectorIndex(ctx, entityID(e)); err != nil {
			return 0, 0, err
		}
		o.Logger.Info("index built", "entity", entityID(e), "after", time.Since(started).Round(time.Second))
	}
	return round2(loadS), round2(time.Since(started).Seconds()), nil
}

func sumShares(shares []float64, n int) int {
	total := 0
	for _, s := range shares {
		total += int(math.Round(s * float64(n)))
	}
	return total
}

// contextFetch times reading a room's assembled context from Redis (a cache hit).
func contextFetch(ctx context.Context, o RetrievalOptions, store *retrieval.Store) (p50, p99 float64, err error) {
	rdb := redis.NewClient(&redis.Options{Addr: o.RedisAddr})
	defer rdb.Close()
	emb := fixedEmbedder{dims: o.Dims}
	asm, err := retrieval.NewAssembler(retrieval.AssemblerConfig{}, store, emb, rdb, retrieval.NewMetrics(prometheus.NewRegistry()), o.Logger)
	if err != nil {
		return 0, 0, err
	}
	room := "bench-room"
	if err := store.PutRoom(ctx, retrieval.Room{ID: room, Entity: entityID(0), Department: deptID(0), Prompt: "Bench room.", Topic: "topic 3"}); err != nil {
		return 0, 0, err
	}
	if _, err := asm.Prewarm(ctx, room); err != nil {
		return 0, 0, err
	}
	var times []float64
	for range 1000 {
		t0 := time.Now()
		if _, err := asm.Room(ctx, room); err != nil {
			return 0, 0, err
		}
		times = append(times, ms(time.Since(t0)))
	}
	s := Summarize(times)
	return s.P50, s.P99, nil
}

// fixedEmbedder embeds every text as the same unit vector: the context fetch does
// not depend on what the topic's embedding is.
type fixedEmbedder struct{ dims int }

func (f fixedEmbedder) Dims() int    { return f.dims }
func (f fixedEmbedder) Name() string { return "fixed" }
func (f fixedEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i := range out {
		v := make([]float32, f.dims)
		v[0] = 1
		out[i] = v
	}
	return out, nil
}

// recall counts, over some queries, how many of the exact top 5 a search found.
type recall struct{ found, relevant, queries int }

func (r *recall) add(found, relevant int) {
	r.found += found
	r.relevant += relevant
	r.queries++
}

func (r recall) rate() float64 { return round4(float64(r.found) / float64(max(r.relevant, 1))) }

func round4(v float64) float64 { return math.Round(v*10000) / 10000 }

// WriteText prints the report.
func (r RetrievalReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "retrieval over %d chunks (%d dims, %d entities), %d queries; loaded now: %v (load %.1fs, index %.1fs)\n",
		r.Chunks, r.Dims, r.Entities, r.Queries, r.Loaded, r.LoadS, r.IndexS)
	fmt.Fprintf(w, "  filtered top-5 (HNSW per department table, ef_search %d): p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, %.0f qps, recall@5 %.4f\n",
		r.EfSearch, r.P50, r.P95, r.P99, r.QPS, r.RecallAt5)
	fmt.Fprintf(w, "  of which other entities' topics (one query in five): recall@5 %.4f\n", r.ForeignRecallAt5)
	fmt.Fprintf(w, "  off-field queries, apart (%d): recall@5 %.4f, p99 %.2f ms\n", r.OffFieldQueries, r.OffFieldRecallAt5, r.OffFieldP99)
	fmt.Fprintf(w, "  exact filtered scan: p50 %.2f ms, p99 %.2f ms\n", r.ExactP50, r.ExactP99)
	fmt.Fprintf(w, "  naive form:          p50 %.2f ms, p99 %.2f ms (%.0fx the p99 above)\n", r.NaiveP50, r.NaiveP99, r.NaiveP99/math.Max(r.P99, 0.001))
	fmt.Fprintf(w, "  context fetch (Redis): p50 %.3f ms, p99 %.3f ms\n", r.ContextFetchP50, r.ContextFetchP99)
}

// WriteJSON writes the report to path.
func (r RetrievalReport) WriteJSON(path string) error { return writeJSON(path, r) }
