package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/gorilla/websocket"

	"github.com/attendant/attendant/dispatcher"
)

// RoomRunner runs the assistant in one room until ctx ends (then it returns nil) or
// the session cannot go on.
type RoomRunner interface {
	RunRoom(ctx context.Context, room string) error
}

// DispatchConfig says how a worker takes its rooms from the dispatcher.
type DispatchConfig struct {
	// Nodes are dispatcher nodes' HTTP addresses (host:port); any of them will do.
	Nodes  []string
	Secret string
	// ID names the worker; Capacity is how many sessions it runs at once; Labels
	// (language, region) are matched against jobs'.
	ID       string
	Capacity int
	Labels   map[string]string
	Version  string
	// Heartbeat is how often the worker reports its load (default a sixth of the
	// lease: a leader election of a second or two then rarely leaves it unrenewed
	// for long enough to stop its sessions); Lease is the dispatcher's (default 3s):
	// a worker whose lease has not been renewed for it, less a margin, stops its
	// sessions itself, since the dispatcher may be moving them.
	// ReconnectMax caps the wait between connection attempts.
	Heartbeat, Lease, ReconnectMax time.Duration
}

// Dispatched is a worker that takes jobs from the dispatcher: it keeps a connection
// to one of its nodes, registers with the sessions it runs, heartbeats, runs a
// session per accepted offer, reports how each ended, and leaves a room when told
// (the job was cancelled or moved to a newer epoch).
type Dispatched struct {
	cfg    DispatchConfig
	runner RoomRunner
	log    *slog.Logger

	mu       sync.Mutex
	sessions map[string]*dispatchedSession
	// unacked holds the ends of sessions the dispatcher has not acknowledged yet:
	// they are sent again with the next registration, so a finish lost with a
	// connection or a leader does not send the room's job back to pending.
	unacked map[string]dispatcher.JobRef
	// finishSent is when the unacknowledged finishes were last sent.
	finishSent time.Time
	conn       *websocket.Conn
	// registering is the connection whose registration is under way: the watchdog
	// closes it too, since that registration may report sessions it has stopped.
	registering *websocket.Conn
	// batches: the node reads arrays of messages.
	batches bool
	// digests: the node compares settled heartbeats' sessions with its records.
	digests  bool
	writeMu  sync.Mutex
	draining bool
	wg       sync.WaitGroup
	// seq numbers heartbeats; sent maps the unanswered ones to when they were sent;
	// renewedAt is when the newest heartbeat the dispatcher committed was sent.
	seq       uint64
	sent      map[uint64]time.Time
	renewedAt time.Time
}

type dispatchedSession struct {
	room  string
	epoch uint64
	// confirmed: the dispatcher committed the accept and the session runs; until
	// then the job only holds a place.
	confirmed bool
	cancel    context.CancelFunc
	left      bool
	// asked is when the accept was last sent; an accept not answered for a while
	// (its answer lost with a leader) is sent again.
	asked time.Time
}

// NewDispatched returns a worker taking jobs for runner.
func NewDispatched(cfg DispatchConfig, runner RoomRunner, log *slog.Logger) (*Dispatched, error) {
	if len(cfg.Nodes) == 0 || cfg.ID == "" || cfg.Capacity < 1 || runner == nil || log == nil {
		return nil, errors.New("worker: dispatch needs nodes, an id, a capacity of at least 1, a runner and a logger")
	}
	if cfg.ReconnectMax <= 0 {
		cfg.ReconnectMax = 5 * time.Second
	}
	if cfg.Lease <= 0 {
		cfg.Lease = 3 * time.Second
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = cfg.Lease / 6
	}
	if cfg.Heartbeat >= cfg.Lease/2 {
		return nil, errors.New("worker: the heartbeat must be well under half the lease")
	}
	return &Dispatched{cfg: cfg, runner: runner, log: log.With("worker", cfg.ID), sessions: map[string]*dispatchedSession{},
		unacked: map[string]dispatcher.JobRef{}, sent: map[uint64]time.Time{}}, nil
}

// Drain takes no new jobs; Run returns once the sessions have ended.
func (d *Dispatched) Drain() {
	d.mu.Lock()
	d.draining = true
	d.mu.Unlock()
	d.send(d.heartbeat())
}

// Ready reports whether the worker is registered with a dispatcher node now; it
// backs /readyz.
func (d *Dispatched) Ready(context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn == nil {
		return errors.New("not connected to a dispatcher node")
	}
	return nil
}

// Active is how many sessions run now.
func (d *Dispatched) Active() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.sessions)
}

// Run connects to the dispatcher (any node, with backoff) and takes jobs until ctx
// ends, or until it drains and its sessions end. The sessions it started are
// stopped and waited for before it returns.
func (d *Dispatched) Run(ctx context.Context) error {
	defer d.wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	d.wg.Add(1)
	go func() { defer d.wg.Done(); d.fence(ctx) }()
	wait := 100 * time.Millisecond
	for i := 0; ; i++ {
		if d.drained() {
			return nil
		}
		node := d.cfg.Nodes[i%len(d.cfg.Nodes)]
		connected, err := d.connect(ctx, node)
		if ctx.Err() != nil || d.drained() {
			return nil
		}
		if connected {
			wait = 100 * time.Millisecond
		}
		d.mu.Lock()
		holding := len(d.sessions) > 0 && !d.renewedAt.IsZero() && time.Since(d.renewedAt) < d.cfg.Lease
		d.mu.Unlock()
		after := reconnectWait(wait, holding, d.cfg.Heartbeat, rand.Float64())
		d.log.Warn("dispatcher connection ended; reconnecting", "node", node, "err", err, "after", after)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(after):
		}
		wait = min(2*wait, d.cfg.ReconnectMax)
	}
}

// reconnectWait is how long the worker waits before its next connection attempt:
// the backoff, but no more than half a heartbeat while it runs sessions on a lease
// that has not run out. A leader's failover refuses registrations for a second or
// so, and a worker that backed off for longer would miss the end of its lease and
// stop every session it runs. The wait is spread by ±20% (jitter in [0,1)) so that
// the workers of a dead node do not all come back in step.
func reconnectWait(backoff time.Duration, holding bool, heartbeat time.Duration, jitter float64) time.Duration {
	if holding {
		backoff = min(backoff, heartbeat/2)
	}
	return time.Duration(float64(backoff) * (0.8 + 0.4*jitter))
}

// fence stops every session when the lease has gone unrenewed for most of its
// length: by then the dispatcher is about to give the rooms to other workers, and a
// room must never have two assistants.
func (d *Dispatched) fence(ctx context.Context) {
	t := time.NewTicker(d.cfg.Heartbeat / 4)
	defer t.Stop()
	margin := d.cfg.Lease / 6
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		expired := !d.renewedAt.IsZero() && time.Since(d.renewedAt) > d.cfg.Lease-margin
		var stopped int
		if expired {
			for _, s := range d.sessions {
				if s.confirmed && !s.left {
					s.left = true
					s.cancel()
					stopped++
				}
			}
		}
		ws := cmp.Or(d.conn, d.registering)
		d.mu.Unlock()
		if stopped > 0 {
			d.log.Warn("lease not renewed: sessions stopped before the dispatcher moves them; registering again", "sessions", stopped)
			// The dispatcher may still count these rooms as this worker's (its leader
			// changed, and a new leader waits a lease before it declares anyone lost):
			// registering again without them sends them back to pending, so they get
			// an assistant again now rather than never.
			if ws != nil {
				ws.Close()
			}
		}
	}
}

// waitStopped waits until no stopped session is still running, or for at most max.
func (d *Dispatched) waitStopped(ctx context.Context, max time.Duration) {
	deadline := time.Now().Add(max)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		d.mu.Lock()
		stopping := false
		for _, s := range d.sessions {
			if s.left {
				stopping = true
				break
			}
		}
		d.mu.Unlock()
		if !stopping {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// unanswered returns the accepts and finishes sent on this connection more than an
// answer's time ago and still unanswered (an answer lost while the dispatcher
// changed leader would leave a room running with no session, or a finished one
// running), to send again; both are idempotent.
func (d *Dispatched) unanswered() []dispatcher.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	var msgs []dispatcher.Message
	now := time.Now()
	for job, s := range d.sessions {
		if !s.confirmed && !s.left && now.Sub(s.asked) > resendAfter {
			s.asked = now
			msgs = append(msgs, dispatcher.Message{Type: dispatcher.MsgAccept, Job: job, Epoch: s.epoch})
		}
	}
	if now.Sub(d.finishSent) > resendAfter {
		for _, f := range d.unacked {
			d.finishSent = now
			msgs = append(msgs, finishMessage(f))
		}
	}
	return msgs
}

// finishMessage reports the end of a session, as kept until acknowledged.
func finishMessage(f dispatcher.JobRef) dispatcher.Message {
	return dispatcher.Message{Type: dispatcher.MsgFinish, Job: f.Job, Epoch: f.Epoch, Failed: f.Failed, Reason: f.Reason}
}

// resendAfter is how long an accept or a finish waits for its answer before it is
// sent again.
const resendAfter = time.Second

// drained: draining, every session over and its end acknowledged.
func (d *Dispatched) drained() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.draining && len(d.sessions) == 0 && len(d.unacked) == 0
}

// connect runs one connection to node; it reports whether it got registered.
func (d *Dispatched) connect(ctx context.Context, node string) (bool, error) {
	h := http.Header{}
	h.Set("Authorization", "Bearer "+d.cfg.Secret)
	dialer := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	ws, resp, err := dialer.DialContext(ctx, "ws://"+node+"/v1/workers/connect", h)
	if err != nil {
		if resp != nil {
			err = fmt.Errorf("%w (%s)", err, resp.Status)
		}
		return false, err
	}
	defer ws.Close()
	stop := context.AfterFunc(ctx, func() { ws.Close() })
	defer stop()

	// Sessions being stopped are waited for (a second at most) before registering:
	// the rooms they leave go back to pending then, and must not get another
	// assistant while this one is still in them.
	d.waitStopped(ctx, time.Second)
	d.mu.Lock()
	// Places held for offers never confirmed are given up: those sessions never ran.
	for job, s := range d.sessions {
		if !s.confirmed {
			s.cancel()
			delete(d.sessions, job)
		}
	}
	reg := dispatcher.Message{Type: dispatcher.MsgRegister, Worker: &dispatcher.WorkerInfo{ID: d.cfg.ID, Capacity: d.cfg.Capacity,
		Labels: d.cfg.Labels, Version: d.cfg.Version, Status: d.statusLocked(), Batches: true}}
	for job, s := range d.sessions {
		if !s.left {
			reg.Sessions = append(reg.Sessions, dispatcher.JobRef{Job: job, Epoch: s.epoch})
		}
	}
	for _, f := range d.unacked {
		reg.Finished = append(reg.Finished, f)
	}
	d.registering = ws
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.registering = nil
		d.mu.Unlock()
	}()
	_ = ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
	if err := ws.WriteJSON(reg); err != nil {
		return false, err
	}
	_ = ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	frame, err := readMessages(ws)
	if err != nil {
		return false, err
	}
	first := frame[0]
	if first.Type != dispatcher.MsgRegistered {
		return false, fmt.Errorf("dispatcher refused the registration: %s", first.Error)
	}
	for _, l := range first.Leave {
		d.leave(l.Job, l.Epoch, "fenced at registration")
	}
	d.mu.Lock()
	d.conn, d.batches, d.digests = ws, first.Batches, first.Digests
	d.renewedAt = time.Now() // registering renewed the lease
	d.sent = map[uint64]time.Time{}
	// The registration committed the ends it carried.
	for _, f := range reg.Finished {
		if d.unacked[f.Job].Epoch == f.Epoch {
			delete(d.unacked, f.Job)
		}
	}
	var unsent []dispatcher.Message
	d.finishSent = time.Now()
	for _, f := range d.unacked {
		unsent = append(unsent, finishMessage(f))
	}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.conn = nil
		d.mu.Unlock()
	}()
	d.log.Info("connected to the dispatcher", "node", node, "sessions", len(reg.Sessions), "finished", len(reg.Finished), "leave", len(first.Leave))
	for _, m := range unsent {
		d.send(m)
	}

	beatCtx, stopBeats := context.WithCancel(ctx)
	defer stopBeats()
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		// A heartbeat goes every Heartbeat, and every quarter of it while the
		// newest one is not acknowledged after a quarter (the dispatcher is
		// electing a leader): the lease is renewed as soon as it can be, before
		// the watchdog has to stop the sessions.
		t := time.NewTicker(d.cfg.Heartbeat / 4)
		defer t.Stop()
		var last time.Time
		for {
			d.mu.Lock()
			late := time.Since(d.renewedAt) > d.cfg.Heartbeat+d.cfg.Heartbeat/4
			d.mu.Unlock()
			if since := time.Since(last); since >= d.cfg.Heartbeat || (late && since >= d.cfg.Heartbeat/4) {
				last = time.Now()
				d.send(d.heartbeat())
			}
			d.send(d.unanswered()...)
			select {
			case <-beatCtx.Done():
				return
			case <-t.C:
			}
		}
	}()
	defer func() { stopBeats(); <-beating }()
	for {
		_ = ws.SetReadDeadline(time.Now().Add(5 * d.cfg.Heartbeat))
		frame, err := readMessages(ws)
		if err != nil {
			return true, err
		}
		var answers []dispatcher.Message
		for _, m := range frame {
			if m.Type == dispatcher.MsgOffer {
				if a, ok := d.offer(m); ok {
					answers = append(answers, a)
				}
				continue
			}
			d.handle(ctx, m)
		}
		d.send(answers...)
		if d.drained() {
			return true, nil
		}
	}
}

// handle acts on one message from the node other than an offer.
func (d *Dispatched) handle(ctx context.Context, m dispatcher.Message) {
	switch m.Type {
	case dispatcher.MsgConfirm:
		d.confirm(ctx, m)
	case dispatcher.MsgRenewed:
		d.mu.Lock()
		if at, ok := d.sent[m.Seq]; ok {
			if at.After(d.renewedAt) {
				d.renewedAt = at
			}
			for seq := range d.sent {
				if seq <= m.Seq {
					delete(d.sent, seq)
				}
			}
		}
		d.mu.Unlock()
	case dispatcher.MsgLeave:
		d.leave(m.Job, m.Epoch, m.Reason)
	case dispatcher.MsgFinished:
		d.mu.Lock()
		if d.unacked[m.Job].Epoch == m.Epoch {
			delete(d.unacked, m.Job)
		}
		d.mu.Unlock()
	case dispatcher.MsgError:
		d.log.Warn("dispatcher reported an error", "job", m.Job, "err", m.Error)
	}
}

func (d *Dispatched) statusLocked() dispatcher.WorkerStatus {
	switch {
	case d.draining:
		return dispatcher.WorkerDraining
	case len(d.sessions) >= d.cfg.Capacity:
		return dispatcher.WorkerFull
	}
	return dispatcher.WorkerAvailable
}

func (d *Dispatched) heartbeat() dispatcher.Message {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.seq++
	d.sent[d.seq] = time.Now()
	m := dispatcher.Message{Type: dispatcher.MsgHeartbeat, Seq: d.seq, Active: len(d.sessions), CPU: processCPU(), Status: d.statusLocked()}
	// Settled: nothing between here and the dispatcher is under way (every session
	// confirmed, none ending, every end acknowledged), so the node can check that
	// its records say the same.
	if d.digests && len(d.unacked) == 0 {
		var dg dispatcher.SessionDigest
		settled := true
		for job, s := range d.sessions {
			if !s.confirmed || s.left {
				settled = false
				break
			}
			dg.Add(job, s.epoch)
		}
		if settled {
			m.Settled, m.Running, m.Digest = true, dg.N, dg.X
		}
	}
	return m
}

// send writes msgs on the current connection, if there is one: as one WebSocket
// message when the node reads arrays.
func (d *Dispatched) send(msgs ...dispatcher.Message) {
	d.mu.Lock()
	ws, batches := d.conn, d.batches
	d.mu.Unlock()
	if ws == nil || len(msgs) == 0 {
		return
	}
	d.writeMu.Lock()
	defer d.writeMu.Unlock()
	_ = dispatcher.WriteMessages(ws, msgs, batches)
}

// offer holds a place for an offered job and returns the accept, or the refusal
// when the worker is draining or full. An offer older than the session the worker
// holds for the job (sent by a node still catching up with the leader) gets no
// answer: the job has moved on from it.
func (d *Dispatched) offer(m dispatcher.Message) (dispatcher.Message, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	accept := dispatcher.Message{Type: dispatcher.MsgAccept, Job: m.Job, Epoch: m.Epoch}
	old, holds := d.sessions[m.Job]
	switch {
	case holds && old.epoch == m.Epoch:
		return accept, true
	case holds && old.epoch > m.Epoch:
		return dispatcher.Message{}, false
	case holds:
		// The job came back to this worker at a later epoch: the session of the
		// earlier one leaves first, so the room never has two.
		old.left = true
		old.cancel()
	case d.draining || len(d.sessions) >= d.cfg.Capacity:
		reason := dispatcher.RefuseFull
		if d.draining {
			reason = dispatcher.RefuseDraining
		}
		return dispatcher.Message{Type: dispatcher.MsgRefuse, Job: m.Job, Epoch: m.Epoch, Reason: reason}, true
	}
	// A place is held and the offer accepted; the session starts when the dispatcher
	// confirms the accept is committed, so an offer that expired meanwhile (and went
	// to another worker) never has two sessions in its room.
	d.sessions[m.Job] = &dispatchedSession{room: m.Room, epoch: m.Epoch, cancel: func() {}, asked: time.Now()}
	return accept, true
}

// confirm starts the session of a confirmed accept.
func (d *Dispatched) confirm(ctx context.Context, m dispatcher.Message) {
	d.mu.Lock()
	s, ok := d.sessions[m.Job]
	if !ok || s.epoch != m.Epoch || s.confirmed || s.left {
		d.mu.Unlock()
		return
	}
	sctx, cancel := context.WithCancel(ctx)
	s.confirmed, s.cancel = true, cancel
	d.wg.Add(1)
	d.mu.Unlock()
	log := d.log.With("job", m.Job, "room", s.room, "epoch", m.Epoch)
	log.Info("job confirmed; joining")
	go func() {
		defer d.wg.Done()
		err := d.runner.RunRoom(sctx, s.room)
		cancel()
		// The end is reported before the session is forgotten, so a draining worker
		// does not hang up first.
		d.mu.Lock()
		left := s.left
		d.mu.Unlock()
		if left || ctx.Err() != nil {
			log.Info("session left", "err", err)
		} else {
			fin := dispatcher.JobRef{Job: m.Job, Epoch: m.Epoch}
			if err != nil {
				fin.Failed, fin.Reason = true, truncate(err.Error(), 400)
			}
			log.Info("session ended", "err", err)
			// Kept until acknowledged, before the session is forgotten: a
			// registration in between carries it.
			d.mu.Lock()
			d.unacked[m.Job] = fin
			d.finishSent = time.Now()
			d.mu.Unlock()
			d.send(finishMessage(fin))
		}
		d.mu.Lock()
		if d.sessions[m.Job] == s {
			delete(d.sessions, m.Job)
		}
		d.mu.Unlock()
		if d.drained() {
			d.closeConn() // wake the reader: Run returns
		}
	}()
}

// leave stops a job's session at epoch (0: whatever its epoch): the job was
// cancelled, or assigned elsewhere since.
func (d *Dispatched) leave(job string, epoch uint64, reason string) {
	d.mu.Lock()
	s, ok := d.sessions[job]
	if ok && (epoch == 0 || s.epoch == epoch) {
		s.left = true
		s.cancel()
		if !s.confirmed {
			delete(d.sessions, job)
		}
	}
	d.mu.Unlock()
	if ok {
		d.log.Info("leaving room", "job", job, "room", s.room, "reason", reason)
	}
}

func (d *Dispatched) closeConn() {
	d.mu.Lock()
	ws := d.conn
	d.mu.Unlock()
	if ws != nil {
		d.writeMu.Lock()
		_ = ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "drained"))
		d.writeMu.Unlock()
		ws.Close()
	}
}

// readMessages reads one WebSocket message from the node: a message, or an array
// of them.
func readMessages(ws *websocket.Conn) ([]dispatcher.Message, error) {
	_, data, err := ws.ReadMessage()
	if err != nil {
		return nil, err
	}
	return dispatcher.DecodeNodeMessages(data)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

var cpuState struct {
	sync.Mutex
	at   time.Time
	used time.Duration
}

// processCPU is the share of one CPU the process used since the last call.
func processCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	used := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	cpuState.Lock()
	defer cpuState.Unlock()
	now := time.Now()
	var share float64
	if !cpuState.at.IsZero() {
		share = float64(used-cpuState.used) / float64(now.Sub(cpuState.at))
	}
	cpuState.at, cpuState.used = now, used
	return max(0, min(share, 1000))
}
