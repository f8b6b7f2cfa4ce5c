package retrieval

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/jackc/pgx/v5"
	"github.com/pgvector/pgvector-go"
)

// ErrDeadline means a search did not finish within its deadline; the caller goes on
// without fresh knowledge.
var ErrDeadline = errors.New("knowledge search deadline passed")

// rrfK is reciprocal rank fusion's constant: a hit's score is the sum over the lists
// it is in of 1/(rrfK + rank).
const rrfK = 60

// Query is a search within one entity.
type Query struct {
	Entity string
	// Department narrows to that department's documents and the entity-wide ones;
	// empty searches the entity-wide documents only.
	Department string
	// Text is matched by full-text search; Vector (its embedding) by nearest neighbour.
	Text   string
	Vector []float32
	// K is how many hits to return (default 5); Candidates how many each method
	// contributes before fusion (default 4K).
	K, Candidates int
	// MinSimilarity drops hits found only by vector whose cosine similarity is below
	// it, after the search (a threshold in WHERE would stop the index being used).
	MinSimilarity float64
}

// Hit is one chunk found.
type Hit struct {
	DocumentID int64
	Document   string
	Index      int
	Text       string
	// Similarity is the cosine similarity to the query vector, or NaN if the chunk
	// was found by text only.
	Similarity float64
	// VectorRank and TextRank are the chunk's 1-based rank in each list, 0 if absent.
	VectorRank, TextRank int
	Score                float64
}

// Search finds the chunks of q.Entity most relevant to q: the HNSW nearest
// neighbours of q.Vector and the full-text matches of q.Text, fused by reciprocal
// rank. ctx's deadline bounds it; past it the error wraps ErrDeadline.
func (s *Store) Search(ctx context.Context, q Query) ([]Hit, error) {
	if !idRE.MatchString(q.Entity) {
		return nil, fmt.Errorf("%w: entity id %q", ErrInvalid, q.Entity)
	}
	if len(q.Vector) != s.dims {
		return nil, fmt.Errorf("%w: query vector has %d dimensions; want %d", ErrInvalid, len(q.Vector), s.dims)
	}
	if q.K <= 0 {
		q.K = 5
	}
	if q.Candidates < q.K {
		q.Candidates = 4 * q.K
	}
	sql := `
WITH v AS MATERIALIZED (` + nearestSQL(s.dims) + `
), vr AS (
	SELECT document_id, idx, distance, row_number() OVER (ORDER BY distance) AS r FROM v
), t AS (
	SELECT document_id, idx, row_number() OVER (ORDER BY ts_rank_cd(tsv, query) DESC, document_id, idx) AS r
	FROM knowledge_chunks, websearch_to_tsquery('english', $5) AS query
	WHERE entity_id = $1 AND (department_id = $2 OR department_id IS NULL) AND tsv @@ query
	ORDER BY ts_rank_cd(tsv, query) DESC
	LIMIT $4
)
SELECT f.document_id, d.name, f.idx, c.content, f.distance, coalesce(f.vr, 0), coalesce(f.tr, 0)
FROM (SELECT document_id, idx, vr.distance, vr.r AS vr, t.r AS tr FROM vr FULL JOIN t USING (document_id, idx)) AS f
JOIN knowledge_chunks c ON c.entity_id = $1 AND (c.department_id = $2 OR c.department_id IS NULL)
	AND c.document_id = f.document_id AND c.idx = f.idx
JOIN knowledge_documents d ON d.id = f.document_id`
	rows, err := s.pool.Query(ctx, sql, q.Entity, nullable(q.Department), pgvector.NewVector(q.Vector), q.Candidates, q.Text)
	if err != nil {
		return nil, searchErr(ctx, err)
	}
	hits, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Hit, error) {
		var h Hit
		var distance *float64
		var vr, tr int64
		if err := r.Scan(&h.DocumentID, &h.Document, &h.Index, &h.Text, &distance, &vr, &tr); err != nil {
			return h, err
		}
		h.VectorRank, h.TextRank = int(vr), int(tr)
		h.Similarity = math.NaN()
		if distance != nil {
			h.Similarity = 1 - *distance
		}
		return h, nil
	})
	if err != nil {
		return nil, searchErr(ctx, err)
	}
	return fuse(hits, q.K, q.MinSimilarity), nil
}

// fuse scores hits by reciprocal rank fusion, drops vector-only hits under floor
// similarity, and keeps the best k.
func fuse(hits []Hit, k int, floor float64) []Hit {
	kept := hits[:0]
	for _, h := range hits {
		if h.TextRank == 0 && !(h.Similarity >= floor) {
			continue
		}
		if h.VectorRank > 0 {
			h.Score += 1.0 / float64(rrfK+h.VectorRank)
		}
		if h.TextRank > 0 {
			h.Score += 1.0 / float64(rrfK+h.TextRank)
		}
		kept = append(kept, h)
	}
	slices.SortStableFunc(kept, func(a, b Hit) int {
		switch {
		case a.Score > b.Score:
			return -1
		case a.Score < b.Score:
			return 1
		case a.DocumentID != b.DocumentID:
			return int(a.DocumentID - b.DocumentID)
		}
		return a.Index - b.Index
	})
	return kept[:min(k, len(kept))]
}

func searchErr(ctx context.Context, err error) error {
	if ctx.Err() != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("%w: %v", ErrDeadline, err)
	}
	return fmt.Errorf("retrieval: search: %w", err)
}

// Neighbor is a chunk found by vector alone.
type Neighbor struct {
	DocumentID int64
	Index      int
	Distance   float64
}

// Nearest returns the k chunks of entity (department-or-none, as Search) nearest to
// vec by cosine distance through the entity's HNSW index; exact makes it a scan of
// every row the filter admits instead, the ground truth benchmarks compare with.
func (s *Store) Nearest(ctx context.Context, entity, department string, vec []float32, k int, exact bool) ([]Neighbor, error) {
	if len(vec) != s.dims {
		return nil, fmt.Errorf("%w: query vector has %d dimensions; want %d", ErrInvalid, len(vec), s.dims)
	}
	sql := nearestSQL(s.dims)
	args := []any{entity, nullable(department), pgvector.NewVector(vec), k}
	collect := func(rows pgx.Rows) ([]Neighbor, error) {
		return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Neighbor, error) {
			var n Neighbor
			return n, r.Scan(&n.DocumentID, &n.Index, &n.Distance)
		})
	}
	if !exact {
		rows, err := s.pool.Query(ctx, sql, args...)
		if err != nil {
			return nil, searchErr(ctx, err)
		}
		return collect(rows)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // read-only
	if _, err := tx.Exec(ctx, `SET LOCAL enable_indexscan = off`); err != nil {
		return nil, err
	}
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, searchErr(ctx, err)
	}
	return collect(rows)
}

// nearestSQL finds the $4 chunks of entity $1 nearest to $3 among department $2's
// and the entity-wide ones. Each side reads one department table (partition pruning)
// through its own HNSW index, with no filter for the scan to skip rows by: the inner
// ORDER BY matches the index expression. The results are merged in exact order.
func nearestSQL(dims int) string {
	side := func(where string) string {
		return fmt.Sprintf(`(SELECT document_id, idx, embedding::vector(%[1]d) <=> $3::vector(%[1]d) AS distance
		FROM knowledge_chunks WHERE entity_id = $1 AND %[2]s
		ORDER BY embedding::vector(%[1]d) <=> $3::vector(%[1]d) LIMIT $4)`, dims, where)
	}
	return `SELECT document_id, idx, distance FROM (
	` + side("department_id = $2") + `
	UNION ALL
	` + side("department_id IS NULL") + `
) AS n ORDER BY distance LIMIT $4`
}
