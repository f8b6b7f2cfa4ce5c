package cli

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/attendant/attendant/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// devProcess is a running `attendant dev` child.
type devProcess struct {
	cmd     *exec.Cmd
	joinURL string
	mu      sync.Mutex
	out     bytes.Buffer
	exited  chan struct{}
}

func (d *devProcess) output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.out.String()
}

var buildOnce struct {
	sync.Once
	path string
	err  error
}

// attendantBinary builds cmd/attendant once per test run.
func attendantBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "attendant-bin-")
		if err != nil {
			buildOnce.err = err
			return
		}
		buildOnce.path = filepath.Join(dir, "attendant")
		cmd := exec.Command("go", "build", "-o", buildOnce.path, "./cmd/attendant")
		cmd.Dir = testenv.ModuleRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildOnce.err = &buildError{err, string(out)}
		}
	})
	if buildOnce.err != nil {
		t.Fatalf("build attendant: %v", buildOnce.err)
	}
	return buildOnce.path
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// startDev runs `attendant dev` on dataDir and waits for its join URL; with
// wantReady false it returns once the process has exited.
func startDev(t *testing.T, dataDir string, wantReady bool) *devProcess {
	t.Helper()
	root := testenv.ModuleRoot()
	cmd := exec.Command(attendantBinary(t), "dev",
		"--dev.data_dir", dataDir,
		"--dev.http_addr", "127.0.0.1:0",
		"--dev.livekit_binary", testenv.LiveKitBinary(),
		"--dev.web_assets", filepath.Join(root, "web/node_modules/livekit-client/dist"),
		"--dev.demo_documents", filepath.Join(root, "deploy/local/demo"),
	)
	cmd.Dir = t.TempDir()
	d := &devProcess{cmd: cmd, exited: make(chan struct{})}
	pr, pw := io.Pipe()
	cmd.Stdout = pw
	cmd.Stderr = pw
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	urls := make(chan string, 1)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(pr)
		next := false
		for sc.Scan() {
			line := sc.Text()
			d.mu.Lock()
			d.out.WriteString(line + "\n")
			d.mu.Unlock()
			if next {
				urls <- strings.TrimSpace(line)
				next = false
			}
			if strings.HasPrefix(line, "Join the demo room") {
				next = true
			}
		}
	}()
	go func() {
		_ = cmd.Wait()
		pw.Close()
		<-readDone
		close(d.exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-d.exited:
		case <-time.After(40 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	if !wantReady {
		select {
		case <-d.exited:
		case <-time.After(60 * time.Second):
			t.Fatalf("attendant dev did not exit; output:\n%s", d.output())
		}
		return d
	}
	select {
	case d.joinURL = <-urls:
	case <-d.exited:
		t.Fatalf("attendant dev exited early:\n%s", d.output())
	case <-time.After(2 * time.Minute):
		t.Fatalf("attendant dev printed no join URL in 2m:\n%s", d.output())
	}
	return d
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// servicePIDs reads the pid files the stack keeps.
func servicePIDs(t *testing.T, dataDir string) map[string]int {
	t.Helper()
	pids := map[string]int{}
	for _, name := range []string{"postgres", "redis", "livekit"} {
		data, err := os.ReadFile(filepath.Join(dataDir, "run", name+".pid"))
		if err != nil {
			t.Fatalf("pid file for %s: %v", name, err)
		}
		pid, err := strconv.Atoi(strings.SplitN(string(data), "\n", 2)[0])
		if err != nil {
			t.Fatalf("pid file for %s: %v", name, err)
		}
		pids[name] = pid
	}
	return pids
}

func waitGone(t *testing.T, pids map[string]int, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for name, pid := range pids {
		for syscall.Kill(pid, 0) == nil {
			if time.Now().After(deadline) {
				t.Fatalf("%s (pid %d) still running %s after the stop", name, pid, within)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
}

// `attendant dev` brings the stack up and serves the join page; a second one on the
// same data folder refuses clearly; after a crash (SIGKILL) it starts again; Ctrl-C
// stops every child.
func TestDevLifecycle(t *testing.T) {
	testenv.Integration(t)
	// t.TempDir is private to root, so as root the cluster lives under
	// /var/lib/postgresql with data/postgres linking to it: remove both afterwards.
	dataDir := filepath.Join(t.TempDir(), "data")
	t.Cleanup(func() {
		if target, err := os.Readlink(filepath.Join(dataDir, "postgres")); err == nil {
			os.RemoveAll(target)
		}
	})

	first := startDev(t, dataDir, true)
	if code, body := get(t, first.joinURL+"readyz"); code != http.StatusOK {
		t.Fatalf("readyz = %d %s; want 200", code, body)
	}
	if code, body := get(t, first.joinURL); code != http.StatusOK || !strings.Contains(body, "<form") {
		t.Fatalf("join page = %d; want 200 with a form", code)
	}
	// /readyz answers 200 once the assistant is in the demo room, which it got from
	// the dispatcher.
	for _, want := range []string{"postgres  postgres://", "redis     redis://", "livekit   ws://127.0.0.1:", "dispatcher http://127.0.0.1:", `given room "`,
		"admin     http://127.0.0.1:", "first platform admin admin@localhost, password ", "Or as an invited participant (the link works once; the password is "} {
		if !strings.Contains(first.output(), want) {
			t.Errorf("output lacks %q:\n%s", want, first.output())
		}
	}

	second := startDev(t, dataDir, false)
	if second.cmd.ProcessState.ExitCode() == 0 || !strings.Contains(second.output(), "another `attendant dev` is running") {
		t.Errorf("second dev on the same data folder: exit %d, output:\n%s\nwant a non-zero exit naming the running one",
			second.cmd.ProcessState.ExitCode(), second.output())
	}

	// A crash: the children die with their parent, and the next start cleans up.
	pids := servicePIDs(t, dataDir)
	_ = first.cmd.Process.Signal(syscall.SIGKILL)
	<-first.exited
	waitGone(t, pids, 20*time.Second)

	again := startDev(t, dataDir, true)
	if code, _ := get(t, again.joinURL+"readyz"); code != http.StatusOK {
		t.Fatalf("readyz after restart = %d; want 200", code)
	}
	// The first admin's password was shown once: a later start on the same data
	// folder does not make or show another.
	if out := again.output(); strings.Contains(out, "first platform admin") || !strings.Contains(out, "admin     http://127.0.0.1:") {
		t.Errorf("restart output about the admin:\n%s", out)
	}
	pids = servicePIDs(t, dataDir)
	_ = again.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-again.exited:
	case <-time.After(40 * time.Second):
		t.Fatalf("attendant dev did not stop within 40s of Ctrl-C:\n%s", again.output())
	}
	if code := again.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code after Ctrl-C = %d; want 0\n%s", code, again.output())
	}
	waitGone(t, pids, 5*time.Second)
}

// The stack survives a stale pid file pointing at a live process of another program.
func TestDevStalePIDFileOfOtherProgram(t *testing.T) {
	testenv.Integration(t)
	dataDir := filepath.Join(t.TempDir(), "data")
	t.Cleanup(func() {
		if target, err := os.Readlink(filepath.Join(dataDir, "postgres")); err == nil {
			os.RemoveAll(target)
		}
	})
	if err := os.MkdirAll(filepath.Join(dataDir, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sleeper := exec.CommandContext(ctx, "sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); _ = sleeper.Wait() })
	// A pid file naming a live process that is not redis: it must be left alone.
	stale := strconv.Itoa(sleeper.Process.Pid) + "\n/usr/bin/redis-server\n"
	if err := os.WriteFile(filepath.Join(dataDir, "run", "redis.pid"), []byte(stale), 0o644); err != nil {
		t.Fatal(err)
	}
	d := startDev(t, dataDir, true)
	if code, _ := get(t, d.joinURL+"readyz"); code != http.StatusOK {
		t.Fatalf("readyz = %d; want 200", code)
	}
	if err := syscall.Kill(sleeper.Process.Pid, 0); err != nil {
		t.Errorf("the unrelated process named by a stale pid file was killed: %v", err)
	}
}
