// Package processtest runs the dispatcher and its workers as the real processes an
// operator runs (`attendant dispatcher`, `attendant worker`) on loopback against a
// real LiveKit server, and checks what the failure model promises of them.
package processtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/attendant/attendant/dispatcher"
	"github.com/attendant/attendant/internal/devstack"
	"github.com/attendant/attendant/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

const (
	// lease is the dispatcher's lease, given to the nodes and the workers alike.
	lease = 2 * time.Second
	// margin is what a bound allows beyond the figures it is made of (polling, the
	// leader's 100 ms tick, a loaded two-core machine).
	margin = 500 * time.Millisecond
	secret = "processtest-secret-0123456789"
	// identity is the assistant's participant identity (worker.identity's default).
	identity = "assistant"
	nodes    = 3
	workers  = 3
	capacity = 4
	rooms    = 4
)

// A worker that dies (SIGKILL) or freezes (SIGSTOP, a GC pause or partition) loses
// its rooms to other workers within the lease, each room gets its new assistant in
// LiveKit, and a frozen worker that comes back is fenced: it leaves and does not
// join its rooms again. No room ever shows two assistants once things settle, and
// every job runs on exactly one live worker.
func TestWorkerFailover(t *testing.T) {
	lk := testenv.LiveKit(t)
	r := newRig(t, lk)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	r.startCluster(ctx)
	for i := range workers {
		r.startWorker(i)
	}
	if err := until(ctx, 30*time.Second, func() bool {
		ws, err := r.workers(ctx)
		if err != nil {
			return false
		}
		n := 0
		for _, w := range ws {
			if w.Status == dispatcher.WorkerAvailable {
				n++
			}
		}
		return n == workers
	}); err != nil {
		t.Fatalf("%d workers did not register: %v", workers, err)
	}

	// Join time: from a job's creation until its room's assistant is in LiveKit.
	names := make([]string, rooms)
	created := map[string]time.Time{}
	for i := range names {
		names[i] = fmt.Sprintf("failover-%d-%d", os.Getpid(), i)
		created[names[i]] = time.Now()
		var j dispatcher.Job
		if code, err := r.call(ctx, http.MethodPost, "/v1/jobs", dispatcher.CreateRequest{Room: names[i], RequestID: "req-" + strconv.Itoa(i)}, &j); err != nil || code != http.StatusCreated {
			t.Fatalf("create job for %s: %d %v", names[i], code, err)
		}
	}
	joined := map[string]time.Duration{}
	if err := until(ctx, 30*time.Second, func() bool {
		for _, room := range names {
			if _, ok := joined[room]; ok {
				continue
			}
			if as, err := r.assistants(ctx, room); err == nil && len(as) > 0 {
				joined[room] = time.Since(created[room])
			}
		}
		return len(joined) == rooms
	}); err != nil {
		t.Fatalf("assistants in LiveKit for %d of %d rooms after 30 s: %v", len(joined), rooms, err)
	}
	var joinTime time.Duration
	for _, room := range names {
		joinTime = max(joinTime, joined[room])
	}
	t.Logf("join time (job created → assistant in LiveKit): max %v, per room %v", ms(joinTime), msMap(joined))
	alive := map[string]bool{"w0": true, "w1": true, "w2": true}
	settled := r.settle(ctx, "start", names, alive)

	// Phase 1: the worker holding the most jobs is killed.
	victim := ""
	for _, w := range slices.Sorted(maps.Keys(alive)) {
		if victim == "" || len(settled.held(w)) > len(settled.held(victim)) {
			victim = w
		}
	}
	lost := settled.held(victim)
	if len(lost) == 0 {
		t.Fatalf("no worker holds a job: %+v", settled.jobs)
	}
	t.Logf("phase 1: SIGKILL %s holding %d jobs", victim, len(lost))
	killed := time.Now()
	r.proc(victim).kill()
	delete(alive, victim)
	reassigned, rejoined, _ := r.awaitMove(ctx, killed, victim, lost, lease+joinTime+10*time.Second)
	reportMove(t, "kill", reassigned, rejoined, lost, joinTime)
	settled = r.settle(ctx, "after the kill", names, alive)
	r.expectStatus(ctx, victim, dispatcher.WorkerLost)

	// Phase 2: a worker holding jobs is frozen, its rooms move, then it resumes.
	frozen := ""
	for _, w := range slices.Sorted(maps.Keys(alive)) {
		if len(settled.held(w)) > 0 && (frozen == "" || len(settled.held(w)) > len(settled.held(frozen))) {
			frozen = w
		}
	}
	if frozen == "" {
		t.Fatalf("no live worker holds a job after the kill: %+v", settled.jobs)
	}
	moved := settled.held(frozen)
	fp := r.proc(frozen)
	t.Logf("phase 2: SIGSTOP %s holding %d jobs", frozen, len(moved))
	stopped := time.Now()
	if err := fp.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	joinsBefore := fp.count(`msg="joined room"`)
	delete(alive, frozen)
	reassigned, rejoined, after := r.awaitMove(ctx, stopped, frozen, moved, lease+joinTime+10*time.Second)
	reportMove(t, "freeze", reassigned, rejoined, moved, joinTime)
	resumed := time.Now()
	if err := fp.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	t.Logf("phase 2: SIGCONT %s after %v frozen", frozen, ms(resumed.Sub(stopped)))
	r.watchResumed(ctx, frozen, resumed, moved, after, 5*time.Second)
	if n := fp.count(`msg="joined room"`); n != joinsBefore {
		t.Errorf("%s logged %d joins before the freeze and %d after it resumed; want no join after", frozen, joinsBefore, n)
	}
	// How the resumed worker left (either will do): its lease watchdog, LiveKit
	// sending the session away (duplicate identity), or the dispatcher's leave.
	t.Logf("the resumed worker's log: %d lease watchdog stops, %d sessions replaced, %d leaves from the dispatcher",
		fp.count(`msg="lease not renewed`), fp.count(`msg="another session took the room`), fp.count(`msg="leaving room"`))
	alive[frozen] = true
	final := r.settle(ctx, "after the resume", names, alive)
	if h := final.held(frozen); len(h) != 0 {
		t.Errorf("the resumed worker %s holds %v; want none of its old jobs", frozen, slices.Sorted(maps.Keys(h)))
	}
}

// reportMove logs the figures of one failure and checks them: the dispatcher runs
// every job elsewhere within lease + 1 s, and LiveKit has each room's new assistant
// within that plus the join time.
func reportMove(t *testing.T, what string, reassigned, rejoined map[string]time.Duration, jobs map[string]jobSnap, joinTime time.Duration) {
	t.Helper()
	var maxA, maxB time.Duration
	for id, j := range jobs {
		a, okA := reassigned[id]
		b, okB := rejoined[j.Room]
		if !okA {
			t.Errorf("%s: job %s (%s) never ran on another worker", what, id, j.Room)
		}
		if !okB {
			t.Errorf("%s: room %s never got a new assistant in LiveKit", what, j.Room)
		}
		maxA, maxB = max(maxA, a), max(maxB, b)
	}
	byRoom := map[string]time.Duration{}
	for id, d := range reassigned {
		byRoom[jobs[id].Room] = d
	}
	t.Logf("%s → reassigned (running on another worker): max %v, per room %v", what, ms(maxA), msMap(byRoom))
	t.Logf("%s → new assistant in LiveKit: max %v, per room %v", what, ms(maxB), msMap(rejoined))
	if limit := lease + time.Second; maxA > limit {
		t.Errorf("%s → reassigned took %v; want within lease + 1 s (%v)", what, ms(maxA), limit)
	}
	if limit := lease + time.Second + joinTime + margin; maxB > limit {
		t.Errorf("%s → new assistant took %v; want within lease + 1 s + join time %v + %v (%v)", what, ms(maxB), ms(joinTime), margin, ms(limit))
	}
}

// rig is the processes of the test and the clients that watch them.
type rig struct {
	t        *testing.T
	dir, bin string
	lk       *devstack.LiveKit
	client   *http.Client
	rooms    *lksdk.RoomServiceClient

	nodeHTTP  []string
	nodeProcs []*proc
	leader    int
	procs     map[string]*proc
	opsAddr   map[string]string
}

func newRig(t *testing.T, lk *devstack.LiveKit) *rig {
	dir := t.TempDir()
	bin := testenv.Attendant(t)
	r := &rig{t: t, dir: dir, bin: bin, lk: lk,
		client: &http.Client{Timeout: 3 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}},
		rooms:  lksdk.NewRoomServiceClient(lk.HTTPURL(), lk.APIKey, lk.APISecret),
		procs:  map[string]*proc{}, opsAddr: map[string]string{}}
	t.Cleanup(func() {
		r.client.CloseIdleConnections()
		// The LiveKit room client uses the default transport.
		if tr, ok := http.DefaultTransport.(*http.Transport); ok {
			tr.CloseIdleConnections()
		}
	})
	// Registered after the processes' own cleanups would be too late to read them
	// while they run, but the logs outlive them: this runs before the folder goes.
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		for _, p := range append(slices.Clone(r.nodeProcs), r.workerProcs()...) {
			t.Logf("---- %s (%s), last lines:\n%s", p.name, p.log, tail(p.log, 40))
		}
	})
	return r
}

func (r *rig) workerProcs() []*proc {
	var out []*proc
	for _, id := range slices.Sorted(maps.Keys(r.procs)) {
		out = append(out, r.procs[id])
	}
	return out
}

func (r *rig) proc(worker string) *proc { return r.procs[worker] }

// startCluster starts the dispatcher nodes (the first bootstraps, the others join
// through it) and waits until they form one cluster with a leader.
func (r *rig) startCluster(ctx context.Context) {
	t := r.t
	raft := make([]string, nodes)
	for i := range nodes {
		raft[i] = freePort(t)
		r.nodeHTTP = append(r.nodeHTTP, freePort(t))
	}
	for i := range nodes {
		args := []string{"dispatcher", "--node-id", "n" + strconv.Itoa(i), "--raft-addr", raft[i], "--http-addr", r.nodeHTTP[i],
			"--data-dir", filepath.Join(r.dir, "n"+strconv.Itoa(i)), "--dispatcher.secret", secret,
			"--dispatcher.lease", lease.String(), "--log.level", "info"}
		if i > 0 {
			args = append(args, "--join", r.nodeHTTP[0])
		}
		r.nodeProcs = append(r.nodeProcs, r.start("n"+strconv.Itoa(i), args))
		if i == 0 {
			if err := until(ctx, 20*time.Second, func() bool {
				st, err := r.status(ctx, 0)
				return err == nil && st.State == "Leader"
			}); err != nil {
				t.Fatalf("the first node did not lead: %v", err)
			}
		}
	}
	if err := until(ctx, 30*time.Second, func() bool {
		for i := range nodes {
			st, err := r.status(ctx, i)
			if err != nil || len(st.Members) != nodes || st.Leader == "" {
				return false
			}
			if st.State == "Leader" {
				r.leader = i
			}
		}
		return true
	}); err != nil {
		t.Fatalf("a cluster of %d did not form: %v", nodes, err)
	}
}

// startWorker starts worker wi, taking rooms from every node (its own order of them,
// so the workers spread over the nodes).
func (r *rig) startWorker(i int) {
	id := "w" + strconv.Itoa(i)
	var ns []string
	for k := range nodes {
		ns = append(ns, r.nodeHTTP[(i+k)%nodes])
	}
	r.opsAddr[id] = freePort(r.t)
	args := []string{"worker", "--worker.id", id, "--worker.capacity", strconv.Itoa(capacity),
		"--worker.dispatchers", strings.Join(ns, ","), "--dispatcher.secret", secret, "--dispatcher.lease", lease.String(),
		"--livekit.url", r.lk.URL(), "--livekit.api_key", r.lk.APIKey, "--livekit.api_secret", r.lk.APISecret,
		"--retrieval.enabled=false", "--worker.http_addr", r.opsAddr[id], "--worker.identity", identity, "--log.level", "info"}
	r.procs[id] = r.start(id, args)
}

// proc is one child process; its output goes to a log file.
type proc struct {
	name string
	cmd  *exec.Cmd
	log  string
	done chan struct{}
	once sync.Once
}

func (r *rig) start(name string, args []string) *proc {
	t := r.t
	logPath := filepath.Join(r.dir, name+".log")
	f, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(r.bin, args...)
	cmd.Dir = r.dir
	cmd.Stdout, cmd.Stderr = f, f
	// A test that dies leaves no process behind.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Nothing from the test's own environment configures the children.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ATTENDANT_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("start %s: %v", name, err)
	}
	p := &proc{name: name, cmd: cmd, log: logPath, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(p.kill)
	return p
}

// kill ends the process, stopped or not, and waits for it.
func (p *proc) kill() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGCONT)
		_ = p.cmd.Process.Kill()
	})
	<-p.done
}

// count is how many lines of the process's log hold s.
func (p *proc) count(s string) int {
	data, _ := os.ReadFile(p.log)
	return bytes.Count(data, []byte(s))
}

// call sends a request to the leader (another node if it does not answer) and
// decodes the answer into out.
func (r *rig) call(ctx context.Context, method, path string, body, out any) (int, error) {
	var err error
	for k := range nodes {
		i := (r.leader + k) % nodes
		var code int
		if code, err = r.callNode(ctx, i, method, path, body, out); err == nil {
			return code, nil
		}
	}
	return 0, err
}

func (r *rig) callNode(ctx context.Context, node int, method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+r.nodeHTTP[node]+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(data)))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}

func (r *rig) status(ctx context.Context, node int) (dispatcher.Status, error) {
	var st dispatcher.Status
	_, err := r.callNode(ctx, node, http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

func (r *rig) jobs(ctx context.Context) ([]dispatcher.Job, error) {
	var js []dispatcher.Job
	_, err := r.call(ctx, http.MethodGet, "/v1/jobs", nil, &js)
	return js, err
}

func (r *rig) workers(ctx context.Context) (map[string]dispatcher.Worker, error) {
	var ws []dispatcher.Worker
	if _, err := r.call(ctx, http.MethodGet, "/v1/workers", nil, &ws); err != nil {
		return nil, err
	}
	out := map[string]dispatcher.Worker{}
	for _, w := range ws {
		out[w.ID] = w
	}
	return out, nil
}

func (r *rig) expectStatus(ctx context.Context, worker string, want dispatcher.WorkerStatus) {
	ws, err := r.workers(ctx)
	if err != nil {
		r.t.Errorf("GET /v1/workers: %v", err)
		return
	}
	if got := ws[worker].Status; got != want {
		r.t.Errorf("worker %s is %q; want %q", worker, got, want)
	}
}

// assistants lists the room's assistant participants in LiveKit: the assistant's
// identity, or any agent. A room LiveKit does not know has none.
func (r *rig) assistants(ctx context.Context, room string) ([]*livekit.ParticipantInfo, error) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	res, err := r.rooms.ListParticipants(cctx, &livekit.ListParticipantsRequest{Room: room})
	if err != nil {
		if strings.Contains(err.Error(), "not_found") || strings.Contains(err.Error(), "not found") {
			return nil, nil
		}
		return nil, err
	}
	var out []*livekit.ParticipantInfo
	for _, p := range res.Participants {
		if p.Identity == identity || p.Kind == livekit.ParticipantInfo_AGENT {
			out = append(out, p)
		}
	}
	return out, nil
}

// connected scrapes a worker's /metrics for the rooms it says it is in
// (attendant_worker_room_connected 1).
func (r *rig) connected(ctx context.Context, worker string) (map[string]bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.opsAddr[worker]+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out := map[string]bool{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, "attendant_worker_room_connected{")
		if !ok {
			continue
		}
		labels, value, ok := strings.Cut(rest, "} ")
		if !ok {
			continue
		}
		_, room, ok := strings.Cut(labels, `room="`)
		if !ok {
			continue
		}
		room, _, _ = strings.Cut(room, `"`)
		if v, err := strconv.ParseFloat(strings.TrimSpace(value), 64); err == nil && v == 1 {
			out[room] = true
		}
	}
	return out, sc.Err()
}

// jobSnap is a job as it was seen, with its room's assistant's participant SID.
type jobSnap struct {
	Room, Worker string
	Epoch        uint64
	SID          string
}

// snapshot is the settled state: every job by id.
type snapshot struct{ jobs map[string]jobSnap }

func (s snapshot) held(worker string) map[string]jobSnap {
	out := map[string]jobSnap{}
	for id, j := range s.jobs {
		if j.Worker == worker {
			out[id] = j
		}
	}
	return out
}

// settle waits until every room's job runs on a live worker the dispatcher does not
// count lost, LiveKit shows exactly one assistant in each room, and of the live
// workers exactly one, the job's, says it is in the room; it fails the test if that
// does not come within 15 s.
func (r *rig) settle(ctx context.Context, phase string, names []string, alive map[string]bool) snapshot {
	t := r.t
	t.Helper()
	var problems []string
	var snap snapshot
	err := until(ctx, 15*time.Second, func() bool {
		problems = nil
		snap = snapshot{jobs: map[string]jobSnap{}}
		js, err := r.jobs(ctx)
		if err != nil {
			problems = append(problems, err.Error())
			return false
		}
		ws, err := r.workers(ctx)
		if err != nil {
			problems = append(problems, err.Error())
			return false
		}
		in := map[string][]string{}
		for _, w := range slices.Sorted(maps.Keys(alive)) {
			rs, err := r.connected(ctx, w)
			if err != nil {
				problems = append(problems, fmt.Sprintf("metrics of %s: %v", w, err))
				return false
			}
			for room := range rs {
				in[room] = append(in[room], w)
			}
		}
		byRoom := map[string]dispatcher.Job{}
		for _, j := range js {
			if !j.State.Ended() {
				byRoom[j.Room] = j
			}
		}
		for _, room := range names {
			j, ok := byRoom[room]
			switch {
			case !ok:
				problems = append(problems, room+": no open job")
				continue
			case j.State != dispatcher.JobRunning:
				problems = append(problems, fmt.Sprintf("%s: job %s is %s (%s)", room, j.ID, j.State, j.Reason))
			case !alive[j.Worker]:
				problems = append(problems, fmt.Sprintf("%s: job %s runs on %s, which is not alive", room, j.ID, j.Worker))
			case ws[j.Worker].Status == dispatcher.WorkerLost || ws[j.Worker].Status == "":
				problems = append(problems, fmt.Sprintf("%s: job %s runs on %s, which the dispatcher has as %q", room, j.ID, j.Worker, ws[j.Worker].Status))
			}
			if got := in[room]; len(got) != 1 || got[0] != j.Worker {
				problems = append(problems, fmt.Sprintf("%s: live workers in the room %v; want only %s", room, got, j.Worker))
			}
			as, err := r.assistants(ctx, room)
			if err != nil {
				problems = append(problems, fmt.Sprintf("%s: participants: %v", room, err))
				continue
			}
			if len(as) != 1 {
				problems = append(problems, fmt.Sprintf("%s: %d assistant participants %v; want one", room, len(as), describe(as)))
				continue
			}
			snap.jobs[j.ID] = jobSnap{Room: room, Worker: j.Worker, Epoch: j.Epoch, SID: as[0].Sid}
		}
		return len(problems) == 0
	})
	if err != nil {
		t.Fatalf("%s: not settled within 15 s: %v: %s", phase, err, strings.Join(problems, "; "))
	}
	var held []string
	for _, id := range slices.Sorted(maps.Keys(snap.jobs)) {
		j := snap.jobs[id]
		held = append(held, fmt.Sprintf("%s→%s@%d", j.Room[strings.LastIndexByte(j.Room, '-')+1:], j.Worker, j.Epoch))
	}
	t.Logf("%s: settled: one assistant per room, each job on one live worker: %s", phase, strings.Join(held, " "))
	return snap
}

// awaitMove follows the jobs of a worker that died or froze at t0, until the
// dispatcher runs each elsewhere at a higher epoch (reassigned) and LiveKit shows
// each room's assistant with a new SID (rejoined), or within passes. It returns
// how long each took and the jobs as they are after.
func (r *rig) awaitMove(ctx context.Context, t0 time.Time, from string, jobs map[string]jobSnap, within time.Duration) (reassigned, rejoined map[string]time.Duration, after map[string]jobSnap) {
	reassigned, rejoined, after = map[string]time.Duration{}, map[string]time.Duration{}, map[string]jobSnap{}
	for id, j := range jobs {
		after[id] = j
	}
	_ = until(ctx, within, func() bool {
		if len(reassigned) < len(jobs) {
			if js, err := r.jobs(ctx); err == nil {
				at := time.Since(t0)
				for _, j := range js {
					old, ok := jobs[j.ID]
					if _, done := reassigned[j.ID]; !ok || done {
						continue
					}
					if j.State == dispatcher.JobRunning && j.Worker != from && j.Epoch > old.Epoch {
						reassigned[j.ID] = at
						a := after[j.ID]
						a.Worker, a.Epoch = j.Worker, j.Epoch
						after[j.ID] = a
					}
				}
			}
		}
		for id, j := range jobs {
			if _, done := rejoined[j.Room]; done {
				continue
			}
			as, err := r.assistants(ctx, j.Room)
			if err != nil {
				continue
			}
			at := time.Since(t0)
			for _, p := range as {
				if p.Sid != j.SID && p.Identity == identity {
					rejoined[j.Room] = at
					a := after[id]
					a.SID = p.Sid
					after[id] = a
				}
			}
		}
		return len(reassigned) == len(jobs) && len(rejoined) == len(jobs)
	})
	return reassigned, rejoined, after
}

// watchResumed follows a frozen worker for a while after it resumed: each of its
// old rooms keeps its new assistant (the same SID, one assistant), each job stays on
// its new worker and epoch, and the worker registers again, not lost, holding none
// of them and in none of their rooms.
func (r *rig) watchResumed(ctx context.Context, worker string, resumed time.Time, moved, after map[string]jobSnap, window time.Duration) {
	t := r.t
	t.Helper()
	var registered, left time.Duration
	failures := map[string]bool{}
	fail := func(format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		if !failures[msg] {
			failures[msg] = true
			t.Errorf("after SIGCONT (+%v): %s", ms(time.Since(resumed)), msg)
		}
	}
	deadline := time.Now().Add(window)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		for id, j := range after {
			as, err := r.assistants(ctx, j.Room)
			if err != nil {
				fail("participants of %s: %v", j.Room, err)
				continue
			}
			if len(as) != 1 || as[0].Sid != j.SID {
				fail("room %s has assistants %v; want only the new one %s (the old was %s)", j.Room, describe(as), j.SID, moved[id].SID)
			}
		}
		if js, err := r.jobs(ctx); err == nil {
			for _, job := range js {
				if a, ok := after[job.ID]; ok && (job.State != dispatcher.JobRunning || job.Worker != a.Worker || job.Epoch != a.Epoch) {
					fail("job %s (%s) is %s on %s@%d (%s); want running on %s@%d", job.ID, a.Room, job.State, job.Worker, job.Epoch, job.Reason, a.Worker, a.Epoch)
				}
				if job.Worker == worker && !job.State.Ended() {
					fail("job %s (%s) is %s on the resumed worker %s", job.ID, job.Room, job.State, worker)
				}
			}
		}
		if registered == 0 {
			if ws, err := r.workers(ctx); err == nil {
				if w, ok := ws[worker]; ok && w.Status != dispatcher.WorkerLost {
					registered = time.Since(resumed)
				}
			}
		}
		if left == 0 {
			if rs, err := r.connected(ctx, worker); err == nil {
				in := false
				for _, j := range moved {
					in = in || rs[j.Room]
				}
				if !in {
					left = time.Since(resumed)
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Logf("resume → out of its old rooms (its metrics): %v; → registered again, not lost: %v; watched %v", ms(left), ms(registered), window)
	if registered == 0 {
		t.Errorf("the resumed worker %s did not register again within %v", worker, window)
	}
	if left == 0 {
		t.Errorf("the resumed worker %s still says it is in its old rooms after %v", worker, window)
	}
	ws, err := r.workers(ctx)
	if err != nil {
		t.Errorf("GET /v1/workers: %v", err)
	} else if w := ws[worker]; w.Status == dispatcher.WorkerLost || w.Status == "" {
		t.Errorf("the resumed worker %s is %q at the end; want registered again", worker, w.Status)
	}
}

func describe(ps []*livekit.ParticipantInfo) []string {
	var out []string
	for _, p := range ps {
		out = append(out, fmt.Sprintf("%s/%s/%s", p.Identity, p.Sid, p.State))
	}
	return out
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// until polls ok every 25 ms until it holds, within passes or ctx ends.
func until(ctx context.Context, within time.Duration, ok func() bool) error {
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v", within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
	return nil
}

func tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

func ms(d time.Duration) time.Duration { return d.Round(time.Millisecond) }

func msMap(m map[string]time.Duration) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s=%v", k[strings.LastIndexByte(k, '-')+1:], ms(m[k])))
	}
	return strings.Join(parts, " ")
}
