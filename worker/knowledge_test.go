package worker_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/attendant/attendant/internal/migrate"
	"github.com/attendant/attendant/internal/talker"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/pipeline/llm"
	"github.com/attendant/attendant/retrieval"
	"github.com/attendant/attendant/retrieval/chunk"
	"github.com/attendant/attendant/retrieval/embed"
	"github.com/attendant/attendant/worker"
)

// The assistant answers from the documents ingested for its room's organisation,
// through the real knowledge base (PostgreSQL + pgvector, Redis) and the offline
// extractive responder.
func TestAnswersFromIngestedKnowledge(t *testing.T) {
	stack := testenv.Shared(t)
	ctx := context.Background()
	url := testenv.Database(t)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := migrate.Up(ctx, conn); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	store, err := retrieval.Open(ctx, url, 256, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	emb, err := embed.NewHashing(256)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(&redis.Options{Addr: stack.Redis.Addr()})
	t.Cleanup(func() { rdb.Close() })
	log := slog.New(slog.DiscardHandler)
	asm, err := retrieval.NewAssembler(retrieval.AssemblerConfig{Deadline: time.Second}, store, emb, rdb, retrieval.NewMetrics(prometheus.NewRegistry()), log)
	if err != nil {
		t.Fatal(err)
	}
	ing, err := retrieval.NewIngestor(retrieval.IngestConfig{Chunk: chunk.Config{Tokens: 64, Overlap: 8}}, store, emb, nil, log)
	if err != nil {
		t.Fatal(err)
	}
	room := newRoomName(t)
	if err := store.EnsureEntity(ctx, retrieval.Entity{ID: "acme", Instructions: "You are Acme's meeting assistant."}); err != nil {
		t.Fatal(err)
	}
	if err := store.PutRoom(ctx, retrieval.Room{ID: room, Entity: "acme", Topic: "office"}); err != nil {
		t.Fatal(err)
	}
	doc := "# Visitors\n\nVisitors sign in at the front desk.\n\nVisitors park in the garage behind the building; the first two hours are free.\n\n" +
		"# Lunch\n\nThe canteen serves lunch from twelve to two."
	if _, err := ing.Ingest(ctx, retrieval.Upload{Entity: "acme", Name: "handbook.md", Data: []byte(doc)}, nil); err != nil {
		t.Fatal(err)
	}
	model, err := llm.NewExtractive(llm.ExtractiveConfig{})
	if err != nil {
		t.Fatal(err)
	}
	r := startVoiceRig(t, "unused", "unused")
	r.room = room
	cfg := r.config()
	cfg.Model = model
	cfg.Session.Context = asm
	r.metrics = worker.NewMetrics(prometheus.NewRegistry())
	runWorker(t, cfg, r.synth, r.metrics)
	tk := r.join(t, "kim", "Kim", true)
	tk.Room().LocalParticipant.SendText("Where do visitors park?", lksdk.StreamTextOptions{Topic: worker.ChatTopic})
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := tk.WaitCaption(wctx, func(c talker.Caption) bool { return finalFrom("assistant")(c) })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.Text, "garage") {
		t.Errorf("answer %q; want it drawn from the handbook (the garage)", c.Text)
	}
}
