package retrieval

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/attendant/attendant/pipeline/agent"
)

// Embedder turns texts into vectors; retrieval/embed provides implementations.
type Embedder interface {
	Embed(ctx context.Context, texts []string) ([][]float32, error)
	Dims() int
	Name() string
}

// Redis keys and channel of the agent context cache.
const (
	contextKeyPrefix  = "agent-context:"
	warmingKeyPrefix  = "agent-context-warming:"
	InvalidateChannel = "agent-context:invalidate"
)

// ContextKey is the Redis key holding room's assembled context.
func ContextKey(room string) string { return contextKeyPrefix + room }

// AssemblerConfig tunes an Assembler; zero fields take the defaults named.
type AssemblerConfig struct {
	// Budget bounds the assembled context in tokens (default 8000).
	Budget int
	// TTL is how long an assembled context stays in Redis (default 12h).
	TTL time.Duration
	// Deadline bounds fresh retrieval for one utterance, embedding and search
	// together (default 50ms). Past it the turn goes on without fresh knowledge.
	Deadline time.Duration
	// TopicPassages and TurnPassages are how many chunks the meeting topic and each
	// utterance bring (defaults 8 and 3).
	TopicPassages, TurnPassages int
	// Lead is how long before a scheduled meeting (and after its start) its context
	// is kept warm by PrewarmDue (default 30m).
	Lead time.Duration
}

// Assembler builds rooms' agent contexts from the knowledge store, keeps them in
// Redis, and retrieves fresh passages per utterance. It implements
// agent.ContextSource.
type Assembler struct {
	cfg     AssemblerConfig
	store   *Store
	embed   Embedder
	rdb     *redis.Client
	metrics *Metrics
	log     *slog.Logger
}

var _ agent.ContextSource = (*Assembler)(nil)

// cached is what Redis holds for a room.
type cached struct {
	Entity     string          `json:"entity"`
	Department string          `json:"department,omitempty"`
	Knowledge  agent.Knowledge `json:"knowledge"`
	Assembled  time.Time       `json:"assembled"`
}

// NewAssembler returns an Assembler over store, embedding with embed and caching in rdb.
func NewAssembler(cfg AssemblerConfig, store *Store, embed Embedder, rdb *redis.Client, metrics *Metrics, log *slog.Logger) (*Assembler, error) {
	if embed.Dims() != store.Dims() {
		return nil, fmt.Errorf("%w: the embedder makes %d-dimensional vectors; the store keeps %d", ErrInvalid, embed.Dims(), store.Dims())
	}
	if cfg.Budget <= 0 {
		cfg.Budget = 8000
	}
	if cfg.TTL <= 0 {
		cfg.TTL = 12 * time.Hour
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = 50 * time.Millisecond
	}
	if cfg.TopicPassages <= 0 {
		cfg.TopicPassages = 8
	}
	if cfg.TurnPassages <= 0 {
		cfg.TurnPassages = 3
	}
	if cfg.Lead <= 0 {
		cfg.Lead = 30 * time.Minute
	}
	return &Assembler{cfg: cfg, store: store, embed: embed, rdb: rdb, metrics: metrics, log: log}, nil
}

// Room returns room's context from Redis, or assembles it from PostgreSQL and caches
// it.
func (a *Assembler) Room(ctx context.Context, room string) (agent.Knowledge, error) {
	c, err := a.room(ctx, room)
	return c.Knowledge, err
}

func (a *Assembler) room(ctx context.Context, room string) (cached, error) {
	var c cached
	data, err := a.rdb.Get(ctx, ContextKey(room)).Bytes()
	switch {
	case err == nil && json.Unmarshal(data, &c) == nil:
		a.metrics.Cache.WithLabelValues("hit").Inc()
		return c, nil
	case err != nil && !errors.Is(err, redis.Nil):
		// Redis is down: assemble without it rather than fail the room.
		a.log.Warn("agent context cache unavailable", "room", room, "err", err)
	}
	a.metrics.Cache.WithLabelValues("miss").Inc()
	return a.Prewarm(ctx, room)
}

// Prewarm assembles room's context from PostgreSQL and stores it in Redis with the
// configured TTL; it is called when a room is scheduled, and on a cache miss.
func (a *Assembler) Prewarm(ctx context.Context, room string) (cached, error) {
	rc, err := a.store.roomContext(ctx, room)
	if err != nil {
		return cached{}, err
	}
	var hits []Hit
	if topic := strings.TrimSpace(rc.Topic); topic != "" {
		vecs, err := a.embed.Embed(ctx, []string{topic})
		if err != nil {
			return cached{}, fmt.Errorf("retrieval: embed the topic of room %s: %w", room, err)
		}
		hits, err = a.store.Search(ctx, Query{Entity: rc.Entity, Department: rc.Department, Text: topic,
			Vector: vecs[0], K: a.cfg.TopicPassages})
		if err != nil {
			return cached{}, err
		}
	}
	c := cached{Entity: rc.Entity, Department: rc.Department, Assembled: time.Now().UTC(),
		Knowledge: assemble(a.cfg.Budget, []string{rc.EntityInstructions, rc.DepartmentInstructions, rc.Prompt}, hits)}
	data, err := json.Marshal(c)
	if err != nil {
		return c, err
	}
	if err := a.rdb.Set(ctx, ContextKey(room), data, a.cfg.TTL).Err(); err != nil {
		a.log.Warn("could not cache the agent context", "room", room, "err", err)
	}
	return c, nil
}

// Schedule stores room and readies its context: assembled into Redis now when the
// meeting has no time or starts within the cache's TTL, otherwise by PrewarmDue
// nearer the time. A session already in the room is told its context changed. It
// reports whether the context was warmed now.
func (a *Assembler) Schedule(ctx context.Context, r Room) (bool, error) {
	if err := a.store.PutRoom(ctx, r); err != nil {
		return false, err
	}
	if err := a.Invalidate(ctx, Scope{Room: r.ID}); err != nil {
		return false, err
	}
	if !r.ScheduledAt.IsZero() && time.Until(r.ScheduledAt) > a.cfg.TTL-a.cfg.Lead {
		return false, nil
	}
	_, err := a.Prewarm(ctx, r.ID)
	return err == nil, err
}

// PrewarmDue assembles the contexts of rooms whose meeting starts within the lead
// time (or started within it) and that Redis does not hold: never warmed, expired,
// or invalidated since. Several processes may run it; a short Redis claim per room
// keeps them from assembling the same one twice. It returns how many it warmed.
func (a *Assembler) PrewarmDue(ctx context.Context) (int, error) {
	rooms, err := a.store.roomsStarting(ctx, a.cfg.Lead)
	if err != nil {
		return 0, err
	}
	warmed := 0
	for _, room := range rooms {
		if n, err := a.rdb.Exists(ctx, ContextKey(room)).Result(); err != nil || n == 1 {
			if err != nil {
				return warmed, err
			}
			continue
		}
		claimed, err := a.rdb.SetNX(ctx, warmingKeyPrefix+room, 1, time.Minute).Result()
		if err != nil {
			return warmed, err
		}
		if !claimed {
			continue
		}
		if _, err := a.Prewarm(ctx, room); err != nil {
			a.log.Warn("could not pre-warm the agent context", "room", room, "err", err)
		} else {
			warmed++
		}
		a.rdb.Del(ctx, warmingKeyPrefix+room)
	}
	return warmed, nil
}

// RunPrewarm calls PrewarmDue every interval until ctx ends.
func (a *Assembler) RunPrewarm(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := a.PrewarmDue(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("pre-warming scheduled rooms failed", "err", err)
		} else if n > 0 {
			a.log.Info("pre-warmed scheduled rooms", "rooms", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Retrieve returns the passages most relevant to one utterance in room, within the
// configured deadline. Past it, it returns ErrDeadline and counts it: the turn goes
// on with the room's context alone.
func (a *Assembler) Retrieve(ctx context.Context, room, utterance string) ([]agent.Passage, error) {
	if strings.TrimSpace(utterance) == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, a.cfg.Deadline)
	defer cancel()
	start := time.Now()
	c, err := a.room(ctx, room)
	var hits []Hit
	if err == nil {
		var vecs [][]float32
		if vecs, err = a.embed.Embed(ctx, []string{utterance}); err == nil {
			hits, err = a.store.Search(ctx, Query{Entity: c.Entity, Department: c.Department, Text: utterance,
				Vector: vecs[0], K: a.cfg.TurnPassages})
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			a.metrics.Deadline.Inc()
			return nil, fmt.Errorf("%w: %v", ErrDeadline, err)
		}
		return nil, err
	}
	a.metrics.Retrieve.Observe(time.Since(start).Seconds())
	return passages(hits), nil
}

func passages(hits []Hit) []agent.Passage {
	out := make([]agent.Passage, len(hits))
	for i, h := range hits {
		out[i] = agent.Passage{Source: fmt.Sprintf("%s#%d", h.Document, h.Index+1), Text: h.Text}
	}
	return out
}

// assemble builds a context within budget tokens. The rules, in order:
//   - instructions come first, entity → department → room, empty levels skipped;
//   - each level is cut (at a word, marked "…") to at most a quarter of the budget,
//     so no level can crowd out the others or the knowledge;
//   - passages follow in relevance order, whole: one that does not fit in what is
//     left is skipped, and a smaller one after it may still fit.
func assemble(budget int, levels []string, hits []Hit) agent.Knowledge {
	var parts []string
	used := 0
	for _, l := range levels {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		l = cutTokens(l, budget/4)
		parts = append(parts, l)
		used += agent.EstimateTokens(l)
	}
	k := agent.Knowledge{Instructions: strings.Join(parts, "\n\n")}
	for _, p := range passages(hits) {
		cost := agent.EstimateTokens(p.Text) + agent.EstimateTokens(p.Source) + 2
		if used+cost > budget {
			continue
		}
		used += cost
		k.Passages = append(k.Passages, p)
	}
	return k
}

// cutTokens cuts s at a word so that it costs at most max tokens.
func cutTokens(s string, max int) string {
	if agent.EstimateTokens(s) <= max {
		return s
	}
	words := strings.Fields(s)
	var b strings.Builder
	for _, w := range words {
		if agent.EstimateTokens(b.String()+" "+w+" …") > max {
			break
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(w)
	}
	return b.String() + " …"
}

// Scope says what changed: an entity (all its rooms), a department of it (its rooms),
// or one room.
type Scope struct {
	Entity     string `json:"entity,omitempty"`
	Department string `json:"department,omitempty"`
	Room       string `json:"room,omitempty"`
}

// Invalidate drops the cached contexts of the rooms scope touches and tells every
// listening process (sessions keep their context in memory) through Redis pub/sub.
func (a *Assembler) Invalidate(ctx context.Context, scope Scope) error {
	rooms := []string{scope.Room}
	if scope.Room == "" {
		var err error
		if rooms, err = a.store.roomsOf(ctx, scope.Entity, scope.Department); err != nil {
			return err
		}
	}
	if len(rooms) > 0 {
		keys := make([]string, len(rooms))
		for i, r := range rooms {
			keys[i] = ContextKey(r)
		}
		if err := a.rdb.Del(ctx, keys...).Err(); err != nil {
			return fmt.Errorf("retrieval: drop cached contexts: %w", err)
		}
	}
	msg, err := json.Marshal(struct {
		Scope
		Rooms []string `json:"rooms"`
	}{scope, rooms})
	if err != nil {
		return err
	}
	return a.rdb.Publish(ctx, InvalidateChannel, msg).Err()
}

// Invalidations is a subscription to context invalidations.
type Invalidations struct {
	sub *redis.PubSub
	log *slog.Logger
}

// Subscribe subscribes to context invalidations, by this process or another; it
// returns once Redis has confirmed the subscription.
func (a *Assembler) Subscribe(ctx context.Context) (*Invalidations, error) {
	sub := a.rdb.Subscribe(ctx, InvalidateChannel)
	if _, err := sub.Receive(ctx); err != nil {
		sub.Close()
		return nil, fmt.Errorf("retrieval: subscribe to %s: %w", InvalidateChannel, err)
	}
	return &Invalidations{sub: sub, log: a.log}, nil
}

// Close ends a subscription that is not being Run.
func (in *Invalidations) Close() error { return in.sub.Close() }

// Run calls changed with the rooms whose context was invalidated until ctx ends, then
// closes the subscription. Malformed messages are logged and skipped.
func (in *Invalidations) Run(ctx context.Context, changed func(rooms []string)) {
	defer in.sub.Close()
	ch := in.sub.Channel()
	for {
		select {
		case <-ctx.Done():
			return
		case m, ok := <-ch:
			if !ok {
				return
			}
			var msg struct {
				Rooms []string `json:"rooms"`
			}
			if err := json.Unmarshal([]byte(m.Payload), &msg); err != nil {
				in.log.Warn("malformed context invalidation", "payload", m.Payload, "err", err)
				continue
			}
			changed(msg.Rooms)
		}
	}
}

// Metrics are retrieval's Prometheus series.
type Metrics struct {
	Retrieve prometheus.Histogram
	Deadline prometheus.Counter
	Cache    *prometheus.CounterVec
}

// NewMetrics creates retrieval's metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Retrieve: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "attendant_retrieval_seconds",
			Help:    "Time to retrieve fresh passages for one utterance (embedding and search).",
			Buckets: []float64{.001, .002, .005, .01, .02, .05, .1, .2, .5},
		}),
		Deadline: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "attendant_retrieval_deadline_exceeded_total",
			Help: "Utterances whose fresh retrieval missed its deadline; the turn went on without it.",
		}),
		Cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "attendant_agent_context_cache_total",
			Help: "Agent context lookups in Redis by result (hit, miss).",
		}, []string{"result"}),
	}
	reg.MustRegister(m.Retrieve, m.Deadline, m.Cache)
	return m
}
