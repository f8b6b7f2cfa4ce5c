package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"
)

const secret = "test-secret"

// testNode is a node with its HTTP API on loopback.
type testNode struct {
	*Node
	id, dir, http string
	srv           *http.Server
}

func startNode(t *testing.T, id, dir string, bootstrap bool) *testNode {
	t.Helper()
	return startNodeAt(t, id, dir, "127.0.0.1:0", bootstrap)
}

// startNodeAt starts a node whose raft transport listens at raftAddr.
func startNodeAt(t *testing.T, id, dir, raftAddr string, bootstrap bool) *testNode {
	t.Helper()
	return startNodeWith(t, NodeConfig{ID: id, RaftAddr: raftAddr, DataDir: dir, Bootstrap: bootstrap})
}

// startNodeWith starts a node from cfg, with the test's secret, a 1 s lease and
// offer timeout unless cfg sets them, and its HTTP API on a free port.
func startNodeWith(t *testing.T, cfg NodeConfig) *testNode {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.HTTPAddr, cfg.Secret = ln.Addr().String(), secret
	if cfg.Lease == 0 {
		cfg.Lease = time.Second
	}
	if cfg.OfferTimeout == 0 {
		cfg.OfferTimeout = time.Second
	}
	id, dir := cfg.ID, cfg.DataDir
	n, err := OpenNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{Node: n, id: id, dir: dir, http: ln.Addr().String(), srv: &http.Server{Handler: n.Handler()}}
	go tn.srv.Serve(ln) //nolint:errcheck // ends with Close
	return tn
}

func (tn *testNode) stop() {
	tn.srv.Close()
	tn.Close()
}

func (tn *testNode) call(t *testing.T, method, path string, body any, out any) int {
	t.Helper()
	var rd *bytes.Reader
	if body != nil {
		data, _ := json.Marshal(body)
		rd = bytes.NewReader(data)
	} else {
		rd = bytes.NewReader(nil)
	}
	req, _ := http.NewRequest(method, "http://"+tn.http+path, rd)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func waitFor(t *testing.T, what string, within time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func leaderOf(nodes []*testNode) *testNode {
	for _, n := range nodes {
		if n != nil && n.Status().State == "Leader" {
			return n
		}
	}
	return nil
}

// A three-node cluster: bootstrap and joins, writes through any node, a leader
// placing jobs on a registered worker, the leader killed and replaced without
// losing or doubling a job, and the old leader catching up when it comes back.
func TestThreeNodeCluster(t *testing.T) {
	base := t.TempDir()
	var mu sync.Mutex // guards nodes against the heartbeat goroutine
	nodes := make([]*testNode, 3)
	nodes[0] = startNode(t, "n0", filepath.Join(base, "n0"), true)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.stop()
			}
		}
	}()
	waitFor(t, "n0 to lead", 10*time.Second, func() bool { return leaderOf(nodes[:1]) != nil && nodes[0].Status().Members[0].HTTPAddr != "" })
	for i := 1; i < 3; i++ {
		nodes[i] = startNode(t, fmt.Sprint("n", i), filepath.Join(base, fmt.Sprint("n", i)), false)
		// Joining through the API of a node that is not the leader is forwarded.
		via := nodes[i-1]
		waitFor(t, via.id+" to know the leader", 10*time.Second, func() bool { _, err := via.leaderHTTP(); return err == nil || via == leaderOf(nodes) })
		if code := via.call(t, "POST", "/v1/cluster/join", map[string]string{"id": nodes[i].id, "raft_addr": nodes[i].RaftAddr()}, nil); code != 200 {
			t.Fatalf("join n%d via %s: %d", i, via.id, code)
		}
	}
	waitFor(t, "three members everywhere", 10*time.Second, func() bool {
		for _, n := range nodes {
			if len(n.Status().Members) != 3 || n.Status().Leader == "" {
				return false
			}
		}
		return true
	})

	// A worker registers (as its dispatcher node would propose it) and heartbeats.
	ctx := context.Background()
	leader := leaderOf(nodes)
	follower := nodes[0]
	if follower == leader {
		follower = nodes[1]
	}
	if _, err := follower.Propose(ctx, Command{Type: CmdRegister, At: time.Now().UTC(),
		Register: &Register{Worker: Worker{ID: "w1", Capacity: 100, Node: follower.id}}}); err != nil {
		t.Fatal(err)
	}
	stopBeats := make(chan struct{})
	beating := make(chan struct{})
	go func() {
		defer close(beating)
		for {
			select {
			case <-stopBeats:
				return
			case <-time.After(200 * time.Millisecond):
			}
			mu.Lock()
			live := slices.Clone(nodes)
			mu.Unlock()
			for _, n := range live {
				if n != nil && n.Status().Leader != "" {
					_, _ = n.Propose(ctx, Command{Type: CmdHeartbeats, At: time.Now().UTC(), Heartbeats: []Heartbeat{{Worker: "w1", Node: n.id, Status: WorkerAvailable}}})
					break
				}
			}
		}
	}()
	defer func() { close(stopBeats); <-beating }()

	// Jobs created through a follower; a retried request makes no second job.
	created := map[string]string{}
	for i := range 20 {
		var j Job
		if code := follower.call(t, "POST", "/v1/jobs", CreateRequest{Room: fmt.Sprint("room-", i), RequestID: "req"}, &j); code != 201 {
			t.Fatalf("create room-%d: %d", i, code)
		}
		created[j.Room] = j.ID
	}
	var again Job
	if code := follower.call(t, "POST", "/v1/jobs", CreateRequest{Room: "room-3", RequestID: "req"}, &again); code != 200 || again.ID != created["room-3"] {
		t.Errorf("retried create: %d %+v; want 200 and the same job", code, again)
	}
	if code := follower.call(t, "POST", "/v1/jobs", map[string]string{"room": "bad room"}, nil); code != 400 {
		t.Errorf("bad create: %d; want 400", code)
	}
	// The leader offers every job to the worker.
	waitFor(t, "every job offered", 5*time.Second, func() bool {
		var jobs []Job
		follower.call(t, "GET", "/v1/jobs?state=offered", nil, &jobs)
		return len(jobs) == 20
	})

	// The leader dies; another takes over and writes go on.
	old := leader
	oldIndex := map[string]int{}
	for i, n := range nodes {
		if n == old {
			oldIndex[n.id] = i
		}
	}
	old.stop()
	mu.Lock()
	nodes[oldIndex[old.id]] = nil
	mu.Unlock()
	killed := time.Now()
	var next *testNode
	waitFor(t, "a new leader", 10*time.Second, func() bool { next = leaderOf(nodes); return next != nil })
	var survivor *testNode
	for _, n := range nodes {
		if n != nil {
			survivor = n
		}
	}
	waitFor(t, "writes after failover", 10*time.Second, func() bool {
		var j Job
		return survivor.call(t, "POST", "/v1/jobs", CreateRequest{Room: "room-after", RequestID: "req"}, &j) == 201
	})
	t.Logf("leader %s killed; %s leads and accepts writes after %s", old.id, next.id, time.Since(killed).Round(time.Millisecond))
	var jobs []Job
	// The node that forwarded the write answers once it has applied it too.
	survivor.call(t, "GET", "/v1/jobs", nil, &jobs)
	rooms := map[string]int{}
	for _, j := range jobs {
		rooms[j.Room]++
	}
	if len(jobs) != 21 || len(rooms) != 21 {
		t.Errorf("after failover %d jobs in %d rooms; want 21 and 21", len(jobs), len(rooms))
	}

	// The old leader comes back with its data and catches up.
	back := startNodeAt(t, old.id, old.dir, old.RaftAddr(), false)
	mu.Lock()
	nodes[oldIndex[old.id]] = back
	mu.Unlock()
	// Once it knows the cluster's writes are committed, its reads wait until it has
	// applied them: it does not answer from its old state.
	last := survivor.Status().Applied
	waitFor(t, "the old leader to learn what is committed", 10*time.Second, func() bool { return back.raft.CommitIndex() >= last })
	var caught []Job
	back.call(t, "GET", "/v1/jobs", nil, &caught)
	if len(caught) != 21 {
		t.Errorf("the old leader, back, lists %d jobs; want the cluster's 21", len(caught))
	}
	waitFor(t, "the old leader to catch up", 10*time.Second, func() bool {
		var n int
		back.FSM().Read(func(s *State, _ uint64) { n = len(s.Jobs) })
		return n == 21
	})
}

// startCluster starts three nodes from cfg (IDs, folders and addresses filled in)
// and waits until every one knows the leader and all three members.
func startCluster(t *testing.T, cfg NodeConfig) []*testNode {
	t.Helper()
	return startClusterOf(t, 3, cfg)
}

// startClusterOf starts size nodes; stopped ones may be set to nil in the slice.
func startClusterOf(t *testing.T, size int, cfg NodeConfig) []*testNode {
	t.Helper()
	base := t.TempDir()
	nodes := make([]*testNode, size)
	t.Cleanup(func() {
		for _, n := range nodes {
			if n != nil {
				n.stop()
			}
		}
	})
	for i := range nodes {
		c := cfg
		c.ID, c.DataDir, c.RaftAddr, c.Bootstrap = fmt.Sprint("n", i), filepath.Join(base, fmt.Sprint("n", i)), "127.0.0.1:0", i == 0
		nodes[i] = startNodeWith(t, c)
		if i == 0 {
			waitFor(t, "n0 to lead", 10*time.Second, func() bool { return leaderOf(nodes[:1]) != nil && nodes[0].Status().Members[0].HTTPAddr != "" })
			continue
		}
		if code := nodes[0].call(t, "POST", "/v1/cluster/join", map[string]string{"id": nodes[i].id, "raft_addr": nodes[i].RaftAddr()}, nil); code != 200 {
			t.Fatalf("join n%d: %d", i, code)
		}
	}
	waitFor(t, "every member everywhere", 10*time.Second, func() bool {
		for _, n := range nodes {
			if len(n.Status().Members) != size || n.Status().Leader == "" {
				return false
			}
		}
		return true
	})
	return nodes
}

// stateBytes is a node's state as its snapshot would hold it.
func stateBytes(t *testing.T, n *testNode) []byte {
	t.Helper()
	var data []byte
	n.FSM().Read(func(s *State, _ uint64) { data = mustJSON(t, s) })
	return data
}

// A follower stopped while the cluster goes on, and whose missing entries have been
// compacted away behind a snapshot, catches up from the snapshot when it comes back
// and ends with the same state as the leader.
func TestFollowerCatchesUpFromSnapshot(t *testing.T) {
	nodes := startCluster(t, NodeConfig{TrailingLogs: 4})
	leader := leaderOf(nodes)
	var follower *testNode
	for _, n := range nodes {
		if n != leader {
			follower = n
		}
	}
	create := func(from, to int) {
		for i := from; i < to; i++ {
			if code := leader.call(t, "POST", "/v1/jobs", CreateRequest{Room: fmt.Sprint("room-", i), RequestID: "r"}, nil); code != 201 {
				t.Fatalf("create room-%d: %d", i, code)
			}
		}
	}
	create(0, 10)
	waitFor(t, "the follower to have the first jobs", 5*time.Second, func() bool {
		var n int
		follower.FSM().Read(func(s *State, _ uint64) { n = len(s.Jobs) })
		return n == 10
	})
	follower.stop()
	create(10, 40)
	// Cancel a few, so the snapshot holds ended jobs as well.
	var jobs []Job
	leader.call(t, "GET", "/v1/jobs", nil, &jobs)
	for _, j := range jobs[:5] {
		leader.call(t, "DELETE", "/v1/jobs/"+j.ID, nil, nil)
	}
	// Both live nodes snapshot and trim their logs, so that whichever leads when
	// the follower comes back (a loaded machine can make the leadership change)
	// has to send it a snapshot.
	var behind uint64
	follower.FSM().Read(func(_ *State, applied uint64) { behind = applied })
	for _, n := range nodes {
		if n == follower {
			continue
		}
		if err := n.raft.Snapshot().Error(); err != nil {
			t.Fatal(err)
		}
		first, err := n.store.FirstIndex()
		if err != nil {
			t.Fatal(err)
		}
		if first <= behind+1 {
			t.Fatalf("%s's log starts at %d and the follower applied %d: it could catch up from the log", n.id, first, behind)
		}
	}

	back := startNodeAt(t, follower.id, follower.dir, follower.RaftAddr(), false)
	defer back.stop()
	waitFor(t, "the follower to catch up", 10*time.Second, func() bool {
		return string(stateBytes(t, back)) == string(stateBytes(t, leader))
	})
	if got := back.raft.Stats()["last_snapshot_index"]; got == "0" {
		t.Errorf("the follower caught up without installing a snapshot (last_snapshot_index %s)", got)
	}
	// It takes part again: a write through it is applied everywhere.
	if code := back.call(t, "POST", "/v1/jobs", CreateRequest{Room: "room-after", RequestID: "r"}, nil); code != 201 {
		t.Fatalf("create through the follower: %d", code)
	}
	waitFor(t, "the same state on every node", 5*time.Second, func() bool {
		return string(stateBytes(t, back)) == string(stateBytes(t, leader))
	})
}

// Ended jobs are pruned after the retention: reading them says so, and the same
// room and request make a new job; running jobs stay.
func TestLeaderPrunesEndedJobs(t *testing.T) {
	tn := startNodeWith(t, NodeConfig{ID: "n0", DataDir: filepath.Join(t.TempDir(), "n0"), RaftAddr: "127.0.0.1:0", Bootstrap: true,
		Retention: 300 * time.Millisecond})
	defer tn.stop()
	waitFor(t, "a leader", 10*time.Second, func() bool { return tn.Status().State == "Leader" })
	var ended, open Job
	tn.call(t, "POST", "/v1/jobs", CreateRequest{Room: "room-ended", RequestID: "r"}, &ended)
	tn.call(t, "POST", "/v1/jobs", CreateRequest{Room: "room-open", RequestID: "r"}, &open)
	if code := tn.call(t, "DELETE", "/v1/jobs/"+ended.ID, nil, nil); code != 200 {
		t.Fatalf("cancel: %d", code)
	}
	waitFor(t, "the ended job pruned", 5*time.Second, func() bool { return tn.call(t, "GET", "/v1/jobs/"+ended.ID, nil, nil) == 404 })
	if code := tn.call(t, "GET", "/v1/jobs/"+open.ID, nil, nil); code != 200 {
		t.Errorf("the pending job: %d; want kept", code)
	}
	var again Job
	if code := tn.call(t, "POST", "/v1/jobs", CreateRequest{Room: "room-ended", RequestID: "r"}, &again); code != 201 || again.ID == ended.ID {
		t.Errorf("create after pruning: %d %+v; want a new job", code, again)
	}
}

// Five nodes lose their leader and a follower at once: the other three elect a
// leader and take writes; the dead two are removed through a follower, and the
// three go on as a cluster of three.
func TestFiveNodesLoseTwo(t *testing.T) {
	nodes := startClusterOf(t, 5, NodeConfig{})
	leader := leaderOf(nodes)
	// One follower goes down, then the leader.
	var dead []string
	down := func(pick func(*testNode) bool) {
		for i, n := range nodes {
			if n != nil && pick(n) {
				dead = append(dead, n.id)
				n.stop()
				nodes[i] = nil
				return
			}
		}
	}
	down(func(n *testNode) bool { return n != leader })
	down(func(n *testNode) bool { return n == leader })
	var live []*testNode
	for _, n := range nodes {
		if n != nil {
			live = append(live, n)
		}
	}
	killed := time.Now()
	waitFor(t, "writes with two of five nodes down", 10*time.Second, func() bool {
		return live[0].call(t, "POST", "/v1/jobs", CreateRequest{Room: "room-1", RequestID: "r"}, nil) == 201
	})
	t.Logf("follower %s and leader %s down; writes accepted again after %s", dead[0], dead[1], time.Since(killed).Round(time.Millisecond))
	follower := live[0]
	if follower == leaderOf(live) {
		follower = live[1]
	}
	// A follower answers 503 while it cannot reach a leader (a second election under
	// load, or the new leader's address not yet announced): callers try again.
	for _, id := range dead {
		waitFor(t, "the removal of "+id+" through a follower", 10*time.Second, func() bool {
			code := follower.call(t, "POST", "/v1/cluster/remove", map[string]string{"id": id}, nil)
			if code != 200 && code != 503 {
				t.Fatalf("remove %s through a follower: %d", id, code)
			}
			return code == 200
		})
	}
	waitFor(t, "three members everywhere", 5*time.Second, func() bool {
		for _, n := range live {
			st := n.Status()
			if len(st.Members) != 3 || slices.ContainsFunc(st.Members, func(m Member) bool { return slices.Contains(dead, m.ID) }) {
				return false
			}
		}
		return true
	})
	if code := follower.call(t, "POST", "/v1/jobs", CreateRequest{Room: "room-2", RequestID: "r"}, nil); code != 201 {
		t.Errorf("create after the removal: %d", code)
	}
	// The removals are committed; every live node applies them (it may lag a little).
	waitFor(t, "the removed nodes gone from every node's state", 5*time.Second, func() bool {
		for _, n := range live {
			var peers map[string]Peer
			n.FSM().Read(func(s *State, _ uint64) { peers = maps.Clone(s.Nodes) })
			if slices.ContainsFunc(dead, func(id string) bool { _, ok := peers[id]; return ok }) {
				return false
			}
		}
		return true
	})
}
