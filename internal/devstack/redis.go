package devstack

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Redis is a redis-server on loopback with persistence off.
type Redis struct {
	Dir  string
	Port int

	proc *process
}

// Addr is the server's host:port.
func (r *Redis) Addr() string { return fmt.Sprintf("127.0.0.1:%d", r.Port) }

func (r *Redis) start(ctx context.Context, logDir, runDir string, log *slog.Logger) error {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return fmt.Errorf("redis-server not found (install Debian's redis-server: make deps): %w", err)
	}
	if err := os.MkdirAll(r.Dir, 0o755); err != nil {
		return err
	}
	r.proc = &process{
		name: "redis",
		bin:  bin,
		args: []string{"--bind", "127.0.0.1", "--port", strconv.Itoa(r.Port), "--dir", r.Dir,
			"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"},
		logPath: filepath.Join(logDir, "redis.log"),
		pidPath: filepath.Join(runDir, "redis.pid"),
		log:     log,
	}
	if err := r.proc.start(); err != nil {
		return err
	}
	return r.proc.waitReady(ctx, 20*time.Second, r.Ready)
}

// Ready sends PING and expects PONG.
func (r *Redis) Ready(ctx context.Context) error {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", r.Addr())
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(time.Second))
	if _, err := conn.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("redis answered %q to PING", strings.TrimSpace(line))
	}
	return nil
}
