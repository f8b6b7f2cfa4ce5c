package dispatcher

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Client calls a dispatcher cluster's API through any of its nodes; callers never
// need to know which one leads.
//
// Creates made at the same time go together: the first is sent at once, and those
// made while clientInflight requests are out wait for the next one, which takes
// them all (up to maxBatchCreate, and half the body a node accepts) as one batch
// request. So a caller that starts a
// job for every room that starts (LiveKit's room_started webhook) costs the cluster
// one request per burst, not one per room, and waits no longer than a request
// already under way.
//
// A request that fails because a node is down, or the cluster is electing a
// leader, is sent again to the next node with the same request ids: creation is
// idempotent, so a retry never makes a second job.
type Client struct {
	nodes  []string
	secret string
	http   *http.Client

	mu       sync.Mutex
	queue    []*pendingCreate
	inflight int
	next     int // the node the next request tries first
	// down holds, by node, until when it is skipped after it could not be reached.
	down []time.Time

	creates, createRequests atomic.Int64
}

// CreateCounts says how many creates the client was asked for and in how many
// requests (first tries; retries not counted) it sent them.
func (c *Client) CreateCounts() (creates, requests int64) {
	return c.creates.Load(), c.createRequests.Load()
}

// clientInflight bounds the create requests a Client has out at once.
const clientInflight = 4

// clientDownFor is how long a node that could not be reached is skipped.
const clientDownFor = time.Second

// clientRetryFor is how long a create is retried across nodes when its caller's
// context has no deadline.
const clientRetryFor = 30 * time.Second

type pendingCreate struct {
	req  CreateRequest
	ctx  context.Context
	done chan createAnswer
}

type createAnswer struct {
	job *Job
	err error
}

// NewClient returns a client of the cluster whose nodes' API addresses (host:port)
// are given, authenticated with the cluster's secret.
func NewClient(nodes []string, secret string) (*Client, error) {
	if len(nodes) == 0 || secret == "" {
		return nil, errors.New("dispatcher client: at least one node address and the secret are required")
	}
	return &Client{nodes: append([]string(nil), nodes...), down: make([]time.Time, len(nodes)), secret: secret, http: &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 2 * clientInflight, IdleConnTimeout: time.Minute}}}, nil
}

// APIError is a node's refusal of a request.
type APIError struct {
	Status  int
	Message string
}

func (e *APIError) Error() string {
	return fmt.Sprintf("dispatcher: %d %s: %s", e.Status, http.StatusText(e.Status), e.Message)
}

// Create asks for an assistant in req.Room and returns its job: a new one, or the
// one the same room and request id (or an open job for the room) already has. A
// request that fails validation is refused here and never sent.
func (c *Client) Create(ctx context.Context, req CreateRequest) (*Job, error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("dispatcher client: %w", err)
	}
	p := &pendingCreate{req: req, ctx: ctx, done: make(chan createAnswer, 1)}
	c.mu.Lock()
	c.queue = append(c.queue, p)
	if c.inflight < clientInflight {
		c.inflight++
		go c.sendCreates()
	}
	c.mu.Unlock()
	select {
	case a := <-p.done:
		return a.job, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// sendCreates sends what waits in the queue, a batch at a time, until it is empty.
// It is started by Create and ends by itself.
func (c *Client) sendCreates() {
	for {
		c.mu.Lock()
		// Creates whose callers gave up are dropped before they are sent.
		live := c.queue[:0]
		for _, p := range c.queue {
			if p.ctx.Err() == nil {
				live = append(live, p)
			}
		}
		clear(c.queue[len(live):])
		c.queue = live
		if len(c.queue) == 0 {
			c.queue = nil
			c.inflight--
			c.mu.Unlock()
			return
		}
		n, size := 0, 0
		for n < len(c.queue) && n < maxBatchCreate && (n == 0 || size+c.queue[n].size() <= maxBody/2) {
			size += c.queue[n].size()
			n++
		}
		batch := c.queue[:n:n]
		c.queue = c.queue[n:]
		c.mu.Unlock()
		c.createBatch(batch)
	}
}

// size bounds the bytes a create adds to a batch request's body.
func (p *pendingCreate) size() int {
	n := len(p.req.Room) + len(p.req.RequestID) + 64
	for k, v := range p.req.Labels {
		n += len(k) + len(v) + 8
	}
	return n
}

// createBatch sends one batch and answers each of its creates.
func (c *Client) createBatch(batch []*pendingCreate) {
	ctx, cancel := batchContext(batch)
	defer cancel()
	c.creates.Add(int64(len(batch)))
	c.createRequests.Add(1)
	if len(batch) == 1 {
		var job Job
		err := c.do(ctx, http.MethodPost, "/v1/jobs", batch[0].req, &job)
		if err != nil {
			batch[0].done <- createAnswer{err: err}
			return
		}
		batch[0].done <- createAnswer{job: &job}
		return
	}
	body := BatchCreateRequest{Jobs: make([]CreateRequest, len(batch))}
	for i, p := range batch {
		body.Jobs[i] = p.req
	}
	var resp BatchCreateResponse
	err := c.do(ctx, http.MethodPost, "/v1/jobs/batch", body, &resp)
	switch {
	case err == nil && len(resp.Jobs) != len(batch):
		err = fmt.Errorf("dispatcher client: %d jobs answered for %d creates", len(resp.Jobs), len(batch))
		fallthrough
	case err != nil:
		for _, p := range batch {
			p.done <- createAnswer{err: err}
		}
	default:
		for i, p := range batch {
			p.done <- createAnswer{job: resp.Jobs[i]}
		}
	}
}

// batchContext lasts as long as the latest deadline among the batch's callers
// (clientRetryFor when one has none).
func batchContext(batch []*pendingCreate) (context.Context, context.CancelFunc) {
	until := time.Time{}
	for _, p := range batch {
		d, ok := p.ctx.Deadline()
		if !ok {
			d = time.Now().Add(clientRetryFor)
		}
		if d.After(until) {
			until = d
		}
	}
	return context.WithDeadline(context.Background(), until)
}

// Cancel ends a job (its room ended): its session stops.
func (c *Client) Cancel(ctx context.Context, id, reason string) (*Job, error) {
	var job Job
	path := "/v1/jobs/" + url.PathEscape(id)
	if reason != "" {
		path += "?reason=" + url.QueryEscape(reason)
	}
	if err := c.do(ctx, http.MethodDelete, path, nil, &job); err != nil {
		return nil, err
	}
	return &job, nil
}

// Job returns a job.
func (c *Client) Job(ctx context.Context, id string) (*Job, error) {
	var job Job
	if err := c.do(ctx, http.MethodGet, "/v1/jobs/"+url.PathEscape(id), nil, &job); err != nil {
		return nil, err
	}
	return &job, nil
}

// Jobs lists the jobs in state (every job when state is empty).
func (c *Client) Jobs(ctx context.Context, state JobState) ([]Job, error) {
	var jobs []Job
	path := "/v1/jobs"
	if state != "" {
		path += "?state=" + url.QueryEscape(string(state))
	}
	err := c.do(ctx, http.MethodGet, path, nil, &jobs)
	return jobs, err
}

// Workers lists the workers the cluster knows.
func (c *Client) Workers(ctx context.Context) ([]Worker, error) {
	var ws []Worker
	err := c.do(ctx, http.MethodGet, "/v1/workers", nil, &ws)
	return ws, err
}

// Status is the cluster's status as the node answering sees it.
func (c *Client) Status(ctx context.Context) (Status, error) {
	var st Status
	err := c.do(ctx, http.MethodGet, "/v1/status", nil, &st)
	return st, err
}

// do sends a request to a node, and to the next one while the answer is that the
// node cannot serve now (unreachable, no leader, shutting down), until ctx ends. A
// refusal (4xx) is returned as an *APIError at once.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var data []byte
	if body != nil {
		var err error
		if data, err = json.Marshal(body); err != nil {
			return err
		}
	}
	// Requests take the nodes in turn, spreading the load as a balancer would.
	c.mu.Lock()
	start := c.next
	c.next = (c.next + 1) % len(c.nodes)
	c.mu.Unlock()
	var last error
	node := c.pick(start)
	for attempt := 0; ; attempt++ {
		status, err := c.once(ctx, c.nodes[node], method, path, data, out)
		if err == nil {
			c.mu.Lock()
			c.down[node] = time.Time{}
			c.mu.Unlock()
			return nil
		}
		var refused *APIError
		if errors.As(err, &refused) && status < 500 {
			return err
		}
		if status == 0 && ctx.Err() == nil {
			c.mu.Lock()
			c.down[node] = time.Now().Add(clientDownFor)
			c.mu.Unlock()
		}
		last = err
		if attempt%len(c.nodes) == len(c.nodes)-1 {
			// Every node failed: wait a little (an election takes about a second).
			select {
			case <-ctx.Done():
				return errors.Join(ctx.Err(), last)
			case <-time.After(50 * time.Millisecond):
			}
		} else if ctx.Err() != nil {
			return errors.Join(ctx.Err(), last)
		}
		node = c.pick(node + 1)
	}
}

// pick returns the first node from start on that is not being skipped (it could
// not be reached lately), or start's when every node is. A node whose skipping has
// run out is tried by one request, skipped by the others until that one answers.
func (c *Client) pick(start int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	for k := range c.nodes {
		node := (start + k) % len(c.nodes)
		if until := c.down[node]; now.After(until) {
			if !until.IsZero() {
				c.down[node] = now.Add(clientDownFor)
			}
			return node
		}
	}
	return start % len(c.nodes)
}

func (c *Client) once(ctx context.Context, node, method, path string, data []byte, out any) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://"+node+path, bytes.NewReader(data))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+c.secret)
	if data != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer drainClose(resp.Body)
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(msg, &e) != nil || e.Error == "" {
			e.Error = strings.TrimSpace(string(msg))
		}
		return resp.StatusCode, &APIError{Status: resp.StatusCode, Message: e.Error}
	}
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("dispatcher client: reading the answer: %w", err)
		}
	}
	return resp.StatusCode, nil
}
