package devstack

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

func TestRetryPorts(t *testing.T) {
	tests := []struct {
		name      string
		failures  []error
		wantCalls int
		wantErr   bool
	}{
		{"first try", nil, 1, false},
		{"taken port then free", []error{errors.New("postgres: could not bind: Address already in use")}, 2, false},
		{"always taken", []error{errors.New("address already in use"), errors.New("address already in use"), errors.New("address already in use")}, 3, true},
		{"other failure is not retried", []error{errors.New("initdb failed")}, 1, true},
	}
	for _, tc := range tests {
		calls := 0
		err := retryPorts(context.Background(), func() error {
			calls++
			if calls <= len(tc.failures) {
				return tc.failures[calls-1]
			}
			return nil
		})
		if calls != tc.wantCalls || (err != nil) != tc.wantErr {
			t.Errorf("%s: %d calls, err %v; want %d calls, error %v", tc.name, calls, err, tc.wantCalls, tc.wantErr)
		}
	}
}

func TestFreePortsDiffer(t *testing.T) {
	ports, err := freePorts(3)
	if err != nil {
		t.Fatal(err)
	}
	if ports[0] == ports[1] || ports[1] == ports[2] || ports[0] == ports[2] {
		t.Errorf("freePorts(3) = %v; want three different ports", ports)
	}
}

func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func exited(cmd *exec.Cmd) bool {
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(5 * time.Second):
		return false
	}
}

func TestKillStale(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	sleepPath, _ := exec.LookPath("sleep")
	sleepPath, _ = filepath.EvalSymlinks(sleepPath)

	// A live process running the binary the pid file names: left from a crash, stopped.
	own := startSleep(t)
	pidFile := filepath.Join(t.TempDir(), "svc.pid")
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(own.Process.Pid)+"\n"+sleepPath+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	killStale(pidFile, log)
	if !exited(own) {
		t.Error("killStale left the stale process of the named binary running")
	}
	if _, err := os.Stat(pidFile); !os.IsNotExist(err) {
		t.Errorf("stale pid file still there: %v", err)
	}

	// A live process of another program (the pid was reused): left alone.
	other := startSleep(t)
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(other.Process.Pid)+"\n/usr/bin/redis-server\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	killStale(pidFile, log)
	if err := syscall.Kill(other.Process.Pid, 0); err != nil {
		t.Errorf("killStale stopped an unrelated process: %v", err)
	}

	// Garbage and missing pid files are ignored.
	for _, content := range []string{"", "abc\n", "1\n/sbin/init\n", "-5\nx\n"} {
		if err := os.WriteFile(pidFile, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		killStale(pidFile, log)
	}
	killStale(filepath.Join(t.TempDir(), "none.pid"), log)
}

func TestClusterDirForRootInPrivateFolder(t *testing.T) {
	if os.Geteuid() != 0 {
		dir := filepath.Join(t.TempDir(), "pg")
		got, err := ClusterDir(dir)
		if err != nil || got != dir {
			t.Fatalf("ClusterDir(%q) = %q, %v; want the folder itself when not root", dir, got, err)
		}
		return
	}
	private := t.TempDir() // 0700: the postgres user cannot pass
	want := filepath.Join(private, "data", "postgres")
	got, err := ClusterDir(want)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(got) })
	if got == want || filepath.Dir(filepath.Dir(got)) != "/var/lib/postgresql" {
		t.Errorf("ClusterDir(%q) = %q; want a folder under /var/lib/postgresql", want, got)
	}
	if link, err := os.Readlink(want); err != nil || link != got {
		t.Errorf("%s links to %q (%v); want %q", want, link, err, got)
	}
	again, err := ClusterDir(want)
	if err != nil || again != got {
		t.Errorf("second ClusterDir = %q, %v; want the same %q", again, err, got)
	}

	open, err := os.MkdirTemp("", "attendant-open-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(open) })
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	inOpen := filepath.Join(open, "postgres")
	if got, err := ClusterDir(inOpen); err != nil || got != inOpen {
		t.Errorf("ClusterDir(%q) = %q, %v; want the folder itself when reachable", inOpen, got, err)
	}
}

// Redis starts on a free port, answers PING, and Stop removes its process and pid file.
func TestStackRedisStartStop(t *testing.T) {
	if testing.Short() {
		t.Skip("integration test: skipped with -short")
	}
	dir := t.TempDir()
	s, err := Start(context.Background(), Options{Dir: dir, Redis: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Redis.Ready(context.Background()); err != nil {
		t.Fatalf("Ready: %v", err)
	}
	pid := s.Redis.proc.cmd.Process.Pid
	if s.Exited() != nil {
		t.Errorf("Exited() = %v while running", s.Exited())
	}
	s.Stop()
	if err := syscall.Kill(pid, 0); err == nil {
		t.Errorf("redis (pid %d) still running after Stop", pid)
	}
	if _, err := os.Stat(filepath.Join(dir, "run", "redis.pid")); !os.IsNotExist(err) {
		t.Errorf("pid file left after Stop: %v", err)
	}
	if err := s.Redis.Ready(context.Background()); err == nil {
		t.Error("Ready() = nil after Stop")
	}
}
