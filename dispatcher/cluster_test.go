package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	n, err := OpenNode(NodeConfig{ID: id, RaftAddr: raftAddr, HTTPAddr: ln.Addr().String(), DataDir: dir,
		Bootstrap: bootstrap, Secret: secret, Lease: time.Second, OfferTimeout: time.Second})
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
	waitFor(t, "the old leader to catch up", 10*time.Second, func() bool {
		var n int
		back.FSM().Read(func(s *State, _ uint64) { n = len(s.Jobs) })
		return n == 21
	})
}
