package dispatcher

import (
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"
)

// every command type, with every field it can carry set.
func sampleCommands() []Command {
	at := t0.Add(1500 * time.Millisecond)
	ref := JobRef{Job: "j1", Room: "room-1", Worker: "w1", Epoch: 42, Failed: true, Reason: "the room ended"}
	return []Command{
		{Type: CmdCreate, At: at, Create: &CreateJob{ID: "j1", Room: "room-1", RequestID: "r1", Labels: map[string]string{"lang": "nl", "region": "eu"}}},
		{Type: CmdCreate, At: at, Create: &CreateJob{ID: "j2", Room: "room-2", RequestID: "r2"}},
		{Type: CmdAssign, At: at, OfferFor: 2 * time.Second, Assign: []Assignment{{Job: "j1", Worker: "w1"}, {Job: "j2", Worker: "w2"}}},
		{Type: CmdAccept, At: at, Job: &ref},
		{Type: CmdRefuse, At: at, Job: &JobRef{Job: "j1", Worker: "w1", Epoch: 7, Reason: "full"}},
		{Type: CmdFinish, At: at, Job: &ref},
		{Type: CmdCancel, At: at, Job: &JobRef{Room: "room-1", Reason: "room finished"}},
		{Type: CmdExpire, At: at, Expire: []JobRef{ref, {Job: "j2", Epoch: 9}}},
		{Type: CmdRegister, At: at, Register: &Register{Worker: Worker{ID: "w1", Capacity: 25, Labels: map[string]string{"lang": "en"},
			Version: "v1.2.3", Status: WorkerDraining, Node: "n2", Active: 3, CPU: 0.375, LastSeen: at},
			Sessions: []JobRef{{Job: "j1", Epoch: 42}}, Finished: []JobRef{{Job: "j0", Epoch: 40, Failed: true, Reason: "LiveKit refused the token"}}}},
		{Type: CmdHeartbeats, At: at, Heartbeats: []Heartbeat{{Worker: "w1", Node: "n1", Active: 4, CPU: 1.5, Status: WorkerFull}}},
		{Type: CmdLost, At: at, Lost: []string{"w1", "w2"}},
		{Type: CmdAddNode, At: at, Node: &Peer{ID: "n1", RaftAddr: "127.0.0.1:7400", HTTPAddr: "127.0.0.1:7480"}},
		{Type: CmdRemoveNode, At: at, Node: &Peer{ID: "n3"}},
		{Type: CmdPrune, At: at, PruneJobs: []string{"j1", "j2"}, PruneWorkers: []string{"w9"}},
		{Type: CmdBatch, Batch: []Command{{Type: CmdLost, At: at, Lost: []string{"w9"}}, {Type: CmdAddNode, Node: &Peer{ID: "n4"}}}},
	}
}

// Every command comes back from its binary form as it went in, and as its JSON
// form (what earlier versions wrote in the raft log) reads.
func TestCodecRoundTrip(t *testing.T) {
	for _, c := range sampleCommands() {
		data, err := EncodeCommand(c)
		if err != nil {
			t.Fatalf("%s: %v", c.Type, err)
		}
		got, err := DecodeCommand(data)
		if err != nil {
			t.Fatalf("%s: decode: %v", c.Type, err)
		}
		if !reflect.DeepEqual(got, c) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", c.Type, got, c)
		}
		legacy, _ := json.Marshal(c)
		fromJSON, err := DecodeCommand(legacy)
		if err != nil {
			t.Fatalf("%s: JSON: %v", c.Type, err)
		}
		again, _ := json.Marshal(fromJSON)
		if string(again) != string(legacy) {
			t.Errorf("%s: JSON entry read as %s; want %s", c.Type, again, legacy)
		}
		// Every cut of the encoding is refused, never misread.
		for n := range len(data) {
			if _, err := DecodeCommand(data[:n]); !errors.Is(err, ErrBadEncoding) {
				t.Fatalf("%s cut at %d of %d bytes: err %v; want ErrBadEncoding", c.Type, n, len(data), err)
			}
		}
	}
}

func TestCodecRefuses(t *testing.T) {
	for name, data := range map[string][]byte{
		"empty":          {},
		"version":        {9, 1, 0, 0},
		"unknown type":   {codecVersion, 200, 0, 0},
		"unknown fields": {codecVersion, 1, 0, 0x80, 0x20},
		"huge list":      {codecVersion, 11, 0, 0x80, 0x01, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"trailing":       append(mustEncode(t, Command{Type: CmdLost, Lost: []string{"w"}}), 0),
		"nested batch":   {codecVersion, 13, 0, 0x80, 0x04, 1, 13, 0, 0x80, 0x04, 0},
		"bad json":       []byte(`{"type":`),
	} {
		if _, err := DecodeCommand(data); !errors.Is(err, ErrBadEncoding) {
			t.Errorf("%s: err %v; want ErrBadEncoding", name, err)
		}
	}
	if _, err := EncodeCommand(Command{Type: "launch"}); !errors.Is(err, ErrBadEncoding) {
		t.Errorf("unknown type encoded: %v", err)
	}
	nested := Command{Type: CmdBatch, Batch: []Command{{Type: CmdBatch, Batch: []Command{}}}}
	if _, err := EncodeCommand(nested); !errors.Is(err, ErrBadEncoding) {
		t.Errorf("nested batch encoded: %v", err)
	}
}

func mustEncode(t testing.TB, c Command) []byte {
	t.Helper()
	data, err := EncodeCommand(c)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// FuzzDecodeCommand: any bytes either decode to a command whose encoding decodes
// to the same command, or are refused with ErrBadEncoding; nothing panics.
func FuzzDecodeCommand(f *testing.F) {
	for _, c := range sampleCommands() {
		f.Add(mustEncode(f, c))
		legacy, _ := json.Marshal(c)
		f.Add(legacy)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCommand(data)
		if err != nil {
			if !errors.Is(err, ErrBadEncoding) {
				t.Fatalf("error %v does not wrap ErrBadEncoding", err)
			}
			return
		}
		again, err := EncodeCommand(c)
		if err != nil {
			return // JSON may carry a type or status the binary form does not know
		}
		back, err := DecodeCommand(again)
		if err != nil {
			t.Fatalf("re-encoded command does not decode: %v", err)
		}
		if !reflect.DeepEqual(back, c) && data[0] != '{' {
			t.Fatalf("round trip changed the command:\n%+v\n%+v", c, back)
		}
	})
}

// every field a forwarded batch's answer can carry.
func sampleResults() appliedBatch {
	at := t0.Add(2500 * time.Millisecond)
	job := &Job{ID: "j1", Room: "room-1", RequestID: "r1", Labels: map[string]string{"lang": "nl"}, State: JobOffered,
		Reason: "refused by w0", Worker: "w1", Epoch: 42, OfferExpires: at.Add(2 * time.Second), Avoid: []string{"w0"},
		Attempts: 2, CreatedAt: t0, OfferedAt: at, StartedAt: at.Add(time.Second), UpdatedAt: at}
	return appliedBatch{Index: 1234, Results: []Result{
		{Job: job, Applied: 1},
		{Job: &Job{ID: "j2", Room: "room-2", RequestID: "r2", State: JobPending, CreatedAt: t0, UpdatedAt: t0}},
		{Leave: []JobRef{{Job: "j3", Epoch: 7, Reason: "moved"}}},
		{Code: "fenced", Err: "j4"},
		{Applied: 3},
		{},
		{Batch: []Result{{Applied: 1}, {Code: "unknown_job", Err: "j5"}}},
	}}
}

// A forwarded batch's answer comes back from its binary form as it went in, and
// every cut of it is refused.
func TestResultsRoundTrip(t *testing.T) {
	want := sampleResults()
	data := encodeResults(want)
	got, err := decodeResults(data)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round trip\n got %+v\nwant %+v", got, want)
	}
	for n := range len(data) {
		if _, err := decodeResults(data[:n]); !errors.Is(err, ErrBadEncoding) {
			t.Fatalf("cut at %d of %d bytes: err %v; want ErrBadEncoding", n, len(data), err)
		}
	}
	nested := appliedBatch{Results: []Result{{Batch: []Result{{Batch: []Result{}}}}}}
	if _, err := decodeResults(encodeResults(nested)); !errors.Is(err, ErrBadEncoding) {
		t.Errorf("nested batch result: %v; want ErrBadEncoding", err)
	}
}

// FuzzDecodeResults: any bytes either decode to an answer that encodes and decodes
// to itself, or are refused with ErrBadEncoding; nothing panics.
func FuzzDecodeResults(f *testing.F) {
	f.Add(encodeResults(sampleResults()))
	f.Add(encodeResults(appliedBatch{}))
	f.Fuzz(func(t *testing.T, data []byte) {
		a, err := decodeResults(data)
		if err != nil {
			if !errors.Is(err, ErrBadEncoding) {
				t.Fatalf("error %v does not wrap ErrBadEncoding", err)
			}
			return
		}
		back, err := decodeResults(encodeResults(a))
		if err != nil {
			t.Fatalf("re-encoded answer does not decode: %v", err)
		}
		if !reflect.DeepEqual(back, a) {
			t.Fatalf("round trip changed the answer:\n%+v\n%+v", a, back)
		}
	})
}
