package dispatcher

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

var upgrader = websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096}

// serveWorker runs one worker's connection: it registers the worker (reconciling the
// sessions it reports), relays its heartbeats and answers as commands, sends it the
// offers the leader makes for it, and tells it to leave a job that ended or moved.
// The handler's goroutine reads and hands each message to the proposer without
// waiting (at most maxInflight at once; the answer is sent from the committing
// goroutine); it owns a writer and a watcher goroutine. When the connection ends
// it waits for both and for the messages still being committed.
func (n *Node) serveWorker(w http.ResponseWriter, r *http.Request) {
	ws, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	defer ws.Close()
	ws.SetReadLimit(maxMessage)
	// The first message registers the worker.
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	first, err := readMessages(ws)
	if err == nil && (len(first) != 1 || first[0].Type != MsgRegister) {
		err = errors.New("the first message must be register, alone")
	}
	if err != nil {
		writeClose(ws, err)
		return
	}
	reg := first[0]
	wi := reg.Worker
	log := n.log.With("worker", wi.ID)
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	res, err := n.Propose(ctx, Command{Type: CmdRegister, At: time.Now().UTC(), Register: &Register{
		Worker:   Worker{ID: wi.ID, Capacity: wi.Capacity, Labels: wi.Labels, Version: wi.Version, Status: wi.Status, Node: n.cfg.ID},
		Sessions: reg.Sessions, Finished: reg.Finished}})
	if err == nil {
		err = res.Error()
	}
	if err != nil {
		writeClose(ws, err)
		return
	}
	log.Info("worker connected", "capacity", wi.Capacity, "sessions", len(reg.Sessions), "leave", len(res.Leave))
	n.cfg.Metrics.Connections.Inc()
	defer n.cfg.Metrics.Connections.Dec()

	c := &workerConn{n: n, id: wi.ID, ctx: ctx, stop: func() { cancel(); ws.Close() }, wake: make(chan struct{}, 1), held: map[string]uint64{}, log: log,
		inflight: make(chan struct{}, maxInflight), batches: wi.Batches, beats: make(chan committedBeat, 4)}
	for _, s := range reg.Sessions {
		c.held[s.Job] = s.Epoch
	}
	for _, l := range res.Leave {
		delete(c.held, l.Job)
	}
	n.addConn(c)
	defer n.removeConn(c)
	c.send(Message{Type: MsgRegistered, Leave: res.Leave, Batches: true, Digests: true})
	// A bad message's error is the last thing written, once the writer has stopped.
	var final error
	defer func() {
		if final != nil {
			writeClose(ws, final)
		}
	}()
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); c.write(ctx, ws) }()
	go func() { defer wg.Done(); c.watch(ctx) }()
	go func() { defer wg.Done(); c.checkSessions(ctx) }()
	defer wg.Wait()
	defer cancel()
	// First, messages read before the connection ended are committed (a finish sent
	// just before hanging up counts); a node shutting down answers them at once.
	defer c.handling.Wait()
	for {
		_ = ws.SetReadDeadline(time.Now().Add(3 * n.cfg.Lease))
		msgs, err := readMessages(ws)
		if err != nil {
			bad := errors.Is(err, ErrBadMessage)
			if bad {
				final = err
			}
			log.Info("worker disconnected", "err", err, "bad_message", bad)
			return
		}
		for _, m := range msgs {
			select {
			case c.inflight <- struct{}{}:
			case <-ctx.Done():
				return
			}
			c.handle(m)
		}
	}
}

// maxInflight bounds a worker's messages being committed at once: they are
// committed concurrently, so the proposer can batch them.
const maxInflight = 256

// readMessages reads one WebSocket message: one message or an array of them.
func readMessages(ws *websocket.Conn) ([]Message, error) {
	kind, data, err := ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	if kind != websocket.TextMessage {
		return nil, errors.Join(ErrBadMessage, errors.New("text messages only"))
	}
	return DecodeWorkerMessages(data)
}

func writeClose(ws *websocket.Conn, err error) {
	_ = ws.SetWriteDeadline(time.Now().Add(time.Second))
	_ = ws.WriteJSON(Message{Type: MsgError, Error: err.Error()})
	_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.ClosePolicyViolation, ""))
}

// workerConn is the node's side of one worker connection.
type workerConn struct {
	n    *Node
	id   string
	ctx  context.Context
	stop context.CancelFunc
	log  *slog.Logger
	// inflight holds a place for each of the worker's messages being committed;
	// handling counts them, to wait for them when the connection ends.
	inflight chan struct{}
	handling sync.WaitGroup

	// out is what waits for the writer (never dropped, never blocking the sender);
	// wake tells the writer there is some; with batches the worker reads several in
	// one WebSocket message.
	outMu   sync.Mutex
	out     []Message
	wake    chan struct{}
	batches bool

	mu sync.Mutex
	// held maps the jobs the worker was offered or runs to their epochs.
	held map[string]uint64

	// beats takes committed heartbeats to checkSessions; when it is four behind,
	// the newest are dropped (the next heartbeats will do).
	beats chan committedBeat
}

// committedBeat is a heartbeat and the index of the entry that committed it.
type committedBeat struct {
	m     Message
	index uint64
}

// send queues m for the writer.
func (c *workerConn) send(m Message) {
	c.outMu.Lock()
	c.out = append(c.out, m)
	c.outMu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// write sends queued messages until ctx ends.
func (c *workerConn) write(ctx context.Context, ws *websocket.Conn) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.wake:
		}
		c.outMu.Lock()
		msgs := c.out
		c.out = nil
		c.outMu.Unlock()
		if err := WriteMessages(ws, msgs, c.batches); err != nil {
			c.stop()
			return
		}
	}
}

// watch follows the state: offers made to this worker are sent once, and a job it
// holds that ended, or now belongs to another worker or epoch, is to be left. It
// reads only the jobs the FSM says changed.
func (c *workerConn) watch(ctx context.Context) {
	wt := c.n.fsm.Watch(c.id)
	defer wt.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case <-wt.C():
		}
		ids, all := wt.Take()
		var msgs []Message
		c.mu.Lock()
		c.n.fsm.Read(func(s *State, applied uint64) {
			if all {
				ids = slices.AppendSeq(slices.Collect(maps.Keys(c.held)), maps.Keys(s.Held(c.id)))
			}
			for _, id := range ids {
				msgs = c.follow(s, applied, id, msgs)
			}
		})
		c.mu.Unlock()
		for _, m := range msgs {
			c.send(m)
		}
	}
}

// follow compares one job with what the worker was told of it (c.mu held, state
// read-locked, with entries up to applied applied) and appends what the worker
// must now be told.
//
// An epoch is the index of the entry that assigned the job, so a node whose state
// is older than the worker's epoch (a node that restarted and is catching up, to
// which the worker of a dead node has just moved) has not seen the assignment yet:
// its older record of the job is no reason to leave, nor an offer to send. When it
// applies the assignment the job is followed again.
func (c *workerConn) follow(s *State, applied uint64, id string, msgs []Message) []Message {
	j := s.Jobs[id]
	if epoch, ok := c.held[id]; ok && epoch <= applied && (j == nil || j.State.Ended() || j.Worker != c.id || j.Epoch != epoch) {
		reason := "moved"
		if j != nil && j.State.Ended() {
			reason = string(j.State)
			if j.Reason != "" {
				reason += ": " + j.Reason
			}
		}
		msgs = append(msgs, Message{Type: MsgLeave, Job: id, Epoch: epoch, Reason: reason})
		delete(c.held, id)
	}
	if j != nil && j.Worker == c.id && j.State == JobOffered && j.Epoch > c.held[id] {
		c.held[id] = j.Epoch
		msgs = append(msgs, Message{Type: MsgOffer, Job: j.ID, Room: j.Room, Epoch: j.Epoch, Labels: j.Labels})
	}
	return msgs
}

// handle turns a worker's message into a command and commits it; the answer goes
// back to the worker from the committing goroutine.
func (c *workerConn) handle(m Message) {
	now := time.Now().UTC()
	var cmd Command
	switch m.Type {
	case MsgRegister:
		c.send(Message{Type: MsgError, Error: "already registered"})
		<-c.inflight
		return
	case MsgHeartbeat:
		cmd = Command{Type: CmdHeartbeats, At: now, Heartbeats: []Heartbeat{{Worker: c.id, Node: c.n.cfg.ID, Active: m.Active, CPU: m.CPU, Status: m.Status}}}
	case MsgAccept:
		cmd = Command{Type: CmdAccept, At: now, Job: &JobRef{Job: m.Job, Worker: c.id, Epoch: m.Epoch}}
	case MsgRefuse:
		cmd = Command{Type: CmdRefuse, At: now, Job: &JobRef{Job: m.Job, Worker: c.id, Epoch: m.Epoch, Reason: m.Reason}}
	case MsgFinish:
		cmd = Command{Type: CmdFinish, At: now, Job: &JobRef{Job: m.Job, Worker: c.id, Epoch: m.Epoch, Failed: m.Failed, Reason: m.Reason}}
	}
	c.handling.Add(1)
	c.n.proposeAsync(cmd, func(res Result, index uint64, err error) {
		defer c.handling.Done()
		defer func() { <-c.inflight }()
		c.answer(m, res, index, err)
	})
}

// answer tells the worker what became of its message, committed at index.
func (c *workerConn) answer(m Message, res Result, index uint64, err error) {
	if err == nil {
		err = res.Error()
	}
	switch {
	case m.Type == MsgFinish && (err == nil || errors.Is(err, ErrFenced) || errors.Is(err, ErrUnknownJob)):
		// Committed, or moot (the job had moved or ended): the worker can forget it.
		c.forget(m.Job, m.Epoch)
		c.send(Message{Type: MsgFinished, Job: m.Job, Epoch: m.Epoch})
	case errors.Is(err, ErrFenced), errors.Is(err, ErrUnknownJob):
		c.forget(m.Job, m.Epoch)
		c.send(Message{Type: MsgLeave, Job: m.Job, Epoch: m.Epoch, Reason: "fenced"})
	case err != nil && c.ctx.Err() == nil:
		c.log.Warn("worker message not committed", "type", m.Type, "job", m.Job, "err", err)
		c.send(Message{Type: MsgError, Job: m.Job, Error: err.Error()})
	case err != nil:
	case m.Type == MsgAccept:
		c.send(Message{Type: MsgConfirm, Job: m.Job, Epoch: m.Epoch})
	case m.Type == MsgHeartbeat && res.Applied == 0:
		// The worker was declared lost: its jobs have moved. It must register again.
		c.log.Warn("heartbeat from a worker declared lost; closing so it registers again")
		c.stop()
	case m.Type == MsgHeartbeat:
		c.send(Message{Type: MsgRenewed, Seq: m.Seq})
		select {
		case c.beats <- committedBeat{m, index}:
		default: // the checker is behind; the next heartbeat will do
		}
	case m.Type == MsgRefuse:
		c.forget(m.Job, m.Epoch)
	}
}

// checkSessions compares what settled heartbeats say the worker runs with this
// node's records, once it has applied each heartbeat's entry, until ctx ends. Every
// path that ends or moves a session tells the other side, but a bug or a message
// lost on one of them would leave a room "running" with nobody in it, or with a
// session the cluster no longer counts, for as long as the connection lasts. Two
// settled heartbeats in a row that disagree close the connection: the worker
// registers again with its sessions, and the leader reconciles them (a job it runs
// no longer is placed again; a session it should not run is left). A heartbeat that
// is not settled, or a record with an offer out to the worker, is not compared.
func (c *workerConn) checkSessions(ctx context.Context) {
	mismatches := 0
	for {
		var b committedBeat
		select {
		case <-ctx.Done():
			return
		case b = <-c.beats:
		}
		if !b.m.Settled {
			mismatches = 0
			continue
		}
		c.n.waitApplied(ctx, b.index, time.Second)
		var recorded SessionDigest
		comparable := true
		c.n.fsm.Read(func(s *State, applied uint64) {
			if applied < b.index {
				comparable = false
				return
			}
			for id, j := range s.Held(c.id) {
				switch j.State {
				case JobRunning:
					recorded.Add(id, j.Epoch)
				case JobOffered:
					comparable = false
				}
			}
		})
		if !comparable || (recorded.N == b.m.Running && recorded.X == b.m.Digest) {
			mismatches = 0
			continue
		}
		if mismatches++; mismatches < 2 {
			continue
		}
		c.log.Warn("the worker's sessions and this node's records differ in two heartbeats in a row; closing so that it registers again and they are reconciled",
			"worker_running", b.m.Running, "recorded_running", recorded.N)
		c.n.cfg.Metrics.Resyncs.Inc()
		c.stop()
		return
	}
}

// forget stops following a job the worker held at epoch (and only at that epoch:
// a message with a stale or forged epoch does not hide the job it holds now).
func (c *workerConn) forget(job string, epoch uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held[job] == epoch {
		delete(c.held, job)
	}
}
