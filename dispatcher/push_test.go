package dispatcher

import (
	"bytes"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// postOffers sends offers as the leader would, with or without the secret, and
// returns the status.
func postOffers(t *testing.T, tn *testNode, body string, auth bool) int {
	t.Helper()
	req, _ := http.NewRequest("POST", "http://"+tn.http+"/internal/offers", bytes.NewReader([]byte(body)))
	if auth {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// readUntil reads the worker's messages until one of type typ and returns those
// before it.
func (f *fakeWorker) readUntil(typ string) []Message {
	f.t.Helper()
	_ = f.ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	var before []Message
	for {
		var m Message
		if err := f.ws.ReadJSON(&m); err != nil {
			f.t.Fatalf("waiting for %s: %v", typ, err)
		}
		if m.Type == typ {
			return before
		}
		before = append(before, m)
	}
}

// A node sends its worker an offer the leader pushes, once, and only while it has
// not applied the offer's entry itself; a push that is unauthenticated or malformed
// is refused and sends nothing.
func TestPushedOffers(t *testing.T) {
	tn, w := leaderAndWorker(t)
	w.register("w1", 4)
	var applied uint64
	tn.FSM().Read(func(_ *State, a uint64) { applied = a })

	early := fmt.Sprintf(`[{"worker":"w1","job":"j-early","room":"room-e","epoch":%d}]`, applied+1000)
	stale := fmt.Sprintf(`[{"worker":"w1","job":"j-stale","room":"room-s","epoch":%d}]`, applied)
	for _, c := range []struct {
		name, body string
		auth       bool
		want       int
	}{
		{"no secret", early, false, http.StatusUnauthorized},
		{"not JSON", `[{"worker":`, true, http.StatusBadRequest},
		{"empty", `[]`, true, http.StatusBadRequest},
		{"no epoch", `[{"worker":"w1","job":"j-x","room":"room-x"}]`, true, http.StatusBadRequest},
		{"bad room", `[{"worker":"w1","job":"j-x","room":"a room","epoch":99999}]`, true, http.StatusBadRequest},
		{"unknown field", `[{"worker":"w1","job":"j-x","room":"room-x","epoch":99999,"x":1}]`, true, http.StatusBadRequest},
		{"stale: the node has applied it", stale, true, http.StatusNoContent},
		{"another node's worker", `[{"worker":"w9","job":"j-9","room":"room-9","epoch":99999}]`, true, http.StatusNoContent},
		{"early", early, true, http.StatusNoContent},
		{"early again", early, true, http.StatusNoContent},
	} {
		if got := postOffers(t, tn, c.body, c.auth); got != c.want {
			t.Errorf("%s: %d; want %d", c.name, got, c.want)
		}
	}
	// The worker got the early offer once, and nothing else, before its heartbeat's
	// answer.
	w.send(Message{Type: MsgHeartbeat, Status: WorkerAvailable, Seq: 1})
	got := w.readUntil(MsgRenewed)
	if len(got) != 1 || got[0].Type != MsgOffer || got[0].Job != "j-early" || got[0].Room != "room-e" || got[0].Epoch != applied+1000 {
		t.Fatalf("the worker got %+v; want only the early offer, once", got)
	}
}

// In a cluster, offers for a worker connected to a follower are pushed by the
// leader, and the worker gets each one once although the follower also sees it when
// it applies the entry.
func TestLeaderPushesOffersToFollowers(t *testing.T) {
	nodes := startCluster(t, NodeConfig{})
	leader := leaderOf(nodes)
	var follower *testNode
	for _, n := range nodes {
		if n != leader {
			follower = n
			break
		}
	}
	waitFor(t, "the follower's address in the state", 10*time.Second, func() bool {
		var addr string
		leader.FSM().Read(func(s *State, _ uint64) { addr = s.Nodes[follower.id].HTTPAddr })
		return addr == follower.http
	})
	w, _, err := dialWorker(t, follower, secret)
	if err != nil {
		t.Fatal(err)
	}
	w.register("w1", 100)
	stop := make(chan struct{})
	defer close(stop)
	go w.heartbeat(stop)

	const jobs = 40
	offered := map[string]int{}
	for round := range 4 {
		var batch BatchCreateRequest
		for i := range jobs / 4 {
			batch.Jobs = append(batch.Jobs, CreateRequest{Room: fmt.Sprintf("room-%d-%d", round, i), RequestID: "r"})
		}
		if code := leader.call(t, "POST", "/v1/jobs/batch", batch, nil); code != 200 {
			t.Fatalf("create: %d", code)
		}
		for range jobs / 4 {
			m := w.next(MsgOffer)
			offered[m.Job]++
			w.send(Message{Type: MsgAccept, Job: m.Job, Epoch: m.Epoch})
		}
	}
	waitFor(t, "every job running on the follower's state", 10*time.Second, func() bool {
		n := 0
		follower.FSM().Read(func(s *State, _ uint64) { n = len(s.Held("w1")) })
		return n == jobs
	})
	// Nothing more comes: no offer twice.
	w.send(Message{Type: MsgHeartbeat, Status: WorkerAvailable, Seq: 99})
	for _, m := range w.readUntil(MsgRenewed) {
		if m.Type == MsgOffer {
			offered[m.Job]++
		}
	}
	if len(offered) != jobs {
		t.Errorf("%d jobs offered; want %d", len(offered), jobs)
	}
	for job, n := range offered {
		if n != 1 {
			t.Errorf("job %s offered %d times", job, n)
		}
	}
	waitFor(t, "the leader counting its pushed offers", 5*time.Second, func() bool {
		return testutil.ToFloat64(leader.cfg.Metrics.OffersPushed) == jobs
	})
}
