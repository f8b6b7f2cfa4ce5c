// Package dispatcher gives every room that asks for an assistant exactly one: a raft
// cluster (hashicorp/raft, raft-boltdb) holds the jobs and the workers, the leader
// places pending jobs on the least-loaded matching workers, and every assignment
// carries a fencing epoch (the raft index that made it) so a worker holding an older
// one for the same room knows to leave.
//
// The state machine is deterministic: IDs, times and choices are decided before a
// command is proposed, and Apply reads nothing but the command and the log index.
package dispatcher

import (
	"maps"
	"slices"
	"time"
)

// JobState is where a job is in its life.
type JobState string

// A job goes pending → offered → running → completed or failed; an offer refused or
// timed out, or a worker lost, sends it back to pending.
const (
	JobPending   JobState = "pending"
	JobOffered   JobState = "offered"
	JobRunning   JobState = "running"
	JobCompleted JobState = "completed"
	JobFailed    JobState = "failed"
)

// Ended reports whether the job is over.
func (s JobState) Ended() bool { return s == JobCompleted || s == JobFailed }

// Job is one room's assistant.
type Job struct {
	ID        string            `json:"id"`
	Room      string            `json:"room"`
	RequestID string            `json:"request_id"`
	Labels    map[string]string `json:"labels,omitempty"`
	State     JobState          `json:"state"`
	// Reason says why the job is in its state (why it failed, was sent back, ended).
	Reason string `json:"reason,omitempty"`
	// Worker holds the job (offered or running); Epoch is the raft index of its
	// assignment, the fencing token the worker must present.
	Worker string `json:"worker,omitempty"`
	Epoch  uint64 `json:"epoch,omitempty"`
	// OfferExpires is when an unanswered offer goes back to pending.
	OfferExpires time.Time `json:"offer_expires,omitzero"`
	// Avoid lists the workers that refused, timed out on or lost the job, the
	// latest last; placement avoids that latest one (see avoids).
	Avoid []string `json:"avoid,omitempty"`
	// Attempts counts the offers made.
	Attempts  int       `json:"attempts"`
	CreatedAt time.Time `json:"created_at"`
	// OfferedAt is when the last offer was made; StartedAt when the job last started
	// running (its worker's accept).
	OfferedAt time.Time `json:"offered_at,omitzero"`
	StartedAt time.Time `json:"started_at,omitzero"`
	UpdatedAt time.Time `json:"updated_at"`

	// filed is the state and heldBy the worker the job is filed under in the
	// State's indexes (pending, offered, held), kept by State.track; neither is part
	// of the job's record.
	filed  JobState
	heldBy string
}

// WorkerStatus is what a worker says of itself, or lost when its lease ran out.
type WorkerStatus string

// Worker statuses.
const (
	WorkerAvailable WorkerStatus = "available"
	WorkerFull      WorkerStatus = "full"
	WorkerDraining  WorkerStatus = "draining"
	WorkerLost      WorkerStatus = "lost"
)

// Worker is a worker process as the cluster knows it.
type Worker struct {
	ID       string            `json:"id"`
	Capacity int               `json:"capacity"`
	Labels   map[string]string `json:"labels,omitempty"`
	Version  string            `json:"version,omitempty"`
	Status   WorkerStatus      `json:"status"`
	// Node is the dispatcher node the worker is connected to.
	Node string `json:"node"`
	// Active is the sessions the worker last reported; CPU its last CPU use (0..1).
	Active int     `json:"active"`
	CPU    float64 `json:"cpu"`
	// LastSeen is the proposer's time of the worker's last heartbeat.
	LastSeen time.Time `json:"last_seen"`
}

// Peer is a dispatcher node as the state records it: its raft id and address and
// where it serves HTTP.
type Peer struct {
	ID       string `json:"id"`
	RaftAddr string `json:"raft_addr"`
	HTTPAddr string `json:"http_addr"`
}

// State is everything the cluster agrees on.
type State struct {
	Jobs    map[string]*Job    `json:"jobs"`
	Workers map[string]*Worker `json:"workers"`
	Nodes   map[string]Peer    `json:"nodes"`
	// byRoom maps a room to its job that has not ended; byRequest (room, request id)
	// to the job that request made; pending, offered and ended are the jobs in those
	// states;
	// held maps a worker to the jobs offered to it or running on it. All are rebuilt
	// from Jobs and kept by track.
	byRoom    map[string]string
	byRequest map[[2]string]string
	pending   map[string]*Job
	offered   map[string]*Job
	ended     map[string]*Job
	held      map[string]map[string]*Job
	// touched, when set, is told of every job that changed with the workers that
	// held it before and after (either may be empty): the FSM passes it on to the
	// watchers of those workers. It changes nothing in the state.
	touched func(job string, workers ...string)
	// started, when set, is told how long a job that starts running took from its
	// creation. It changes nothing in the state.
	started func(time.Duration)
}

func newState() *State {
	s := &State{Jobs: map[string]*Job{}, Workers: map[string]*Worker{}, Nodes: map[string]Peer{}}
	s.reindex()
	return s
}

// reindex rebuilds the lookup maps from Jobs (after a restore).
func (s *State) reindex() {
	s.byRoom, s.byRequest = map[string]string{}, map[[2]string]string{}
	s.pending, s.offered, s.ended, s.held = map[string]*Job{}, map[string]*Job{}, map[string]*Job{}, map[string]map[string]*Job{}
	for _, id := range slices.Sorted(maps.Keys(s.Jobs)) {
		j := s.Jobs[id]
		s.byRequest[[2]string{j.Room, j.RequestID}] = id
		if !j.State.Ended() {
			s.byRoom[j.Room] = id
		}
		j.filed, j.heldBy = "", ""
		s.track(j)
	}
}

// track files a job that changed state in the state-and-worker indexes, touching
// only the indexes whose answer changed.
func (s *State) track(j *Job) {
	holder := ""
	if j.State == JobOffered || j.State == JobRunning {
		holder = j.Worker
	}
	// An accepted offer changes nothing its worker's connection must tell it.
	if s.touched != nil && !(holder == j.heldBy && j.filed == JobOffered && j.State == JobRunning) {
		s.touched(j.ID, j.heldBy, j.Worker)
	}
	if j.filed != j.State {
		switch j.filed {
		case JobPending:
			delete(s.pending, j.ID)
		case JobOffered:
			delete(s.offered, j.ID)
		case JobCompleted, JobFailed:
			delete(s.ended, j.ID)
		}
		switch j.State {
		case JobPending:
			s.pending[j.ID] = j
		case JobOffered:
			s.offered[j.ID] = j
		case JobCompleted, JobFailed:
			s.ended[j.ID] = j
		}
		j.filed = j.State
	}
	if j.heldBy != holder {
		if w := j.heldBy; w != "" {
			delete(s.held[w], j.ID)
			if len(s.held[w]) == 0 {
				delete(s.held, w)
			}
		}
		if holder != "" {
			if s.held[holder] == nil {
				s.held[holder] = map[string]*Job{}
			}
			s.held[holder][j.ID] = j
		}
		j.heldBy = holder
	}
}

// load is how many jobs a worker holds (offered or running): what it reported may lag.
func (s *State) load(worker string) int { return len(s.held[worker]) }

// Held returns the jobs offered to worker or running on it (read under FSM.Read).
func (s *State) Held(worker string) map[string]*Job { return s.held[worker] }

// copy returns a copy of the job that later changes to the state do not touch:
// a job's Labels are never changed in place and Avoid only ever gets a new array.
func (j *Job) copy() *Job {
	c := *j
	return &c
}

// avoids reports whether placement keeps the job away from a worker: the one that
// failed it last. Earlier failures do not count, or a job failed once by every
// worker of a small pool would never be placed again.
func (j *Job) avoids(worker string) bool {
	return len(j.Avoid) > 0 && j.Avoid[len(j.Avoid)-1] == worker
}

// matches reports whether a worker's labels satisfy every label a job asks for.
func matches(job, worker map[string]string) bool {
	for k, v := range job {
		if worker[k] != v {
			return false
		}
	}
	return true
}
