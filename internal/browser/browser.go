package browser

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultBinary is the Chromium launcher that Debian's chromium package
// installs.
const DefaultBinary = "/usr/bin/chromium"

// BinaryEnv names the environment variable that overrides DefaultBinary.
const BinaryEnv = "CHROMIUM"

// DefaultWindowSize is the window size Screenshot uses when given none.
const DefaultWindowSize = "1200,800"

// closeGrace is how long Close waits after SIGTERM before it sends SIGKILL.
const closeGrace = 3 * time.Second

// reapTimeout bounds how long Close waits for the killed helpers of
// Chromium to be reaped. They are reparented to init, which reaps them
// on its own schedule.
const reapTimeout = 10 * time.Second

// stderrTail is how many bytes of Chromium's output are kept for errors.
const stderrTail = 4 << 10

// Sentinel errors.
var (
	// ErrNotInstalled means the Chromium binary was not found.
	ErrNotInstalled = errors.New("chromium not found: install Debian's chromium package (make deps)")
	// ErrExited means Chromium ended before it was closed.
	ErrExited = errors.New("chromium exited")
	// ErrStillRunning means processes of Chromium's group survived Close.
	ErrStillRunning = errors.New("chromium processes still running")
	// ErrBadWindowSize means a window size was not of the form "W,H".
	ErrBadWindowSize = errors.New("window size must look like 1200,800")
)

// Options configures Launch.
type Options struct {
	// Binary is the Chromium executable; empty means $CHROMIUM if set,
	// else DefaultBinary.
	Binary string
	// FakeAudioWAV, if set, is a WAV file Chromium feeds (looping) as the
	// fake microphone; otherwise the fake microphone plays a beep.
	FakeAudioWAV string
	// UserDataDir is the profile folder; empty means a new temporary
	// folder that Close removes.
	UserDataDir string
	// LogPath, if set, receives Chromium's stdout and stderr.
	LogPath string
}

// Browser is a running Chromium process group.
type Browser struct {
	cmd     *exec.Cmd
	pgid    int
	profile string
	tempDir bool
	logFile *os.File
	tail    *tailBuffer

	done    chan struct{} // closed once the process has been waited for
	waitErr error         // set before done is closed

	closeOnce sync.Once
	closeErr  error
}

// ResolveBinary returns the Chromium binary to use for the given
// override: binary itself if set, else $CHROMIUM, else DefaultBinary. It
// fails with ErrNotInstalled when the result cannot be executed.
func ResolveBinary(binary string) (string, error) {
	if binary == "" {
		binary = os.Getenv(BinaryEnv)
	}
	if binary == "" {
		binary = DefaultBinary
	}
	path, err := exec.LookPath(binary)
	if err != nil {
		return "", fmt.Errorf("%w: %s: %w", ErrNotInstalled, binary, err)
	}
	return path, nil
}

// commonFlags are the flags every headless run uses.
func commonFlags(profile string) []string {
	return []string{
		"--headless=new",
		"--no-sandbox",
		"--disable-gpu",
		"--disable-quic",
		"--disable-background-networking",
		"--disable-component-update",
		"--disable-sync",
		"--no-first-run",
		"--no-default-browser-check",
		"--disable-dev-shm-usage",
		"--user-data-dir=" + profile,
	}
}

// Launch starts Chromium at url. The browser runs until Close is called or
// ctx is done, whichever comes first; either way the whole process group is
// killed. Chromium's DevTools endpoint listens on a free port (see
// DevToolsURL).
func Launch(ctx context.Context, url string, opts Options) (*Browser, error) {
	binary, err := ResolveBinary(opts.Binary)
	if err != nil {
		return nil, err
	}
	if opts.FakeAudioWAV != "" {
		if _, err := os.Stat(opts.FakeAudioWAV); err != nil {
			return nil, fmt.Errorf("fake audio: %w", err)
		}
	}

	b := &Browser{
		profile: opts.UserDataDir,
		tail:    &tailBuffer{max: stderrTail},
		done:    make(chan struct{}),
	}
	if b.profile == "" {
		dir, err := os.MkdirTemp("", "attendant-chromium-")
		if err != nil {
			return nil, fmt.Errorf("chromium profile: %w", err)
		}
		b.profile, b.tempDir = dir, true
	}

	var out io.Writer = b.tail
	if opts.LogPath != "" {
		f, err := os.Create(opts.LogPath)
		if err != nil {
			b.removeProfile()
			return nil, fmt.Errorf("chromium log: %w", err)
		}
		b.logFile = f
		out = io.MultiWriter(f, b.tail)
	}

	args := append(commonFlags(b.profile),
		"--autoplay-policy=no-user-gesture-required",
		"--use-fake-ui-for-media-stream",
		"--use-fake-device-for-media-stream",
		"--remote-debugging-port=0",
	)
	if opts.FakeAudioWAV != "" {
		args = append(args, "--use-file-for-fake-audio-capture="+opts.FakeAudioWAV)
	}
	args = append(args, url)

	b.cmd = exec.Command(binary, args...)
	b.cmd.Stdout = out
	b.cmd.Stderr = out
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		b.closeLog()
		b.removeProfile()
		return nil, fmt.Errorf("start chromium: %w", err)
	}
	b.pgid = b.cmd.Process.Pid

	go func() {
		b.waitErr = b.cmd.Wait()
		close(b.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			_ = b.Close()
		case <-b.done:
		}
	}()
	return b, nil
}

// PID returns the process id of Chromium's main process, which is also the
// id of its process group.
func (b *Browser) PID() int { return b.pgid }

// UserDataDir returns the profile folder in use.
func (b *Browser) UserDataDir() string { return b.profile }

// Done is closed when Chromium's main process has ended.
func (b *Browser) Done() <-chan struct{} { return b.done }

// Output returns the last few kilobytes Chromium wrote to stdout and
// stderr.
func (b *Browser) Output() string { return b.tail.String() }

// DevToolsURL waits until Chromium has opened its DevTools endpoint and
// returns its browser WebSocket URL, such as
// ws://127.0.0.1:41235/devtools/browser/<id>. It fails with ErrExited if
// Chromium ends first.
func (b *Browser) DevToolsURL(ctx context.Context) (string, error) {
	file := filepath.Join(b.profile, "DevToolsActivePort")
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if data, err := os.ReadFile(file); err == nil {
			lines := strings.Split(strings.TrimSpace(string(data)), "\n")
			if len(lines) == 2 {
				if _, err := strconv.Atoi(lines[0]); err == nil {
					return "ws://127.0.0.1:" + lines[0] + strings.TrimSpace(lines[1]), nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-b.done:
			return "", b.exitError()
		case <-tick.C:
		}
	}
}

func (b *Browser) exitError() error {
	return fmt.Errorf("%w: %v; output: %s", ErrExited, b.waitErr, strings.TrimSpace(b.tail.String()))
}

// Close ends Chromium and every process in its group: SIGTERM first, then
// SIGKILL after a short grace period or at once for stragglers. It waits
// for the main process and until the group is empty, so that afterwards
// kill(-PID(), 0) fails with ESRCH, then closes the log file and removes a
// temporary profile. Chromium's helpers are reparented to init when the
// main process ends; if init has not reaped them within a few seconds but
// all of them are dead (zombies), Close still succeeds. Calling Close
// again returns the first result.
func (b *Browser) Close() error {
	b.closeOnce.Do(func() {
		_ = syscall.Kill(-b.pgid, syscall.SIGTERM)
		select {
		case <-b.done:
		case <-time.After(closeGrace):
		}
		// Kill helpers that outlived the main process, or the main process
		// itself if it ignored SIGTERM.
		if err := syscall.Kill(-b.pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			b.closeErr = fmt.Errorf("kill chromium: %w", err)
		}
		<-b.done
		if err := waitGroupGone(b.pgid, reapTimeout); err != nil && b.closeErr == nil {
			b.closeErr = err
		}
		b.closeLog()
		if err := b.removeProfile(); err != nil && b.closeErr == nil {
			b.closeErr = err
		}
	})
	return b.closeErr
}

func (b *Browser) closeLog() {
	if b.logFile != nil {
		_ = b.logFile.Close()
		b.logFile = nil
	}
}

func (b *Browser) removeProfile() error {
	if !b.tempDir {
		return nil
	}
	if err := os.RemoveAll(b.profile); err != nil {
		return fmt.Errorf("remove chromium profile: %w", err)
	}
	return nil
}

// Screenshot renders url with headless Chromium into the PNG file pngPath.
// binary may be empty (see ResolveBinary); size is the window size as
// "width,height" and defaults to DefaultWindowSize.
func Screenshot(ctx context.Context, binary, url, pngPath, size string) error {
	path, err := ResolveBinary(binary)
	if err != nil {
		return err
	}
	if size == "" {
		size = DefaultWindowSize
	}
	if w, h, ok := strings.Cut(size, ","); !ok || !positive(w) || !positive(h) {
		return fmt.Errorf("%w: got %q", ErrBadWindowSize, size)
	}
	abs, err := filepath.Abs(pngPath)
	if err != nil {
		return fmt.Errorf("screenshot path: %w", err)
	}
	profile, err := os.MkdirTemp("", "attendant-chromium-")
	if err != nil {
		return fmt.Errorf("chromium profile: %w", err)
	}
	defer os.RemoveAll(profile)

	args := append(commonFlags(profile),
		"--hide-scrollbars",
		"--screenshot="+abs,
		"--window-size="+size,
		url,
	)
	var out tailBuffer
	out.max = stderrTail
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Stdout = &out
	cmd.Stderr = &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	err = cmd.Run()
	if cmd.Process != nil {
		// Chromium may leave helpers behind; the group dies with it.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	if err != nil {
		return fmt.Errorf("chromium screenshot: %w; output: %s", err, strings.TrimSpace(out.String()))
	}
	if fi, err := os.Stat(abs); err != nil || fi.Size() == 0 {
		return fmt.Errorf("chromium wrote no screenshot to %s; output: %s", abs, strings.TrimSpace(out.String()))
	}
	return nil
}

func positive(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n > 0
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if extra := t.buf.Len() - t.max; extra > 0 {
		t.buf.Next(extra)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.buf.String()
}

// waitGroupGone waits until process group pgid has no member, or until
// timeout. On timeout it succeeds if the only members left are zombies
// (dead, waiting for init to reap them) and fails with ErrStillRunning
// otherwise.
func waitGroupGone(pgid int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if live := liveGroupMembers(pgid); len(live) > 0 {
		return fmt.Errorf("%w in group %d: pids %v", ErrStillRunning, pgid, live)
	}
	return nil
}

// liveGroupMembers lists the processes of group pgid that are not zombies,
// as read from /proc.
func liveGroupMembers(pgid int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var live []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		state, group, ok := parseStat(string(data))
		if ok && group == pgid && state != 'Z' && state != 'X' {
			live = append(live, pid)
		}
	}
	return live
}

// parseStat extracts the state and process group from the contents of
// /proc/PID/stat: "pid (comm) state ppid pgrp ...", where comm may itself
// hold spaces and parentheses.
func parseStat(stat string) (state byte, pgid int, ok bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, 0, false
	}
	fields := strings.Fields(stat[i+1:])
	if len(fields) < 3 || len(fields[0]) != 1 {
		return 0, 0, false
	}
	pgid, err := strconv.Atoi(fields[2])
	if err != nil {
		return 0, 0, false
	}
	return fields[0][0], pgid, true
}
