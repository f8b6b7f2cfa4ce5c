package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/attendant/attendant/dispatcher"
)

// cluster is the dispatcher processes of the dispatch scenario.
type cluster struct {
	mu      sync.Mutex // guards procs: creation goes on while a node is killed
	o       DispatchOptions
	secret  string
	raft    []string
	http    []string
	procs   []*exec.Cmd
	exited  []chan struct{}
	clients *http.Client
	// client is the cluster's dispatcher.Client, through every node.
	client *dispatcher.Client
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startAll starts the nodes (the first bootstraps, the others join through it) and
// waits until they form one cluster.
func (c *cluster) startAll(ctx context.Context) error {
	c.procs, c.exited = make([]*exec.Cmd, c.o.Nodes), make([]chan struct{}, c.o.Nodes)
	for range c.o.Nodes {
		r, err := freePort()
		if err != nil {
			return err
		}
		h, err := freePort()
		if err != nil {
			return err
		}
		c.raft, c.http = append(c.raft, r), append(c.http, h)
	}
	for i := range c.o.Nodes {
		if err := c.start(i); err != nil {
			return err
		}
		if i == 0 {
			if err := until(ctx, 20*time.Second, func() bool { return c.leader(ctx) == 0 }); err != nil {
				return fmt.Errorf("first node did not lead: %w", err)
			}
		}
	}
	if err := until(ctx, 30*time.Second, func() bool {
		st, err := c.status(ctx, c.o.Nodes-1)
		return err == nil && len(st.Members) == c.o.Nodes && st.Leader != ""
	}); err != nil {
		return fmt.Errorf("cluster of %d did not form: %w", c.o.Nodes, err)
	}
	return nil
}

// stopAll kills every node still running.
func (c *cluster) stopAll() {
	for i := range c.procs {
		c.kill(i)
	}
}

func (c *cluster) start(i int) error {
	args := []string{"dispatcher", "--node-id", "n" + strconv.Itoa(i), "--raft-addr", c.raft[i], "--http-addr", c.http[i],
		"--data-dir", filepath.Join(c.o.Dir, "n"+strconv.Itoa(i)), "--dispatcher.secret", c.secret, "--log.level", "warn"}
	if i > 0 {
		args = append(args, "--join", c.http[0])
	}
	cmd := exec.Command(c.o.Binary, args...)
	// A benchmark (or test) that dies leaves no node behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if c.o.NodeProcs > 0 {
		cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(c.o.NodeProcs))
	}
	// Appended to, so that a node killed and started again keeps what it logged
	// before.
	logf, err := os.OpenFile(filepath.Join(c.o.Dir, fmt.Sprintf("n%d.log", i)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return err
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	c.mu.Lock()
	c.procs[i], c.exited[i] = cmd, done
	c.mu.Unlock()
	return nil
}

func (c *cluster) alive(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.procs[i] != nil
}

func (c *cluster) kill(i int) {
	c.mu.Lock()
	p, exited := c.procs[i], c.exited[i]
	c.procs[i] = nil
	c.mu.Unlock()
	if p != nil {
		_ = p.Process.Kill()
		<-exited
	}
}

func (c *cluster) call(ctx context.Context, node int, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+c.http[node]+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.secret)
	resp, err := c.clients.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, err
		}
	}
	// A body read to its end lets the connection be used again.
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

func (c *cluster) status(ctx context.Context, node int) (dispatcher.Status, error) {
	var st dispatcher.Status
	code, err := c.call(ctx, node, "GET", "/v1/status", nil, &st)
	if err == nil && code != 200 {
		err = fmt.Errorf("status %d", code)
	}
	return st, err
}

// leader returns the index of the node leading now, or -1.
func (c *cluster) leader(ctx context.Context) int {
	for i := range c.http {
		if !c.alive(i) {
			continue
		}
		if st, err := c.status(ctx, i); err == nil && st.State == "Leader" {
			return i
		}
	}
	return -1
}

// reader is the node to read the cluster's state from: the leader (a node just
// restarted may not have caught up yet), or the first live node during an election.
func (c *cluster) reader(ctx context.Context) int {
	if l := c.leader(ctx); l >= 0 {
		return l
	}
	for i := range c.http {
		if c.alive(i) {
			return i
		}
	}
	return 0
}

func until(ctx context.Context, within time.Duration, ok func() bool) error {
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			return errors.New("timed out")
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
	return nil
}

// cpu is the CPU time each node's process has used so far.
func (c *cluster) cpu() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]time.Duration, len(c.procs))
	for i, p := range c.procs {
		if p != nil {
			out[i] = processCPU(p.Process.Pid)
		}
	}
	return out
}

// processCPU reads a process's user and system time from /proc (0 where it cannot).
func processCPU(pid int) time.Duration {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name, in parentheses, may hold spaces: fields count from after it.
	f := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	// Clock ticks are 1/100 s on Linux (sysconf(_SC_CLK_TCK)).
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

// profile starts CPU and allocation profiles of every node (5 s) and a CPU profile
// of this process; the function it returns stops them and writes them into dir.
func (c *cluster) profile(ctx context.Context, dir string) (func(), error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	self, err := os.Create(filepath.Join(dir, "bench.pprof"))
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(self); err != nil {
		self.Close()
		return nil, err
	}
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for k := range 2 * len(c.http) {
		i, what, file := k%len(c.http), "profile", fmt.Sprintf("n%d.pprof", k%len(c.http))
		if k >= len(c.http) {
			what, file = "allocs", fmt.Sprintf("n%d.allocs.pprof", i)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = c.saveDebug(pctx, http.DefaultClient, i, "/debug/pprof/"+what+"?seconds=5", filepath.Join(dir, file))
		}()
	}
	return func() {
		pprof.StopCPUProfile()
		self.Close()
		wg.Wait()
		cancel()
	}, nil
}

// saveDebug writes what node i serves at path (one of its /debug endpoints) into
// file, asking through client.
func (c *cluster) saveDebug(ctx context.Context, client *http.Client, i int, path, file string) error {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+c.http[i]+path, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.secret)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return err
}
