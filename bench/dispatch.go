package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attendant/attendant/dispatcher"
	"github.com/attendant/attendant/worker"
	"golang.org/x/sync/errgroup"
)

// DispatchOptions configures the dispatch scenario.
type DispatchOptions struct {
	// Nodes dispatcher processes, Workers simulated workers (no media), Jobs jobs
	// per placement phase, Kills leader SIGKILLs.
	Nodes, Workers, Jobs, Kills int
	// Clients create jobs one request each, concurrently, in the "single" phase;
	// BatchClients send Batch jobs per request in the "batched" phase; the "client"
	// phase asks for all its jobs at once, one call each through dispatcher.Client
	// (which sends calls made while its requests are out together); Rate is the jobs per second offered
	// in the "at rate" phase (0 skips it), as one batch request every 10 ms, each
	// sent without waiting for the others.
	Clients, BatchClients, Batch int
	Rate                         float64
	// NodeProcs, when above 0, is each node's GOMAXPROCS: three nodes sharing the
	// machine's cores with the benchmark each otherwise schedule as if they had
	// them all.
	NodeProcs int
	// Binary is the attendant executable the nodes run; Dir holds their data.
	Binary, Dir string
	// Profile, when set, is a folder for CPU profiles of every node (and of this
	// process) taken while the last phase runs.
	Profile string
	Logger  *slog.Logger
}

func (o *DispatchOptions) defaults() {
	if o.Clients <= 0 {
		o.Clients = 64
	}
	if o.BatchClients <= 0 {
		o.BatchClients = 4
	}
	if o.Batch <= 0 {
		o.Batch = 100
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// DispatchReport is what the dispatch scenario measured. Times are milliseconds.
// The headline figures are the rate of the "client" phase (AssignmentsPerS: a job
// asked for by its own call for every room of a burst that starts at once) and
// the latency at the offered rate (CreateToRunning: the "at rate" phase's, the
// client phase's when that is skipped). Every phase's figures are in Phases.
type DispatchReport struct {
	Scenario string    `json:"scenario"`
	Started  time.Time `json:"started"`
	Nodes    int       `json:"nodes"`
	Workers  int       `json:"workers"`
	Jobs     int       `json:"jobs"`
	// Calibration is this machine's speed at the start: CPU microseconds per
	// loopback HTTP request (see calibrate). Compare runs only where it agrees.
	Calibration     float64 `json:"calibration_us_per_request"`
	AssignmentsPerS float64 `json:"assignments_per_s"`
	// CreateToRunning is from a job's creation to its acceptance being committed,
	// by the cluster's own timestamps.
	CreateToRunning Summary         `json:"create_to_running_ms"`
	Phases          []DispatchPhase `json:"phases"`
	// Failover is from a leader's SIGKILL to a write accepted by another node.
	Failover Summary `json:"failover_ms"`
	// Reassign is from a worker's death to all its jobs running elsewhere.
	Reassign Summary `json:"reassign_ms"`
	// Lost jobs are not running at the end; duplicated rooms ran on two workers at
	// once or got two jobs.
	Lost       int `json:"lost"`
	Duplicated int `json:"duplicated"`
	// Interrupted counts sessions that ended while their room still wanted an
	// assistant (besides those of the worker the benchmark stopped): a worker
	// stops its sessions when its lease goes unrenewed for most of its length
	// (a leader election that takes that long), and they start again elsewhere.
	Interrupted int `json:"sessions_interrupted"`
	// CreateRetries counts create requests that failed (100 jobs are being created
	// by 8 clients as each leader is killed) and were retried with the same request id.
	CreateRetries int `json:"create_retries"`
}

// DispatchPhase is one way of creating jobs and what placing them took.
type DispatchPhase struct {
	// Name is "single", "batched", "client" or "at rate"; Clients and Batch say how
	// jobs were created (Batch: jobs per request; in the client phase, on average);
	// OfferedPerS is the rate they were sent at (at rate only).
	Name        string  `json:"name"`
	Jobs        int     `json:"jobs"`
	Clients     int     `json:"clients,omitempty"`
	Batch       float64 `json:"batch"`
	OfferedPerS float64 `json:"offered_per_s,omitempty"`
	// AssignmentsPerS is the jobs divided by the time from the first request to
	// the last session started.
	AssignmentsPerS float64 `json:"assignments_per_s"`
	CreateToRunning Summary `json:"create_to_running_ms"`
	// CreateToOffer and OfferToRunning split it at the offer.
	CreateToOffer  Summary `json:"create_to_offer_ms"`
	OfferToRunning Summary `json:"offer_to_running_ms"`
	// CreateRequest is a create request's round trip as its client saw it.
	CreateRequest Summary `json:"create_request_ms"`
	// CPU while the phase ran, in microseconds per job: each node's process (the
	// leader first) and this benchmark's own (its clients and simulated workers).
	NodeCPUPerJob    []float64 `json:"node_cpu_us_per_job"`
	HarnessCPUPerJob float64   `json:"harness_cpu_us_per_job"`
}

// simWorker is a worker without media: a session is a record that the room runs here.
type simWorker struct {
	id     string
	d      *worker.Dispatched
	cancel context.CancelFunc
	done   chan struct{}
	count  *sessionCount
	rooms  *roomLedger
}

// sessionCount counts the sessions started and notes when the count reached want.
type sessionCount struct {
	started, want, reachedAt atomic.Int64
}

func (s *sessionCount) add() {
	if s.started.Add(1) == s.want.Load() {
		s.reachedAt.Store(time.Now().UnixNano())
	}
}

// roomLedger is the workers' own record: per room, the sessions running now on
// each worker, the most that ever ran at once, and the sessions that ended while
// the benchmark still wanted them (an assistant leaving a room: its worker stopped
// it when its lease went unrenewed, or was told its job had moved).
type roomLedger struct {
	mu          sync.Mutex
	running     map[string]map[string]int // room → worker → sessions
	worst       map[string]int
	interrupted int
	// gone is a worker the benchmark stopped: its sessions' ends are expected.
	gone string
	done bool
}

func newRoomLedger() *roomLedger {
	return &roomLedger{running: map[string]map[string]int{}, worst: map[string]int{}}
}

func (l *roomLedger) add(room, worker string, d int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.running[room] == nil {
		l.running[room] = map[string]int{}
	}
	l.running[room][worker] += d
	n := 0
	for _, k := range l.running[room] {
		n += k
	}
	l.worst[room] = max(l.worst[room], n)
	if d < 0 && !l.done && worker != l.gone {
		l.interrupted++
	}
}

// runs reports how many sessions of room run, and how many of them on worker.
func (l *roomLedger) runs(room, worker string) (all, on int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, n := range l.running[room] {
		all += n
	}
	return all, l.running[room][worker]
}

func (w *simWorker) RunRoom(ctx context.Context, room string) error {
	w.rooms.add(room, w.id, 1)
	defer w.rooms.add(room, w.id, -1)
	w.count.add()
	<-ctx.Done()
	return nil
}

// latencies records request round trips.
type latencies struct {
	mu sync.Mutex
	ms []float64
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.ms = append(l.ms, ms(d))
	l.mu.Unlock()
}

// creator is how a phase sends its create requests.
type creator func(ctx context.Context, c *cluster, prefix string, n int, lat *latencies, retries *atomic.Int64) error

// Dispatch runs the dispatch scenario.
func Dispatch(ctx context.Context, o DispatchOptions) (rep DispatchReport, err error) {
	if o.Nodes < 1 || o.Workers < 1 || o.Jobs < 1 || o.Binary == "" || o.Dir == "" {
		return rep, errors.New("bench dispatch: nodes, workers, jobs, binary and dir are required")
	}
	o.defaults()
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return rep, err
	}
	rep = DispatchReport{Scenario: "dispatch", Started: time.Now().UTC(), Nodes: o.Nodes, Workers: o.Workers, Jobs: o.Jobs}
	if rep.Calibration, err = calibrate(ctx, calibrationRequests); err != nil {
		return rep, fmt.Errorf("calibration: %w", err)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	c := &cluster{o: o, secret: hex.EncodeToString(b[:]),
		clients: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: max(o.Clients, 64)}}}
	if err := c.startAll(ctx); err != nil {
		return rep, err
	}
	defer c.stopAll()
	if c.client, err = dispatcher.NewClient(c.http, c.secret); err != nil {
		return rep, err
	}
	o.Logger.Info("cluster formed", "nodes", o.Nodes)

	phases := []struct {
		name           string
		clients, batch int
		rate           float64
		create         creator
	}{
		{"single", o.Clients, 1, 0, concurrently(o.Clients, 1)},
		{"batched", o.BatchClients, o.Batch, 0, concurrently(o.BatchClients, o.Batch)},
		{"client", 0, 0, 0, throughClient()},
	}
	if o.Rate > 0 {
		phases = append(phases, struct {
			name           string
			clients, batch int
			rate           float64
			create         creator
		}{"at rate", 0, max(1, int(o.Rate/100)), o.Rate, atRate(o.Rate)})
	}

	// Simulated workers, spread over the nodes, with room for every job.
	const perKill = 100
	total := len(phases)*o.Jobs + o.Kills*(perKill+1)
	ledger := newRoomLedger()
	count := &sessionCount{}
	workers, err := startSimWorkers(ctx, c, o.Workers, total/o.Workers*2+2, count, ledger)
	defer func() {
		for _, w := range workers {
			w.cancel()
			<-w.done
		}
	}()
	if err != nil {
		return rep, err
	}

	var retries atomic.Int64
	for i, p := range phases {
		if i > 0 {
			// The last phase's aftermath (a burst's garbage, its last commits) is
			// left behind before the next is measured.
			select {
			case <-ctx.Done():
				return rep, ctx.Err()
			case <-time.After(phasePause):
			}
		}
		var profiled func()
		if i == len(phases)-1 && o.Profile != "" {
			if profiled, err = c.profile(ctx, o.Profile); err != nil {
				return rep, err
			}
		}
		ph, err := c.phase(ctx, p.name, o.Jobs, count, p.create, &retries)
		if profiled != nil {
			profiled()
		}
		if err != nil {
			return rep, err
		}
		ph.Clients, ph.OfferedPerS = p.clients, p.rate
		if p.batch > 0 {
			ph.Batch = float64(p.batch)
		}
		rep.Phases = append(rep.Phases, ph)
		o.Logger.Info("phase done", "phase", p.name, "jobs", o.Jobs, "per_s", ph.AssignmentsPerS)
	}
	if err := c.timings(ctx, rep.Phases); err != nil {
		return rep, err
	}
	rep.AssignmentsPerS, rep.CreateToRunning = rep.Phases[2].AssignmentsPerS, rep.Phases[len(rep.Phases)-1].CreateToRunning

	// Leader kills: SIGKILL the leader while jobs are being created, time until
	// another node accepts a write, bring the killed node back.
	var failovers []float64
	for k := range o.Kills {
		took, err := c.killLeader(ctx, k, perKill, &retries)
		if err != nil {
			return rep, err
		}
		failovers = append(failovers, took)
	}
	rep.Failover = Summarize(failovers)

	// A worker dies: time until its jobs run elsewhere. A new leader gives workers a
	// lease's time to reach it before it declares any lost, so after the kills the
	// cluster is left to settle for one lease first: this is the steady-state figure.
	if o.Workers > 1 {
		if o.Kills > 0 {
			select {
			case <-ctx.Done():
				return rep, ctx.Err()
			case <-time.After(3 * time.Second):
			}
		}
		took, moved, err := c.loseWorker(ctx, workers[0])
		if err != nil {
			return rep, err
		}
		rep.Reassign = Summarize([]float64{took})
		o.Logger.Info("worker loss", "jobs", moved, "reassigned_after_ms", took)
	}

	rep.CreateRetries = int(retries.Load())
	rep.Lost, rep.Duplicated = c.check(ctx, total, ledger)
	ledger.mu.Lock()
	ledger.done = true
	rep.Interrupted = ledger.interrupted
	ledger.mu.Unlock()
	return rep, nil
}

// phasePause separates the phases.
const phasePause = 2 * time.Second

// startSimWorkers starts n simulated workers, each connected to its own first node,
// and waits until all have registered.
func startSimWorkers(ctx context.Context, c *cluster, n, capacity int, count *sessionCount, ledger *roomLedger) ([]*simWorker, error) {
	var workers []*simWorker
	for i := range n {
		w := &simWorker{id: fmt.Sprintf("sim-%03d", i), count: count, rooms: ledger, done: make(chan struct{})}
		nodes := make([]string, len(c.http))
		for k := range nodes {
			nodes[k] = c.http[(i+k)%len(c.http)]
		}
		d, err := worker.NewDispatched(worker.DispatchConfig{Nodes: nodes, Secret: c.secret, ID: w.id, Capacity: capacity,
			ReconnectMax: time.Second}, w, slog.New(slog.DiscardHandler))
		if err != nil {
			return workers, err
		}
		w.d = d
		wctx, cancel := context.WithCancel(ctx)
		w.cancel = cancel
		go func() { defer close(w.done); _ = w.d.Run(wctx) }()
		workers = append(workers, w)
	}
	err := until(ctx, 30*time.Second, func() bool {
		var ws []dispatcher.Worker
		_, err := c.call(ctx, 0, "GET", "/v1/workers", nil, &ws)
		return err == nil && len(ws) == n
	})
	if err != nil {
		return workers, fmt.Errorf("workers did not register: %w", err)
	}
	return workers, nil
}

// phase creates n jobs with create and measures how they were placed.
func (c *cluster) phase(ctx context.Context, name string, n int, count *sessionCount, create creator, retries *atomic.Int64) (DispatchPhase, error) {
	ph := DispatchPhase{Name: name, Jobs: n}
	prefix := name[:1]
	count.want.Store(count.started.Load() + int64(n))
	lat := &latencies{}
	creates0, requests0 := c.client.CreateCounts()
	cpu0, self0 := c.cpu(), processCPU(os.Getpid())
	t0 := time.Now()
	if err := create(ctx, c, prefix, n, lat, retries); err != nil {
		return ph, fmt.Errorf("phase %s: %w", name, err)
	}
	if err := until(ctx, 120*time.Second, func() bool { return count.started.Load() >= count.want.Load() }); err != nil {
		return ph, fmt.Errorf("phase %s: only %d of %d jobs started: %w", name, count.started.Load()-(count.want.Load()-int64(n)), n, err)
	}
	elapsed := time.Unix(0, count.reachedAt.Load()).Sub(t0)
	cpu1, self1 := c.cpu(), processCPU(os.Getpid())
	if creates1, requests1 := c.client.CreateCounts(); requests1 > requests0 {
		ph.Batch = round2(float64(creates1-creates0) / float64(requests1-requests0))
	}
	leader := c.leader(ctx)
	for i := range cpu1 {
		us := round2(float64((cpu1[i] - cpu0[i]).Microseconds()) / float64(n))
		if i == leader {
			ph.NodeCPUPerJob = append([]float64{us}, ph.NodeCPUPerJob...)
		} else {
			ph.NodeCPUPerJob = append(ph.NodeCPUPerJob, us)
		}
	}
	ph.HarnessCPUPerJob = round2(float64((self1 - self0).Microseconds()) / float64(n))
	ph.AssignmentsPerS = round2(float64(n) / elapsed.Seconds())

	lat.mu.Lock()
	ph.CreateRequest = brief(lat.ms)
	lat.mu.Unlock()
	return ph, nil
}

// timings fills in each phase's placement times from the jobs' own timestamps.
// It reads the jobs once, after every phase, so that listing them does not load
// the machine while a phase runs.
func (c *cluster) timings(ctx context.Context, phases []DispatchPhase) error {
	var jobs []dispatcher.Job
	if _, err := c.call(ctx, 0, "GET", "/v1/jobs?state=running", nil, &jobs); err != nil {
		return err
	}
	for i := range phases {
		ph := &phases[i]
		prefix := ph.Name[:1] + "-"
		var c2r, c2o, o2r []float64
		for _, j := range jobs {
			if strings.HasPrefix(j.Room, prefix) {
				c2r = append(c2r, ms(j.StartedAt.Sub(j.CreatedAt)))
				c2o = append(c2o, ms(j.OfferedAt.Sub(j.CreatedAt)))
				o2r = append(o2r, ms(j.StartedAt.Sub(j.OfferedAt)))
			}
		}
		if len(c2r) != ph.Jobs {
			return fmt.Errorf("phase %s: %d of %d jobs running", ph.Name, len(c2r), ph.Jobs)
		}
		ph.CreateToRunning, ph.CreateToOffer, ph.OfferToRunning = brief(c2r), brief(c2o), brief(o2r)
	}
	return nil
}

// brief is a summary without its samples.
func brief(samples []float64) Summary {
	s := Summarize(samples)
	s.Samples = nil
	return s
}

// concurrently creates jobs with clients callers, batch jobs per request, each
// sending its next request when the last is answered.
func concurrently(clients, batch int) creator {
	return func(ctx context.Context, c *cluster, prefix string, n int, lat *latencies, retries *atomic.Int64) error {
		var next atomic.Int64
		var g errgroup.Group
		for k := range clients {
			g.Go(func() error {
				for {
					from := int(next.Add(int64(batch))) - batch
					if from >= n {
						return nil
					}
					if err := c.createRooms(ctx, k+from/batch, prefix, from, min(from+batch, n), lat, retries); err != nil {
						return err
					}
				}
			})
		}
		return g.Wait()
	}
}

// throughClient asks for every job at once, one call per job through the
// cluster's client, as when a meeting hour starts every room in the same second: the
// client sends the calls together, in as few requests as its limits allow.
func throughClient() creator {
	return func(ctx context.Context, c *cluster, prefix string, n int, lat *latencies, _ *atomic.Int64) error {
		var g errgroup.Group
		for i := range n {
			g.Go(func() error {
				room := fmt.Sprintf("%s-%06d", prefix, i)
				t0 := time.Now()
				if _, err := c.client.Create(ctx, dispatcher.CreateRequest{Room: room, RequestID: "r"}); err != nil {
					return fmt.Errorf("create %s: %w", room, err)
				}
				lat.add(time.Since(t0))
				return nil
			})
		}
		return g.Wait()
	}
}

// atRate sends one batch request every 10 ms, so that rate jobs per second are
// offered whatever the answers take (an open loop: a slow cluster is not offered
// less), and waits for every request to be answered.
func atRate(rate float64) creator {
	return func(ctx context.Context, c *cluster, prefix string, n int, lat *latencies, retries *atomic.Int64) error {
		const tick = 10 * time.Millisecond
		per := max(1, int(rate*tick.Seconds()))
		t := time.NewTicker(tick)
		defer t.Stop()
		var g errgroup.Group
		for from := 0; from < n; from += per {
			g.Go(func() error { return c.createRooms(ctx, from/per, prefix, from, min(from+per, n), lat, retries) })
			select {
			case <-ctx.Done():
				_ = g.Wait()
				return ctx.Err()
			case <-t.C:
			}
		}
		return g.Wait()
	}
}

// createRooms creates the jobs of rooms prefix-from … prefix-(to-1), as one request
// (a batch request when there are several), through node `via` modulo the nodes.
// A request that fails (a leader being replaced) is retried with the same request
// ids through the next live node, as a real caller would; retries counts them.
func (c *cluster) createRooms(ctx context.Context, via int, prefix string, from, to int, lat *latencies, retries *atomic.Int64) error {
	path := "/v1/jobs"
	var body any
	if to-from == 1 {
		body = dispatcher.CreateRequest{Room: fmt.Sprintf("%s-%06d", prefix, from), RequestID: "r"}
	} else {
		var b dispatcher.BatchCreateRequest
		for i := from; i < to; i++ {
			b.Jobs = append(b.Jobs, dispatcher.CreateRequest{Room: fmt.Sprintf("%s-%06d", prefix, i), RequestID: "r"})
		}
		path, body = "/v1/jobs/batch", b
	}
	err := until(ctx, 30*time.Second, func() bool {
		for k := range c.o.Nodes {
			node := (via + k) % c.o.Nodes
			if !c.alive(node) {
				continue
			}
			t0 := time.Now()
			code, err := c.call(ctx, node, "POST", path, body, nil)
			if err == nil && (code == 201 || code == 200) {
				if lat != nil {
					lat.add(time.Since(t0))
				}
				return true
			}
			retries.Add(1)
		}
		return false
	})
	if err != nil {
		return fmt.Errorf("create %s-%06d…%06d: %w", prefix, from, to-1, err)
	}
	return nil
}

// killLeader SIGKILLs the leader while 8 clients create perKill jobs, returns the
// milliseconds until another node accepted a write, and brings the node back.
func (c *cluster) killLeader(ctx context.Context, k, perKill int, retries *atomic.Int64) (float64, error) {
	l := c.leader(ctx)
	if l < 0 {
		return 0, errors.New("no leader before a kill")
	}
	creating := make(chan error, 1)
	go func() { creating <- concurrently(8, 1)(ctx, c, fmt.Sprintf("kill%02d", k), perKill, nil, retries) }()
	time.Sleep(20 * time.Millisecond)
	killed := time.Now()
	c.kill(l)
	other := (l + 1) % c.o.Nodes
	room := fmt.Sprintf("failover-%03d", k)
	if err := until(ctx, 30*time.Second, func() bool {
		code, err := c.call(ctx, other, "POST", "/v1/jobs", dispatcher.CreateRequest{Room: room, RequestID: "r"}, nil)
		return err == nil && (code == 201 || code == 200)
	}); err != nil {
		return 0, fmt.Errorf("kill %d: no write accepted after the leader died: %w", k, err)
	}
	took := ms(time.Since(killed))
	if err := <-creating; err != nil {
		return 0, fmt.Errorf("kill %d: %w", k, err)
	}
	if err := c.start(l); err != nil {
		return 0, err
	}
	if err := until(ctx, 30*time.Second, func() bool {
		st, err := c.status(ctx, l)
		return err == nil && st.Leader != "" && len(st.Members) == c.o.Nodes
	}); err != nil {
		return 0, fmt.Errorf("kill %d: node %d did not come back: %w", k, l, err)
	}
	// The cluster settles before the next kill: the node back has caught up, and
	// every worker heartbeats again, so that each failover is timed, and its
	// interrupted sessions counted, on its own rather than on top of the last one.
	var target uint64
	if err := until(ctx, 30*time.Second, func() bool {
		lead := c.leader(ctx)
		if lead < 0 {
			return false
		}
		st, err := c.status(ctx, lead)
		if err != nil {
			return false
		}
		if target == 0 {
			target = st.Applied
		}
		back, err := c.status(ctx, l)
		if err != nil || back.Applied < target {
			return false
		}
		var ws []dispatcher.Worker
		if _, err := c.call(ctx, lead, "GET", "/v1/workers", nil, &ws); err != nil {
			return false
		}
		for _, w := range ws {
			if w.Status != dispatcher.WorkerLost && time.Since(w.LastSeen) > time.Second {
				return false
			}
		}
		return true
	}); err != nil {
		return 0, fmt.Errorf("kill %d: the cluster did not settle: %w", k, err)
	}
	return took, nil
}

// loseWorker stops a worker and returns the milliseconds until all its jobs ran
// elsewhere, and how many they were.
func (c *cluster) loseWorker(ctx context.Context, victim *simWorker) (float64, int, error) {
	var jobs []dispatcher.Job
	if _, err := c.call(ctx, c.reader(ctx), "GET", "/v1/jobs?state=running", nil, &jobs); err != nil {
		return 0, 0, err
	}
	var held []string
	for _, j := range jobs {
		if j.Worker == victim.id {
			held = append(held, j.ID)
		}
	}
	victim.rooms.mu.Lock()
	victim.rooms.gone = victim.id
	victim.rooms.mu.Unlock()
	died := time.Now()
	victim.cancel()
	<-victim.done
	if err := until(ctx, 60*time.Second, func() bool {
		var now []dispatcher.Job
		if _, err := c.call(ctx, c.reader(ctx), "GET", "/v1/jobs?state=running", nil, &now); err != nil {
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
		var now []dispatcher.Job
		_, _ = c.call(ctx, c.reader(ctx), "GET", "/v1/jobs", nil, &now)
		states := map[string]int{}
		heldSet := map[string]bool{}
		for _, id := range held {
			heldSet[id] = true
		}
		for _, j := range now {
			if heldSet[j.ID] {
				states[string(j.State)+" on "+j.Worker+" ("+j.Reason+")"]++
			}
		}
		c.dumpGoroutines(ctx)
		return 0, 0, fmt.Errorf("the dead worker's %d jobs did not move (now: %v): %w", len(held), states, err)
	}
	return ms(time.Since(died)), len(held), nil
}

// dumpGoroutines keeps every live node's goroutines next to its log (nN.goroutines),
// for a failure to be read after the fact.
func (c *cluster) dumpGoroutines(ctx context.Context) {
	for i := range c.http {
		if !c.alive(i) {
			continue
		}
		_ = c.saveDebug(ctx, c.clients, i, "/debug/pprof/goroutine?debug=2", filepath.Join(c.o.Dir, fmt.Sprintf("n%d.goroutines", i)))
	}
}

// check reads the final state and the workers' own records: every one of want
// jobs running, one job per room, each running job's room in a session on its
// worker and no other, and no room ever run by two workers at once. It waits (30 s
// at most) for the cluster and the workers to agree, as sessions stopped during a
// failover start again elsewhere.
func (c *cluster) check(ctx context.Context, want int, ledger *roomLedger) (lost, duplicated int) {
	var all []dispatcher.Job
	settled := func() (lost int) {
		for _, j := range all {
			if j.State != dispatcher.JobRunning {
				lost++
				continue
			}
			if n, on := ledger.runs(j.Room, j.Worker); n != 1 || on != 1 {
				lost++ // running in the state, not (only) on its worker
			}
		}
		return lost + max(0, want-len(all))
	}
	if err := until(ctx, 30*time.Second, func() bool {
		all = nil
		if _, err := c.call(ctx, c.reader(ctx), "GET", "/v1/jobs", nil, &all); err != nil {
			return false
		}
		return settled() == 0
	}); err != nil {
		c.o.Logger.Warn("the cluster and the workers do not agree at the end; the nodes' goroutines are kept with their logs", "err", err)
		c.dumpGoroutines(ctx)
	}
	lost = settled()
	perRoom := map[string]int{}
	for _, j := range all {
		perRoom[j.Room]++
	}
	for _, n := range perRoom {
		if n > 1 {
			duplicated++
		}
	}
	ledger.mu.Lock()
	for _, n := range ledger.worst {
		if n > 1 {
			duplicated++
		}
	}
	ledger.mu.Unlock()
	return lost, duplicated
}

// WriteText prints the report.
func (r DispatchReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "dispatch: %d nodes, %d simulated workers, %d jobs per phase\n", r.Nodes, r.Workers, r.Jobs)
	fmt.Fprintf(w, "  headline: %.0f assignments/s (client phase); create → running p50 %.1f ms, p99 %.1f ms (%s phase)\n",
		r.AssignmentsPerS, r.CreateToRunning.P50, r.CreateToRunning.P99, r.Phases[len(r.Phases)-1].Name)
	fmt.Fprintf(w, "  machine: %.1f µs of CPU per loopback HTTP request (calibration: compare runs where it agrees)\n", r.Calibration)
	for _, p := range r.Phases {
		how := fmt.Sprintf("%d clients, one job per request", p.Clients)
		switch {
		case p.OfferedPerS > 0:
			how = fmt.Sprintf("%.0f jobs/s offered, %.0f per request every 10 ms", p.OfferedPerS, p.Batch)
		case p.Name == "client":
			how = fmt.Sprintf("all at once, one call per job; the client sent %.0f per request", p.Batch)
		case p.Batch > 1:
			how = fmt.Sprintf("%d clients, %.0f jobs per request", p.Clients, p.Batch)
		}
		fmt.Fprintf(w, "  %s (%s): %.0f assignments/s; create → running p50 %.1f ms, p99 %.1f ms\n",
			p.Name, how, p.AssignmentsPerS, p.CreateToRunning.P50, p.CreateToRunning.P99)
		fmt.Fprintf(w, "    create → offer p50 %.1f, p99 %.1f ms; offer → running p50 %.1f, p99 %.1f ms; request p50 %.1f, p99 %.1f ms\n",
			p.CreateToOffer.P50, p.CreateToOffer.P99, p.OfferToRunning.P50, p.OfferToRunning.P99, p.CreateRequest.P50, p.CreateRequest.P99)
		fmt.Fprintf(w, "    CPU per job: nodes %v µs (leader first), this benchmark's clients and workers %.0f µs\n", p.NodeCPUPerJob, p.HarnessCPUPerJob)
	}
	fmt.Fprintf(w, "  leader failover (%d kills): p50 %.0f ms, max %.0f ms\n", len(r.Failover.Samples), r.Failover.P50, r.Failover.Max)
	fmt.Fprintf(w, "  worker loss → its jobs running elsewhere: %.0f ms\n", r.Reassign.Max)
	fmt.Fprintf(w, "  lost %d, duplicated %d (create requests retried after failing: %d); sessions interrupted and started again elsewhere: %d\n",
		r.Lost, r.Duplicated, r.CreateRetries, r.Interrupted)
}

// WriteJSON writes the report to path.
func (r DispatchReport) WriteJSON(path string) error { return writeJSON(path, r) }
