package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingTransport counts the requests a client sends, by path.
type countingTransport struct {
	next http.RoundTripper
	mu   sync.Mutex
	n    map[string]int
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.mu.Lock()
	t.n[r.Method+" "+r.URL.Path]++
	t.n[r.URL.Host]++
	t.mu.Unlock()
	return t.next.RoundTrip(r)
}

func (t *countingTransport) count(key string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n[key]
}

func countRequests(c *Client) *countingTransport {
	t := &countingTransport{next: c.http.Transport, n: map[string]int{}}
	c.http.Transport = t
	return t
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// Creates made at once through a client reach the cluster as a few batch requests;
// each caller gets its own room's job, the same job when it asks again, and a dead
// node in the client's list costs nothing but a retry.
func TestClientCoalescesCreates(t *testing.T) {
	nodes := startCluster(t, NodeConfig{})
	dead := deadAddr(t)
	c, err := NewClient([]string{dead, nodes[1].http, nodes[2].http}, secret)
	if err != nil {
		t.Fatal(err)
	}
	requests := countRequests(c)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	const n = 300
	jobs := make([]*Job, n)
	began := time.Now()
	var wg sync.WaitGroup
	var failed atomic.Value
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			j, err := c.Create(ctx, CreateRequest{Room: fmt.Sprintf("room-%03d", i), RequestID: "r", Labels: map[string]string{"lang": "nl"}})
			if err != nil {
				failed.Store(err)
				return
			}
			jobs[i] = j
		}()
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for i, j := range jobs {
		if j.Room != fmt.Sprintf("room-%03d", i) || j.ID == "" || j.Labels["lang"] != "nl" {
			t.Fatalf("create %d answered %+v", i, j)
		}
		ids[j.ID] = true
	}
	if len(ids) != n {
		t.Errorf("%d distinct jobs for %d rooms", len(ids), n)
	}
	sent := requests.count("POST /v1/jobs") + requests.count("POST /v1/jobs/batch")
	if sent >= n/3 {
		t.Errorf("%d create requests for %d creates made at once; want them batched", sent, n)
	}
	t.Logf("%d creates made at once went as %d requests (%d single)", n, sent, requests.count("POST /v1/jobs"))
	// At first each sender may try it; then one request a second looks again.
	if tried, most := requests.count(dead), clientInflight+int(time.Since(began)/clientDownFor); tried > most {
		t.Errorf("the dead node was tried %d times in %s; want it skipped once found dead (at most %d)", tried, time.Since(began).Round(time.Millisecond), most)
	}

	// Asking again (a retried webhook) answers the same job.
	again, err := c.Create(ctx, CreateRequest{Room: "room-007", RequestID: "r"})
	if err != nil || again.ID != jobs[7].ID {
		t.Errorf("create again: %+v %v; want job %s", again, err, jobs[7].ID)
	}
	got, err := c.Job(ctx, jobs[7].ID)
	if err != nil || got.Room != "room-007" {
		t.Errorf("job: %+v %v", got, err)
	}
	ended, err := c.Cancel(ctx, jobs[7].ID, "room ended")
	if err != nil || ended.State != JobCompleted || !strings.Contains(ended.Reason, "room ended") {
		t.Errorf("cancel: %+v %v", ended, err)
	}
}

// A bad create is refused by the client without a request; a refusal from the
// cluster (unknown job, wrong secret) comes back at once as an *APIError, not
// retried; a cluster that cannot be reached fails when the caller's context ends.
func TestClientRefusals(t *testing.T) {
	tn := startNode(t, "n0", t.TempDir(), true)
	defer tn.stop()
	waitFor(t, "a leader", 10*time.Second, func() bool { return tn.Ready(t.Context()) == nil })
	c, err := NewClient([]string{tn.http}, secret)
	if err != nil {
		t.Fatal(err)
	}
	requests := countRequests(c)
	ctx := t.Context()
	for _, bad := range []CreateRequest{
		{Room: "a room", RequestID: "r"},
		{Room: "room-1"},
		{Room: "room-1", RequestID: "r", Labels: map[string]string{"lang": "<b>"}},
	} {
		if _, err := c.Create(ctx, bad); err == nil {
			t.Errorf("create %+v accepted", bad)
		}
	}
	if n := requests.count("POST /v1/jobs") + requests.count("POST /v1/jobs/batch"); n != 0 {
		t.Errorf("bad creates sent %d requests", n)
	}

	var apiErr *APIError
	if _, err := c.Job(ctx, "nope"); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Errorf("unknown job: %v; want a 404 APIError", err)
	}
	wrong, _ := NewClient([]string{tn.http}, "not-the-secret")
	wrongRequests := countRequests(wrong)
	if _, err := wrong.Create(ctx, CreateRequest{Room: "room-1", RequestID: "r"}); !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnauthorized {
		t.Errorf("wrong secret: %v; want a 401 APIError", err)
	}
	if n := wrongRequests.count("POST /v1/jobs"); n != 1 {
		t.Errorf("a refused create was sent %d times; want once", n)
	}

	gone, _ := NewClient([]string{deadAddr(t)}, secret)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := gone.Create(short, CreateRequest{Room: "room-1", RequestID: "r"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("unreachable cluster: %v; want the deadline", err)
	}
	if _, err := NewClient(nil, secret); err == nil {
		t.Error("a client without nodes was made")
	}
}

// The client reads the cluster's status, its workers and its jobs by state.
func TestClientReads(t *testing.T) {
	tn := startNode(t, "n0", t.TempDir(), true)
	defer tn.stop()
	waitFor(t, "a leader", 10*time.Second, func() bool { return tn.Ready(t.Context()) == nil })
	c, err := NewClient([]string{tn.http}, secret)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	job, err := c.Create(ctx, CreateRequest{Room: "room-reads", RequestID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.Status(ctx)
	if err != nil || st.Leader != "n0" || st.Jobs != 1 || len(st.Members) != 1 {
		t.Errorf("status = %+v, %v; want leader n0, one member, one job", st, err)
	}
	pending, err := c.Jobs(ctx, JobPending)
	if err != nil || len(pending) != 1 || pending[0].ID != job.ID {
		t.Errorf("pending jobs = %+v, %v; want %s", pending, err, job.ID)
	}
	if running, err := c.Jobs(ctx, JobRunning); err != nil || len(running) != 0 {
		t.Errorf("running jobs = %+v, %v; want none (no worker)", running, err)
	}
	if ws, err := c.Workers(ctx); err != nil || len(ws) != 0 {
		t.Errorf("workers = %+v, %v; want none", ws, err)
	}
}
