package migrate

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/attendant/attendant/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var dbSeq atomic.Int64

// freshDB creates an empty database for t on the shared PostgreSQL and returns a
// function that opens a new connection to it. The connections and the database are
// dropped when t ends.
func freshDB(t *testing.T) (ctx context.Context, connect func() *pgx.Conn) {
	t.Helper()
	stack := testenv.Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)

	admin, err := pgx.Connect(ctx, stack.Postgres.URL())
	if err != nil {
		t.Fatalf("connect to %s: %v", stack.Postgres.URL(), err)
	}
	name := fmt.Sprintf("migrate_test_%d_%d", os.Getpid(), dbSeq.Add(1))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close(ctx)
		t.Fatalf("CREATE DATABASE %s: %v", name, err)
	}
	var (
		mu    sync.Mutex
		conns []*pgx.Conn
	)
	t.Cleanup(func() {
		bg, done := context.WithTimeout(context.Background(), 30*time.Second)
		defer done()
		mu.Lock()
		for _, c := range conns {
			c.Close(bg)
		}
		mu.Unlock()
		if _, err := admin.Exec(bg, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
		admin.Close(bg)
	})

	cfg, err := pgx.ParseConfig(stack.Postgres.URL())
	if err != nil {
		t.Fatal(err)
	}
	cfg.Database = name
	return ctx, func() *pgx.Conn {
		t.Helper()
		c, err := pgx.ConnectConfig(ctx, cfg.Copy())
		if err != nil {
			t.Fatalf("connect to database %s: %v", name, err)
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		return c
	}
}

type appliedRow struct {
	Version int
	Name    string
}

func appliedRows(t *testing.T, ctx context.Context, conn *pgx.Conn) []appliedRow {
	t.Helper()
	rows, err := conn.Query(ctx, "SELECT version, name FROM schema_migrations ORDER BY version")
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (appliedRow, error) {
		var a appliedRow
		err := r.Scan(&a.Version, &a.Name)
		return a, err
	})
	if err != nil {
		t.Fatalf("read schema_migrations: %v", err)
	}
	return out
}

func tableExists(t *testing.T, ctx context.Context, conn *pgx.Conn, table string) bool {
	t.Helper()
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass($1) IS NOT NULL", table).Scan(&exists); err != nil {
		t.Fatalf("to_regclass(%q): %v", table, err)
	}
	return exists
}

// lockFree reports whether the migration advisory lock can be taken from another
// session, releasing it again if so.
func lockFree(t *testing.T, ctx context.Context, conn *pgx.Conn) bool {
	t.Helper()
	var got bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", lockID).Scan(&got); err != nil {
		t.Fatalf("pg_try_advisory_lock: %v", err)
	}
	if got {
		if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock($1)", lockID); err != nil {
			t.Fatalf("pg_advisory_unlock: %v", err)
		}
	}
	return got
}

func embeddedNames(t *testing.T) ([]Migration, []string) {
	t.Helper()
	ms, err := All()
	if err != nil {
		t.Fatalf("All(): %v", err)
	}
	var names []string
	for _, m := range ms {
		names = append(names, m.Name)
	}
	return ms, names
}

func TestUpAppliesOnce(t *testing.T) {
	ctx, connect := freshDB(t)
	conn := connect()
	ms, want := embeddedNames(t)

	got, err := Up(ctx, conn)
	if err != nil {
		t.Fatalf("first Up: %v", err)
	}
	if !slices.Equal(got, want) {
		t.Errorf("first Up applied %v; want %v", got, want)
	}

	var ext int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_extension WHERE extname = 'vector'").Scan(&ext); err != nil {
		t.Fatalf("query pg_extension: %v", err)
	}
	if ext != 1 {
		t.Errorf("pg_extension rows for vector after Up = %d; want 1", ext)
	}
	// The extension is usable, not just recorded.
	var dist float64
	if err := conn.QueryRow(ctx, "SELECT '[1,2,3]'::vector <-> '[1,2,5]'::vector").Scan(&dist); err != nil {
		t.Errorf("vector distance after Up: %v", err)
	} else if dist != 2 {
		t.Errorf("'[1,2,3]' <-> '[1,2,5]' = %v; want 2", dist)
	}

	rows := appliedRows(t, ctx, conn)
	if len(rows) != len(ms) {
		t.Fatalf("schema_migrations after Up = %v; want %d rows", rows, len(ms))
	}
	for i, m := range ms {
		if rows[i].Version != m.Version || rows[i].Name != m.Name {
			t.Errorf("schema_migrations row %d = %+v; want {%d %s}", i, rows[i], m.Version, m.Name)
		}
	}

	got, err = Up(ctx, conn)
	if err != nil {
		t.Fatalf("second Up: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("second Up applied %v; want nothing", got)
	}
	if rows := appliedRows(t, ctx, conn); len(rows) != len(ms) {
		t.Errorf("schema_migrations after second Up = %v; want %d rows", rows, len(ms))
	}

	// A fresh connection (another process) also finds nothing to do.
	other := connect()
	got, err = Up(ctx, other)
	if err != nil {
		t.Fatalf("Up on another connection: %v", err)
	}
	if len(got) != 0 {
		t.Errorf("Up on another connection applied %v; want nothing", got)
	}
	if !lockFree(t, ctx, connect()) {
		t.Error("the migration advisory lock is still held after Up returned")
	}
}

// concurrently runs f on n fresh connections at once and returns what each applied.
func concurrently(t *testing.T, ctx context.Context, connect func() *pgx.Conn, n int, f func(context.Context, *pgx.Conn) ([]string, error)) [][]string {
	t.Helper()
	conns := make([]*pgx.Conn, n)
	for i := range conns {
		conns[i] = connect()
	}
	applied := make([][]string, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, c := range conns {
		wg.Go(func() {
			<-start
			applied[i], errs[i] = f(ctx, c)
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("concurrent run %d: %v", i, err)
		}
	}
	return applied
}

func TestUpConcurrent(t *testing.T) {
	ctx, connect := freshDB(t)
	ms, want := embeddedNames(t)

	applied := concurrently(t, ctx, connect, 2, Up)
	all := slices.Concat(applied...)
	slices.Sort(all)
	wantSorted := slices.Clone(want)
	slices.Sort(wantSorted)
	if !slices.Equal(all, wantSorted) {
		t.Errorf("two concurrent Up calls applied %v and %v; want %v applied once in total", applied[0], applied[1], want)
	}
	if rows := appliedRows(t, ctx, connect()); len(rows) != len(ms) {
		t.Errorf("schema_migrations after concurrent Up = %v; want %d rows", rows, len(ms))
	}
}

func TestApplyConcurrentNonIdempotent(t *testing.T) {
	// CREATE TABLE without IF NOT EXISTS fails if applied twice, so any double
	// application under concurrency shows up as an error.
	ms := []Migration{
		{Version: 1, Name: "0001_a.sql", SQL: "CREATE TABLE a (id int PRIMARY KEY)"},
		{Version: 2, Name: "0002_b.sql", SQL: "CREATE TABLE b (id int PRIMARY KEY); INSERT INTO b VALUES (1)"},
		{Version: 3, Name: "0003_c.sql", SQL: "ALTER TABLE a ADD COLUMN note text; SELECT pg_sleep(0.05)"},
	}
	ctx, connect := freshDB(t)
	applied := concurrently(t, ctx, connect, 4, func(ctx context.Context, c *pgx.Conn) ([]string, error) {
		return apply(ctx, c, ms)
	})
	counts := map[string]int{}
	for _, names := range applied {
		for _, n := range names {
			counts[n]++
		}
	}
	for _, m := range ms {
		if counts[m.Name] != 1 {
			t.Errorf("%s applied %d times by 4 concurrent runs (%v); want exactly once", m.Name, counts[m.Name], applied)
		}
	}
	conn := connect()
	if rows := appliedRows(t, ctx, conn); len(rows) != len(ms) {
		t.Errorf("schema_migrations after concurrent apply = %v; want %d rows", rows, len(ms))
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM b").Scan(&n); err != nil {
		t.Fatalf("count b: %v", err)
	}
	if n != 1 {
		t.Errorf("rows in b = %d; want 1 (the migration's INSERT ran once)", n)
	}
}

func TestApplyFailingMigration(t *testing.T) {
	ctx, connect := freshDB(t)
	conn := connect()
	good := Migration{Version: 1, Name: "0001_good.sql", SQL: "CREATE TABLE good (id int PRIMARY KEY); INSERT INTO good VALUES (7)"}
	// The first statement is valid; the second is not, so the whole file must be undone.
	broken := Migration{Version: 2, Name: "0002_broken.sql", SQL: "CREATE TABLE half_done (id int); SELEC oops FROM nowhere"}
	later := Migration{Version: 3, Name: "0003_later.sql", SQL: "CREATE TABLE later (id int)"}

	got, err := apply(ctx, conn, []Migration{good, broken, later})
	if err == nil {
		t.Fatalf("apply with a broken migration applied %v and returned nil; want an error", got)
	}
	if !strings.Contains(err.Error(), broken.Name) {
		t.Errorf("apply error = %q; want it to name %s", err, broken.Name)
	}
	if !slices.Equal(got, []string{good.Name}) {
		t.Errorf("apply with a broken migration returned applied %v; want [%s]", got, good.Name)
	}

	// The same connection stays usable after the failed transaction.
	check := conn
	if !tableExists(t, ctx, check, "good") {
		t.Errorf("table good (from %s) missing after the later migration failed; want it kept", good.Name)
	}
	var v int
	if err := check.QueryRow(ctx, "SELECT id FROM good").Scan(&v); err != nil || v != 7 {
		t.Errorf("SELECT id FROM good = %d, %v; want 7, nil", v, err)
	}
	if tableExists(t, ctx, check, "half_done") {
		t.Errorf("table half_done from the failed %s exists; want its effects rolled back", broken.Name)
	}
	if tableExists(t, ctx, check, "later") {
		t.Errorf("table later exists; want migrations after the failed one not applied")
	}
	rows := appliedRows(t, ctx, check)
	if want := []appliedRow{{good.Version, good.Name}}; !slices.Equal(rows, want) {
		t.Errorf("schema_migrations after failed apply = %v; want %v", rows, want)
	}
	if !lockFree(t, ctx, connect()) {
		t.Error("the migration advisory lock is still held after apply failed")
	}

	// Once fixed, a rerun applies the remaining migrations and nothing twice.
	fixed := Migration{Version: 2, Name: "0002_broken.sql", SQL: "CREATE TABLE half_done (id int)"}
	got, err = apply(ctx, conn, []Migration{good, fixed, later})
	if err != nil {
		t.Fatalf("apply after fixing the migration: %v", err)
	}
	if want := []string{fixed.Name, later.Name}; !slices.Equal(got, want) {
		t.Errorf("apply after fixing the migration applied %v; want %v", got, want)
	}
	if rows := appliedRows(t, ctx, conn); len(rows) != 3 {
		t.Errorf("schema_migrations after the rerun = %v; want 3 rows", rows)
	}
}

// TestApplyRecordIsAtomic checks that a migration and its schema_migrations row commit
// together: when recording fails, the migration's own statements are undone too.
func TestApplyRecordIsAtomic(t *testing.T) {
	ctx, connect := freshDB(t)
	conn := connect()
	// The SQL succeeds, but forbids its own row in schema_migrations, so recording it fails.
	sneaky := Migration{Version: 1, Name: "0001_sneaky.sql", SQL: `CREATE TABLE sneaky (id int);
		ALTER TABLE schema_migrations ADD CONSTRAINT no_one CHECK (version <> 1)`}
	got, err := apply(ctx, conn, []Migration{sneaky})
	if err == nil {
		t.Fatalf("apply(%s) = %v, nil; want the schema_migrations insert to fail", sneaky.Name, got)
	}
	if !strings.Contains(err.Error(), sneaky.Name) {
		t.Errorf("apply error = %q; want it to name %s", err, sneaky.Name)
	}
	if len(got) != 0 {
		t.Errorf("apply(%s) returned applied %v; want nothing", sneaky.Name, got)
	}
	if tableExists(t, ctx, conn, "sneaky") {
		t.Errorf("table sneaky exists although %s was not recorded; want the migration and its record in one transaction", sneaky.Name)
	}
	if rows := appliedRows(t, ctx, conn); len(rows) != 0 {
		t.Errorf("schema_migrations = %v; want no rows", rows)
	}
}

func TestUpCancelledContext(t *testing.T) {
	ctx, connect := freshDB(t)
	conn := connect()
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if got, err := Up(cctx, conn); err == nil {
		t.Errorf("Up with a cancelled context applied %v and returned nil; want an error", got)
	}
	if !lockFree(t, ctx, connect()) {
		t.Error("the migration advisory lock is held after Up with a cancelled context")
	}
}
