package dispatcher

import (
	"cmp"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/pprof"
	"slices"
	"time"
)

// Handler serves the node's HTTP API. Every node answers; writes reaching a follower
// are forwarded to the leader. All but /v1/status need "Authorization: Bearer
// <secret>".
//
//	POST   /v1/jobs            {"room", "request_id", "labels"} → the job (201 new, 200 existing)
//	POST   /v1/jobs/batch      {"jobs": [{"room", "request_id", "labels"}, ...]} (1-1000) → {"jobs": [...]}, in order
//	GET    /v1/jobs[?state=S]  jobs, oldest first
//	GET    /v1/jobs/{id}       one job
//	DELETE /v1/jobs/{id}       cancel (the room ended): the session stops
//	GET    /v1/workers         workers
//	GET    /v1/status          leader, term, members, applied index
//	POST   /v1/cluster/join    {"id", "raft_addr"}: add a voter
//	POST   /v1/cluster/remove  {"id"}: remove a voter
//	GET    /v1/workers/connect a worker's WebSocket (see Message)
//	GET    /debug/pprof/...    Go runtime profiles
func (n *Node) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, http.StatusOK, n.Status()) })
	auth := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			got := r.Header.Get("Authorization")
			if n.cfg.Secret == "" || subtle.ConstantTimeCompare([]byte(got), []byte("Bearer "+n.cfg.Secret)) != 1 {
				writeError(w, http.StatusUnauthorized, "missing or wrong bearer secret")
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("POST /v1/jobs", auth(n.createJob))
	mux.HandleFunc("POST /v1/jobs/batch", auth(n.createJobs))
	mux.HandleFunc("GET /v1/jobs", auth(n.listJobs))
	mux.HandleFunc("GET /v1/jobs/{id}", auth(n.getJob))
	mux.HandleFunc("DELETE /v1/jobs/{id}", auth(n.cancelJob))
	mux.HandleFunc("GET /v1/workers", auth(n.listWorkers))
	mux.HandleFunc("POST /v1/cluster/join", auth(n.join))
	mux.HandleFunc("POST /v1/cluster/remove", auth(n.remove))
	mux.HandleFunc("POST /internal/join", auth(n.join))
	mux.HandleFunc("POST /internal/remove", auth(n.remove))
	mux.HandleFunc("POST /internal/apply", auth(n.internalApply))
	mux.HandleFunc("POST /internal/offers", auth(n.receiveOffers))
	mux.HandleFunc("GET /v1/workers/connect", auth(n.serveWorker))
	// Profiles for operators, behind the secret like everything that is not status.
	mux.HandleFunc("GET /debug/pprof/", auth(pprof.Index))
	mux.HandleFunc("GET /debug/pprof/profile", auth(pprof.Profile))
	mux.HandleFunc("GET /debug/pprof/trace", auth(pprof.Trace))
	return mux
}

// validID reports whether s, a room name or a job, request, worker or node id, is
// 1-128 letters, digits or _.:- (checked for every job created, so by hand rather
// than with a regular expression).
func validID(s string) bool { return validChars(s, 128, false) }

// validLabel reports whether s, a label's key or value, is 1-64 letters, digits or
// _.:/-.
func validLabel(s string) bool { return validChars(s, 64, true) }

func validChars(s string, limit int, slash bool) bool {
	if s == "" || len(s) > limit {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '_', c == '.', c == ':', c == '-':
		case c == '/' && slash:
		default:
			return false
		}
	}
	return true
}

// maxBody bounds request bodies.
const maxBody = 1 << 20

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "malformed JSON: "+err.Error())
		return false
	}
	return true
}

// CreateRequest is the body of POST /v1/jobs.
type CreateRequest struct {
	Room      string            `json:"room"`
	RequestID string            `json:"request_id"`
	Labels    map[string]string `json:"labels,omitempty"`
}

// Validate checks a create request.
func (c CreateRequest) Validate() error {
	if !validID(c.Room) {
		return errors.New("room must be 1-128 letters, digits or _.:-")
	}
	if !validID(c.RequestID) {
		return errors.New("request_id must be 1-128 letters, digits or _.:-")
	}
	return checkLabels(c.Labels)
}

func newID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func (n *Node) createJob(w http.ResponseWriter, r *http.Request) {
	var req CreateRequest
	if !decode(w, r, &req) {
		return
	}
	if err := req.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	id := newID()
	res, err := n.Propose(r.Context(), Command{Type: CmdCreate, At: time.Now().UTC(),
		Create: &CreateJob{ID: id, Room: req.Room, RequestID: req.RequestID, Labels: req.Labels}})
	if !n.answer(w, res, err) {
		return
	}
	status := http.StatusOK
	if res.Job.ID == id {
		status = http.StatusCreated
	}
	writeJSON(w, status, res.Job)
}

// BatchCreateRequest is the body of POST /v1/jobs/batch: rooms that start together
// (a scheduled hour) get their jobs in one request and one raft entry.
type BatchCreateRequest struct {
	Jobs []CreateRequest `json:"jobs"`
}

// BatchCreateResponse holds the jobs in the order they were asked for; Created
// counts the new ones (the others existed: the same room and request id, or an open
// job for the room).
type BatchCreateResponse struct {
	Jobs    []*Job `json:"jobs"`
	Created int    `json:"created"`
}

// maxBatchCreate bounds the jobs of one batch request.
const maxBatchCreate = 1000

// Validate checks every job of a batch; the first bad one is named.
func (b BatchCreateRequest) Validate() error {
	if len(b.Jobs) == 0 || len(b.Jobs) > maxBatchCreate {
		return fmt.Errorf("jobs must hold 1 to %d requests", maxBatchCreate)
	}
	for i, c := range b.Jobs {
		if err := c.Validate(); err != nil {
			return fmt.Errorf("jobs[%d]: %w", i, err)
		}
	}
	return nil
}

func (n *Node) createJobs(w http.ResponseWriter, r *http.Request) {
	var req BatchCreateRequest
	if !decode(w, r, &req) {
		return
	}
	if err := req.Validate(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	now := time.Now().UTC()
	cmds := make([]Command, len(req.Jobs))
	for i, c := range req.Jobs {
		cmds[i] = Command{Type: CmdCreate, At: now, Create: &CreateJob{ID: newID(), Room: c.Room, RequestID: c.RequestID, Labels: c.Labels}}
	}
	results, _, err := n.submit(r.Context(), cmds, false)
	if err != nil {
		n.answer(w, Result{}, err)
		return
	}
	resp := BatchCreateResponse{Jobs: make([]*Job, len(results))}
	for i, res := range results {
		if err := res.Error(); err != nil {
			n.answer(w, res, fmt.Errorf("jobs[%d]: %w", i, err))
			return
		}
		resp.Jobs[i] = res.Job
		if res.Job.ID == cmds[i].Create.ID {
			resp.Created++
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

func (n *Node) cancelJob(w http.ResponseWriter, r *http.Request) {
	res, err := n.Propose(r.Context(), Command{Type: CmdCancel, At: time.Now().UTC(),
		Job: &JobRef{Job: r.PathValue("id"), Reason: r.URL.Query().Get("reason")}})
	if n.answer(w, res, err) {
		writeJSON(w, http.StatusOK, res.Job)
	}
}

// answer writes the error of a proposal, if any, and reports whether it succeeded.
func (n *Node) answer(w http.ResponseWriter, res Result, err error) bool {
	if err == nil {
		err = res.Error()
	}
	switch {
	case err == nil:
		return true
	case errors.Is(err, ErrUnknownJob):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, ErrBadCommand):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, ErrFenced):
		writeError(w, http.StatusConflict, err.Error())
	default:
		writeError(w, http.StatusServiceUnavailable, err.Error())
	}
	return false
}

func (n *Node) getJob(w http.ResponseWriter, r *http.Request) {
	n.ReadBarrier(r.Context())
	var j *Job
	n.fsm.Read(func(s *State, _ uint64) {
		if x := s.Jobs[r.PathValue("id")]; x != nil {
			j = x.copy()
		}
	})
	if j == nil {
		writeError(w, http.StatusNotFound, "no job "+r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, j)
}

func (n *Node) listJobs(w http.ResponseWriter, r *http.Request) {
	state := JobState(r.URL.Query().Get("state"))
	n.ReadBarrier(r.Context())
	jobs := []*Job{}
	n.fsm.Read(func(s *State, _ uint64) {
		for _, j := range s.Jobs {
			if state == "" || j.State == state {
				jobs = append(jobs, j.copy())
			}
		}
	})
	slices.SortFunc(jobs, func(a, b *Job) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	writeJSON(w, http.StatusOK, jobs)
}

func (n *Node) listWorkers(w http.ResponseWriter, r *http.Request) {
	n.ReadBarrier(r.Context())
	workers := []Worker{}
	n.fsm.Read(func(s *State, _ uint64) {
		for _, id := range slices.Sorted(maps.Keys(s.Workers)) {
			wk := *s.Workers[id]
			wk.Labels = maps.Clone(wk.Labels)
			workers = append(workers, wk)
		}
	})
	writeJSON(w, http.StatusOK, workers)
}

func (n *Node) join(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID       string `json:"id"`
		RaftAddr string `json:"raft_addr"`
	}
	if !decode(w, r, &req) {
		return
	}
	if !validID(req.ID) || req.RaftAddr == "" {
		writeError(w, http.StatusBadRequest, "join needs an id and a raft_addr")
		return
	}
	if err := n.Join(r.Context(), req.ID, req.RaftAddr); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, n.Status())
}

func (n *Node) remove(w http.ResponseWriter, r *http.Request) {
	var req struct {
		ID string `json:"id"`
	}
	if !decode(w, r, &req) {
		return
	}
	if err := n.Remove(r.Context(), req.ID); err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, n.Status())
}

// internalApply commits a follower's batch on the leader.
func (n *Node) internalApply(w http.ResponseWriter, r *http.Request) {
	// The batch comes as one command in the raft entries' binary form.
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
	if err != nil {
		writeError(w, http.StatusBadRequest, "reading the batch: "+err.Error())
		return
	}
	batch, err := DecodeCommand(data)
	if err == nil && batch.Type != CmdBatch {
		err = errors.New("not a batch")
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	cmds := batch.Batch
	for _, c := range cmds {
		if c.Type == CmdBatch {
			writeError(w, http.StatusBadRequest, "nested batch")
			return
		}
	}
	if len(cmds) == 0 || len(cmds) > maxBatch {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("a batch holds 1 to %d commands", maxBatch))
		return
	}
	results, index, err := n.submit(r.Context(), cmds, true)
	if err != nil {
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	answer := appliedBatch{Results: results, Index: index}
	if r.Header.Get("Accept") != resultsMediaType {
		writeJSON(w, http.StatusOK, answer) // a node of an earlier version
		return
	}
	w.Header().Set("Content-Type", resultsMediaType)
	_, _ = w.Write(encodeResults(answer))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
