package dispatcher

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

var t0 = time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)

// log applies commands to f as consecutive raft entries and returns their results.
type log struct {
	f     *FSM
	index uint64
	cmds  [][]byte
}

func (l *log) apply(t *testing.T, c Command) Result {
	t.Helper()
	data, err := EncodeCommand(c)
	if err != nil {
		t.Fatal(err)
	}
	l.index++
	l.cmds = append(l.cmds, data)
	return l.f.Apply(&raft.Log{Index: l.index, Data: data}).(Result)
}

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func create(id, room, req string) Command {
	return Command{Type: CmdCreate, At: at(0), Create: &CreateJob{ID: id, Room: room, RequestID: req}}
}

func register(id string, capacity int, labels map[string]string) Command {
	return Command{Type: CmdRegister, At: at(0), Register: &Register{Worker: Worker{ID: id, Capacity: capacity, Labels: labels, Node: "n1"}}}
}

func job(f *FSM, id string) Job {
	var j Job
	f.Read(func(s *State, _ uint64) { j = *s.Jobs[id] })
	return j
}

// Creating a job is idempotent by room and request id, and a room has one job at a
// time.
func TestCreateIsIdempotent(t *testing.T) {
	l := &log{f: NewFSM()}
	r := l.apply(t, create("j1", "room-a", "req-1"))
	if r.Error() != nil || r.Job.ID != "j1" || r.Job.State != JobPending {
		t.Fatalf("create = %+v", r)
	}
	if r := l.apply(t, create("j2", "room-a", "req-1")); r.Job.ID != "j1" {
		t.Errorf("retried create made %+v; want j1 again", r.Job)
	}
	if r := l.apply(t, create("j3", "room-a", "req-2")); r.Job.ID != "j1" {
		t.Errorf("second request for a busy room made %+v; want its job j1", r.Job)
	}
	if r := l.apply(t, create("", "room-b", "req")); !errors.Is(r.Error(), ErrBadCommand) {
		t.Errorf("create without id = %v; want ErrBadCommand", r.Error())
	}
	l.apply(t, Command{Type: CmdCancel, At: at(1), Job: &JobRef{Room: "room-a", Reason: "room ended"}})
	if j := job(l.f, "j1"); j.State != JobCompleted || j.Reason != "cancelled: room ended" {
		t.Errorf("cancelled job %+v", j)
	}
	if r := l.apply(t, create("j4", "room-a", "req-3")); r.Job.ID != "j4" {
		t.Errorf("create after the room's job ended = %+v; want a new job", r.Job)
	}
	var n int
	l.f.Read(func(s *State, _ uint64) { n = len(s.Jobs) })
	if n != 2 {
		t.Errorf("%d jobs; want 2", n)
	}
}

// An assignment carries its raft index as epoch; only the holder at that epoch can
// accept, finish or refuse; a lost worker's jobs go back to pending, away from it.
func TestLifecycleAndFencing(t *testing.T) {
	l := &log{f: NewFSM()}
	l.apply(t, register("w1", 2, nil))
	l.apply(t, register("w2", 2, nil))
	l.apply(t, create("j1", "room-a", "r"))
	r := l.apply(t, Command{Type: CmdAssign, At: at(1), OfferFor: 2 * time.Second, Assign: []Assignment{{Job: "j1", Worker: "w1"}}})
	if r.Applied != 1 {
		t.Fatalf("assign = %+v", r)
	}
	j := job(l.f, "j1")
	if j.State != JobOffered || j.Worker != "w1" || j.Epoch != l.index || !j.OfferExpires.Equal(at(3)) {
		t.Fatalf("after assign %+v; want offered to w1 at epoch %d until %s", j, l.index, at(3))
	}
	epoch := j.Epoch
	if r := l.apply(t, Command{Type: CmdAccept, At: at(2), Job: &JobRef{Job: "j1", Worker: "w1", Epoch: epoch - 1}}); !errors.Is(r.Error(), ErrFenced) {
		t.Errorf("accept with an old epoch = %v; want ErrFenced", r.Error())
	}
	if r := l.apply(t, Command{Type: CmdAccept, At: at(2), Job: &JobRef{Job: "j1", Worker: "w2", Epoch: epoch}}); !errors.Is(r.Error(), ErrFenced) {
		t.Errorf("accept by another worker = %v; want ErrFenced", r.Error())
	}
	l.apply(t, Command{Type: CmdAccept, At: at(2), Job: &JobRef{Job: "j1", Worker: "w1", Epoch: epoch}})
	if j := job(l.f, "j1"); j.State != JobRunning {
		t.Fatalf("after accept %+v", j)
	}
	// w1 stops heartbeating: the leader declares it lost.
	l.apply(t, Command{Type: CmdLost, At: at(5), Lost: []string{"w1"}})
	j = job(l.f, "j1")
	if j.State != JobPending || j.Worker != "" || len(j.Avoid) != 1 || j.Avoid[0] != "w1" {
		t.Fatalf("after w1 was lost %+v; want pending, avoiding w1", j)
	}
	// w1 may not take it again; w2 does, with a higher epoch.
	l.apply(t, Command{Type: CmdAssign, At: at(6), OfferFor: time.Second, Assign: []Assignment{{Job: "j1", Worker: "w1"}}})
	if j := job(l.f, "j1"); j.State != JobPending {
		t.Fatalf("assigned to the worker that lost it: %+v", j)
	}
	l.apply(t, Command{Type: CmdAssign, At: at(6), OfferFor: time.Second, Assign: []Assignment{{Job: "j1", Worker: "w2"}}})
	j = job(l.f, "j1")
	if j.Worker != "w2" || j.Epoch <= epoch {
		t.Fatalf("reassigned %+v; want w2 with an epoch above %d", j, epoch)
	}
	// w1 comes back still running the old session: it is told to leave.
	r = l.apply(t, Command{Type: CmdRegister, At: at(7), Register: &Register{Worker: Worker{ID: "w1", Capacity: 2}, Sessions: []JobRef{{Job: "j1", Epoch: epoch}}}})
	if len(r.Leave) != 1 || r.Leave[0].Job != "j1" {
		t.Errorf("w1's re-registration = %+v; want it told to leave j1", r)
	}
	// The offer to w2 times out: back to pending, avoiding both.
	l.apply(t, Command{Type: CmdExpire, At: at(8), Expire: []JobRef{{Job: "j1", Epoch: j.Epoch}}})
	if j := job(l.f, "j1"); j.State != JobPending || len(j.Avoid) != 2 {
		t.Errorf("after the offer expired %+v", j)
	}
	checkIndexes(t, l.f)
}

// A worker that comes back after a dispatcher restart keeps the sessions the
// cluster still gives it, and a running job it no longer has goes back to pending.
func TestRegisterReconciles(t *testing.T) {
	l := &log{f: NewFSM()}
	l.apply(t, register("w1", 4, nil))
	for i := range 2 {
		l.apply(t, create(fmt.Sprint("j", i), fmt.Sprint("room-", i), "r"))
	}
	l.apply(t, Command{Type: CmdAssign, At: at(1), OfferFor: time.Minute, Assign: []Assignment{{Job: "j0", Worker: "w1"}, {Job: "j1", Worker: "w1"}}})
	e := job(l.f, "j0").Epoch
	l.apply(t, Command{Type: CmdAccept, At: at(1), Job: &JobRef{Job: "j0", Worker: "w1", Epoch: e}})
	l.apply(t, Command{Type: CmdAccept, At: at(1), Job: &JobRef{Job: "j1", Worker: "w1", Epoch: e}})
	r := l.apply(t, Command{Type: CmdRegister, At: at(2), Register: &Register{Worker: Worker{ID: "w1", Capacity: 4}, Sessions: []JobRef{{Job: "j0", Epoch: e}}}})
	if len(r.Leave) != 0 {
		t.Errorf("leave %+v; want none", r.Leave)
	}
	if j := job(l.f, "j0"); j.State != JobRunning {
		t.Errorf("reported session %+v; want still running", j)
	}
	if j := job(l.f, "j1"); j.State != JobPending {
		t.Errorf("unreported session %+v; want pending", j)
	}
	// A session that ended while its finish could not be acknowledged is reported
	// with the registration: its job ends rather than going back to pending; an end
	// at an old epoch changes nothing.
	l.apply(t, create("j2", "room-2", "r"))
	l.apply(t, Command{Type: CmdAssign, At: at(3), OfferFor: time.Minute, Assign: []Assignment{{Job: "j2", Worker: "w1"}}})
	e2 := job(l.f, "j2").Epoch
	l.apply(t, Command{Type: CmdAccept, At: at(3), Job: &JobRef{Job: "j2", Worker: "w1", Epoch: e2}})
	l.apply(t, Command{Type: CmdRegister, At: at(4), Register: &Register{Worker: Worker{ID: "w1", Capacity: 4},
		Sessions: []JobRef{{Job: "j0", Epoch: e}},
		Finished: []JobRef{{Job: "j2", Epoch: e2, Failed: true, Reason: "LiveKit refused the token"}, {Job: "j1", Epoch: e}}}})
	if j := job(l.f, "j2"); j.State != JobFailed || j.Reason != "LiveKit refused the token" {
		t.Errorf("session reported finished at registration %+v; want failed with its reason", j)
	}
	if j := job(l.f, "j1"); j.State != JobPending {
		t.Errorf("a finish for a job already sent back %+v; want it still pending", j)
	}
	checkIndexes(t, l.f)
}

// The same log gives the same state byte for byte, and a snapshot restores it.
func TestDeterministicAndSnapshot(t *testing.T) {
	l := &log{f: NewFSM()}
	for i := range 3 {
		l.apply(t, register(fmt.Sprint("w", i), 3, map[string]string{"lang": []string{"en", "nl", "en"}[i]}))
	}
	for i := range 8 {
		c := create(fmt.Sprint("j", i), fmt.Sprint("room-", i), "r")
		if i%2 == 0 {
			c.Create.Labels = map[string]string{"lang": "en"}
		}
		l.apply(t, c)
	}
	var plan []Assignment
	l.f.Read(func(s *State, _ uint64) { plan = place(s, nil, 100) })
	l.apply(t, Command{Type: CmdAssign, At: at(1), OfferFor: time.Second, Assign: plan})
	l.apply(t, Command{Type: CmdLost, At: at(2), Lost: []string{"w0"}})

	checkIndexes(t, l.f)
	other := &log{f: NewFSM()}
	for _, data := range l.cmds {
		other.index++
		other.f.Apply(&raft.Log{Index: other.index, Data: data})
	}
	a, b := snapshotBytes(t, l.f), snapshotBytes(t, other.f)
	if !bytes.Equal(a, b) {
		t.Fatal("two state machines fed the same log differ")
	}
	restored := NewFSM()
	if err := restored.Restore(io.NopCloser(bytes.NewReader(a))); err != nil {
		t.Fatal(err)
	}
	if c := snapshotBytes(t, restored); !bytes.Equal(a, c) {
		t.Fatal("a restored snapshot differs from the state it was taken from")
	}
	// The restored machine goes on as the original: one job per room still holds.
	r := restored.Apply(&raft.Log{Index: l.index + 1, Data: mustJSON(t, create("jx", "room-3", "again"))}).(Result)
	if r.Job.ID != "j3" {
		t.Errorf("create on the restored state = %+v; want room-3's job j3", r.Job)
	}
}

// checkIndexes compares the indexes kept by track with ones rebuilt from the jobs.
func checkIndexes(t *testing.T, f *FSM) {
	t.Helper()
	f.Read(func(s *State, _ uint64) {
		fresh := &State{Jobs: map[string]*Job{}}
		for id, j := range s.Jobs {
			fresh.Jobs[id] = j.copy()
		}
		fresh.reindex()
		keys := func(m map[string]*Job) []string { return slices.Sorted(maps.Keys(m)) }
		if !slices.Equal(keys(s.pending), keys(fresh.pending)) || !slices.Equal(keys(s.offered), keys(fresh.offered)) ||
			!slices.Equal(keys(s.ended), keys(fresh.ended)) {
			t.Errorf("pending/offered/ended indexes drifted: %v %v %v; rebuilt %v %v %v", keys(s.pending), keys(s.offered), keys(s.ended),
				keys(fresh.pending), keys(fresh.offered), keys(fresh.ended))
		}
		for w := range s.Workers {
			if !slices.Equal(keys(s.held[w]), keys(fresh.held[w])) {
				t.Errorf("worker %s holds %v by the index; rebuilt %v", w, keys(s.held[w]), keys(fresh.held[w]))
			}
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

type sink struct {
	bytes.Buffer
}

func (*sink) ID() string    { return "test" }
func (*sink) Cancel() error { return nil }
func (*sink) Close() error  { return nil }

func snapshotBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var s sink
	if err := snap.Persist(&s); err != nil {
		t.Fatal(err)
	}
	return s.Bytes()
}

// Placement fills the least-loaded matching workers, respects capacity and labels,
// and never picks the worker that failed a job last; a job failed by other workers
// before is still placed.
func TestPlace(t *testing.T) {
	s := newState()
	s.Workers["a"] = &Worker{ID: "a", Capacity: 2, Status: WorkerAvailable, Labels: map[string]string{"lang": "en"}}
	s.Workers["b"] = &Worker{ID: "b", Capacity: 4, Status: WorkerAvailable, Labels: map[string]string{"lang": "en"}}
	s.Workers["c"] = &Worker{ID: "c", Capacity: 4, Status: WorkerDraining}
	s.Workers["d"] = &Worker{ID: "d", Capacity: 1, Status: WorkerAvailable, Labels: map[string]string{"lang": "nl"}}
	for i := range 8 {
		j := &Job{ID: fmt.Sprintf("j%d", i), Room: fmt.Sprint("r", i), State: JobPending, CreatedAt: at(i)}
		if i == 7 {
			j.Labels = map[string]string{"lang": "nl"}
		}
		if i == 0 {
			j.Avoid = []string{"a", "b"}
		}
		s.Jobs[j.ID] = j
	}
	s.reindex()
	got := map[string]string{}
	count := map[string]int{}
	for _, a := range place(s, nil, 100) {
		got[a.Job] = a.Worker
		count[a.Worker]++
	}
	if got["j0"] == "b" || got["j0"] == "" {
		t.Errorf("j0 (failed by a, then b) went to %q; want placed, not on b", got["j0"])
	}
	if got["j7"] != "d" && got["j7"] != "" {
		t.Errorf("the nl job went to %q; want d or nowhere", got["j7"])
	}
	if count["c"] != 0 || count["a"] > 2 || count["b"] > 4 || count["d"] > 1 {
		t.Errorf("placements %v break capacity or drain", count)
	}
	if count["a"] == 0 || count["b"] == 0 {
		t.Errorf("placements %v; want both en workers used", count)
	}
	if n := len(place(s, nil, 3)); n != 3 {
		t.Errorf("place with max 3 made %d", n)
	}
}

// The worker that failed a job last gets it back only when no other worker can take
// it; one that refuses because it is full or draining is offered nothing more until
// its heartbeat says so.
func TestPlaceFallsBackToTheAvoidedWorker(t *testing.T) {
	s := newState()
	s.Workers["a"] = &Worker{ID: "a", Capacity: 2, Status: WorkerAvailable}
	s.Jobs["j1"] = &Job{ID: "j1", Room: "r1", State: JobPending, CreatedAt: at(0), Avoid: []string{"a"}}
	s.reindex()
	if got := place(s, nil, 10); len(got) != 1 || got[0].Worker != "a" {
		t.Fatalf("alone, the avoided worker got %v; want j1 back on a", got)
	}
	s.Workers["b"] = &Worker{ID: "b", Capacity: 2, Status: WorkerAvailable, Active: 1}
	if got := place(s, nil, 10); len(got) != 1 || got[0].Worker != "b" {
		t.Fatalf("with another worker %v; want j1 on b", got)
	}

	apply := func(c Command) Result { t.Helper(); return s.apply(c, 10) }
	apply(Command{Type: CmdAssign, At: at(1), OfferFor: time.Second, Assign: []Assignment{{Job: "j1", Worker: "a"}}})
	if r := apply(Command{Type: CmdRefuse, At: at(2), Job: &JobRef{Job: "j1", Worker: "a", Epoch: 10, Reason: RefuseFull}}); r.Error() != nil {
		t.Fatal(r.Error())
	}
	if s.Workers["a"].Status != WorkerFull || s.Jobs["j1"].State != JobPending {
		t.Errorf("after a refuses as full: a %s, j1 %s; want a full, j1 pending", s.Workers["a"].Status, s.Jobs["j1"].State)
	}
	apply(Command{Type: CmdHeartbeats, At: at(3), Heartbeats: []Heartbeat{{Worker: "a", Status: WorkerAvailable}}})
	if s.Workers["a"].Status != WorkerAvailable {
		t.Errorf("a heartbeat with room left a %s", s.Workers["a"].Status)
	}
}

func BenchmarkPlace(b *testing.B) {
	s := newState()
	for i := range 100 {
		id := fmt.Sprintf("w%03d", i)
		s.Workers[id] = &Worker{ID: id, Capacity: 1000, Status: WorkerAvailable}
	}
	for i := range 5000 {
		id := fmt.Sprintf("j%05d", i)
		s.Jobs[id] = &Job{ID: id, Room: id, State: JobPending, CreatedAt: at(i)}
	}
	s.reindex()
	for b.Loop() {
		place(s, nil, 5000)
	}
}

// BenchmarkApply commits, through FSM.Apply, entries as the leader makes them under
// load: each creates 20 jobs and places them on 20 workers, and accepts the 20
// placed by the entry before; the state grows to tens of thousands of jobs.
func BenchmarkApply(b *testing.B) {
	f := NewFSM()
	var index uint64
	apply := func(c Command) {
		index++
		data, err := EncodeCommand(c)
		if err != nil {
			b.Fatal(err)
		}
		if r := f.Apply(&raft.Log{Index: index, Data: data}).(Result); r.Code != "" {
			b.Fatal(r.Err)
		}
	}
	var regs []Command
	for w := range 20 {
		regs = append(regs, Command{Type: CmdRegister, At: t0, Register: &Register{Worker: Worker{ID: fmt.Sprintf("w%02d", w), Capacity: 1 << 20}}})
	}
	apply(Command{Type: CmdBatch, Batch: regs})
	var prev []Assignment
	var prevEpoch uint64
	n := 0
	for b.Loop() {
		var cmds []Command
		var plan []Assignment
		for range 20 {
			id := fmt.Sprintf("%024x", n)
			cmds = append(cmds, Command{Type: CmdCreate, At: at(n), Create: &CreateJob{ID: id, Room: "room-" + id, RequestID: "r"}})
			plan = append(plan, Assignment{Job: id, Worker: fmt.Sprintf("w%02d", n%20)})
			n++
		}
		for _, a := range prev {
			cmds = append(cmds, Command{Type: CmdAccept, At: at(n), Job: &JobRef{Job: a.Job, Worker: a.Worker, Epoch: prevEpoch}})
		}
		cmds = append(cmds, Command{Type: CmdAssign, At: at(n), OfferFor: time.Second, Assign: plan})
		apply(Command{Type: CmdBatch, Batch: cmds})
		prev, prevEpoch = plan, index
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/job")
}

// Pruning forgets ended jobs and lost workers holding nothing, and nothing else; a
// pruned request may make a new job.
func TestPrune(t *testing.T) {
	l := &log{f: NewFSM()}
	l.apply(t, register("w1", 4, nil))
	l.apply(t, register("w2", 4, nil))
	l.apply(t, create("j0", "room-0", "r"))
	l.apply(t, create("j1", "room-1", "r"))
	l.apply(t, Command{Type: CmdAssign, At: at(1), OfferFor: time.Minute, Assign: []Assignment{{Job: "j1", Worker: "w2"}}})
	l.apply(t, Command{Type: CmdCancel, At: at(2), Job: &JobRef{Job: "j0"}})
	l.apply(t, Command{Type: CmdLost, At: at(3), Lost: []string{"w1"}})
	r := l.apply(t, Command{Type: CmdPrune, At: at(4), PruneJobs: []string{"j0", "j1", "nope"}, PruneWorkers: []string{"w1", "w2"}})
	if r.Applied != 2 {
		t.Errorf("pruned %d; want the ended job and the lost worker", r.Applied)
	}
	l.f.Read(func(s *State, _ uint64) {
		if s.Jobs["j0"] != nil || s.Jobs["j1"] == nil || s.Workers["w1"] != nil || s.Workers["w2"] == nil {
			t.Errorf("after pruning: jobs %v, workers %v; want j1 and w2 only", slices.Sorted(maps.Keys(s.Jobs)), slices.Sorted(maps.Keys(s.Workers)))
		}
	})
	checkIndexes(t, l.f)
	// The pruned job's room and request make a new job.
	if r := l.apply(t, create("j2", "room-0", "r")); r.Job == nil || r.Job.ID != "j2" {
		t.Errorf("create after pruning = %+v; want a new job j2", r)
	}
}

// A watch started while entries are being applied for its worker starts: the
// first notification (everything to read) may meet one from an apply, and must not
// wait for a reader that is the watch's own goroutine.
func TestWatchStartsWhileApplying(t *testing.T) {
	f := NewFSM()
	f.Apply(&raft.Log{Index: 1, Data: mustEncode(t, Command{Type: CmdRegister, At: at(0),
		Register: &Register{Worker: Worker{ID: "w", Capacity: 1000000}}})})
	stop := make(chan struct{})
	applied := make(chan struct{})
	go func() {
		defer close(applied)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			id := fmt.Sprint("j", i)
			f.Apply(&raft.Log{Index: uint64(2*i + 2), Data: mustEncode(t, Command{Type: CmdCreate, At: at(1),
				Create: &CreateJob{ID: id, Room: "r" + id, RequestID: "r"}})})
			f.Apply(&raft.Log{Index: uint64(2*i + 3), Data: mustEncode(t, Command{Type: CmdAssign, At: at(1), OfferFor: time.Minute,
				Assign: []Assignment{{Job: id, Worker: "w"}}})})
		}
	}()
	defer func() { close(stop); <-applied }()
	deadline := time.Now().Add(2 * time.Second)
	for n := 0; time.Now().Before(deadline); n++ {
		started := make(chan *Watch, 1)
		go func() { started <- f.Watch("w") }()
		select {
		case w := <-started:
			w.Close()
		case <-time.After(5 * time.Second):
			t.Fatalf("watch %d never started: its first notification waited on a full channel", n)
		}
	}
}

// A snapshot is the state when it was taken, though entries go on being applied
// before it is written out (Persist runs beside Apply).
func TestSnapshotIsPointInTime(t *testing.T) {
	f := NewFSM()
	apply := func(i uint64, c Command) {
		t.Helper()
		if r := f.Apply(&raft.Log{Index: i, Data: mustEncode(t, c)}).(Result); r.Error() != nil {
			t.Fatal(r.Error())
		}
	}
	apply(1, Command{Type: CmdRegister, At: at(0), Register: &Register{Worker: Worker{ID: "w", Capacity: 4}}})
	apply(2, Command{Type: CmdCreate, At: at(1), Create: &CreateJob{ID: "j1", Room: "r1", RequestID: "x"}})
	apply(3, Command{Type: CmdAssign, At: at(1), OfferFor: time.Minute, Assign: []Assignment{{Job: "j1", Worker: "w"}}})
	want := snapshotBytes(t, f)
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	apply(4, Command{Type: CmdAccept, At: at(2), Job: &JobRef{Job: "j1", Worker: "w", Epoch: 3}})
	apply(5, Command{Type: CmdHeartbeats, At: at(3), Heartbeats: []Heartbeat{{Worker: "w", Active: 1, Status: WorkerFull}}})
	apply(6, Command{Type: CmdCreate, At: at(3), Create: &CreateJob{ID: "j2", Room: "r2", RequestID: "x"}})
	var s sink
	if err := snap.Persist(&s); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Bytes(), want) {
		t.Errorf("the snapshot took in later entries:\n%s\nwant\n%s", s.Bytes(), want)
	}
}
