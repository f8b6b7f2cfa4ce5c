package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/attendant/attendant/internal/config"
	"github.com/attendant/attendant/pipeline/agent"
	"github.com/attendant/attendant/retrieval"
	"github.com/attendant/attendant/retrieval/chunk"
	"github.com/attendant/attendant/retrieval/embed"
)

// newEmbedder returns the configured embedder.
func newEmbedder(c config.Retrieval) (retrieval.Embedder, error) {
	switch c.Embedder {
	case "hashing":
		return embed.NewHashing(c.Dims)
	case "openai":
		return embed.NewOpenAI(embed.OpenAIConfig{BaseURL: c.BaseURL, APIKey: c.APIKey, Model: c.Model, Dims: c.Dims})
	default:
		return nil, fmt.Errorf("retrieval.embedder %q is not known", c.Embedder)
	}
}

// knowledge is the knowledge base a process uses: the store, the embedder, and (when
// Redis is configured) the agent context assembler.
type knowledge struct {
	store     *retrieval.Store
	embed     retrieval.Embedder
	rdb       *redis.Client
	assembler *retrieval.Assembler
	ingestor  *retrieval.Ingestor
}

// openKnowledge applies the migrations and opens the knowledge base of c; withRedis
// also connects the agent context cache (the worker needs it, `kb` commands do not).
func openKnowledge(ctx context.Context, c config.Config, reg prometheus.Registerer, withRedis bool, log *slog.Logger) (*knowledge, error) {
	if err := applyMigrations(ctx, c.Database.URL, log); err != nil {
		return nil, err
	}
	emb, err := newEmbedder(c.Retrieval)
	if err != nil {
		return nil, err
	}
	store, err := retrieval.Open(ctx, c.Database.URL, c.Retrieval.Dims, c.Retrieval.EfSearch)
	if err != nil {
		return nil, err
	}
	k := &knowledge{store: store, embed: emb}
	var onChange func(retrieval.Scope)
	if withRedis {
		opts, err := redis.ParseURL(c.Redis.URL)
		if err != nil {
			store.Close()
			return nil, fmt.Errorf("redis.url: %w", err)
		}
		k.rdb = redis.NewClient(opts)
		k.assembler, err = retrieval.NewAssembler(retrieval.AssemblerConfig{
			Budget: c.Retrieval.ContextBudget, TTL: c.Retrieval.ContextTTL, Deadline: c.Retrieval.Deadline,
			Lead: c.Retrieval.PrewarmLead,
		}, store, emb, k.rdb, retrieval.NewMetrics(reg), log)
		if err != nil {
			k.close()
			return nil, err
		}
		onChange = func(s retrieval.Scope) {
			if err := k.assembler.Invalidate(context.WithoutCancel(ctx), s); err != nil {
				log.Warn("could not invalidate agent contexts", "entity", s.Entity, "err", err)
			}
		}
	}
	k.ingestor, err = retrieval.NewIngestor(retrieval.IngestConfig{
		Chunk: chunk.Config{Tokens: c.Retrieval.ChunkTokens, Overlap: c.Retrieval.ChunkOverlap},
	}, store, emb, onChange, log)
	if err != nil {
		k.close()
		return nil, err
	}
	return k, nil
}

func (k *knowledge) close() {
	if k.rdb != nil {
		_ = k.rdb.Close()
	}
	k.store.Close()
}

// seedDemo gives the dev stack's demo room an entity, instructions and the demo
// documents in dir, so the assistant has something to answer from.
func seedDemo(ctx context.Context, k *knowledge, c config.Config, dir string, log *slog.Logger) error {
	const entity = "demo"
	if err := k.store.EnsureEntity(ctx, retrieval.Entity{ID: entity, Name: "Demo Company", Instructions: c.Worker.Instructions}); err != nil {
		return err
	}
	room := retrieval.Room{ID: c.Dev.Room, Entity: entity, Topic: "office opening hours, visitors, meetings and IT help"}
	if err := k.store.PutRoom(ctx, room); err != nil {
		return err
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.md"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if _, err := k.ingestor.Ingest(ctx, retrieval.Upload{Entity: entity, Name: filepath.Base(f), Data: data}, nil); err != nil {
			return fmt.Errorf("demo document %s: %w", f, err)
		}
	}
	if k.assembler != nil {
		if err := k.assembler.Invalidate(ctx, retrieval.Scope{Entity: entity}); err != nil {
			return err
		}
		// The demo room meets now: its context is assembled before anyone joins.
		if _, err := k.assembler.Schedule(ctx, room); err != nil {
			return err
		}
	}
	log.Info("demo knowledge ready", "entity", entity, "room", c.Dev.Room, "documents", len(files))
	return nil
}

const kbUsage = `attendant kb ingest --entity E [--department D] FILE...
  attendant kb search --entity E [--department D] [--k 5] "question"
  attendant kb room --entity E [--department D] --room R [--prompt P] [--topic T] [--at 2026-12-01T09:00:00Z]`

func runKB(ctx context.Context, e *env, args []string) error {
	if len(args) == 0 || (args[0] != "ingest" && args[0] != "search" && args[0] != "room") {
		return fmt.Errorf("%w: %s", errUsage, kbUsage)
	}
	fs := newFlagSet("kb "+args[0], e)
	entity := fs.String("entity", "", "the organisation (entity id)")
	department := fs.String("department", "", "the department (optional)")
	k := fs.Int("k", 5, "search: how many passages to show")
	room := fs.String("room", "", "room: the meeting room (LiveKit room name)")
	prompt := fs.String("prompt", "", "room: the room's own instructions")
	topic := fs.String("topic", "", "room: what the meeting is about (picks the passages pre-warmed)")
	at := fs.String("at", "", "room: when the meeting starts (RFC 3339); empty for now or unscheduled")
	o := config.RegisterFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	c, log, err := finishConfig(e, o)
	if err != nil {
		return err
	}
	if *entity == "" || (args[0] == "room") != (fs.NArg() == 0) || (args[0] == "room") != (*room != "") {
		return fmt.Errorf("%w: %s", errUsage, kbUsage)
	}
	var start time.Time
	if *at != "" {
		if start, err = time.Parse(time.RFC3339, *at); err != nil {
			return fmt.Errorf("%w: --at %q is not an RFC 3339 time such as 2026-12-01T09:00:00Z", errUsage, *at)
		}
	}
	// With Redis, ingestion tells running workers that their rooms' context changed;
	// without it, a warning says so and cached contexts last until their TTL.
	kb, err := openKnowledge(ctx, c, prometheus.NewRegistry(), args[0] != "search", log)
	if err != nil {
		return err
	}
	defer kb.close()
	if args[0] == "search" {
		return kbSearch(ctx, e.stdout, kb, *entity, *department, strings.Join(fs.Args(), " "), *k)
	}
	if err := kb.store.EnsureEntity(ctx, retrieval.Entity{ID: *entity, Name: *entity}); err != nil {
		return err
	}
	if *department != "" {
		if err := kb.store.EnsureDepartment(ctx, retrieval.Department{Entity: *entity, ID: *department, Name: *department}); err != nil {
			return err
		}
	}
	if args[0] == "room" {
		if kb.assembler == nil {
			return errors.New("kb room needs Redis (redis.url) to pre-warm the room's context")
		}
		r := retrieval.Room{ID: *room, Entity: *entity, Department: *department, Prompt: *prompt, Topic: *topic, ScheduledAt: start}
		warm, err := kb.assembler.Schedule(ctx, r)
		if err != nil {
			return err
		}
		when := "with no meeting time"
		if !start.IsZero() {
			when = "for " + start.UTC().Format(time.RFC3339)
		}
		if !warm {
			fmt.Fprintf(e.stdout, "room %s (entity %s) scheduled %s; workers pre-warm its context %s before it starts\n",
				*room, *entity, when, c.Retrieval.PrewarmLead)
			return nil
		}
		k, err := kb.assembler.Room(ctx, *room)
		if err != nil {
			return err
		}
		fmt.Fprintf(e.stdout, "room %s (entity %s) scheduled %s; context pre-warmed in Redis: %d instruction tokens, %d passages\n",
			*room, *entity, when, agent.EstimateTokens(k.Instructions), len(k.Passages))
		return nil
	}
	var failed []error
	for _, path := range fs.Args() {
		data, err := os.ReadFile(path)
		if err != nil {
			failed = append(failed, err)
			continue
		}
		bar := &progressBar{w: e.stderr, name: filepath.Base(path)}
		doc, err := kb.ingestor.Ingest(ctx, retrieval.Upload{Entity: *entity, Department: *department, Name: filepath.Base(path), Data: data}, bar.update)
		bar.done()
		if err != nil {
			fmt.Fprintf(e.stdout, "%s: %v\n", path, err)
			failed = append(failed, err)
			continue
		}
		fmt.Fprintf(e.stdout, "%s: %d chunks stored (document %d, %s)\n", path, doc.Chunks, doc.ID, doc.Format)
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d files not ingested: %w", len(failed), fs.NArg(), errors.Join(failed...))
	}
	return nil
}

func kbSearch(ctx context.Context, w io.Writer, kb *knowledge, entity, department, question string, k int) error {
	vecs, err := kb.embed.Embed(ctx, []string{question})
	if err != nil {
		return err
	}
	hits, err := kb.store.Search(ctx, retrieval.Query{Entity: entity, Department: department, Text: question, Vector: vecs[0], K: k})
	if err != nil {
		return err
	}
	if len(hits) == 0 {
		fmt.Fprintln(w, "no passages found")
		return nil
	}
	for i, h := range hits {
		sim := "-"
		if !math.IsNaN(h.Similarity) {
			sim = fmt.Sprintf("%.3f", h.Similarity)
		}
		fmt.Fprintf(w, "%d. score %.4f  %s#%d  (similarity %s, vector rank %d, text rank %d)\n", i+1, h.Score, h.Document, h.Index+1, sim, h.VectorRank, h.TextRank)
		text := strings.Join(strings.Fields(h.Text), " ")
		if len(text) > 300 {
			text = text[:300] + "…"
		}
		fmt.Fprintf(w, "   %s\n", text)
	}
	return nil
}

// progressBar draws one file's ingestion progress on a terminal line.
type progressBar struct {
	w     io.Writer
	name  string
	mu    sync.Mutex
	shown bool
}

func (p *progressBar) update(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	const width = 30
	filled := width * done / max(total, 1)
	fmt.Fprintf(p.w, "\r%-24.24s [%s%s] %d/%d chunks", p.name, strings.Repeat("#", filled), strings.Repeat(" ", width-filled), done, total)
	p.shown = true
}

func (p *progressBar) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprintln(p.w)
	}
}
