package dispatcher

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"go.etcd.io/bbolt"
)

// NodeConfig configures one dispatcher node.
type NodeConfig struct {
	// ID names the node in the cluster; RaftAddr is where its raft transport listens
	// (and is reached); HTTPAddr where its API is reached (host:port).
	ID, RaftAddr, HTTPAddr string
	// DataDir holds the raft log (raft.db) and snapshots.
	DataDir string
	// Bootstrap makes a node with no raft state the first member of a new cluster.
	Bootstrap bool
	// Lease is how long a worker may go without a heartbeat before its jobs move
	// (default 3s); OfferTimeout how long an offer waits for an answer (default 2s);
	// Retention how long ended jobs and lost workers stay in the state (default 24h);
	// ElectionTimeout raft's heartbeat and election timeout (default 300ms).
	Lease, OfferTimeout, Retention, ElectionTimeout time.Duration
	// Secret authenticates node-to-node forwarding (and workers).
	Secret string
	// SnapshotThreshold is how many entries since the last snapshot make the next
	// one (default 8192); TrailingLogs how many entries a snapshot leaves in the log
	// for followers to catch up from (default 10240): one further behind is sent the
	// snapshot.
	SnapshotThreshold, TrailingLogs uint64
	// Metrics receives the node's measurements (NewMetrics); nil keeps them
	// unregistered.
	Metrics *Metrics
	Logger  *slog.Logger
}

// Node is a dispatcher node: a raft member with the state machine, a proposer that
// batches commands (forwarding them to the leader from a follower), and, while it
// leads, the assignment and lease loops.
type Node struct {
	cfg       NodeConfig
	fsm       *FSM
	raft      *raft.Raft
	store     *raftboltdb.BoltStore
	transport *raft.NetworkTransport
	log       *slog.Logger
	client    *http.Client

	queue proposer
	// pusher sends committed offers to the nodes holding their workers while this
	// node leads (nil otherwise); conns are the worker connections held here.
	pusher  atomic.Pointer[offerPusher]
	connsMu sync.Mutex
	conns   map[string]*workerConn
	// answered is the highest log index whose results this node has given a client.
	answered  atomic.Uint64
	stop      context.CancelFunc
	closed    <-chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

// ErrNoLeader means the cluster has no leader now (an election is under way);
// ErrClosed that the node is shutting down.
var (
	ErrNoLeader = errors.New("dispatcher: no leader")
	ErrClosed   = errors.New("dispatcher: node closed")
)

// OpenNode starts a node. A node with existing raft state rejoins with it.
func OpenNode(cfg NodeConfig) (*Node, error) {
	if cfg.ID == "" || cfg.RaftAddr == "" || cfg.HTTPAddr == "" || cfg.DataDir == "" {
		return nil, errors.New("dispatcher: a node needs an id, a raft address, an http address and a data folder")
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 3 * time.Second
	}
	if cfg.OfferTimeout <= 0 {
		cfg.OfferTimeout = 2 * time.Second
	}
	if cfg.Retention <= 0 {
		cfg.Retention = 24 * time.Hour
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics(nil)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	log := cfg.Logger.With("node", cfg.ID)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	hlog := hclog.New(&hclog.LoggerOptions{Name: "raft", Level: hclog.Warn, Output: slogWriter{log}})
	// The free page list is kept in memory (rebuilt when the file is opened) and as
	// a map: with the list written at every commit, appends slow down as the log
	// file grows.
	store, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(cfg.DataDir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: time.Second, NoFreelistSync: true, FreelistType: bbolt.FreelistMapType}})
	if err != nil {
		return nil, fmt.Errorf("dispatcher: raft log: %w", err)
	}
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, 2, hlog)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("dispatcher: snapshots: %w", err)
	}
	addr, err := net.ResolveTCPAddr("tcp", cfg.RaftAddr)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("dispatcher: raft address: %w", err)
	}
	var advertise net.Addr = addr
	if addr.Port == 0 {
		advertise = nil // the port chosen at bind is advertised
	}
	transport, err := raft.NewTCPTransportWithLogger(cfg.RaftAddr, advertise, 4, 5*time.Second, hlog)
	if err != nil {
		store.Close()
		return nil, fmt.Errorf("dispatcher: raft transport: %w", err)
	}
	cfg.RaftAddr = string(transport.LocalAddr())
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = hlog
	rc.SnapshotThreshold = 8192
	if cfg.SnapshotThreshold > 0 {
		rc.SnapshotThreshold = cfg.SnapshotThreshold
	}
	if cfg.TrailingLogs > 0 {
		rc.TrailingLogs = cfg.TrailingLogs
	}
	// Followers learn the commit index at least this often: offers reach a worker's
	// node and forwarded writes are read back within a few milliseconds, not raft's
	// default 50.
	rc.CommitTimeout = 5 * time.Millisecond
	rc.BatchApplyCh = true
	// By default under a third of raft's: a dead leader is replaced in under a
	// second on a network with millisecond round trips, which is what the
	// dispatcher runs on. Workers must have their heartbeats committed within most
	// of the lease (3s) or stop their sessions, and with 500ms the slower failovers
	// (two candidates, a second round) took 2s, long enough to stop those of the
	// dead node's workers. The leader sends a heartbeat every tenth of the timeout;
	// it steps down when it has not reached a quorum for five sixths of it.
	timeout := cmp.Or(cfg.ElectionTimeout, 300*time.Millisecond)
	rc.HeartbeatTimeout = timeout
	rc.ElectionTimeout = timeout
	rc.LeaderLeaseTimeout = timeout * 5 / 6
	fsm := NewFSM()
	fsm.onStarted = cfg.Metrics.JobStartSeconds.Observe
	// Replication reads recent entries from memory rather than from bolt.
	logs, err := raft.NewLogCache(1024, store)
	if err != nil {
		transport.Close()
		store.Close()
		return nil, err
	}
	r, err := raft.NewRaft(rc, fsm, logs, store, snaps, transport)
	if err != nil {
		transport.Close()
		store.Close()
		return nil, fmt.Errorf("dispatcher: raft: %w", err)
	}
	n := &Node{cfg: cfg, fsm: fsm, raft: r, store: store, transport: transport, log: log,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			// The forwarding connections to the leader (and the leader's to the
			// nodes it pushes offers to) are kept open.
			MaxIdleConnsPerHost: 2 * forwardInflight, IdleConnTimeout: time.Minute}},
		queue: proposer{wake: make(chan struct{}, 1)}, conns: map[string]*workerConn{}}
	if cfg.Bootstrap {
		has, err := raft.HasExistingState(store, store, snaps)
		if err != nil {
			n.Close()
			return nil, err
		}
		if !has {
			f := r.BootstrapCluster(raft.Configuration{Servers: []raft.Server{{ID: rc.LocalID, Address: transport.LocalAddr()}}})
			if err := f.Error(); err != nil && !errors.Is(err, raft.ErrCantBootstrap) {
				n.Close()
				return nil, err
			}
		}
	}
	ctx, stop := context.WithCancel(context.Background())
	n.stop, n.closed = stop, ctx.Done()
	n.wg.Add(3)
	go func() { defer n.wg.Done(); n.runProposer(ctx) }()
	go func() { defer n.wg.Done(); n.watchLeadership(ctx) }()
	go func() { defer n.wg.Done(); n.announce(ctx) }()
	return n, nil
}

// Close stops the node's loops and raft, and closes its storage. Later calls do
// nothing.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		if n.stop != nil {
			n.stop()
		}
		n.wg.Wait()
		err := n.raft.Shutdown().Error()
		// Pooled connections to other nodes are closed too: their handlers there
		// would wait on them for good.
		n.transport.CloseStreams()
		n.transport.Close()
		n.closeErr = errors.Join(err, n.store.Close())
	})
	return n.closeErr
}

// RaftAddr is the address the node's raft transport is reached at.
func (n *Node) RaftAddr() string { return n.cfg.RaftAddr }

// FSM is the node's state machine (read it with FSM.Read).
func (n *Node) FSM() *FSM { return n.fsm }

// maxPlace bounds the assignments one entry makes.
const maxPlace = 2000

// placement is the leader's choice of workers for the pending jobs and for those
// cmds create, as one assign command to commit after them (nil if there is nothing
// to place). The leader commits one entry at a time, so the state it reads here has
// every earlier entry applied; a choice that no longer holds when the entry is
// applied is skipped, and the job waits for the next.
func (n *Node) placement(cmds []Command) *Command {
	var plan []Assignment
	n.fsm.Read(func(s *State, _ uint64) {
		var fresh []*Job
		rooms := map[string]bool{}
		for _, c := range cmds {
			cj := c.Create
			if c.Type != CmdCreate || cj == nil || rooms[cj.Room] {
				continue
			}
			if _, ok := s.byRequest[[2]string{cj.Room, cj.RequestID}]; ok {
				continue
			}
			if _, ok := s.byRoom[cj.Room]; ok {
				continue
			}
			rooms[cj.Room] = true
			fresh = append(fresh, &Job{ID: cj.ID, Room: cj.Room, Labels: cj.Labels, State: JobPending, CreatedAt: c.At})
		}
		plan = place(s, fresh, maxPlace)
	})
	if len(plan) == 0 {
		return nil
	}
	n.cfg.Metrics.Placements.Add(float64(len(plan)))
	return &Command{Type: CmdAssign, At: time.Now().UTC(), OfferFor: n.cfg.OfferTimeout, Assign: plan}
}

// forward sends cmds to the leader to be committed as one entry.
func (n *Node) forward(ctx context.Context, cmds []Command) ([]Result, uint64, error) {
	leaderHTTP, err := n.leaderHTTP()
	if err != nil {
		return nil, 0, err
	}
	body, err := EncodeCommand(Command{Type: CmdBatch, Batch: cmds})
	if err != nil {
		return nil, 0, err
	}
	resp, err := n.post(ctx, leaderHTTP, "/internal/apply", body, resultsMediaType, http.StatusOK)
	if err != nil {
		return nil, 0, fmt.Errorf("dispatcher: forward to the leader: %w", err)
	}
	defer drainClose(resp.Body)
	var applied appliedBatch
	if resp.Header.Get("Content-Type") == resultsMediaType {
		data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		if err != nil {
			return nil, 0, fmt.Errorf("dispatcher: reading the leader's answer: %w", err)
		}
		if applied, err = decodeResults(data); err != nil {
			return nil, 0, fmt.Errorf("dispatcher: the leader's answer: %w", err)
		}
	} else if err := json.NewDecoder(resp.Body).Decode(&applied); err != nil { // a leader of an earlier version
		return nil, 0, err
	}
	if len(applied.Results) != len(cmds) {
		return nil, 0, fmt.Errorf("dispatcher: leader returned %d results for %d commands", len(applied.Results), len(cmds))
	}
	return applied.Results, applied.Index, nil
}

// appliedBatch is the leader's answer to a forwarded batch.
type appliedBatch struct {
	Results []Result `json:"results"`
	Index   uint64   `json:"index"`
}

// noteAnswered records that a client was answered with the results of the entry at
// index: reads on this node (ReadBarrier) wait until it has applied that far, so a
// client reads its writes on any node without writes waiting for followers.
func (n *Node) noteAnswered(index uint64) {
	for {
		cur := n.answered.Load()
		if index <= cur || n.answered.CompareAndSwap(cur, index) {
			return
		}
	}
}

// ReadBarrier waits (at most a second) until this node has applied every write it
// has answered and every entry it knows to be committed, so what a client wrote
// through it can be read from it, and a node that was down answers from the
// cluster's state rather than its own old one.
func (n *Node) ReadBarrier(ctx context.Context) {
	n.waitApplied(ctx, max(n.answered.Load(), n.raft.CommitIndex()), time.Second)
}

// waitApplied waits until the state machine has applied index, or for at most max.
func (n *Node) waitApplied(ctx context.Context, index uint64, max time.Duration) {
	deadline := time.NewTimer(max)
	defer deadline.Stop()
	for {
		changed := n.fsm.Changed()
		var applied uint64
		n.fsm.Read(func(_ *State, a uint64) { applied = a })
		if applied >= index {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			return
		case <-ctx.Done():
			return
		}
	}
}

// applyLocal commits a batch through this node's raft (it must lead) and returns the
// results and the batch's log index.
func (n *Node) applyLocal(batch Command) ([]Result, uint64, error) {
	data, err := EncodeCommand(batch)
	if err != nil {
		return nil, 0, err
	}
	f := n.raft.Apply(data, 5*time.Second)
	if err := f.Error(); err != nil {
		if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) {
			return nil, 0, fmt.Errorf("%w: %v", ErrNoLeader, err)
		}
		return nil, 0, err
	}
	r := f.Response().(Result)
	if r.Code != "" {
		return nil, 0, r.Error()
	}
	return r.Batch, f.Index(), nil
}

// leaderHTTP is the leader's API address, from the nodes the state knows.
func (n *Node) leaderHTTP() (string, error) {
	_, id := n.raft.LeaderWithID()
	if id == "" {
		return "", ErrNoLeader
	}
	var addr string
	n.fsm.Read(func(s *State, _ uint64) { addr = s.Nodes[string(id)].HTTPAddr })
	if addr == "" {
		return "", fmt.Errorf("%w: leader %s has not announced its address yet", ErrNoLeader, id)
	}
	return addr, nil
}

// watchLeadership runs the leader loops while this node leads.
func (n *Node) watchLeadership(ctx context.Context) {
	var current *leaderRun
	defer func() { current.end() }()
	for {
		select {
		case <-ctx.Done():
			return
		case isLeader := <-n.raft.LeaderCh():
			current.end()
			current = nil
			n.cfg.Metrics.LeaderChanges.Inc()
			if !isLeader {
				n.cfg.Metrics.Leader.Set(0)
				n.log.Info("dispatcher leadership lost")
				continue
			}
			n.log.Info("dispatcher leadership gained")
			n.cfg.Metrics.Leader.Set(1)
			current = n.startLeading(ctx)
		}
	}
}

// announce records this node's addresses in the state once it is a member, so the
// leader can reach it (to push offers for the workers connected here). A leader
// also announces itself when it is elected.
func (n *Node) announce(ctx context.Context) {
	self := Peer{ID: n.cfg.ID, RaftAddr: n.cfg.RaftAddr, HTTPAddr: n.cfg.HTTPAddr}
	for {
		var known bool
		n.fsm.Read(func(s *State, _ uint64) { known = s.Nodes[self.ID] == self })
		if known {
			return
		}
		if n.Ready(ctx) == nil {
			if _, _, err := n.submit(ctx, []Command{{Type: CmdAddNode, At: time.Now().UTC(), Node: &self}}, false); err == nil {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// leaderRun is one term of leadership's loops.
type leaderRun struct {
	stop context.CancelFunc
	done chan struct{}
}

func (n *Node) startLeading(ctx context.Context) *leaderRun {
	lctx, cancel := context.WithCancel(ctx)
	r := &leaderRun{stop: cancel, done: make(chan struct{})}
	go func() { defer close(r.done); n.lead(lctx) }()
	return r
}

// end stops the loops and waits for them; a nil run is a no-op.
func (r *leaderRun) end() {
	if r != nil {
		r.stop()
		<-r.done
	}
}

// lead is the leader's work: announce this node, then place pending jobs, expire
// unanswered offers and declare workers lost whose lease ran out, until ctx ends.
func (n *Node) lead(ctx context.Context) {
	self := Peer{ID: n.cfg.ID, RaftAddr: n.cfg.RaftAddr, HTTPAddr: n.cfg.HTTPAddr}
	for ctx.Err() == nil {
		if _, _, err := n.submit(ctx, []Command{{Type: CmdAddNode, At: time.Now().UTC(), Node: &self}}, true); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
	pusher := newOfferPusher(ctx, n)
	n.pusher.Store(pusher)
	defer pusher.wait()
	defer n.pusher.Store(nil)
	// A new leader counts leases from now: workers had no way to reach it before.
	since := time.Now()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	ticked := true
	var pruned time.Time
	for {
		changed := n.fsm.Changed()
		now := time.Now().UTC()
		var placeable bool
		var expire []JobRef
		var lost []string
		var prune *Command
		n.fsm.Read(func(s *State, _ uint64) {
			if ticked && time.Since(pruned) >= min(pruneEvery, max(n.cfg.Retention/2, 100*time.Millisecond)) {
				pruned = time.Now()
				prune = pruneList(s, now.Add(-n.cfg.Retention))
			}
			// Jobs are placed when an entry is committed; an empty one is enough when
			// pending jobs could go somewhere (a worker registered or has room again).
			placeable = len(place(s, nil, 1)) > 0
			if !ticked {
				return
			}
			for _, j := range s.offered {
				if !now.Before(j.OfferExpires) {
					expire = append(expire, JobRef{Job: j.ID, Epoch: j.Epoch})
				}
			}
			if time.Since(since) > n.cfg.Lease {
				for _, w := range s.Workers {
					if w.Status != WorkerLost && now.Sub(w.LastSeen) > n.cfg.Lease {
						lost = append(lost, w.ID)
					}
				}
			}
		})
		var cmds []Command
		if len(lost) > 0 {
			slices.Sort(lost)
			cmds = append(cmds, Command{Type: CmdLost, At: now, Lost: lost})
		}
		if len(expire) > 0 {
			cmds = append(cmds, Command{Type: CmdExpire, At: now, Expire: expire})
		}
		if prune != nil {
			prune.At = now
			cmds = append(cmds, *prune)
		}
		if len(cmds) > 0 || placeable {
			results, _, err := n.submit(ctx, cmds, true)
			if err != nil && ctx.Err() == nil {
				n.log.Warn("leader commands failed", "err", err)
			}
			for i, r := range results {
				switch cmds[i].Type {
				case CmdLost:
					n.cfg.Metrics.WorkersLost.Add(float64(r.Applied))
					if r.Applied > 0 {
						n.log.Warn("workers lost: their lease ran out; their jobs go to other workers", "workers", cmds[i].Lost)
					}
				case CmdExpire:
					n.cfg.Metrics.OffersExpired.Add(float64(r.Applied))
				case CmdPrune:
					n.cfg.Metrics.Pruned.Add(float64(r.Applied))
				}
			}
		}
		ticked = false
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-tick.C:
			ticked = true
		}
	}
}

// pruneEvery is how often (at most) the leader looks for ended jobs and lost
// workers past their retention; maxPrune bounds what one command forgets.
const (
	pruneEvery = 10 * time.Second
	maxPrune   = 2000
)

// pruneList names the ended jobs, and the lost workers holding nothing, last
// changed before cutoff (oldest first); nil when there are none.
func pruneList(s *State, cutoff time.Time) *Command {
	var jobs []*Job
	for _, j := range s.ended {
		if j.UpdatedAt.Before(cutoff) {
			jobs = append(jobs, j)
		}
	}
	slices.SortFunc(jobs, func(a, b *Job) int { return a.UpdatedAt.Compare(b.UpdatedAt) })
	c := &Command{Type: CmdPrune}
	for _, j := range jobs[:min(len(jobs), maxPrune)] {
		c.PruneJobs = append(c.PruneJobs, j.ID)
	}
	for id, w := range s.Workers {
		if w.Status == WorkerLost && w.LastSeen.Before(cutoff) && len(s.held[id]) == 0 && len(c.PruneWorkers) < maxPrune {
			c.PruneWorkers = append(c.PruneWorkers, id)
		}
	}
	if c.PruneJobs == nil && c.PruneWorkers == nil {
		return nil
	}
	slices.Sort(c.PruneWorkers)
	return c
}

// Join adds a node to the cluster as a voter (forwarded to the leader).
func (n *Node) Join(ctx context.Context, id, raftAddr string) error {
	if n.raft.State() != raft.Leader {
		return n.forwardAdmin(ctx, "/internal/join", map[string]string{"id": id, "raft_addr": raftAddr})
	}
	return n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(raftAddr), 0, 10*time.Second).Error()
}

// Remove takes a node out of the cluster (forwarded to the leader).
func (n *Node) Remove(ctx context.Context, id string) error {
	if n.raft.State() != raft.Leader {
		return n.forwardAdmin(ctx, "/internal/remove", map[string]string{"id": id})
	}
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, 10*time.Second).Error(); err != nil {
		return err
	}
	_, _, err := n.submit(ctx, []Command{{Type: CmdRemoveNode, At: time.Now().UTC(), Node: &Peer{ID: id}}}, true)
	return err
}

func (n *Node) forwardAdmin(ctx context.Context, path string, body map[string]string) error {
	leader, err := n.leaderHTTP()
	if err != nil {
		return err
	}
	data, _ := json.Marshal(body)
	resp, err := n.post(ctx, leader, path, data, "", http.StatusOK)
	if err != nil {
		return err
	}
	drainClose(resp.Body)
	return nil
}

// post sends body to another node's path with the cluster's secret (and accept,
// when set, as the form of answer wanted) and returns the response when its status
// is want; any other status is an error that quotes the start of the answer.
func (n *Node) post(ctx context.Context, addr, path string, body []byte, accept string, want int) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+n.cfg.Secret)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != want {
		defer drainClose(resp.Body)
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return nil, fmt.Errorf("dispatcher: %s answered %s: %s", addr, resp.Status, strings.TrimSpace(string(msg)))
	}
	return resp, nil
}

// Ready reports whether the node can take writes: it knows a leader that has
// announced where it serves, and it is a member of the cluster.
func (n *Node) Ready(context.Context) error {
	if _, err := n.leaderHTTP(); err != nil {
		return err
	}
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return err
	}
	for _, srv := range f.Configuration().Servers {
		if string(srv.ID) == n.cfg.ID {
			return nil
		}
	}
	return fmt.Errorf("dispatcher: node %s is not a member of the cluster yet", n.cfg.ID)
}

// Status is what a node says of the cluster.
type Status struct {
	Node    string   `json:"node"`
	State   string   `json:"state"`
	Leader  string   `json:"leader"`
	Term    uint64   `json:"term"`
	Applied uint64   `json:"applied_index"`
	Members []Member `json:"members"`
	Jobs    int      `json:"jobs"`
	Workers int      `json:"workers"`
}

// Member is a voter of the cluster.
type Member struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr,omitempty"`
}

// Status reports the node's view of the cluster.
func (n *Node) Status() Status {
	_, leader := n.raft.LeaderWithID()
	st := Status{Node: n.cfg.ID, State: n.raft.State().String(), Leader: string(leader), Applied: n.raft.AppliedIndex()}
	fmt.Sscan(n.raft.Stats()["term"], &st.Term)
	var nodes map[string]Peer
	n.fsm.Read(func(s *State, _ uint64) {
		nodes = map[string]Peer{}
		for k, v := range s.Nodes {
			nodes[k] = v
		}
		st.Jobs, st.Workers = len(s.Jobs), len(s.Workers)
	})
	if f := n.raft.GetConfiguration(); f.Error() == nil {
		for _, srv := range f.Configuration().Servers {
			st.Members = append(st.Members, Member{ID: string(srv.ID), RaftAddr: string(srv.Address), HTTPAddr: nodes[string(srv.ID)].HTTPAddr})
		}
	}
	return st
}

// slogWriter turns raft's log lines into slog records.
type slogWriter struct{ log *slog.Logger }

func (w slogWriter) Write(p []byte) (int, error) {
	line := strings.TrimSpace(string(p))
	level := slog.LevelInfo
	switch {
	case strings.Contains(line, "[ERROR]"):
		level = slog.LevelError
	case strings.Contains(line, "[WARN]") && strings.Contains(line, "starting election") && strings.Contains(line, "last-leader-id= "),
		strings.Contains(line, "[WARN]") && strings.HasSuffix(line, "last-leader-id="):
		// A node that never had a leader (a new cluster starting) elects one: that
		// is how every start goes, not a warning.
	case strings.Contains(line, "[WARN]"):
		level = slog.LevelWarn
	}
	w.log.Log(context.Background(), level, line, "component", "raft")
	return len(p), nil
}

// drainClose reads a response body to its end before closing it, so its connection
// is kept for the next request.
func drainClose(body io.ReadCloser) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, maxBody))
	body.Close()
}
