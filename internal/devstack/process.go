package devstack

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// process is one child process of the stack: its log goes to a file, its pid to a pid
// file, and it dies with its parent (Linux's parent-death signal) so a crashed
// `attendant dev` leaves no orphans behind in the common case; stale pid files cover
// the rest.
type process struct {
	name    string
	bin     string
	args    []string
	logPath string
	pidPath string
	cred    *syscall.Credential
	env     []string
	// deathSig reaches the process if its parent dies; SIGKILL when zero. Servers
	// with a graceful shutdown that waits for clients get their "stop now" signal.
	deathSig syscall.Signal
	log      *slog.Logger

	cmd    *exec.Cmd
	exited chan struct{}
	err    error // set before exited is closed
}

// start launches the process. It returns once the process exists; readiness is the
// caller's business.
func (p *process) start() error {
	if err := os.MkdirAll(filepath.Dir(p.logPath), 0o755); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p.pidPath), 0o755); err != nil {
		return err
	}
	killStale(p.pidPath, p.log)
	logFile, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logFile, "\n--- %s starting %s %s\n", time.Now().Format(time.RFC3339), p.bin, strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = append(os.Environ(), p.env...)
	deathSig := p.deathSig
	if deathSig == 0 {
		deathSig = syscall.SIGKILL
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Pdeathsig:  deathSig,
		Credential: p.cred,
	}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", p.name, err)
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	_ = os.WriteFile(p.pidPath, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"+p.bin+"\n"), 0o644)
	go func() {
		p.err = cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	return nil
}

// running reports whether the process has not exited.
func (p *process) running() bool {
	if p.exited == nil {
		return false
	}
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop sends sig to the process group, sends it again after half of grace (servers
// such as livekit-server take a second signal as "stop now"), and kills the group
// when grace has passed.
func (p *process) stop(sig syscall.Signal, grace time.Duration) {
	if p.cmd == nil {
		return
	}
	pid := p.cmd.Process.Pid
	defer os.Remove(p.pidPath)
	for range 2 {
		_ = syscall.Kill(-pid, sig)
		select {
		case <-p.exited:
			return
		case <-time.After(grace / 2):
		}
	}
	p.log.Warn("process did not stop in time; killing it", "service", p.name, "pid", pid)
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	<-p.exited
}

// failure describes why the process could not become ready: its exit and the tail of its log.
func (p *process) failure(cause error) error {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %v", p.name, cause)
	if !p.running() && p.err != nil {
		fmt.Fprintf(&b, " (exited: %v)", p.err)
	}
	if tail := logTail(p.logPath, 12); tail != "" {
		fmt.Fprintf(&b, "\nlast lines of %s:\n%s", p.logPath, tail)
	}
	return errors.New(b.String())
}

// waitReady polls ready until it succeeds, the process exits, or timeout passes.
func (p *process) waitReady(ctx context.Context, timeout time.Duration, ready func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		if err := ready(ctx); err == nil {
			return nil
		} else {
			last = err
		}
		select {
		case <-p.exited:
			return p.failure(errExitedEarly)
		case <-ctx.Done():
			return p.failure(fmt.Errorf("not ready after %s: %v", timeout, last))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// killStale stops a process left behind by an earlier run that crashed, when the pid
// file names a live process running the same binary.
func killStale(pidPath string, log *slog.Logger) {
	data, err := os.ReadFile(pidPath)
	if err != nil {
		return
	}
	defer os.Remove(pidPath)
	lines := strings.SplitN(string(data), "\n", 3)
	pid, err := strconv.Atoi(strings.TrimSpace(lines[0]))
	if err != nil || pid <= 1 || len(lines) < 2 {
		return
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil {
		return
	}
	want, _ := filepath.EvalSymlinks(lines[1])
	if want == "" {
		want = lines[1]
	}
	if exe != want && filepath.Base(exe) != filepath.Base(lines[1]) {
		return
	}
	log.Warn("stopping a process left by an earlier run", "pid", pid, "binary", exe)
	_ = syscall.Kill(pid, syscall.SIGTERM)
	for range 100 {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = syscall.Kill(pid, syscall.SIGKILL)
}

func logTail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}
