package dispatcher

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"time"
)

// Commands travel in raft entries (and from a follower to the leader) in a compact
// binary form: every node decodes every entry, so this is on the hot path three
// times over. An entry is a version byte, then the command; fields are written in
// a fixed order, integers as varints, strings and lists with their lengths first.
// Entries written by earlier versions are JSON, told apart by their first byte.
//
// A command is:
//
//	type (byte) · at (time) · presence bits (uvarint) · the present fields in the
//	order of the bits: create, assign, offer_for, job, expire, register,
//	heartbeats, lost, node, prune_jobs, prune_workers, batch
const codecVersion = 1

// ErrBadEncoding wraps every reason an encoded command is refused.
var ErrBadEncoding = errors.New("dispatcher: bad command encoding")

var (
	typeCodes = []string{"", CmdCreate, CmdAssign, CmdAccept, CmdRefuse, CmdFinish, CmdCancel, CmdExpire,
		CmdRegister, CmdHeartbeats, CmdLost, CmdAddNode, CmdRemoveNode, CmdBatch, CmdPrune}
	typeByName = func() map[string]byte {
		m := map[string]byte{}
		for i, t := range typeCodes {
			m[t] = byte(i)
		}
		return m
	}()
	statusCodes  = []WorkerStatus{"", WorkerAvailable, WorkerFull, WorkerDraining, WorkerLost}
	statusByName = map[WorkerStatus]byte{"": 0, WorkerAvailable: 1, WorkerFull: 2, WorkerDraining: 3, WorkerLost: 4}
)

const (
	hasCreate = 1 << iota
	hasAssign
	hasOfferFor
	hasJob
	hasExpire
	hasRegister
	hasHeartbeats
	hasLost
	hasNode
	hasBatch
	hasPruneJobs
	hasPruneWorkers
	allFields = 1<<iota - 1
)

// EncodeCommand returns c's binary form. It fails only for a type or a worker
// status it does not know.
func EncodeCommand(c Command) ([]byte, error) {
	e := encoder{b: make([]byte, 0, 256)}
	e.b = append(e.b, codecVersion)
	e.command(c, 0)
	return e.b, e.err
}

// DecodeCommand reads a command in binary form, or JSON as earlier versions wrote.
func DecodeCommand(data []byte) (Command, error) {
	var c Command
	if len(data) == 0 {
		return c, fmt.Errorf("%w: empty", ErrBadEncoding)
	}
	if data[0] == '{' {
		if err := json.Unmarshal(data, &c); err != nil {
			return Command{}, fmt.Errorf("%w: %v", ErrBadEncoding, err)
		}
		return c, nil
	}
	if data[0] != codecVersion {
		return c, fmt.Errorf("%w: version %d", ErrBadEncoding, data[0])
	}
	d := decoder{b: data[1:]}
	c = d.command(0)
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes left over", len(d.b))
	}
	if d.err != nil {
		return Command{}, d.err
	}
	return c, nil
}

type encoder struct {
	b   []byte
	err error
}

func (e *encoder) uint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) int(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) str(s string)  { e.uint(uint64(len(s))); e.b = append(e.b, s...) }

func (e *encoder) strs(list []string) {
	e.uint(uint64(len(list)))
	for _, s := range list {
		e.str(s)
	}
}
func (e *encoder) float(v float64) { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v)) }

func (e *encoder) bool(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// time is 0 for the zero time, else 1 and the Unix nanoseconds.
func (e *encoder) time(t time.Time) {
	if t.IsZero() {
		e.b = append(e.b, 0)
		return
	}
	e.b = append(e.b, 1)
	e.int(t.UnixNano())
}

// labels are written in key order, so equal maps encode alike.
func (e *encoder) labels(m map[string]string) {
	e.uint(uint64(len(m)))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		e.str(k)
		e.str(m[k])
	}
}

func (e *encoder) status(s WorkerStatus) {
	code, ok := statusByName[s]
	if !ok && e.err == nil {
		e.err = fmt.Errorf("%w: worker status %q", ErrBadEncoding, s)
	}
	e.b = append(e.b, code)
}

func (e *encoder) ref(r JobRef) {
	e.str(r.Job)
	e.str(r.Room)
	e.str(r.Worker)
	e.uint(r.Epoch)
	e.bool(r.Failed)
	e.str(r.Reason)
}

func (e *encoder) refs(list []JobRef) {
	e.uint(uint64(len(list)))
	for _, r := range list {
		e.ref(r)
	}
}

func (e *encoder) command(c Command, depth int) {
	code := typeByName[c.Type]
	if code == 0 && e.err == nil {
		e.err = fmt.Errorf("%w: command type %q", ErrBadEncoding, c.Type)
	}
	e.b = append(e.b, code)
	e.time(c.At)
	var bits uint64
	for bit, present := range []bool{c.Create != nil, c.Assign != nil, c.OfferFor != 0, c.Job != nil, c.Expire != nil,
		c.Register != nil, c.Heartbeats != nil, c.Lost != nil, c.Node != nil, c.Batch != nil, c.PruneJobs != nil, c.PruneWorkers != nil} {
		if present {
			bits |= 1 << bit
		}
	}
	e.uint(bits)
	if cj := c.Create; cj != nil {
		e.str(cj.ID)
		e.str(cj.Room)
		e.str(cj.RequestID)
		e.labels(cj.Labels)
	}
	if c.Assign != nil {
		e.uint(uint64(len(c.Assign)))
		for _, a := range c.Assign {
			e.str(a.Job)
			e.str(a.Worker)
		}
	}
	if c.OfferFor != 0 {
		e.int(int64(c.OfferFor))
	}
	if c.Job != nil {
		e.ref(*c.Job)
	}
	if c.Expire != nil {
		e.refs(c.Expire)
	}
	if r := c.Register; r != nil {
		w := r.Worker
		e.str(w.ID)
		e.int(int64(w.Capacity))
		e.labels(w.Labels)
		e.str(w.Version)
		e.status(w.Status)
		e.str(w.Node)
		e.int(int64(w.Active))
		e.float(w.CPU)
		e.time(w.LastSeen)
		e.refs(r.Sessions)
		e.refs(r.Finished)
	}
	if c.Heartbeats != nil {
		e.uint(uint64(len(c.Heartbeats)))
		for _, h := range c.Heartbeats {
			e.str(h.Worker)
			e.str(h.Node)
			e.int(int64(h.Active))
			e.float(h.CPU)
			e.status(h.Status)
		}
	}
	if c.Lost != nil {
		e.strs(c.Lost)
	}
	if p := c.Node; p != nil {
		e.str(p.ID)
		e.str(p.RaftAddr)
		e.str(p.HTTPAddr)
	}
	if c.PruneJobs != nil {
		e.strs(c.PruneJobs)
	}
	if c.PruneWorkers != nil {
		e.strs(c.PruneWorkers)
	}
	if c.Batch != nil {
		encodeBatch(e, depth, "batch", c.Batch, e.command)
	}
}

// decoder reads what encoder wrote; its first error sticks and later reads
// return zero values.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, a ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrBadEncoding, fmt.Sprintf(format, a...))
	}
	d.b = nil
}

func (d *decoder) uint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad unsigned integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) int() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad integer")
		return 0
	}
	d.b = d.b[n:]
	return v
}

// count reads a list's length: each element takes at least a byte, so a length
// beyond what is left is refused before anything is allocated.
func (d *decoder) count() int {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail("a list of %d in %d bytes", n, len(d.b))
		return 0
	}
	return int(n)
}

func (d *decoder) byte() byte {
	if len(d.b) == 0 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) str() string {
	n := d.uint()
	if n > uint64(len(d.b)) {
		d.fail("a string of %d in %d bytes", n, len(d.b))
		return ""
	}
	s := string(d.b[:n])
	d.b = d.b[n:]
	return s
}

func (d *decoder) strs() []string {
	n := d.count()
	list := make([]string, n)
	for i := range n {
		list[i] = d.str()
	}
	return list
}

func (d *decoder) float() float64 {
	if len(d.b) < 8 {
		d.fail("truncated")
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *decoder) bool() bool {
	switch d.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail("bad boolean")
	return false
}

func (d *decoder) time() time.Time {
	switch d.byte() {
	case 0:
		return time.Time{}
	case 1:
		return time.Unix(0, d.int()).UTC()
	}
	d.fail("bad time")
	return time.Time{}
}

func (d *decoder) int32() int {
	v := d.int()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail("integer %d out of range", v)
		return 0
	}
	return int(v)
}

func (d *decoder) labels() map[string]string {
	n := d.count()
	if n == 0 {
		return nil
	}
	m := make(map[string]string, n)
	for range n {
		k := d.str()
		m[k] = d.str()
	}
	return m
}

func (d *decoder) status() WorkerStatus {
	code := d.byte()
	if int(code) >= len(statusCodes) {
		d.fail("worker status %d", code)
		return ""
	}
	return statusCodes[code]
}

func (d *decoder) ref() JobRef {
	return JobRef{Job: d.str(), Room: d.str(), Worker: d.str(), Epoch: d.uint(), Failed: d.bool(), Reason: d.str()}
}

// refs reads a list of refs (never nil).
func (d *decoder) refs() []JobRef {
	list := make([]JobRef, d.count())
	for i := range list {
		list[i] = d.ref()
	}
	return list
}

func (d *decoder) command(depth int) Command {
	var c Command
	code := d.byte()
	if code == 0 || int(code) >= len(typeCodes) {
		d.fail("command type %d", code)
		return c
	}
	c.Type = typeCodes[code]
	c.At = d.time()
	bits := d.uint()
	if bits&^allFields != 0 {
		d.fail("unknown fields %#x", bits)
		return c
	}
	if bits&hasCreate != 0 {
		c.Create = &CreateJob{ID: d.str(), Room: d.str(), RequestID: d.str(), Labels: d.labels()}
	}
	if bits&hasAssign != 0 {
		n := d.count()
		c.Assign = make([]Assignment, n)
		for i := range n {
			c.Assign[i] = Assignment{Job: d.str(), Worker: d.str()}
		}
	}
	if bits&hasOfferFor != 0 {
		c.OfferFor = time.Duration(d.int())
	}
	if bits&hasJob != 0 {
		r := d.ref()
		c.Job = &r
	}
	if bits&hasExpire != 0 {
		c.Expire = d.refs()
	}
	if bits&hasRegister != 0 {
		w := Worker{ID: d.str(), Capacity: d.int32(), Labels: d.labels(), Version: d.str(), Status: d.status(),
			Node: d.str(), Active: d.int32(), CPU: d.float(), LastSeen: d.time()}
		r := &Register{Worker: w}
		if list := d.refs(); len(list) > 0 {
			r.Sessions = list
		}
		if list := d.refs(); len(list) > 0 {
			r.Finished = list
		}
		c.Register = r
	}
	if bits&hasHeartbeats != 0 {
		n := d.count()
		c.Heartbeats = make([]Heartbeat, n)
		for i := range n {
			c.Heartbeats[i] = Heartbeat{Worker: d.str(), Node: d.str(), Active: d.int32(), CPU: d.float(), Status: d.status()}
		}
	}
	if bits&hasLost != 0 {
		c.Lost = d.strs()
	}
	if bits&hasNode != 0 {
		c.Node = &Peer{ID: d.str(), RaftAddr: d.str(), HTTPAddr: d.str()}
	}
	if bits&hasPruneJobs != 0 {
		c.PruneJobs = d.strs()
	}
	if bits&hasPruneWorkers != 0 {
		c.PruneWorkers = d.strs()
	}
	if bits&hasBatch != 0 {
		c.Batch = decodeBatch(d, depth, "batch", d.command)
	}
	return c
}

// A forwarded batch's answer (the results of its commands and the index of the
// entry that carried them) comes back in a binary form too, when the follower asks
// for it with resultsMediaType; the leader answers JSON to one that does not.
//
//	version (byte) · index (uvarint) · count · results
//
// A result is presence bits (uvarint) and the present fields in their order: job,
// leave, applied, code, err, batch (one level only).
const (
	resultsVersion   = 1
	resultsMediaType = "application/vnd.attendant.results"
)

const (
	resHasJob = 1 << iota
	resHasLeave
	resHasApplied
	resHasCode
	resHasErr
	resHasBatch
	resAllFields = 1<<iota - 1
)

// encodeResults returns the binary form of a forwarded batch's answer.
func encodeResults(a appliedBatch) []byte {
	e := encoder{b: make([]byte, 0, 64+96*len(a.Results))}
	e.b = append(e.b, resultsVersion)
	e.uint(a.Index)
	e.uint(uint64(len(a.Results)))
	for _, r := range a.Results {
		e.result(r, 0)
	}
	return e.b
}

// decodeResults reads what encodeResults wrote.
func decodeResults(data []byte) (appliedBatch, error) {
	var a appliedBatch
	if len(data) == 0 || data[0] != resultsVersion {
		return a, fmt.Errorf("%w: results version", ErrBadEncoding)
	}
	d := decoder{b: data[1:]}
	a.Index = d.uint()
	n := d.count()
	a.Results = make([]Result, 0, n)
	for range n {
		a.Results = append(a.Results, d.result(0))
	}
	if d.err == nil && len(d.b) != 0 {
		d.fail("%d bytes left over", len(d.b))
	}
	if d.err != nil {
		return appliedBatch{}, d.err
	}
	return a, nil
}

func (e *encoder) result(r Result, depth int) {
	var bits uint64
	for bit, present := range []bool{r.Job != nil, r.Leave != nil, r.Applied != 0, r.Code != "", r.Err != "", r.Batch != nil} {
		if present {
			bits |= 1 << bit
		}
	}
	e.uint(bits)
	if j := r.Job; j != nil {
		e.str(j.ID)
		e.str(j.Room)
		e.str(j.RequestID)
		e.labels(j.Labels)
		e.str(string(j.State))
		e.str(j.Reason)
		e.str(j.Worker)
		e.uint(j.Epoch)
		e.time(j.OfferExpires)
		e.strs(j.Avoid)
		e.int(int64(j.Attempts))
		e.time(j.CreatedAt)
		e.time(j.OfferedAt)
		e.time(j.StartedAt)
		e.time(j.UpdatedAt)
	}
	if r.Leave != nil {
		e.refs(r.Leave)
	}
	if r.Applied != 0 {
		e.int(int64(r.Applied))
	}
	if r.Code != "" {
		e.str(r.Code)
	}
	if r.Err != "" {
		e.str(r.Err)
	}
	if r.Batch != nil {
		encodeBatch(e, depth, "batch result", r.Batch, e.result)
	}
}

func (d *decoder) result(depth int) Result {
	var r Result
	bits := d.uint()
	if bits&^resAllFields != 0 {
		d.fail("unknown result fields %#x", bits)
		return r
	}
	if bits&resHasJob != 0 {
		r.Job = &Job{ID: d.str(), Room: d.str(), RequestID: d.str(), Labels: d.labels(), State: JobState(d.str()),
			Reason: d.str(), Worker: d.str(), Epoch: d.uint(), OfferExpires: d.time(), Avoid: d.strs(),
			Attempts: d.int32(), CreatedAt: d.time(), OfferedAt: d.time(), StartedAt: d.time(), UpdatedAt: d.time()}
		if len(r.Job.Avoid) == 0 {
			r.Job.Avoid = nil
		}
	}
	if bits&resHasLeave != 0 {
		r.Leave = d.refs()
	}
	if bits&resHasApplied != 0 {
		r.Applied = d.int32()
	}
	if bits&resHasCode != 0 {
		r.Code = d.str()
	}
	if bits&resHasErr != 0 {
		r.Err = d.str()
	}
	if bits&resHasBatch != 0 {
		r.Batch = decodeBatch(d, depth, "batch result", d.result)
	}
	return r
}

// encodeBatch writes the items of a batch (commands, or their results), refusing a
// batch within a batch: a batch is one level deep.
func encodeBatch[T any](e *encoder, depth int, what string, items []T, one func(T, int)) {
	if depth > 0 && e.err == nil {
		e.err = fmt.Errorf("%w: nested %s", ErrBadEncoding, what)
	}
	e.uint(uint64(len(items)))
	for _, it := range items {
		one(it, depth+1)
	}
}

// decodeBatch reads what encodeBatch wrote.
func decodeBatch[T any](d *decoder, depth int, what string, one func(int) T) []T {
	if depth > 0 {
		d.fail("nested %s", what)
		return nil
	}
	n := d.count()
	items := make([]T, n)
	for i := range n {
		items[i] = one(depth + 1)
	}
	return items
}
