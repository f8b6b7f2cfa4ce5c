package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attendant/attendant/dispatcher"
	"github.com/attendant/attendant/worker"
)

// DispatchOptions configures the dispatch scenario.
type DispatchOptions struct {
	// Nodes dispatcher processes, Workers simulated workers (no media), Jobs jobs
	// created as fast as the cluster takes them, Kills leader SIGKILLs.
	Nodes, Workers, Jobs, Kills int
	// Binary is the attendant executable the nodes run; Dir holds their data.
	Binary, Dir string
	Logger      *slog.Logger
}

// DispatchReport is what the dispatch scenario measured. Times are milliseconds.
type DispatchReport struct {
	Scenario        string    `json:"scenario"`
	Started         time.Time `json:"started"`
	Nodes           int       `json:"nodes"`
	Workers         int       `json:"workers"`
	Jobs            int       `json:"jobs"`
	AssignmentsPerS float64   `json:"assignments_per_s"`
	// CreateToRunning is from a job's creation to its acceptance being committed,
	// by the cluster's own timestamps.
	CreateToRunning Summary `json:"create_to_running_ms"`
	// Failover is from a leader's SIGKILL to a write accepted by another node.
	Failover Summary `json:"failover_ms"`
	// Reassign is from a worker's death to all its jobs running elsewhere.
	Reassign Summary `json:"reassign_ms"`
	// Lost jobs are not running at the end; duplicated rooms ran on two workers at
	// once or got two jobs.
	Lost       int `json:"lost"`
	Duplicated int `json:"duplicated"`
	// CreateRetries counts create requests that failed (100 jobs are being created
	// by 8 clients as each leader is killed) and were retried with the same request id.
	CreateRetries int `json:"create_retries"`
}

// simWorker is a worker without media: a session is a record that the room runs here.
type simWorker struct {
	id      string
	d       *worker.Dispatched
	cancel  context.CancelFunc
	done    chan struct{}
	started *atomic.Int64
	rooms   *roomLedger
}

// roomLedger counts, per room, the sessions running now across all workers, and the
// most that ever ran at once.
type roomLedger struct {
	mu      sync.Mutex
	running map[string]int
	worst   map[string]int
}

func (l *roomLedger) add(room string, d int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.running[room] += d
	if l.running[room] > l.worst[room] {
		l.worst[room] = l.running[room]
	}
}

func (w *simWorker) RunRoom(ctx context.Context, room string) error {
	w.rooms.add(room, 1)
	defer w.rooms.add(room, -1)
	w.started.Add(1)
	<-ctx.Done()
	return nil
}

// cluster is the dispatcher processes.
type cluster struct {
	mu      sync.Mutex // guards procs: creation goes on while a node is killed
	o       DispatchOptions
	secret  string
	raft    []string
	http    []string
	procs   []*exec.Cmd
	exited  []chan struct{}
	clients *http.Client
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func (c *cluster) start(i int) error {
	args := []string{"dispatcher", "--node-id", "n" + strconv.Itoa(i), "--raft-addr", c.raft[i], "--http-addr", c.http[i],
		"--data-dir", filepath.Join(c.o.Dir, "n"+strconv.Itoa(i)), "--dispatcher.secret", c.secret, "--log.level", "warn"}
	if i > 0 {
		args = append(args, "--join", c.http[0])
	}
	cmd := exec.Command(c.o.Binary, args...)
	logf, err := os.Create(filepath.Join(c.o.Dir, fmt.Sprintf("n%d.log", i)))
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

// create makes jobs for rooms prefix-from … prefix-(to-1) with clients concurrent
// callers spread over the live nodes. A request that fails (a leader being replaced)
// is retried with the same request id, as a real caller would; retries counts them.
func (c *cluster) create(ctx context.Context, prefix string, from, to, clients int, retries *atomic.Int64) error {
	var next atomic.Int64
	next.Store(int64(from))
	var wg sync.WaitGroup
	var failed atomic.Value
	for g := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= to {
					return
				}
				req := dispatcher.CreateRequest{Room: fmt.Sprintf("%s-%06d", prefix, i), RequestID: "r"}
				err := until(ctx, 30*time.Second, func() bool {
					for k := range c.o.Nodes {
						node := (g + i + k) % c.o.Nodes
						if !c.alive(node) {
							continue
						}
						code, err := c.call(ctx, node, "POST", "/v1/jobs", req, nil)
						if err == nil && (code == 201 || code == 200) {
							return true
						}
						retries.Add(1)
					}
					return false
				})
				if err != nil {
					failed.Store(fmt.Errorf("create %s: %w", req.Room, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return err
	}
	return nil
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

// Dispatch runs the dispatch scenario.
func Dispatch(ctx context.Context, o DispatchOptions) (rep DispatchReport, err error) {
	if o.Nodes < 1 || o.Workers < 1 || o.Jobs < 1 || o.Binary == "" || o.Dir == "" {
		return rep, errors.New("bench dispatch: nodes, workers, jobs, binary and dir are required")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return rep, err
	}
	rep = DispatchReport{Scenario: "dispatch", Started: time.Now().UTC(), Nodes: o.Nodes, Workers: o.Workers, Jobs: o.Jobs}
	var b [16]byte
	_, _ = rand.Read(b[:])
	c := &cluster{o: o, secret: hex.EncodeToString(b[:]), procs: make([]*exec.Cmd, o.Nodes), exited: make([]chan struct{}, o.Nodes),
		clients: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
	for range o.Nodes {
		r, err := freePort()
		if err != nil {
			return rep, err
		}
		h, err := freePort()
		if err != nil {
			return rep, err
		}
		c.raft, c.http = append(c.raft, r), append(c.http, h)
	}
	defer func() {
		for i := range c.procs {
			c.kill(i)
		}
	}()
	for i := range o.Nodes {
		if err := c.start(i); err != nil {
			return rep, err
		}
		if i == 0 {
			if err := until(ctx, 20*time.Second, func() bool { return c.leader(ctx) == 0 }); err != nil {
				return rep, fmt.Errorf("first node did not lead: %w", err)
			}
		}
	}
	if err := until(ctx, 30*time.Second, func() bool {
		st, err := c.status(ctx, o.Nodes-1)
		return err == nil && len(st.Members) == o.Nodes && st.Leader != ""
	}); err != nil {
		return rep, fmt.Errorf("cluster of %d did not form: %w", o.Nodes, err)
	}
	o.Logger.Info("cluster formed", "nodes", o.Nodes)

	// Simulated workers, spread over the nodes.
	ledger := &roomLedger{running: map[string]int{}, worst: map[string]int{}}
	var started atomic.Int64
	capacity := (o.Jobs+o.Kills*101)/o.Workers*2 + 2
	workers := make([]*simWorker, o.Workers)
	for i := range workers {
		w := &simWorker{id: fmt.Sprintf("sim-%03d", i), started: &started, rooms: ledger, done: make(chan struct{})}
		nodes := make([]string, o.Nodes)
		for k := range nodes {
			nodes[k] = c.http[(i+k)%o.Nodes]
		}
		w.d, err = worker.NewDispatched(worker.DispatchConfig{Nodes: nodes, Secret: c.secret, ID: w.id, Capacity: capacity,
			Heartbeat: time.Second, ReconnectMax: time.Second}, w, slog.New(slog.DiscardHandler))
		if err != nil {
			return rep, err
		}
		wctx, cancel := context.WithCancel(ctx)
		w.cancel = cancel
		go func() { defer close(w.done); _ = w.d.Run(wctx) }()
		workers[i] = w
	}
	defer func() {
		for _, w := range workers {
			w.cancel()
			<-w.done
		}
	}()
	if err := until(ctx, 30*time.Second, func() bool {
		var ws []dispatcher.Worker
		_, err := c.call(ctx, 0, "GET", "/v1/workers", nil, &ws)
		return err == nil && len(ws) == o.Workers
	}); err != nil {
		return rep, fmt.Errorf("workers did not register: %w", err)
	}

	// Jobs, as fast as 64 clients can create them, through every node.
	t0 := time.Now()
	var retries atomic.Int64
	if err := c.create(ctx, "room", 0, o.Jobs, 64, &retries); err != nil {
		return rep, err
	}
	if err := until(ctx, 120*time.Second, func() bool { return started.Load() >= int64(o.Jobs) }); err != nil {
		return rep, fmt.Errorf("only %d of %d jobs started: %w", started.Load(), o.Jobs, err)
	}
	var jobs []dispatcher.Job
	if err := until(ctx, 30*time.Second, func() bool {
		jobs = nil
		_, err := c.call(ctx, 0, "GET", "/v1/jobs?state=running", nil, &jobs)
		return err == nil && len(jobs) >= o.Jobs
	}); err != nil {
		return rep, fmt.Errorf("%d of %d jobs running: %w", len(jobs), o.Jobs, err)
	}
	elapsed := time.Since(t0)
	rep.AssignmentsPerS = round2(float64(o.Jobs) / elapsed.Seconds())
	var c2r []float64
	for _, j := range jobs {
		c2r = append(c2r, ms(j.UpdatedAt.Sub(j.CreatedAt)))
	}
	rep.CreateToRunning = Summarize(c2r)
	rep.CreateToRunning.Samples = nil
	o.Logger.Info("jobs running", "jobs", o.Jobs, "took", elapsed.Round(time.Millisecond), "per_s", rep.AssignmentsPerS)

	// Leader kills: SIGKILL the leader, time until another node accepts a write,
	// bring the killed node back.
	var failovers []float64
	perKill := 100
	for k := range o.Kills {
		l := c.leader(ctx)
		if l < 0 {
			return rep, errors.New("no leader before a kill")
		}
		// Jobs are being created (8 clients) while the leader dies.
		creating := make(chan error, 1)
		go func() { creating <- c.create(ctx, fmt.Sprintf("kill%02d", k), 0, perKill, 8, &retries) }()
		time.Sleep(20 * time.Millisecond)
		killed := time.Now()
		c.kill(l)
		other := (l + 1) % o.Nodes
		room := fmt.Sprintf("failover-%03d", k)
		if err := until(ctx, 30*time.Second, func() bool {
			code, err := c.call(ctx, other, "POST", "/v1/jobs", dispatcher.CreateRequest{Room: room, RequestID: "r"}, nil)
			return err == nil && (code == 201 || code == 200)
		}); err != nil {
			return rep, fmt.Errorf("kill %d: no write accepted after the leader died: %w", k, err)
		}
		failovers = append(failovers, ms(time.Since(killed)))
		if err := <-creating; err != nil {
			return rep, fmt.Errorf("kill %d: %w", k, err)
		}
		if err := c.start(l); err != nil {
			return rep, err
		}
		if err := until(ctx, 30*time.Second, func() bool {
			st, err := c.status(ctx, l)
			return err == nil && st.Leader != "" && len(st.Members) == o.Nodes
		}); err != nil {
			return rep, fmt.Errorf("kill %d: node %d did not come back: %w", k, l, err)
		}
	}
	rep.Failover = Summarize(failovers)

	// A worker dies: time until its jobs run elsewhere.
	if o.Workers > 1 {
		victim := workers[0]
		var held []string
		jobs = nil
		if _, err := c.call(ctx, 0, "GET", "/v1/jobs?state=running", nil, &jobs); err != nil {
			return rep, err
		}
		for _, j := range jobs {
			if j.Worker == victim.id {
				held = append(held, j.ID)
			}
		}
		died := time.Now()
		victim.cancel()
		<-victim.done
		if err := until(ctx, 60*time.Second, func() bool {
			var now []dispatcher.Job
			if _, err := c.call(ctx, 0, "GET", "/v1/jobs?state=running", nil, &now); err != nil {
				return false
			}
			where := map[string]string{}
			for _, j := range now {
				where[j.ID] = j.Worker
			}
			for _, id := range held {
				if w, ok := where[id]; !ok || w == victim.id {
					return false
				}
			}
			return true
		}); err != nil {
			return rep, fmt.Errorf("the dead worker's %d jobs did not move: %w", len(held), err)
		}
		rep.Reassign = Summarize([]float64{ms(time.Since(died))})
		o.Logger.Info("worker loss", "jobs", len(held), "reassigned_after", time.Since(died).Round(time.Millisecond))
	}

	// The final state: every job running, no room ever on two workers at once.
	var all []dispatcher.Job
	if err := until(ctx, 30*time.Second, func() bool {
		all = nil
		_, err := c.call(ctx, 0, "GET", "/v1/jobs", nil, &all)
		if err != nil {
			return false
		}
		for _, j := range all {
			if j.State != dispatcher.JobRunning {
				return false
			}
		}
		return true
	}); err != nil {
		o.Logger.Warn("not every job is running at the end", "err", err)
	}
	for _, j := range all {
		if j.State != dispatcher.JobRunning {
			rep.Lost++
		}
	}
	if want := o.Jobs + o.Kills*(perKill+1); len(all) < want {
		rep.Lost += want - len(all)
	}
	rep.CreateRetries = int(retries.Load())
	perRoom := map[string]int{}
	for _, j := range all {
		perRoom[j.Room]++
	}
	for _, n := range perRoom {
		if n > 1 {
			rep.Duplicated++
		}
	}
	ledger.mu.Lock()
	for _, n := range ledger.worst {
		if n > 1 {
			rep.Duplicated++
		}
	}
	ledger.mu.Unlock()
	return rep, nil
}

// WriteText prints the report.
func (r DispatchReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "dispatch: %d nodes, %d simulated workers, %d jobs\n", r.Nodes, r.Workers, r.Jobs)
	fmt.Fprintf(w, "  assignments: %.0f per second; create → running p50 %.1f ms, p99 %.1f ms\n", r.AssignmentsPerS, r.CreateToRunning.P50, r.CreateToRunning.P99)
	fmt.Fprintf(w, "  leader failover (%d kills): p50 %.0f ms, max %.0f ms\n", len(r.Failover.Samples), r.Failover.P50, r.Failover.Max)
	fmt.Fprintf(w, "  worker loss → its jobs running elsewhere: %.0f ms\n", r.Reassign.Max)
	fmt.Fprintf(w, "  lost %d, duplicated %d (create requests retried after failing: %d)\n", r.Lost, r.Duplicated, r.CreateRetries)
}

// WriteJSON writes the report to path.
func (r DispatchReport) WriteJSON(path string) error { return writeJSON(path, r) }
