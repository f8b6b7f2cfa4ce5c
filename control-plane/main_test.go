package controlplane

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/attendant/attendant/internal/migrate"
	"github.com/attendant/attendant/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// testDB returns a pool on a new, migrated database of the shared PostgreSQL.
func testDB(t testing.TB) *pgxpool.Pool {
	t.Helper()
	ctx := context.Background()
	url := testenv.Database(t)
	pool, err := pgxpool.New(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	if _, err := migrate.Up(ctx, conn.Conn()); err != nil {
		t.Fatal(err)
	}
	return pool
}

// testRedis returns a client of the shared Redis. Tests use keys of their own
// (random tokens, ids of their own databases' rows) rather than flushing it.
func testRedis(t testing.TB) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Shared(t).Redis.Addr()})
	t.Cleanup(func() { rdb.Close() })
	return rdb
}
