package dispatcher

import (
	"errors"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// fakeWorker is a worker's end of the WebSocket, driven by the test.
type fakeWorker struct {
	t  *testing.T
	ws *websocket.Conn
	mu sync.Mutex // one writer at a time: the test or the heartbeat goroutine
}

func (f *fakeWorker) write(m any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ws.WriteJSON(m)
}

func dialWorker(t *testing.T, tn *testNode, token string) (*fakeWorker, *http.Response, error) {
	t.Helper()
	h := http.Header{}
	if token != "" {
		h.Set("Authorization", "Bearer "+token)
	}
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+tn.http+"/v1/workers/connect", h)
	if err != nil {
		return nil, resp, err
	}
	t.Cleanup(func() { ws.Close() })
	return &fakeWorker{t: t, ws: ws}, resp, nil
}

// leaderAndWorker starts a one-node cluster, waits for it to lead and connects a
// fake worker (not registered yet); the node stops with the test.
func leaderAndWorker(t *testing.T) (*testNode, *fakeWorker) {
	t.Helper()
	tn := startNode(t, "n0", filepath.Join(t.TempDir(), "n0"), true)
	t.Cleanup(tn.stop)
	waitFor(t, "a leader", 10*time.Second, func() bool { return tn.Status().State == "Leader" })
	w, _, err := dialWorker(t, tn, secret)
	if err != nil {
		t.Fatal(err)
	}
	return tn, w
}

func (f *fakeWorker) send(m any) {
	f.t.Helper()
	if err := f.write(m); err != nil {
		f.t.Fatal(err)
	}
}

// next reads messages until one of type typ (others are skipped).
func (f *fakeWorker) next(typ string) Message {
	f.t.Helper()
	_ = f.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		var m Message
		if err := f.ws.ReadJSON(&m); err != nil {
			f.t.Fatalf("waiting for %s: %v", typ, err)
		}
		if m.Type == typ {
			return m
		}
	}
}

func (f *fakeWorker) register(id string, capacity int, sessions ...JobRef) Message {
	f.t.Helper()
	f.send(Message{Type: MsgRegister, Worker: &WorkerInfo{ID: id, Capacity: capacity}, Sessions: sessions})
	return f.next(MsgRegistered)
}

// heartbeat keeps the worker alive until stop is closed.
func (f *fakeWorker) heartbeat(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		case <-time.After(200 * time.Millisecond):
			if f.write(Message{Type: MsgHeartbeat, Status: WorkerAvailable}) != nil {
				return
			}
		}
	}
}

func jobState(tn *testNode, id string) Job {
	var j Job
	tn.FSM().Read(func(s *State, _ uint64) {
		if x := s.Jobs[id]; x != nil {
			j = *x
		}
	})
	return j
}

// A worker connects with the secret, gets offers and runs them, is told to leave a
// cancelled job; when it goes silent its job moves to another worker within the
// lease, and when it comes back with the old session it is told to leave it.
func TestWorkerConnection(t *testing.T) {
	tn := startNode(t, "n0", filepath.Join(t.TempDir(), "n0"), true)
	defer tn.stop()
	waitFor(t, "a leader", 10*time.Second, func() bool { return tn.Status().State == "Leader" })

	if _, resp, err := dialWorker(t, tn, "wrong"); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("dial with a wrong secret: %v %v; want 401", resp, err)
	}
	w1, _, err := dialWorker(t, tn, secret)
	if err != nil {
		t.Fatal(err)
	}
	if reg := w1.register("w1", 4); len(reg.Leave) != 0 {
		t.Errorf("registered %+v", reg)
	}
	stop1 := make(chan struct{})
	go w1.heartbeat(stop1)

	var j Job
	if code := tn.call(t, "POST", "/v1/jobs", CreateRequest{Room: "room-1", RequestID: "r"}, &j); code != 201 {
		t.Fatalf("create: %d", code)
	}
	offer := w1.next(MsgOffer)
	if offer.Job != j.ID || offer.Room != "room-1" || offer.Epoch == 0 {
		t.Fatalf("offer %+v", offer)
	}
	w1.send(Message{Type: MsgAccept, Job: offer.Job, Epoch: offer.Epoch})
	waitFor(t, "the job running", 5*time.Second, func() bool { return jobState(tn, j.ID).State == JobRunning })

	// An accept or a finish with a forged epoch is fenced and changes nothing: the
	// accept is told to leave, the finish is acknowledged as moot.
	w1.send(Message{Type: MsgAccept, Job: offer.Job, Epoch: offer.Epoch + 7})
	if m := w1.next(MsgLeave); m.Reason != "fenced" || m.Epoch != offer.Epoch+7 {
		t.Errorf("forged accept answered %+v", m)
	}
	w1.send(Message{Type: MsgFinish, Job: offer.Job, Epoch: offer.Epoch + 7})
	if m := w1.next(MsgFinished); m.Job != offer.Job || m.Epoch != offer.Epoch+7 {
		t.Errorf("forged finish answered %+v", m)
	}
	if s := jobState(tn, j.ID); s.State != JobRunning || s.Epoch != offer.Epoch {
		t.Errorf("after a forged accept and finish %+v; want still running at epoch %d", s, offer.Epoch)
	}

	// Cancel: the worker is told to leave.
	var j2 Job
	tn.call(t, "POST", "/v1/jobs", CreateRequest{Room: "room-2", RequestID: "r"}, &j2)
	offer2 := w1.next(MsgOffer)
	w1.send(Message{Type: MsgAccept, Job: offer2.Job, Epoch: offer2.Epoch})
	waitFor(t, "room-2 running", 5*time.Second, func() bool { return jobState(tn, j2.ID).State == JobRunning })
	if code := tn.call(t, "DELETE", "/v1/jobs/"+j2.ID+"?reason=room+ended", nil, nil); code != 200 {
		t.Fatalf("cancel: %d", code)
	}
	if m := w1.next(MsgLeave); m.Job != j2.ID || !strings.Contains(m.Reason, "room ended") {
		t.Errorf("after cancel got %+v", m)
	}

	// A second worker joins; w1 goes silent: room-1 moves to w2 within the lease.
	w2, _, err := dialWorker(t, tn, secret)
	if err != nil {
		t.Fatal(err)
	}
	w2.register("w2", 4)
	stop2 := make(chan struct{})
	defer close(stop2)
	go w2.heartbeat(stop2)
	close(stop1)
	silent := time.Now()
	moved := w2.next(MsgOffer)
	if moved.Job != j.ID || moved.Epoch <= offer.Epoch {
		t.Fatalf("w2 offered %+v; want room-1's job with a higher epoch", moved)
	}
	w2.send(Message{Type: MsgAccept, Job: moved.Job, Epoch: moved.Epoch})
	waitFor(t, "room-1 running on w2", 5*time.Second, func() bool { s := jobState(tn, j.ID); return s.State == JobRunning && s.Worker == "w2" })
	t.Logf("room-1 running on w2 %s after w1 went silent (lease 1s)", time.Since(silent).Round(time.Millisecond))

	// w1 comes back still holding the old session: it is fenced and told to leave.
	w1.ws.Close()
	w1b, _, err := dialWorker(t, tn, secret)
	if err != nil {
		t.Fatal(err)
	}
	reg := w1b.register("w1", 4, JobRef{Job: j.ID, Epoch: offer.Epoch})
	if len(reg.Leave) != 1 || reg.Leave[0].Job != j.ID {
		t.Errorf("w1 re-registered with %+v; want told to leave %s", reg, j.ID)
	}
	if s := jobState(tn, j.ID); s.Worker != "w2" {
		t.Errorf("after w1 came back the job is on %q; want w2", s.Worker)
	}

	// A bad message gets an error and the connection closes; nothing changes.
	w1b.send(map[string]any{"type": "accept", "job": j.ID})
	if m := w1b.next(MsgError); !strings.Contains(m.Error, "epoch") {
		t.Errorf("bad message answered %+v", m)
	}
	if s := jobState(tn, j.ID); s.Worker != "w2" || s.State != JobRunning {
		t.Errorf("after a bad message %+v", s)
	}
}

func TestDecodeWorkerMessage(t *testing.T) {
	for _, bad := range []string{
		``, `[]`, `{"type":"x"}`, `{"type":"accept"}`, `{"type":"accept","job":"j","epoch":0}`,
		`{"type":"register"}`, `{"type":"register","worker":{"id":"a b","capacity":1}}`,
		`{"type":"register","worker":{"id":"w","capacity":-1}}`, `{"type":"heartbeat","active":-1}`,
		`{"type":"heartbeat","status":"sleepy"}`, `{"type":"accept","job":"j","epoch":1,"extra":1}`,
		`{"type":"accept","job":"j","epoch":1}{"type":"accept","job":"j","epoch":1}`,
		`{"type":"register","worker":{"id":"w","capacity":1,"labels":{"a b":"c"}}}`,
	} {
		if _, err := DecodeWorkerMessage([]byte(bad)); !errors.Is(err, ErrBadMessage) {
			t.Errorf("DecodeWorkerMessage(%q) = %v; want ErrBadMessage", bad, err)
		}
	}
	for _, good := range []string{
		`{"type":"register","worker":{"id":"w1","capacity":4,"labels":{"lang":"en"}},"sessions":[{"job":"j","epoch":3}]}`,
		`{"type":"heartbeat","active":2,"cpu":0.5,"status":"draining"}`,
		`{"type":"finish","job":"j","epoch":9,"failed":true,"reason":"livekit unreachable"}`,
	} {
		if _, err := DecodeWorkerMessage([]byte(good)); err != nil {
			t.Errorf("DecodeWorkerMessage(%q) = %v", good, err)
		}
	}
	// Arrays: 1 to 256 messages, every one of them good, no register among them.
	many := "[" + strings.Repeat(`{"type":"accept","job":"j","epoch":1},`, 256) + `{"type":"accept","job":"j","epoch":1}]`
	for _, bad := range []string{`[]`, `[{"type":"accept","job":"j","epoch":1},{"type":"accept","job":"j"}]`,
		`[{"type":"register","worker":{"id":"w1","capacity":4}}]`, many, `[1]`, `[{"type":"accept","job":"j","epoch":1}`} {
		if _, err := DecodeWorkerMessages([]byte(bad)); !errors.Is(err, ErrBadMessage) {
			t.Errorf("DecodeWorkerMessages(%.60q) = %v; want ErrBadMessage", bad, err)
		}
	}
	msgs, err := DecodeWorkerMessages([]byte(` [{"type":"accept","job":"j1","epoch":1},{"type":"refuse","job":"j2","epoch":2,"reason":"full"}]`))
	if err != nil || len(msgs) != 2 || msgs[0].Job != "j1" || msgs[1].Type != MsgRefuse {
		t.Errorf("an array of two: %+v %v", msgs, err)
	}
}

func FuzzDecodeWorkerMessage(f *testing.F) {
	f.Add([]byte(`{"type":"register","worker":{"id":"w1","capacity":4},"sessions":[{"job":"j","epoch":3}]}`))
	f.Add([]byte(`{"type":"heartbeat","active":2,"cpu":0.5}`))
	f.Add([]byte(`{"type":"accept","job":"j","epoch":1}`))
	f.Add([]byte(`[{"type":"accept","job":"j","epoch":1},{"type":"heartbeat","seq":4}]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, err := DecodeWorkerMessages(data)
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("error %v does not wrap ErrBadMessage", err)
			}
			return
		}
		if len(msgs) == 0 || len(msgs) > maxFrame {
			t.Fatalf("accepted %d messages", len(msgs))
		}
		// What is accepted names a known type and has what its handling needs.
		for _, m := range msgs {
			switch m.Type {
			case MsgRegister:
				if m.Worker == nil || m.Worker.ID == "" || len(msgs) > 1 {
					t.Fatalf("accepted a register without a worker or in an array: %q", data)
				}
			case MsgAccept, MsgRefuse, MsgFinish:
				if m.Job == "" || m.Epoch == 0 {
					t.Fatalf("accepted %s without job or epoch: %q", m.Type, data)
				}
			case MsgHeartbeat:
			default:
				t.Fatalf("accepted type %q", m.Type)
			}
		}
	})
}

// An offer not answered within the offer timeout goes to the next worker, and the
// silent one is told to leave it.
func TestUnansweredOfferFallsThrough(t *testing.T) {
	tn := startNodeWith(t, NodeConfig{ID: "n0", DataDir: filepath.Join(t.TempDir(), "n0"), RaftAddr: "127.0.0.1:0", Bootstrap: true,
		Lease: 5 * time.Second, OfferTimeout: 300 * time.Millisecond})
	defer tn.stop()
	waitFor(t, "a leader", 10*time.Second, func() bool { return tn.Status().State == "Leader" && tn.Ready(t.Context()) == nil })
	stop := make(chan struct{})
	defer close(stop)
	silent, _, err := dialWorker(t, tn, secret)
	if err != nil {
		t.Fatal(err)
	}
	silent.register("w1", 4)
	go silent.heartbeat(stop)
	answering, _, err := dialWorker(t, tn, secret)
	if err != nil {
		t.Fatal(err)
	}
	answering.register("w2", 4)
	go answering.heartbeat(stop)

	var j Job
	tn.call(t, "POST", "/v1/jobs", CreateRequest{Room: "room-1", RequestID: "r"}, &j)
	first := silent.next(MsgOffer) // equally loaded: the lower id goes first
	offered := time.Now()
	if first.Job != j.ID {
		t.Fatalf("w1 offered %+v", first)
	}
	second := answering.next(MsgOffer)
	if took := time.Since(offered); second.Job != j.ID || second.Epoch <= first.Epoch || took < 250*time.Millisecond {
		t.Fatalf("w2 offered %+v after %s; want the job at a higher epoch once the 300 ms timeout ran out", second, took)
	}
	if m := silent.next(MsgLeave); m.Job != j.ID || m.Epoch != first.Epoch {
		t.Errorf("w1 told %+v; want to leave the expired offer", m)
	}
	answering.send(Message{Type: MsgAccept, Job: second.Job, Epoch: second.Epoch})
	answering.next(MsgConfirm)
	if s := jobState(tn, j.ID); s.State != JobRunning || s.Worker != "w2" || s.Attempts != 2 || !slices.Contains(s.Avoid, "w1") {
		t.Errorf("job %+v; want running on w2 after two offers, avoiding w1", s)
	}
	// The silent worker's late accept is fenced.
	silent.send(Message{Type: MsgAccept, Job: first.Job, Epoch: first.Epoch})
	if m := silent.next(MsgLeave); m.Reason != "fenced" {
		t.Errorf("late accept answered %+v", m)
	}
}

// FuzzValidID: the hand-written checks of ids and labels agree with the regular
// expressions that define them.
func FuzzValidID(f *testing.F) {
	idRE := regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
	labelRE := regexp.MustCompile(`^[A-Za-z0-9_.:/-]{1,64}$`)
	for _, s := range []string{"", "a", "room-1", "a/b", "a b", "é", strings.Repeat("x", 128), strings.Repeat("x", 129), "j-0001:x.y_z", "a\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validID(s), idRE.MatchString(s); got != want {
			t.Fatalf("validID(%q) = %v, the expression says %v", s, got, want)
		}
		if got, want := validLabel(s), labelRE.MatchString(s); got != want {
			t.Fatalf("validLabel(%q) = %v, the expression says %v", s, got, want)
		}
	})
}

// BenchmarkDecodeWorkerMessages decodes a frame of three accepts, what a worker
// sends for each entry that offers it jobs.
func BenchmarkDecodeWorkerMessages(b *testing.B) {
	frame := []byte(`[{"type":"accept","job":"j-00000000001a2b3c","epoch":123456},{"type":"accept","job":"j-00000000001a2b3d","epoch":123456},{"type":"accept","job":"j-00000000001a2b3e","epoch":123456}]`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeWorkerMessages(frame); err != nil {
			b.Fatal(err)
		}
	}
}

// TestFollowWaitsForTheAssignment: a node behind the leader (restarted, catching
// up), to which a worker moved with a session at an epoch the node has not applied,
// neither tells the worker to leave on its older record of the job nor sends it an
// older offer; once the node has applied the assignment, a move is told as before.
func TestFollowWaitsForTheAssignment(t *testing.T) {
	c := &workerConn{id: "w1", held: map[string]uint64{"j1": 10}}
	s := newState()
	// The node's record is from before the job reached w1: offered to w1 at
	// epoch 7 (an offer that expired since), then the node stopped.
	s.Jobs["j1"] = &Job{ID: "j1", Room: "r1", State: JobOffered, Worker: "w1", Epoch: 7}
	if msgs := c.follow(s, 8, "j1", nil); len(msgs) != 0 || c.held["j1"] != 10 {
		t.Fatalf("a node at index 8 told the worker holding epoch 10 %+v (held %v)", msgs, c.held)
	}
	// Another stale record: the job on another worker at an earlier epoch.
	s.Jobs["j1"] = &Job{ID: "j1", Room: "r1", State: JobRunning, Worker: "w2", Epoch: 5}
	if msgs := c.follow(s, 9, "j1", nil); len(msgs) != 0 {
		t.Fatalf("a node at index 9 told the worker holding epoch 10 %+v", msgs)
	}
	// Caught up: the assignment at 10 is the worker's; nothing to say.
	s.Jobs["j1"] = &Job{ID: "j1", Room: "r1", State: JobRunning, Worker: "w1", Epoch: 10}
	if msgs := c.follow(s, 10, "j1", nil); len(msgs) != 0 {
		t.Fatalf("the worker's own assignment made %+v", msgs)
	}
	// The job moved at 12: leave.
	s.Jobs["j1"] = &Job{ID: "j1", Room: "r1", State: JobRunning, Worker: "w2", Epoch: 12}
	msgs := c.follow(s, 12, "j1", nil)
	if len(msgs) != 1 || msgs[0].Type != MsgLeave || msgs[0].Epoch != 10 || msgs[0].Reason != "moved" {
		t.Fatalf("a move at 12 made %+v, want a leave at epoch 10", msgs)
	}
	if _, ok := c.held["j1"]; ok {
		t.Fatal("the left job is still held")
	}
	// Offered back to w1 at 14: a new offer.
	s.Jobs["j1"] = &Job{ID: "j1", Room: "r1", State: JobOffered, Worker: "w1", Epoch: 14}
	msgs = c.follow(s, 14, "j1", nil)
	if len(msgs) != 1 || msgs[0].Type != MsgOffer || msgs[0].Epoch != 14 || c.held["j1"] != 14 {
		t.Fatalf("an offer at 14 made %+v (held %v)", msgs, c.held)
	}
}

// TestSessionsChecked: a settled heartbeat that agrees with the records keeps the
// connection; two in a row that do not (here the worker lost its session without a
// word) close it, and the worker's registration without the session sends the job
// back to pending, so the room is offered again.
func TestSessionsChecked(t *testing.T) {
	tn, w := leaderAndWorker(t)
	if reg := w.register("w1", 4); !reg.Digests {
		t.Fatalf("registered %+v; want digests", reg)
	}
	var j Job
	if code := tn.call(t, "POST", "/v1/jobs", CreateRequest{Room: "room-1", RequestID: "r"}, &j); code != 201 {
		t.Fatalf("create: %d", code)
	}
	offer := w.next(MsgOffer)
	w.send(Message{Type: MsgAccept, Job: offer.Job, Epoch: offer.Epoch})
	w.next(MsgConfirm)

	var runs SessionDigest
	runs.Add(offer.Job, offer.Epoch)
	beat := func(seq uint64, d SessionDigest) {
		w.send(Message{Type: MsgHeartbeat, Seq: seq, Status: WorkerAvailable, Active: d.N, Settled: true, Running: d.N, Digest: d.X})
		if m := w.next(MsgRenewed); m.Seq != seq {
			t.Fatalf("renewed %+v, want seq %d", m, seq)
		}
	}
	// Agreeing, then one disagreeing between agreeing ones: the connection stays.
	beat(1, runs)
	beat(2, SessionDigest{})
	beat(3, runs)
	beat(4, runs)
	// The same count with another epoch is a disagreement too.
	var other SessionDigest
	other.Add(offer.Job, offer.Epoch+1)
	beat(5, other)
	beat(6, runs)
	if got := testutil.ToFloat64(tn.cfg.Metrics.Resyncs); got != 0 {
		t.Fatalf("resyncs %v after heartbeats that never disagreed twice in a row", got)
	}

	// The session is gone without a word: settled heartbeats say so until the node
	// closes the connection (after two; more are sent in case the checker, which
	// keeps only the latest heartbeats when it is behind, skipped one).
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_ = w.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
		for {
			var m Message
			if err := w.ws.ReadJSON(&m); err != nil {
				return // closed by the node
			}
		}
	}()
	for seq := uint64(7); ; seq++ {
		if seq > 50 {
			t.Fatal("the node kept the connection through 44 disagreeing heartbeats")
		}
		if w.write(Message{Type: MsgHeartbeat, Seq: seq, Status: WorkerAvailable, Settled: true}) != nil {
			break
		}
		select {
		case <-closed:
		case <-time.After(100 * time.Millisecond):
			continue
		}
		break
	}
	<-closed
	if got := testutil.ToFloat64(tn.cfg.Metrics.Resyncs); got != 1 {
		t.Errorf("resyncs %v, want 1", got)
	}
	if s := jobState(tn, j.ID); s.State != JobRunning {
		t.Fatalf("the job is %s before the worker registers again; want running still", s.State)
	}

	// It registers again with what it runs (nothing): the job is offered again.
	w2, _, err := dialWorker(t, tn, secret)
	if err != nil {
		t.Fatal(err)
	}
	w2.register("w1", 4)
	again := w2.next(MsgOffer)
	if again.Job != j.ID || again.Epoch <= offer.Epoch {
		t.Fatalf("offered %+v; want job %s again at a later epoch than %d", again, j.ID, offer.Epoch)
	}
}
