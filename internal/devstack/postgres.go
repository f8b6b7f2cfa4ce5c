package devstack

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresBinDir is where Debian's postgresql-15 puts initdb and postgres.
const PostgresBinDir = "/usr/lib/postgresql/15/bin"

// Postgres is a private PostgreSQL cluster with the vector extension, on loopback.
type Postgres struct {
	// Dir is the cluster's data directory.
	Dir string
	// Port is the TCP port on 127.0.0.1.
	Port int
	// Durable keeps fsync on; tests turn it off for speed.
	Durable bool
	// Settings are server parameters (name → value) passed with -c, such as
	// shared_buffers for a load that should stay in memory.
	Settings map[string]string

	proc *process
}

const (
	pgUser     = "attendant"
	pgDatabase = "attendant"
)

// URL is the connection string for the cluster's attendant database.
func (p *Postgres) URL() string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", pgUser, p.Port, pgDatabase)
}

// postgresCredential returns the user the server must run as: PostgreSQL refuses to
// run as root, so root runs it as Debian's postgres user.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL needs the postgres user (install Debian's postgresql-15: make deps): %w", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// ClusterDir chooses the data directory for a cluster wanted at want. As root the
// server runs as the postgres user, which must be able to reach the folder; when an
// ancestor of want is closed to other users (a clone under a private temporary
// folder, say), the cluster lives under /var/lib/postgresql instead, with want a
// symbolic link to it.
func ClusterDir(want string) (string, error) {
	abs, err := filepath.Abs(want)
	if err != nil {
		return "", err
	}
	if os.Geteuid() != 0 || traversable(filepath.Dir(abs)) {
		return abs, nil
	}
	sum := sha256.Sum256([]byte(abs))
	real := filepath.Join("/var/lib/postgresql/attendant", hex.EncodeToString(sum[:6]))
	if target, err := os.Readlink(abs); err == nil && target == real {
		return real, nil
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return "", err
	}
	_ = os.Remove(abs) // only succeeds on a stale link or an empty folder
	if err := os.Symlink(real, abs); err != nil {
		return "", fmt.Errorf("link %s to %s: %w", abs, real, err)
	}
	return real, nil
}

// traversable reports whether every folder from dir up to / lets other users through.
func traversable(dir string) bool {
	for {
		fi, err := os.Stat(dir)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return true
		}
		dir = parent
	}
}

func (p *Postgres) bin(name string) string {
	path := filepath.Join(PostgresBinDir, name)
	if _, err := os.Stat(path); err == nil {
		return path
	}
	if found, err := exec.LookPath(name); err == nil {
		return found
	}
	return path
}

// initCluster runs initdb when the data directory holds no cluster yet.
func (p *Postgres) initCluster(ctx context.Context, cred *syscall.Credential, logPath string) error {
	if _, err := os.Stat(filepath.Join(p.Dir, "PG_VERSION")); err == nil {
		return nil
	}
	// The parent must let the postgres user through when the cluster lives outside
	// the data folder (see ClusterDir).
	if err := os.MkdirAll(filepath.Dir(p.Dir), 0o755); err != nil {
		return err
	}
	if err := os.Mkdir(p.Dir, 0o700); err != nil && !os.IsExist(err) {
		return err
	}
	if cred != nil {
		if err := os.Chown(p.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
	}
	cmd := exec.CommandContext(ctx, p.bin("initdb"), "-D", p.Dir, "-U", pgUser, "--auth=trust", "-E", "UTF8", "--locale=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Dir = "/"
	out, err := cmd.CombinedOutput()
	_ = os.WriteFile(logPath, out, 0o644)
	if err != nil {
		return fmt.Errorf("initdb %s: %w\n%s", p.Dir, err, out)
	}
	return nil
}

// start initialises the cluster if needed, starts the server and waits until the
// attendant database exists with the vector extension.
func (p *Postgres) start(ctx context.Context, logDir, runDir string, log *slog.Logger) error {
	cred, err := postgresCredential()
	if err != nil {
		return err
	}
	if err := p.initCluster(ctx, cred, filepath.Join(logDir, "initdb.log")); err != nil {
		return err
	}
	// A server killed with its parent leaves postmaster.pid behind; PostgreSQL itself
	// ignores it when the pid is dead, but a live stale server is stopped by killStale.
	fsync := "off"
	if p.Durable {
		fsync = "on"
	}
	args := []string{"-D", p.Dir, "-p", strconv.Itoa(p.Port), "-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories=", "-c", "fsync=" + fsync, "-c", "max_connections=200"}
	for _, k := range slices.Sorted(maps.Keys(p.Settings)) {
		args = append(args, "-c", k+"="+p.Settings[k])
	}
	p.proc = &process{
		name:    "postgres",
		bin:     p.bin("postgres"),
		args:    args,
		logPath: filepath.Join(logDir, "postgres.log"),
		pidPath: filepath.Join(runDir, "postgres.pid"),
		cred:    cred,
		log:     log,
		// Fast shutdown: PostgreSQL ends its sessions, checkpoints and exits.
		deathSig: syscall.SIGINT,
	}
	if err := p.proc.start(); err != nil {
		return err
	}
	admin := fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable", pgUser, p.Port)
	err = p.proc.waitReady(ctx, 60*time.Second, func(ctx context.Context) error {
		return pgPing(ctx, admin)
	})
	if err != nil {
		return err
	}
	if err := p.ensureDatabase(ctx, admin); err != nil {
		return p.proc.failure(err)
	}
	return nil
}

func (p *Postgres) ensureDatabase(ctx context.Context, admin string) error {
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		return err
	}
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", pgDatabase).Scan(&exists); err != nil {
		conn.Close(ctx)
		return err
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgDatabase); err != nil {
			conn.Close(ctx)
			return err
		}
	}
	conn.Close(ctx)
	db, err := pgx.Connect(ctx, p.URL())
	if err != nil {
		return err
	}
	defer db.Close(ctx)
	if _, err := db.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS vector"); err != nil {
		return fmt.Errorf("create extension vector (is pgvector installed? make deps builds it): %w", err)
	}
	return nil
}

func pgPing(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	return conn.Close(ctx)
}

// Ready checks that the server accepts connections to the attendant database.
func (p *Postgres) Ready(ctx context.Context) error { return pgPing(ctx, p.URL()) }
