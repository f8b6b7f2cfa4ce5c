package dispatcher

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"slices"
	"time"

	"github.com/gorilla/websocket"
)

// Messages between a worker and the dispatcher node it is connected to, JSON objects
// told apart by "type", one per WebSocket text message, or several as a JSON array
// in one message: a node sends arrays to a worker that registered with
// "batches":true, and a worker may send arrays once "registered" says
// "batches":true. Arrays hold at most 256 messages.
//
// Worker → node:
//
//	{"type":"register","worker":{"id","capacity","labels","version","status","batches"},"sessions":[{"job","epoch"}],
//	 "finished":[{"job","epoch","failed","reason"}]}   sessions that ended while no finish was acknowledged
//	{"type":"heartbeat","seq":N,"active":N,"cpu":0.3,"status":"available|full|draining",
//	 "settled":true,"running":N,"digest":D}   settled: every session confirmed, none ending (see SessionDigest)
//	{"type":"accept","job":ID,"epoch":E}
//	{"type":"refuse","job":ID,"epoch":E,"reason":"..."}
//	{"type":"finish","job":ID,"epoch":E,"failed":false,"reason":"..."}
//
// Node → worker:
//
//	{"type":"registered","leave":[{"job","epoch"}],"batches":true,"digests":true}   sessions to leave at once;
//	                                                     digests: the node checks settled heartbeats' digests
//	{"type":"offer","job":ID,"room":R,"epoch":E,"labels":{...}}
//	{"type":"confirm","job":ID,"epoch":E}              the accept is committed: join the room now
//	{"type":"finished","job":ID,"epoch":E}             the finish is committed (or was moot): forget it
//	{"type":"renewed","seq":N}                           heartbeat N is committed: the lease runs from when it was sent
//	{"type":"leave","job":ID,"epoch":E,"reason":"..."} the job ended or moved: stop its session
//	{"type":"error","error":"..."}
type Message struct {
	Type     string            `json:"type"`
	Worker   *WorkerInfo       `json:"worker,omitempty"`
	Sessions []JobRef          `json:"sessions,omitempty"`
	Finished []JobRef          `json:"finished,omitempty"`
	Active   int               `json:"active,omitempty"`
	CPU      float64           `json:"cpu,omitempty"`
	Status   WorkerStatus      `json:"status,omitempty"`
	Job      string            `json:"job,omitempty"`
	Room     string            `json:"room,omitempty"`
	Epoch    uint64            `json:"epoch,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Failed   bool              `json:"failed,omitempty"`
	Reason   string            `json:"reason,omitempty"`
	Leave    []JobRef          `json:"leave,omitempty"`
	Error    string            `json:"error,omitempty"`
	Seq      uint64            `json:"seq,omitempty"`
	// Batches, in "registered", says the node reads arrays of messages.
	Batches bool `json:"batches,omitempty"`
	// Digests, in "registered", says the node compares the sessions of settled
	// heartbeats with its records.
	Digests bool `json:"digests,omitempty"`
	// Settled, in a heartbeat, says every session the worker holds is confirmed and
	// none is ending or has an end unacknowledged; Running and Digest then sum them
	// up (SessionDigest).
	Settled bool   `json:"settled,omitempty"`
	Running int    `json:"running,omitempty"`
	Digest  uint64 `json:"digest,omitempty"`
}

// SessionDigest sums up a set of sessions (job and epoch) so that a worker and the
// dispatcher can tell cheaply whether they agree on what the worker runs: the count,
// and the XOR of a 64-bit FNV-1a hash of each, which does not depend on order.
type SessionDigest struct {
	N int
	X uint64
}

// Add counts one session.
func (d *SessionDigest) Add(job string, epoch uint64) {
	h := fnv.New64a()
	h.Write([]byte(job))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], epoch)
	h.Write(b[:])
	d.N++
	d.X ^= h.Sum64()
}

// Reasons a worker gives for refusing an offer that the dispatcher acts on: the
// worker takes nothing more until its heartbeat says it has room again.
const (
	RefuseFull     = "full"
	RefuseDraining = "draining"
)

// WorkerInfo is what a worker says of itself when it registers.
type WorkerInfo struct {
	ID       string            `json:"id"`
	Capacity int               `json:"capacity"`
	Labels   map[string]string `json:"labels,omitempty"`
	Version  string            `json:"version,omitempty"`
	Status   WorkerStatus      `json:"status,omitempty"`
	// Batches says the worker reads arrays of messages.
	Batches bool `json:"batches,omitempty"`
}

// Message types.
const (
	MsgRegister   = "register"
	MsgHeartbeat  = "heartbeat"
	MsgAccept     = "accept"
	MsgRefuse     = "refuse"
	MsgFinish     = "finish"
	MsgRegistered = "registered"
	MsgOffer      = "offer"
	MsgLeave      = "leave"
	MsgConfirm    = "confirm"
	MsgFinished   = "finished"
	MsgRenewed    = "renewed"
	MsgError      = "error"
)

// Limits on what a worker may send.
const (
	maxMessage  = 64 << 10
	maxFrame    = 256
	maxSessions = 10000
	maxReason   = 500
	maxCapacity = 10000
)

// ErrBadMessage wraps every reason a message is refused.
var ErrBadMessage = errors.New("bad message")

// isArray reports whether a WebSocket message holds an array of messages.
func isArray(data []byte) bool {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '['
}

// WriteMessages writes msgs on ws, each with a 5 s deadline: one to a WebSocket
// message, or, when the other side reads arrays (batches), up to 256 to one.
func WriteMessages(ws *websocket.Conn, msgs []Message, batches bool) error {
	for len(msgs) > 0 {
		n := 1
		if batches {
			n = min(len(msgs), maxFrame)
		}
		var data []byte
		var err error
		if n == 1 {
			data, err = json.Marshal(msgs[0])
		} else {
			data, err = json.Marshal(msgs[:n])
		}
		msgs = msgs[n:]
		if err != nil {
			return err
		}
		_ = ws.SetWriteDeadline(time.Now().Add(5 * time.Second))
		if err := ws.WriteMessage(websocket.TextMessage, data); err != nil {
			return err
		}
	}
	return nil
}

// DecodeNodeMessages parses what one WebSocket message from a node holds: one
// message, or an array of them.
func DecodeNodeMessages(data []byte) ([]Message, error) {
	var msgs []Message
	var err error
	if isArray(data) {
		err = json.Unmarshal(data, &msgs)
	} else {
		msgs = make([]Message, 1)
		err = json.Unmarshal(data, &msgs[0])
	}
	if err == nil && len(msgs) == 0 {
		err = errors.New("an empty array of messages")
	}
	return msgs, err
}

// DecodeWorkerMessages parses and checks what one WebSocket message from a worker
// holds: one message, or an array of 1 to 256; one bad message refuses them all.
func DecodeWorkerMessages(data []byte) ([]Message, error) {
	if len(data) > maxMessage {
		return nil, fmt.Errorf("%w: %d bytes; at most %d", ErrBadMessage, len(data), maxMessage)
	}
	if !isArray(data) {
		var m Message
		if err := decodeStrict(data, &m); err != nil {
			return nil, err
		}
		if err := checkWorkerMessage(&m); err != nil {
			return nil, err
		}
		return []Message{m}, nil
	}
	// One pass over the array: this runs for every frame a worker sends.
	var msgs []Message
	if err := decodeStrict(data, &msgs); err != nil {
		return nil, err
	}
	if len(msgs) == 0 || len(msgs) > maxFrame {
		return nil, fmt.Errorf("%w: an array of %d messages; 1 to %d", ErrBadMessage, len(msgs), maxFrame)
	}
	for i := range msgs {
		if msgs[i].Type == MsgRegister {
			return nil, fmt.Errorf("%w: message %d: register comes alone", ErrBadMessage, i)
		}
		if err := checkWorkerMessage(&msgs[i]); err != nil {
			return nil, fmt.Errorf("message %d: %w", i, err)
		}
	}
	return msgs, nil
}

// DecodeWorkerMessage parses and checks one message from a worker: unknown fields,
// unknown types, missing or out-of-range values are refused with the reason.
func DecodeWorkerMessage(data []byte) (Message, error) {
	var m Message
	if len(data) > maxMessage {
		return m, fmt.Errorf("%w: %d bytes; at most %d", ErrBadMessage, len(data), maxMessage)
	}
	if err := decodeStrict(data, &m); err != nil {
		return Message{}, err
	}
	if err := checkWorkerMessage(&m); err != nil {
		return Message{}, err
	}
	return m, nil
}

// decodeStrict decodes one JSON value, refusing unknown fields and anything after
// the value.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %v", ErrBadMessage, err)
	}
	if dec.More() {
		return fmt.Errorf("%w: one JSON value per message", ErrBadMessage)
	}
	return nil
}

// checkWorkerMessage checks what a decoded worker message holds.
func checkWorkerMessage(m *Message) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrBadMessage, m.Type, fmt.Sprintf(format, a...))
	}
	switch m.Type {
	case MsgRegister:
		w := m.Worker
		if w == nil || !validID(w.ID) {
			return bad("worker.id must be 1-128 letters, digits or _.:-")
		}
		if w.Capacity < 0 || w.Capacity > maxCapacity {
			return bad("worker.capacity %d must be 0..%d", w.Capacity, maxCapacity)
		}
		if err := checkLabels(w.Labels); err != nil {
			return bad("%v", err)
		}
		if len(w.Version) > 64 {
			return bad("worker.version is longer than 64 bytes")
		}
		if !validStatus(w.Status) {
			return bad("worker.status %q", w.Status)
		}
		if len(m.Sessions) > maxSessions {
			return bad("%d sessions; at most %d", len(m.Sessions), maxSessions)
		}
		for _, s := range m.Sessions {
			if !validID(s.Job) || s.Epoch == 0 {
				return bad("a session needs a job id and an epoch")
			}
		}
		if len(m.Finished) > maxSessions {
			return bad("%d finished sessions; at most %d", len(m.Finished), maxSessions)
		}
		for _, f := range m.Finished {
			if !validID(f.Job) || f.Epoch == 0 || len(f.Reason) > maxReason {
				return bad("a finished session needs a job id, an epoch and a reason of at most %d bytes", maxReason)
			}
		}
	case MsgHeartbeat:
		if m.Active < 0 || m.Active > maxCapacity || m.CPU < 0 || m.CPU > 1000 || m.CPU != m.CPU {
			return bad("active %d or cpu %v out of range", m.Active, m.CPU)
		}
		if m.Running < 0 || m.Running > maxCapacity || (!m.Settled && (m.Running != 0 || m.Digest != 0)) {
			return bad("running %d out of range, or a digest without settled", m.Running)
		}
		if !validStatus(m.Status) {
			return bad("status %q", m.Status)
		}
	case MsgAccept, MsgRefuse, MsgFinish:
		if !validID(m.Job) || m.Epoch == 0 {
			return bad("needs a job id and its epoch")
		}
		if len(m.Reason) > maxReason {
			return bad("reason is longer than %d bytes", maxReason)
		}
	default:
		return bad("unknown message type")
	}
	return nil
}

func validStatus(s WorkerStatus) bool {
	return s == "" || s == WorkerAvailable || s == WorkerFull || s == WorkerDraining
}

func checkLabels(labels map[string]string) error {
	if len(labels) > 16 {
		return errors.New("at most 16 labels")
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		if !validLabel(k) || !validLabel(labels[k]) {
			return fmt.Errorf("label %q=%q: keys and values are 1-64 letters, digits or _.:/-", k, labels[k])
		}
	}
	return nil
}
