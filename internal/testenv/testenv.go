// Package testenv gives integration tests the project's real services: PostgreSQL with
// pgvector, Redis and LiveKit, started by internal/devstack on free loopback ports.
//
// One shared stack is started lazily per test binary and reused by every test in it;
// Main stops it when the tests end. Tests that must disturb a service (restart it)
// take a private one with LiveKit(t). Nothing is skipped when a dependency is missing:
// the test fails and says to run `make deps`. Only `go test -short` skips integration
// tests.
package testenv

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/attendant/attendant/internal/devstack"
)

var (
	once    sync.Once
	shared  *devstack.Stack
	errOnce error
	dirs    []string
	mu      sync.Mutex
)

// Main runs the package's tests, stops the shared services and then fails the run if
// any goroutine a test started is still running (goleak). Call it from TestMain:
// func TestMain(m *testing.M) { testenv.Main(m) }.
func Main(m *testing.M, leakOpts ...goleak.Option) {
	code := m.Run()
	if shared != nil {
		shared.Stop()
	}
	mu.Lock()
	for _, d := range dirs {
		os.RemoveAll(d)
	}
	mu.Unlock()
	if code == 0 && !testing.Short() {
		if err := goleak.Find(leakOpts...); err != nil {
			fmt.Fprintf(os.Stderr, "goroutines left running after the tests: %v\n", err)
			code = 1
		}
	}
	os.Exit(code)
}

// Integration marks t as an integration test: skipped only under -short.
func Integration(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
}

// Shared returns the shared stack with PostgreSQL, Redis and LiveKit, starting it on
// first use. A failure to start fails the test with the service's log tail.
func Shared(t testing.TB) *devstack.Stack {
	t.Helper()
	Integration(t)
	once.Do(func() {
		dir, err := tempDir()
		if err != nil {
			errOnce = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		shared, errOnce = devstack.Start(ctx, devstack.Options{
			Dir:           dir,
			LiveKitBinary: LiveKitBinary(),
			Postgres:      true, Redis: true, LiveKit: true,
			Logger: logger(),
		})
	})
	if errOnce != nil {
		t.Fatalf("start test services: %v", errOnce)
	}
	return shared
}

// LiveKit starts a private LiveKit server for t, stopped when t ends.
func LiveKit(t testing.TB) *devstack.LiveKit {
	t.Helper()
	return LiveKitWithWebhooks(t)
}

// LiveKitBinary finds livekit-server: $LIVEKIT_SERVER, or bin/livekit-server at the
// module root that `make deps` fills.
func LiveKitBinary() string {
	if p := os.Getenv("LIVEKIT_SERVER"); p != "" {
		return p
	}
	return filepath.Join(ModuleRoot(), "bin", "livekit-server")
}

// Attendant builds the attendant binary into the test's temporary folder and
// returns its path, for tests that run it as real processes.
func Attendant(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "attendant")
	build := exec.Command("go", "build", "-o", bin, "github.com/attendant/attendant/cmd/attendant")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// ModuleRoot is the folder holding go.mod, found from the working directory up.
func ModuleRoot() string {
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
		if filepath.Dir(d) == d {
			return dir
		}
	}
}

// tempDir makes a folder the postgres user can reach when tests run as root.
func tempDir() (string, error) {
	dir, err := os.MkdirTemp("", "attendant-test-")
	if err != nil {
		return "", fmt.Errorf("temp dir: %w", err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", err
	}
	mu.Lock()
	dirs = append(dirs, dir)
	mu.Unlock()
	return dir, nil
}

func logger() *slog.Logger {
	if os.Getenv("TESTENV_VERBOSE") != "" {
		return slog.Default()
	}
	return slog.New(slog.DiscardHandler)
}

var dbSeq atomic.Int64

// Database creates an empty database on the shared PostgreSQL for t, dropped when t
// ends, and returns its URL.
func Database(t testing.TB) string {
	t.Helper()
	stack := Shared(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	admin, err := pgx.Connect(ctx, stack.Postgres.URL())
	if err != nil {
		t.Fatalf("connect to %s: %v", stack.Postgres.URL(), err)
	}
	defer admin.Close(context.Background())
	name := fmt.Sprintf("test_%d_%d", os.Getpid(), dbSeq.Add(1))
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("CREATE DATABASE %s: %v", name, err)
	}
	t.Cleanup(func() {
		bg, done := context.WithTimeout(context.Background(), 30*time.Second)
		defer done()
		admin, err := pgx.Connect(bg, stack.Postgres.URL())
		if err != nil {
			t.Errorf("drop database %s: %v", name, err)
			return
		}
		defer admin.Close(bg)
		if _, err := admin.Exec(bg, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Errorf("DROP DATABASE %s: %v", name, err)
		}
	})
	u, err := url.Parse(stack.Postgres.URL())
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// FreeAddr returns a loopback address whose port was free a moment ago, for a
// server that must be told its address before it listens (a raft transport that
// is restarted at the same address).
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
