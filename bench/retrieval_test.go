package bench

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/attendant/attendant/internal/migrate"
	"github.com/attendant/attendant/internal/testenv"
)

// The retrieval scenario loads a small corpus, measures, and reuses the corpus on a
// second run.
func TestRetrievalScenario(t *testing.T) {
	url := testenv.Database(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Up(ctx, conn); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	o := RetrievalOptions{Chunks: 3000, Dims: 64, Entities: 3, Queries: 40,
		DatabaseURL: url, RedisAddr: testenv.Shared(t).Redis.Addr()}
	rep, err := Retrieval(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Loaded || rep.Chunks != 3000 || rep.P50 <= 0 || rep.P99 < rep.P50 || rep.QPS <= 0 {
		t.Errorf("report %+v; want a loaded corpus and ordered timings", rep)
	}
	// On a corpus this small the HNSW search should find nearly all of the exact top 5.
	if rep.RecallAt5 < 0.8 || rep.RecallAt5 > 1 {
		t.Errorf("recall@5 = %v; want at least 0.8", rep.RecallAt5)
	}
	if rep.NaiveP50 <= 0 || rep.ContextFetchP99 <= 0 || rep.ExactP50 <= 0 {
		t.Errorf("report %+v lacks the naive, exact or context-fetch timings", rep)
	}
	again, err := Retrieval(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if again.Loaded {
		t.Error("second run loaded the corpus again; want it reused")
	}
	if again.OffFieldQueries != 8 || again.OffFieldRecallAt5 <= 0 || again.ForeignRecallAt5 <= 0 {
		t.Errorf("report %+v; want 8 off-field queries measured apart and foreign-topic recall", again)
	}
	// A corpus generated otherwise (here, another seed) is not mistaken for the loaded one.
	o.Seed = 8
	other, err := Retrieval(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	if !other.Loaded {
		t.Error("a run with another seed reused the loaded corpus; want it reloaded")
	}
}
