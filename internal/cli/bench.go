package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/attendant/attendant/bench"
	"github.com/attendant/attendant/internal/config"
	"github.com/attendant/attendant/internal/devstack"
	"github.com/attendant/attendant/pipeline/audio"
	"github.com/attendant/attendant/pipeline/tts"
	"github.com/attendant/attendant/retrieval"
	"github.com/attendant/attendant/worker"
)

const benchUsage = "attendant bench join [--invites 200] [--clients 4] [--out FILE.json] | attendant bench assistant-join [--n 20] [--out FILE.json] | attendant bench dispatch [--nodes 3] [--workers 20] [--jobs 5000] [--kills 20] [--clients 64] [--batch 100] [--batch-clients 4] [--rate 5000] [--out FILE.json] | attendant bench retrieval [--chunks 100000] [--dims 384] [--entities 10] [--queries 1000] [--out FILE.json] | attendant bench pipeline [--turns 20] [--sessions 1] [--stt-delay 100ms] [--llm-delay 300ms] [--tts-delay 150ms] [--out FILE.json]; add --livekit.url/api_key/api_secret to use a running LiveKit"

func runBench(ctx context.Context, e *env, args []string) error {
	if len(args) > 0 && args[0] == "retrieval" {
		return runBenchRetrieval(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "dispatch" {
		return runBenchDispatch(ctx, e, args[1:])
	}
	if len(args) > 0 && args[0] == "join" {
		return runBenchJoin(ctx, e, args[1:])
	}
	if len(args) == 0 || (args[0] != "assistant-join" && args[0] != "pipeline") {
		return fmt.Errorf("%w: %s", errUsage, benchUsage)
	}
	scenario := args[0]
	fs := newFlagSet("bench "+scenario, e)
	n := fs.Int("n", 20, "assistant-join: number of joins to measure")
	turns := fs.Int("turns", 20, "pipeline: turns per session")
	sessions := fs.Int("sessions", 1, "pipeline: rooms run at once")
	sttDelay := fs.Duration("stt-delay", 100*time.Millisecond, "pipeline: fake speech-to-text delay")
	llmDelay := fs.Duration("llm-delay", 300*time.Millisecond, "pipeline: fake model time to first token")
	ttsDelay := fs.Duration("tts-delay", 150*time.Millisecond, "pipeline: fake text-to-speech time to first byte")
	out := fs.String("out", "", "write the report as JSON to this file")
	o := config.RegisterFlags(fs)
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *n < 1 || *turns < 1 || *sessions < 1 || *sessions > 50 || *sttDelay < 0 || *llmDelay < 0 || *ttsDelay < 0 {
		return fmt.Errorf("%w: --n and --turns must be at least 1, --sessions 1..50, delays not negative", errUsage)
	}
	// Without a LiveKit to point at, the benchmark starts its own on loopback.
	own := os.Getenv("ATTENDANT_LIVEKIT_API_KEY") == "" && !flagGiven(fs, "livekit.api_key")
	if own {
		dir, err := os.MkdirTemp("", "attendant-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.Set("livekit.api_key", "benchkey")
		o.Set("livekit.api_secret", "bench-secret-0123456789abcdef0123456789")
		c, log, err := finishConfig(e, o)
		if err != nil {
			return err
		}
		stack, err := devstack.Start(ctx, devstack.Options{Dir: dir, LiveKitBinary: c.Dev.LiveKitBinary, LiveKit: true,
			APIKey: c.LiveKit.APIKey, APISecret: c.LiveKit.APISecret, Logger: log})
		if err != nil {
			return err
		}
		defer stack.Stop()
		o.Set("livekit.url", stack.LiveKit.URL())
	}
	c, log, err := finishConfig(e, o)
	if err != nil {
		return err
	}
	type report interface {
		WriteText(io.Writer)
		WriteJSON(string) error
	}
	var rep report
	switch scenario {
	case "assistant-join":
		synth, err := newSynthesizer(c.TTS)
		if err != nil {
			return err
		}
		r, err := bench.AssistantJoin(ctx, bench.AssistantJoinOptions{
			N: *n,
			Session: worker.SessionConfig{
				URL: c.LiveKit.URL, APIKey: c.LiveKit.APIKey, APISecret: c.LiveKit.APISecret,
				Room: "bench-assistant-join-" + time.Now().Format("150405"), Identity: c.Worker.Identity, Name: c.Worker.Name,
				Greeting: c.Worker.Greeting, GreetDelay: c.Worker.GreetDelay,
			},
			TTS:    synth,
			Logger: log,
		})
		if err != nil {
			return err
		}
		rep = r
	case "pipeline":
		question, err := benchQuestion(ctx)
		if err != nil {
			return err
		}
		r, err := bench.Pipeline(ctx, bench.PipelineOptions{
			Turns: *turns, Sessions: *sessions,
			URL: c.LiveKit.URL, APIKey: c.LiveKit.APIKey, APISecret: c.LiveKit.APISecret,
			STTDelay: *sttDelay, LLMDelay: *llmDelay, TTSDelay: *ttsDelay,
			EndOfTurn: c.Listen.EndOfTurn, Question: question, Logger: log,
		})
		if err != nil {
			return err
		}
		rep = r
	}
	return writeReport(e, rep, *out)
}

// runBenchJoin measures joining by magic link through the control plane's join
// handler. Without --database.url it starts its own PostgreSQL, Redis and LiveKit
// in a temporary folder; with it, it uses the configured ones (database.url,
// redis.url, livekit.*), removing what it made there.
func runBenchJoin(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("bench join", e)
	invites := fs.Int("invites", 200, "invitations made and used, one join each")
	clients := fs.Int("clients", 4, "participants joining at once")
	out := fs.String("out", "", "write the report as JSON to this file")
	o := config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *invites < 1 || *invites > 100000 || *clients < 1 || *clients > 256 {
		return fmt.Errorf("%w: --invites 1..100000, --clients 1..256", errUsage)
	}
	own := !flagGiven(fs, "database.url") && os.Getenv("ATTENDANT_DATABASE_URL") == ""
	if own {
		o.Set("livekit.api_key", "benchkey")
		o.Set("livekit.api_secret", "bench-secret-0123456789abcdef0123456789")
	}
	c, log, err := finishConfig(e, o)
	if err != nil {
		return err
	}
	opts := bench.JoinLinkOptions{Invites: *invites, Clients: *clients, BcryptCost: c.ControlPlane.BcryptCost,
		AssetsDir: c.Dev.WebAssets, Logger: log}
	if own {
		dir, err := os.MkdirTemp("", "attendant-bench-join-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		stack, err := devstack.Start(ctx, devstack.Options{Dir: dir, LiveKitBinary: c.Dev.LiveKitBinary,
			Postgres: true, Redis: true, LiveKit: true, APIKey: c.LiveKit.APIKey, APISecret: c.LiveKit.APISecret, Logger: log})
		if err != nil {
			return err
		}
		defer stack.Stop()
		c.Database.URL, c.LiveKit.URL = stack.Postgres.URL(), stack.LiveKit.URL()
		opts.RedisAddr = stack.Redis.Addr()
	} else {
		if err := c.ValidateLiveKit(); err != nil {
			return err
		}
		ro, err := redis.ParseURL(c.Redis.URL)
		if err != nil {
			return fmt.Errorf("redis.url: %w", err)
		}
		opts.RedisAddr = ro.Addr
	}
	if err := applyMigrations(ctx, c.Database.URL, log); err != nil {
		return err
	}
	opts.DatabaseURL, opts.LiveKitURL, opts.APIKey, opts.APISecret = c.Database.URL, c.LiveKit.URL, c.LiveKit.APIKey, c.LiveKit.APISecret
	rep, err := bench.JoinLink(ctx, opts)
	if err != nil {
		return err
	}
	return writeReport(e, rep, *out)
}

// benchQuestion is the participant's spoken question: espeak-ng's voice at 16 kHz,
// without the silence around it, so the clip's end is the end of speech.
func benchQuestion(ctx context.Context) (audio.Clip, error) {
	synth, err := tts.NewEspeak(tts.DefaultEspeakConfig())
	if err != nil {
		return audio.Clip{}, err
	}
	clip, err := synth.Synthesize(ctx, "What are the opening hours")
	if err != nil {
		return audio.Clip{}, err
	}
	return audio.Trim(audio.Resample(clip, 16000), 300), nil
}

func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			given = true
		}
	})
	return given
}

// runBenchRetrieval loads a synthetic corpus and times filtered search. Without
// --database.url it starts its own PostgreSQL and Redis under dev.data_dir/bench, kept
// between runs so a loaded corpus is reused.
func runBenchRetrieval(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("bench retrieval", e)
	chunks := fs.Int("chunks", 100000, "synthetic chunks in all")
	dims := fs.Int("dims", 384, "vector size")
	entities := fs.Int("entities", 10, "organisations sharing the chunks")
	queries := fs.Int("queries", 1000, "searches to time")
	efSearch := fs.Int("ef-search", retrieval.DefaultEfSearch, "HNSW candidates per search (recall against time)")
	out := fs.String("out", "", "write the report as JSON to this file")
	o := config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *chunks < 1000 || *chunks > 20000000 || *dims < 2 || *dims > 2000 || *entities < 2 || *entities > 1000 || *queries < 1 || *efSearch < 1 || *efSearch > 1000 {
		return fmt.Errorf("%w: --chunks 1000..20000000, --dims 2..2000, --entities 2..1000, --queries at least 1, --ef-search 1..1000", errUsage)
	}
	c, log, err := finishConfig(e, o)
	if err != nil {
		return err
	}
	redisAddr := ""
	if !flagGiven(fs, "database.url") && os.Getenv("ATTENDANT_DATABASE_URL") == "" {
		stack, err := devstack.Start(ctx, devstack.Options{Dir: filepath.Join(c.Dev.DataDir, "bench"),
			Postgres: true, Redis: true, Durable: true, Logger: log, PostgresSettings: searchServerSettings()})
		if err != nil {
			return err
		}
		defer stack.Stop()
		c.Database.URL = stack.Postgres.URL()
		redisAddr = stack.Redis.Addr()
	} else {
		opts, err := redis.ParseURL(c.Redis.URL)
		if err != nil {
			return fmt.Errorf("redis.url: %w", err)
		}
		redisAddr = opts.Addr
	}
	if err := applyMigrations(ctx, c.Database.URL, log); err != nil {
		return err
	}
	rep, err := bench.Retrieval(ctx, bench.RetrievalOptions{
		Chunks: *chunks, Dims: *dims, Entities: *entities, Queries: *queries, EfSearch: *efSearch,
		DatabaseURL: c.Database.URL, RedisAddr: redisAddr, Logger: log,
	})
	if err != nil {
		return err
	}
	return writeReport(e, rep, *out)
}

// searchServerSettings sizes PostgreSQL for vector search as an operator would:
// shared buffers a quarter of memory (PostgreSQL's own guidance), so the HNSW graphs
// and the rows they point to are read from the server's cache rather than copied in
// from the kernel's page by page, and the planner told the rest is cache too.
func searchServerSettings() map[string]string {
	mem := memTotalMiB()
	if mem == 0 {
		return nil
	}
	return map[string]string{
		"shared_buffers":       fmt.Sprintf("%dMB", mem/4),
		"effective_cache_size": fmt.Sprintf("%dMB", mem*3/4),
	}
}

// memTotalMiB is the machine's memory from /proc/meminfo, 0 if unknown.
func memTotalMiB() int {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		var kb int
		if _, err := fmt.Sscanf(line, "MemTotal: %d kB", &kb); err == nil {
			return kb / 1024
		}
	}
	return 0
}

// runBenchDispatch starts a cluster of real dispatcher processes (this binary) and
// simulated workers, and measures placement, failover and worker loss.
func runBenchDispatch(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("bench dispatch", e)
	nodes := fs.Int("nodes", 3, "dispatcher processes")
	workers := fs.Int("workers", 20, "simulated workers (no media)")
	jobs := fs.Int("jobs", 5000, "jobs to create")
	kills := fs.Int("kills", 20, "leader SIGKILLs to time failover over")
	clients := fs.Int("clients", 64, "concurrent callers creating one job per request (the single phase)")
	batch := fs.Int("batch", 100, "jobs per request in the batched phase")
	batchClients := fs.Int("batch-clients", 4, "concurrent callers in the batched phase")
	rate := fs.Float64("rate", 5000, "jobs per second offered in the at-rate phase (one batch request every 10 ms); 0 skips it")
	out := fs.String("out", "", "write the report as JSON to this file")
	nodeProcs := fs.Int("node-procs", 1, "GOMAXPROCS of each node (0: Go's default, every core): the nodes share this machine's cores with each other and the benchmark")
	profile := fs.String("profile", "", "write CPU profiles of every node and of the benchmark, taken while jobs are created, into this folder")
	o := config.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *nodes < 1 || *nodes > 7 || *workers < 1 || *workers > 1000 || *jobs < 1 || *jobs > 1000000 || *kills < 0 || (*kills > 0 && *nodes < 3) ||
		*clients < 1 || *clients > 1024 || *batch < 1 || *batch > 1000 || *batchClients < 1 || *batchClients > 64 || *rate < 0 || *rate > 100000 || *nodeProcs < 0 || *nodeProcs > 64 {
		return fmt.Errorf("%w: --nodes 1..7, --workers 1..1000, --jobs 1..1000000, --kills needs at least 3 nodes, --clients 1..1024, --batch 1..1000, --batch-clients 1..64, --rate 0..100000, --node-procs 0..64", errUsage)
	}
	_, log, err := finishConfig(e, o)
	if err != nil {
		return err
	}
	bin, err := os.Executable()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "attendant-bench-dispatch-")
	if err != nil {
		return err
	}
	rep, err := bench.Dispatch(ctx, bench.DispatchOptions{Nodes: *nodes, Workers: *workers, Jobs: *jobs, Kills: *kills,
		Clients: *clients, Batch: *batch, BatchClients: *batchClients, Rate: *rate, NodeProcs: *nodeProcs,
		Binary: bin, Dir: dir, Profile: *profile, Logger: log})
	if err != nil {
		return fmt.Errorf("%w (the nodes' data and logs are kept in %s)", err, dir)
	}
	os.RemoveAll(dir)
	return writeReport(e, rep, *out)
}

// report is what every benchmark scenario's report does.
type report interface {
	WriteText(w io.Writer)
	WriteJSON(path string) error
}

// writeReport prints rep and, when out is set, writes it there as JSON.
func writeReport(e *env, rep report, out string) error {
	rep.WriteText(e.stdout)
	if out == "" {
		return nil
	}
	if err := rep.WriteJSON(out); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "report written to %s\n", out)
	return nil
}
