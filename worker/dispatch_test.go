package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/attendant/attendant/dispatcher"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/worker"
)

const dispatchSecret = "dispatch-test-secret"

// fakeRooms is a RoomRunner that records the rooms it runs; a room runs until its
// context ends or the test ends it.
type fakeRooms struct {
	mu      sync.Mutex
	running map[string]chan error
	started chan string
	stopped chan string
}

func newFakeRooms() *fakeRooms {
	return &fakeRooms{running: map[string]chan error{}, started: make(chan string, 16), stopped: make(chan string, 16)}
}

func (f *fakeRooms) RunRoom(ctx context.Context, room string) error {
	end := make(chan error, 1)
	f.mu.Lock()
	f.running[room] = end
	f.mu.Unlock()
	f.started <- room
	select {
	case <-ctx.Done():
		f.stopped <- room
		return nil
	case err := <-end:
		return err
	}
}

func (f *fakeRooms) end(room string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.running[room] <- err
}

func waitRoom(t *testing.T, ch <-chan string, want string) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf("room %q; want %q", got, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for room %q", want)
	}
}

func startDispatcher(t *testing.T) (*dispatcher.Node, string) {
	t.Helper()
	n, addr, _ := startDispatcherServer(t)
	return n, addr
}

// startDispatcherServer also returns the HTTP server, to cut workers off.
func startDispatcherServer(t *testing.T) (*dispatcher.Node, string, *http.Server) {
	return startDispatcherLease(t, time.Second)
}

func startDispatcherLease(t *testing.T, lease time.Duration) (*dispatcher.Node, string, *http.Server) {
	t.Helper()
	n := &testNode{t: t, id: "n0", raft: "127.0.0.1:0", addr: "127.0.0.1:0", dir: t.TempDir(), lease: lease}
	n.start(true)
	t.Cleanup(n.stop)
	waitReady(t, n)
	return n.node, n.addr, n.srv
}

func api(t *testing.T, method, addr, path string, body, out any) int {
	t.Helper()
	data, _ := json.Marshal(body)
	req, _ := http.NewRequest(method, "http://"+addr+path, bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+dispatchSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if out != nil {
		_ = json.NewDecoder(resp.Body).Decode(out)
	}
	return resp.StatusCode
}

func jobOf(t *testing.T, addr, id string) dispatcher.Job {
	var j dispatcher.Job
	api(t, "GET", addr, "/v1/jobs/"+id, nil, &j)
	return j
}

// A dispatched worker runs a session per job, leaves a cancelled room, reports a
// session that ended by itself, and on drain refuses new jobs and returns once its
// sessions are over.
func TestDispatchedWorker(t *testing.T) {
	_, addr := startDispatcher(t)
	rooms := newFakeRooms()
	d, err := worker.NewDispatched(worker.DispatchConfig{Nodes: []string{addr}, Secret: dispatchSecret, ID: "w1", Capacity: 2,
		Heartbeat: 200 * time.Millisecond}, rooms, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := d.Ready(ctx); err == nil {
		t.Error("ready before connecting to the dispatcher")
	}
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for d.Ready(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("not ready: %v", d.Ready(ctx))
		}
		time.Sleep(20 * time.Millisecond)
	}

	var a, b dispatcher.Job
	api(t, "POST", addr, "/v1/jobs", dispatcher.CreateRequest{Room: "room-a", RequestID: "1"}, &a)
	waitRoom(t, rooms.started, "room-a")
	api(t, "POST", addr, "/v1/jobs", dispatcher.CreateRequest{Room: "room-b", RequestID: "1"}, &b)
	waitRoom(t, rooms.started, "room-b")
	deadline = time.Now().Add(5 * time.Second)
	for jobOf(t, addr, a.ID).State != dispatcher.JobRunning || jobOf(t, addr, b.ID).State != dispatcher.JobRunning {
		if time.Now().After(deadline) {
			t.Fatalf("jobs %+v %+v; want both running", jobOf(t, addr, a.ID), jobOf(t, addr, b.ID))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Cancelled: the session stops.
	api(t, "DELETE", addr, "/v1/jobs/"+a.ID+"?reason=room+ended", nil, nil)
	waitRoom(t, rooms.stopped, "room-a")
	// Ended by itself with an error: the job fails with the reason.
	rooms.end("room-b", errors.New("livekit unreachable"))
	deadline = time.Now().Add(5 * time.Second)
	for j := jobOf(t, addr, b.ID); j.State != dispatcher.JobFailed || j.Reason != "livekit unreachable"; j = jobOf(t, addr, b.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("job b %+v; want failed with the session's error", j)
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Draining: a new job is not taken here, and Run returns with no sessions left.
	var c dispatcher.Job
	api(t, "POST", addr, "/v1/jobs", dispatcher.CreateRequest{Room: "room-c", RequestID: "1"}, &c)
	waitRoom(t, rooms.started, "room-c")
	d.Drain()
	var workers []dispatcher.Worker
	deadline = time.Now().Add(5 * time.Second)
	for api(t, "GET", addr, "/v1/workers", nil, &workers); len(workers) != 1 || workers[0].Status != dispatcher.WorkerDraining; api(t, "GET", addr, "/v1/workers", nil, &workers) {
		if time.Now().After(deadline) {
			t.Fatalf("workers %+v; want w1 draining", workers)
		}
		time.Sleep(20 * time.Millisecond)
	}
	var e dispatcher.Job
	api(t, "POST", addr, "/v1/jobs", dispatcher.CreateRequest{Room: "room-e", RequestID: "1"}, &e)
	time.Sleep(300 * time.Millisecond)
	if j := jobOf(t, addr, e.ID); j.State != dispatcher.JobPending {
		t.Errorf("a job created while the only worker drains is %s; want pending", j.State)
	}
	select {
	case err := <-ran:
		t.Fatalf("Run returned %v with a session still running", err)
	default:
	}
	rooms.end("room-c", nil)
	select {
	case err := <-ran:
		if err != nil {
			t.Errorf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a drained worker did not return")
	}
	// The end was sent before the worker hung up; the node commits it.
	deadline = time.Now().Add(5 * time.Second)
	for j := jobOf(t, addr, c.ID); j.State != dispatcher.JobCompleted; j = jobOf(t, addr, c.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("room-c's job %+v; want completed", j)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// runDispatched runs a worker with cfg, its sessions recorded in the fakeRooms it
// returns, until stop (which waits for it to return).
func runDispatched(t *testing.T, cfg worker.DispatchConfig) (rooms *fakeRooms, stop func()) {
	t.Helper()
	rooms = newFakeRooms()
	d, err := worker.NewDispatched(cfg, rooms, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()
	return rooms, func() { cancel(); <-ran }
}

// A worker cut off from the dispatcher stops its sessions itself before its lease can
// run out: the dispatcher will give the rooms to others, and a room must not have two
// assistants.
func TestDispatchedWorkerFencesItself(t *testing.T) {
	node, addr, srv := startDispatcherServer(t)
	const lease = 1500 * time.Millisecond
	rooms, stop := runDispatched(t, worker.DispatchConfig{Nodes: []string{addr}, Secret: dispatchSecret, ID: "w1", Capacity: 2,
		Heartbeat: 200 * time.Millisecond, Lease: lease, ReconnectMax: 200 * time.Millisecond})
	defer stop()
	var a dispatcher.Job
	api(t, "POST", addr, "/v1/jobs", dispatcher.CreateRequest{Room: "room-a", RequestID: "1"}, &a)
	waitRoom(t, rooms.started, "room-a")
	cut := time.Now()
	// The dispatcher goes away (its connections stay open, but nothing is committed):
	// heartbeats stop being renewed.
	srv.Close()
	node.Close()
	waitRoom(t, rooms.stopped, "room-a")
	if took := time.Since(cut); took >= lease {
		t.Errorf("the session stopped %s after the cut; want before the %s lease ran out", took, lease)
	}
}

// testNode is a dispatcher node that can be stopped and started again with the same
// addresses and data.
type testNode struct {
	t                   *testing.T
	id, raft, addr, dir string
	lease               time.Duration
	node                *dispatcher.Node
	srv                 *http.Server
}

func (n *testNode) start(bootstrap bool) {
	n.t.Helper()
	ln, err := net.Listen("tcp", n.addr)
	if err != nil {
		n.t.Fatal(err)
	}
	n.addr = ln.Addr().String() // the port chosen, when n.addr asked for any
	n.node, err = dispatcher.OpenNode(dispatcher.NodeConfig{ID: n.id, RaftAddr: n.raft, HTTPAddr: n.addr, DataDir: n.dir,
		Bootstrap: bootstrap, Secret: dispatchSecret, Lease: n.lease, OfferTimeout: time.Second})
	if err != nil {
		n.t.Fatal(err)
	}
	n.srv = &http.Server{Handler: n.node.Handler()}
	go n.srv.Serve(ln) //nolint:errcheck // ends with Close
}

func (n *testNode) stop() {
	if n.node != nil {
		n.srv.Close()
		n.node.Close()
		n.node = nil
	}
}

func waitReady(t *testing.T, nodes ...*testNode) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for _, n := range nodes {
		for n.node.Ready(context.Background()) != nil {
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready", n.id)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// The dispatcher loses its leader for longer than a worker's fencing window, while
// the worker's own node stays up and connected (a slow election: a new leader
// waits a lease before it declares anyone lost, and the worker's heartbeats are
// renewed again). The worker stops its session, as it must, and registers again
// without it, so the room goes back to pending and gets its assistant again,
// rather than staying "running" with nobody in it.
func TestFencedWorkerGetsItsRoomBack(t *testing.T) {
	const lease = 1500 * time.Millisecond
	var nodes []*testNode
	for i := range 3 {
		n := &testNode{t: t, id: fmt.Sprint("n", i), raft: testenv.FreeAddr(t), addr: testenv.FreeAddr(t), dir: t.TempDir(), lease: lease}
		nodes = append(nodes, n)
		defer n.stop()
	}
	nodes[0].start(true)
	waitReady(t, nodes[0])
	for _, n := range nodes[1:] {
		n.start(false)
		if err := nodes[0].node.Join(context.Background(), n.id, n.raft); err != nil {
			t.Fatal(err)
		}
	}
	waitReady(t, nodes...)

	rooms, stop := runDispatched(t, worker.DispatchConfig{Nodes: []string{nodes[1].addr}, Secret: dispatchSecret, ID: "w1", Capacity: 2,
		Heartbeat: 200 * time.Millisecond, Lease: lease, ReconnectMax: 200 * time.Millisecond})
	defer stop()
	var a dispatcher.Job
	api(t, "POST", nodes[1].addr, "/v1/jobs", dispatcher.CreateRequest{Room: "room-a", RequestID: "1"}, &a)
	waitRoom(t, rooms.started, "room-a")
	var first dispatcher.Job
	api(t, "GET", nodes[1].addr, "/v1/jobs/"+a.ID, nil, &first)

	// n0 (the leader) and n2 go: n1, the worker's node, has no quorum.
	nodes[0].stop()
	nodes[2].stop()
	waitRoom(t, rooms.stopped, "room-a")
	nodes[2].start(false)
	waitReady(t, nodes[1], nodes[2])
	waitRoom(t, rooms.started, "room-a")
	var j dispatcher.Job
	deadline := time.Now().Add(10 * time.Second)
	for api(t, "GET", nodes[1].addr, "/v1/jobs/"+a.ID, nil, &j); j.State != dispatcher.JobRunning || j.Epoch <= first.Epoch; api(t, "GET", nodes[1].addr, "/v1/jobs/"+a.ID, nil, &j) {
		if time.Now().After(deadline) {
			t.Fatalf("job %+v; want running again at an epoch after %d", j, first.Epoch)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if j.Worker != "w1" {
		t.Errorf("the room went to %q; want w1 again (the only worker)", j.Worker)
	}
}

// proxy forwards TCP connections to a target; cut closes them all and refuses new
// ones until restore.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	down   bool
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.mu.Lock()
			down := p.down
			p.mu.Unlock()
			if down {
				c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) addr() string { return p.ln.Addr().String() }

func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() {
	p.mu.Lock()
	p.down = false
	p.mu.Unlock()
}

// A session that ends while the worker is cut off from the dispatcher is reported
// when it registers again: the job completes, and the room is not given an
// assistant again.
func TestFinishSurvivesACutConnection(t *testing.T) {
	_, addr, _ := startDispatcherLease(t, 3*time.Second)
	px := startProxy(t, addr)
	rooms, stop := runDispatched(t, worker.DispatchConfig{Nodes: []string{px.addr()}, Secret: dispatchSecret, ID: "w1", Capacity: 2,
		Heartbeat: 200 * time.Millisecond, Lease: 3 * time.Second, ReconnectMax: 100 * time.Millisecond})
	defer stop()
	var f dispatcher.Job
	api(t, "POST", addr, "/v1/jobs", dispatcher.CreateRequest{Room: "room-f", RequestID: "1"}, &f)
	waitRoom(t, rooms.started, "room-f")
	deadline := time.Now().Add(5 * time.Second)
	for jobOf(t, addr, f.ID).State != dispatcher.JobRunning {
		if time.Now().After(deadline) {
			t.Fatalf("job %+v; want running", jobOf(t, addr, f.ID))
		}
		time.Sleep(20 * time.Millisecond)
	}
	// Cut off, the session ends: its finish cannot reach the dispatcher.
	px.cut()
	rooms.end("room-f", nil)
	time.Sleep(300 * time.Millisecond)
	if j := jobOf(t, addr, f.ID); j.State != dispatcher.JobRunning {
		t.Fatalf("job %+v while its worker is cut off; want still running", j)
	}
	px.restore()
	deadline = time.Now().Add(5 * time.Second)
	for j := jobOf(t, addr, f.ID); j.State != dispatcher.JobCompleted; j = jobOf(t, addr, f.ID) {
		if time.Now().After(deadline) {
			t.Fatalf("job %+v after the worker came back; want completed", j)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if j := jobOf(t, addr, f.ID); j.Attempts != 1 {
		t.Errorf("job offered %d times; want once", j.Attempts)
	}
	select {
	case room := <-rooms.started:
		t.Errorf("room %s started again after its session ended", room)
	case <-time.After(500 * time.Millisecond):
	}
}
