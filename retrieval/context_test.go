package retrieval

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/attendant/attendant/internal/testenv"
)

// wordsEmbedder hashes words into dims buckets: enough for texts sharing words to be
// near each other.
type wordsEmbedder struct{}

func (wordsEmbedder) Dims() int    { return dims }
func (wordsEmbedder) Name() string { return "test-words" }
func (wordsEmbedder) Embed(_ context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v := make([]float32, dims)
		for _, w := range strings.FieldsFunc(strings.ToLower(t), func(r rune) bool { return !unicode.IsLetter(r) }) {
			h := fnv.New32a()
			h.Write([]byte(w))
			v[h.Sum32()%dims]++
		}
		var n float64
		for _, x := range v {
			n += float64(x * x)
		}
		if n == 0 {
			v[0], n = 1, 1
		}
		for k := range v {
			v[k] /= float32(math.Sqrt(n))
		}
		out[i] = v
	}
	return out, nil
}

func newAssembler(t *testing.T, cfg AssemblerConfig) (*Assembler, *Store, *redis.Client, *Metrics) {
	t.Helper()
	s, _ := openStore(t)
	rdb := redis.NewClient(&redis.Options{Addr: testenv.Shared(t).Redis.Addr()})
	t.Cleanup(func() { rdb.Close() })
	m := NewMetrics(prometheus.NewRegistry())
	a, err := NewAssembler(cfg, s, wordsEmbedder{}, rdb, m, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.PutEntity(ctx, Entity{ID: "acme", Instructions: "You work for Acme."}); err != nil {
		t.Fatal(err)
	}
	if err := s.PutDepartment(ctx, Department{Entity: "acme", ID: "cardio", Instructions: "You assist the cardiology team."}); err != nil {
		t.Fatal(err)
	}
	emb := func(texts ...string) []Chunk {
		vecs, _ := wordsEmbedder{}.Embed(ctx, texts)
		out := make([]Chunk, len(texts))
		for i := range texts {
			out[i] = Chunk{Text: texts[i], Tokens: 10, Embedding: vecs[i]}
		}
		return out
	}
	put(t, s, Document{Entity: "acme", Department: "cardio", Name: "ecg.md"}, emb(
		"An ECG is recorded before every discharge.",
		"Troponin is measured at admission and after three hours.",
	))
	put(t, s, Document{Entity: "acme", Name: "parking.md"}, emb("Visitors park in the garage behind the building."))
	return a, s, rdb, m
}

func TestRoomContextIsAssembledCachedAndInvalidated(t *testing.T) {
	a, s, rdb, m := newAssembler(t, AssemblerConfig{})
	ctx := context.Background()
	room := testRoom(t)
	if err := s.PutRoom(ctx, Room{ID: room, Entity: "acme", Department: "cardio", Prompt: "This is the morning handover.", Topic: "ECG before discharge"}); err != nil {
		t.Fatal(err)
	}
	k, err := a.Room(ctx, room)
	if err != nil {
		t.Fatal(err)
	}
	want := "You work for Acme.\n\nYou assist the cardiology team.\n\nThis is the morning handover."
	if k.Instructions != want {
		t.Errorf("instructions %q; want entity, department and room prompt in that order: %q", k.Instructions, want)
	}
	if len(k.Passages) == 0 || !strings.Contains(k.Passages[0].Text, "ECG") || k.Passages[0].Source != "ecg.md#1" {
		t.Errorf("passages %+v; want the ECG chunk first, with its source", k.Passages)
	}
	if ttl := rdb.TTL(ctx, ContextKey(room)).Val(); ttl <= 0 || ttl > 12*time.Hour {
		t.Errorf("cached with TTL %s; want up to 12h", ttl)
	}
	if _, err := a.Room(ctx, room); err != nil {
		t.Fatal(err)
	}
	if hit, miss := testutil.ToFloat64(m.Cache.WithLabelValues("hit")), testutil.ToFloat64(m.Cache.WithLabelValues("miss")); hit != 1 || miss != 1 {
		t.Errorf("cache hits %v, misses %v; want 1 and 1", hit, miss)
	}

	// A change to the entity drops the cached context and tells listeners.
	lctx, stop := context.WithCancel(ctx)
	inv, err := a.Subscribe(lctx)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []string, 4)
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		inv.Run(lctx, func(rooms []string) { got <- rooms })
	}()
	defer func() { stop(); <-listening }()
	if err := s.PutEntity(ctx, Entity{ID: "acme", Instructions: "You work for Acme Health."}); err != nil {
		t.Fatal(err)
	}
	if err := a.Invalidate(ctx, Scope{Entity: "acme"}); err != nil {
		t.Fatal(err)
	}
	select {
	case rooms := <-got:
		if len(rooms) != 1 || rooms[0] != room {
			t.Errorf("listener told of rooms %v; want [%s]", rooms, room)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no invalidation message")
	}
	if n := rdb.Exists(ctx, ContextKey(room)).Val(); n != 0 {
		t.Error("the cached context survived the invalidation")
	}
	k, err = a.Room(ctx, room)
	if err != nil || !strings.HasPrefix(k.Instructions, "You work for Acme Health.") {
		t.Errorf("after invalidation: %q (%v); want the new instructions", k.Instructions, err)
	}
}

func TestRetrievePerUtteranceAndDeadline(t *testing.T) {
	a, s, _, m := newAssembler(t, AssemblerConfig{})
	ctx := context.Background()
	room := testRoom(t)
	if err := s.PutRoom(ctx, Room{ID: room, Entity: "acme"}); err != nil {
		t.Fatal(err)
	}
	ps, err := a.Retrieve(ctx, room, "Where do visitors park?")
	if err != nil {
		t.Fatal(err)
	}
	// The room has no department: the cardiology documents are not its to see.
	if len(ps) != 1 || !strings.Contains(ps[0].Text, "garage") {
		t.Errorf("passages %+v; want the parking chunk only", ps)
	}
	if n := testutil.ToFloat64(m.Deadline); n != 0 {
		t.Errorf("deadline counter = %v after a retrieval in time; want 0", n)
	}
	slow, _, _, m2 := newAssembler(t, AssemblerConfig{Deadline: time.Nanosecond})
	if err := slow.store.PutRoom(ctx, Room{ID: room, Entity: "acme"}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := slow.Retrieve(ctx, room, "Where do visitors park?"); !errors.Is(err, ErrDeadline) {
		t.Fatalf("Retrieve past its deadline = %v; want ErrDeadline", err)
	}
	if took := time.Since(start); took > 100*time.Millisecond {
		t.Errorf("Retrieve took %s past a 1ns deadline", took)
	}
	if n := testutil.ToFloat64(m2.Deadline); n != 1 {
		t.Errorf("deadline counter = %v; want 1", n)
	}
}

func TestAssembleBudget(t *testing.T) {
	long := strings.Repeat("word ", 4000)
	hits := []Hit{
		{Document: "a", Index: 0, Text: strings.Repeat("x", 400)},  // 100 tokens
		{Document: "b", Index: 0, Text: strings.Repeat("y", 4000)}, // 1000 tokens: does not fit
		{Document: "c", Index: 0, Text: strings.Repeat("z", 80)},   // 20 tokens
	}
	k := assemble(1000, []string{"Entity rules.", long, ""}, hits)
	parts := strings.Split(k.Instructions, "\n\n")
	if len(parts) != 2 || parts[0] != "Entity rules." || !strings.HasSuffix(parts[1], "…") {
		t.Fatalf("instructions %q; want the entity's whole and the department's cut with …", k.Instructions)
	}
	if n := len(parts[1]) / 4; n > 250 {
		t.Errorf("a level took %d tokens of a 1000 budget; want at most a quarter", n)
	}
	var srcs []string
	for _, p := range k.Passages {
		srcs = append(srcs, p.Source)
	}
	if strings.Join(srcs, ",") != "a#1,c#1" {
		t.Errorf("passages %v; want a#1 and c#1 (b does not fit, c after it does)", srcs)
	}
}

var roomSeq int

func testRoom(t *testing.T) string {
	roomSeq++
	return strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()) + "-" + time.Now().Format("150405.000000") + "-" + string(rune('a'+roomSeq%26))
}

// A room scheduled soon is warmed when scheduled; one far ahead is warmed by
// PrewarmDue once its meeting is near, and again after an invalidation.
func TestScheduleAndPrewarmDue(t *testing.T) {
	a, s, rdb, _ := newAssembler(t, AssemblerConfig{TTL: time.Hour, Lead: 10 * time.Minute})
	ctx := context.Background()
	soon, later, unscheduled := testRoom(t)+"-soon", testRoom(t)+"-later", testRoom(t)+"-any"
	for _, r := range []Room{
		{ID: soon, Entity: "acme", Department: "cardio", Topic: "ECG before discharge", ScheduledAt: time.Now().Add(20 * time.Minute)},
		{ID: later, Entity: "acme", Topic: "parking", ScheduledAt: time.Now().Add(3 * time.Hour)},
		{ID: unscheduled, Entity: "acme", Topic: "parking"},
	} {
		warm, err := a.Schedule(ctx, r)
		if err != nil {
			t.Fatal(err)
		}
		if want := r.ID != later; warm != want {
			t.Errorf("Schedule(%s) warmed %v; want %v", r.ID, warm, want)
		}
		if n := rdb.Exists(ctx, ContextKey(r.ID)).Val(); (n == 1) != warm {
			t.Errorf("room %s cached: %v; Schedule said warmed %v", r.ID, n == 1, warm)
		}
	}
	// Nothing is due yet: the soon room is warm, the later one is hours away.
	if n, err := a.PrewarmDue(ctx); err != nil || n != 0 {
		t.Errorf("PrewarmDue = %d, %v; want 0", n, err)
	}
	// The later meeting moves to five minutes from now (straight in the database, as
	// another process would): the next pass warms it.
	if _, err := s.pool.Exec(ctx, `UPDATE rooms SET scheduled_at = now() + interval '5 minutes' WHERE id = $1`, later); err != nil {
		t.Fatal(err)
	}
	if n, err := a.PrewarmDue(ctx); err != nil || n != 1 {
		t.Errorf("PrewarmDue = %d, %v; want the moved room warmed", n, err)
	}
	k, err := a.Room(ctx, later)
	if err != nil || len(k.Passages) == 0 || !strings.Contains(k.Passages[0].Text, "garage") {
		t.Errorf("warmed context %+v (%v); want the parking passage", k, err)
	}
	if err := a.Invalidate(ctx, Scope{Entity: "acme"}); err != nil {
		t.Fatal(err)
	}
	if n, err := a.PrewarmDue(ctx); err != nil || n != 1 {
		t.Errorf("PrewarmDue after invalidation = %d, %v; want the meeting five minutes away warmed again", n, err)
	}
	if n := rdb.Exists(ctx, ContextKey(soon)).Val(); n != 0 {
		t.Error("a meeting twenty minutes away (lead ten) was warmed by the due pass")
	}
	if n := rdb.Exists(ctx, ContextKey(unscheduled)).Val(); n != 0 {
		t.Error("a room with no meeting time was warmed by the due pass")
	}
}
