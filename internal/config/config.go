// Package config holds Attendant's one configuration struct: defaults, strict YAML,
// environment variables, command-line flags and validation with actionable messages.
//
// Precedence, lowest first: Default(), the YAML file, ATTENDANT_* environment
// variables, flags. Every field has a YAML key; its environment variable is
// ATTENDANT_ followed by the upper-cased key path joined with underscores, for
// example worker.identity → ATTENDANT_WORKER_IDENTITY.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the whole configuration of every Attendant process.
type Config struct {
	Log          Log          `yaml:"log"`
	LiveKit      LiveKit      `yaml:"livekit"`
	Database     Database     `yaml:"database"`
	Redis        Redis        `yaml:"redis"`
	Retrieval    Retrieval    `yaml:"retrieval"`
	Worker       Worker       `yaml:"worker"`
	Listen       Listen       `yaml:"listen"`
	STT          STT          `yaml:"stt"`
	LLM          LLM          `yaml:"llm"`
	TTS          TTS          `yaml:"tts"`
	Dispatcher   Dispatcher   `yaml:"dispatcher"`
	ControlPlane ControlPlane `yaml:"control_plane"`
	Dev          Dev          `yaml:"dev"`
}

// ControlPlane configures the admin pages, invitations and joining by magic link.
type ControlPlane struct {
	// HTTPAddr serves the pages, /join/{token}, LiveKit's webhooks and the
	// operational endpoints.
	HTTPAddr string `yaml:"http_addr"`
	// PublicURL is how people reach HTTPAddr (links in invitations are built on it);
	// with https, cookies are marked Secure.
	PublicURL string `yaml:"public_url"`
	// LiveKitPublicURL is the LiveKit URL browsers connect to (default livekit.url).
	LiveKitPublicURL string `yaml:"livekit_public_url"`
	// BcryptCost is the cost of admins' and invitations' password hashes.
	BcryptCost int `yaml:"bcrypt_cost"`
	// SessionTTL is how long an admin stays signed in without using the pages.
	SessionTTL time.Duration `yaml:"session_ttl"`
	// LinkTTL is how long an invitation's link works.
	LinkTTL time.Duration `yaml:"link_ttl"`
	// Dispatchers lists the dispatcher nodes (host:port, comma-separated) the control
	// plane asks for rooms' assistant jobs.
	Dispatchers string `yaml:"dispatchers"`
	// Contact is whom a participant turned away (room full) is told to contact.
	Contact string `yaml:"contact"`
	// SMTP sends invitations by email; an empty host sends none.
	SMTPHost     string `yaml:"smtp_host"`
	SMTPPort     int    `yaml:"smtp_port"`
	SMTPUsername string `yaml:"smtp_username"`
	SMTPPassword string `yaml:"smtp_password"`
	SMTPFrom     string `yaml:"smtp_from"`
	// MessageWebhook receives invitations for phones (a WhatsApp or SMS gateway) as
	// JSON POSTs; empty sends none. MessageWebhookToken is sent as a Bearer token.
	MessageWebhook      string `yaml:"message_webhook"`
	MessageWebhookToken string `yaml:"message_webhook_token"`
}

// Dispatcher configures dispatcher nodes and how workers and clients reach them.
type Dispatcher struct {
	// Secret authenticates workers, API clients and nodes to each other (Bearer).
	Secret string `yaml:"secret"`
	// Lease is how long a worker may go without a heartbeat before its jobs move.
	Lease time.Duration `yaml:"lease"`
	// OfferTimeout is how long an offer waits for the worker's answer.
	OfferTimeout time.Duration `yaml:"offer_timeout"`
	// Retention is how long ended jobs, and workers lost, are kept before they are
	// pruned from the state; a create retried with the same room and request id
	// within it returns the first job.
	Retention time.Duration `yaml:"retention"`
	// ElectionTimeout is raft's heartbeat and election timeout: how long followers
	// wait for a silent leader before electing another. A failover takes about
	// two to four of it, and must end well within the lease, or workers stop their
	// sessions to be safe.
	ElectionTimeout time.Duration `yaml:"election_timeout"`
}

// Log configures structured logging.
type Log struct {
	// Level is one of debug, info, warn, error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// LiveKit says where the LiveKit server is and how to authenticate to it.
type LiveKit struct {
	// URL is the server's WebSocket URL, ws:// or wss://.
	URL       string `yaml:"url"`
	APIKey    string `yaml:"api_key"`
	APISecret string `yaml:"api_secret"`
}

// Database says where PostgreSQL (with pgvector) is.
type Database struct {
	// URL is a PostgreSQL connection string.
	URL string `yaml:"url"`
}

// Redis says where Redis is (the agent context cache).
type Redis struct {
	// URL is a redis:// URL.
	URL string `yaml:"url"`
}

// Retrieval configures the organisations' knowledge: embedding, search and the agent
// context.
type Retrieval struct {
	// Enabled grounds answers in the knowledge base (PostgreSQL and Redis); off, the
	// worker uses worker.instructions alone.
	Enabled bool `yaml:"enabled"`
	// Embedder is hashing (offline: word and character n-gram feature hashing) or
	// openai (any OpenAI-compatible /embeddings endpoint).
	Embedder string `yaml:"embedder"`
	// Dims is the vectors' size; with openai it is sent as the dimensions wanted.
	Dims int `yaml:"dims"`
	// BaseURL, APIKey and Model address the openai embedder.
	BaseURL string `yaml:"base_url"`
	APIKey  string `yaml:"api_key"`
	Model   string `yaml:"model"`
	// Deadline bounds retrieval for one utterance; past it the turn goes on without.
	Deadline time.Duration `yaml:"deadline"`
	// EfSearch is how many candidates an HNSW search keeps: recall against time.
	EfSearch int `yaml:"ef_search"`
	// ContextBudget bounds the assembled agent context, in tokens.
	ContextBudget int `yaml:"context_budget"`
	// ContextTTL is how long an assembled context stays cached in Redis.
	ContextTTL time.Duration `yaml:"context_ttl"`
	// PrewarmLead is how long before a scheduled meeting its context is assembled
	// into Redis (and kept there until as long after its start).
	PrewarmLead time.Duration `yaml:"prewarm_lead"`
	// ChunkTokens and ChunkOverlap size the pieces documents are cut into.
	ChunkTokens  int `yaml:"chunk_tokens"`
	ChunkOverlap int `yaml:"chunk_overlap"`
}

// Worker configures the assistant worker process.
type Worker struct {
	// Room is the LiveKit room the worker joins until the dispatcher assigns rooms.
	Room string `yaml:"room"`
	// Identity is the assistant's participant identity in the room.
	Identity string `yaml:"identity"`
	// Name is the display name participants see.
	Name string `yaml:"name"`
	// Greeting is said to each participant who joins; {name} is replaced by their name.
	Greeting string `yaml:"greeting"`
	// HTTPAddr serves /healthz, /readyz and /metrics.
	HTTPAddr string `yaml:"http_addr"`
	// ReconnectMax caps the wait between attempts to rejoin a room after losing it.
	ReconnectMax time.Duration `yaml:"reconnect_max"`
	// GreetDelay lets a newcomer's subscription to the assistant's track settle before
	// the greeting starts, so its first words are not lost.
	GreetDelay time.Duration `yaml:"greet_delay"`
	// Instructions tell the assistant how to behave and what it knows, until knowledge
	// retrieval provides the organisation's documents.
	Instructions string `yaml:"instructions"`
	// Dispatchers lists dispatcher nodes (host:port, comma-separated): when set, the
	// worker takes its rooms from the dispatcher instead of joining worker.room.
	Dispatchers string `yaml:"dispatchers"`
	// ID names the worker to the dispatcher (default: host name and process id).
	ID string `yaml:"id"`
	// Capacity is how many rooms the worker serves at once.
	Capacity int `yaml:"capacity"`
	// Labels are matched against jobs' (comma-separated key=value, e.g. lang=en).
	Labels string `yaml:"labels"`
}

// DispatcherNodes splits worker.dispatchers.
func (w Worker) DispatcherNodes() []string { return splitList(w.Dispatchers) }

// DispatcherNodes splits control_plane.dispatchers.
func (cp ControlPlane) DispatcherNodes() []string { return splitList(cp.Dispatchers) }

func splitList(list string) []string {
	var out []string
	for _, n := range strings.Split(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// LabelMap parses worker.labels.
func (w Worker) LabelMap() (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range strings.Split(w.Labels, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !labelRE.MatchString(k) || !labelRE.MatchString(v) {
			return nil, fmt.Errorf("%q is not key=value (letters, digits and _.:/-)", kv)
		}
		out[k] = v
	}
	return out, nil
}

var labelRE = regexp.MustCompile(`^[A-Za-z0-9_.:/-]{1,64}$`)

// Listen tunes how the assistant hears participants: voice activity, the end of a
// turn and barge-in.
type Listen struct {
	// EndOfTurn is the silence after speech that ends a participant's turn.
	EndOfTurn time.Duration `yaml:"end_of_turn"`
	// MarginDB is how far above the adaptive noise floor audio must rise to be speech.
	MarginDB float64 `yaml:"margin_db"`
	// MinLevelDBFS is the absolute level speech must also exceed.
	MinLevelDBFS float64 `yaml:"min_level_dbfs"`
	// MinSpeech is the voiced time that confirms the start of speech.
	MinSpeech time.Duration `yaml:"min_speech"`
	// MinSilence is the unvoiced time that ends a run of speech within a turn.
	MinSilence time.Duration `yaml:"min_silence"`
	// PrePad is audio kept from before the onset, so the first word is heard whole.
	PrePad time.Duration `yaml:"pre_pad"`
	// BargeIn lets a participant interrupt the assistant by talking over it.
	BargeIn bool `yaml:"barge_in"`
	// BackchannelMax is the longest speech over the assistant that may still be a
	// backchannel ("mm-hm", "okay"); longer speech interrupts without waiting for
	// its transcript.
	BackchannelMax time.Duration `yaml:"backchannel_max"`
}

// STT selects the speech-to-text provider.
type STT struct {
	// Provider is pocketsphinx (offline, Debian's pocketsphinx-en-us) or openai (any
	// OpenAI-compatible /audio/transcriptions endpoint).
	Provider string `yaml:"provider"`
	// BaseURL, APIKey and Model address the openai provider.
	BaseURL string `yaml:"base_url"`
	APIKey  string `yaml:"api_key"`
	Model   string `yaml:"model"`
	// Language is the spoken language as an ISO-639-1 code (openai only).
	Language string `yaml:"language"`
}

// LLM selects the model that answers participants.
type LLM struct {
	// Provider is extractive (offline: answers with sentences from the instructions and
	// knowledge, no model) or openai (any OpenAI-compatible chat completions endpoint).
	Provider string `yaml:"provider"`
	// BaseURL, APIKey and Model address the openai provider.
	BaseURL string `yaml:"base_url"`
	APIKey  string `yaml:"api_key"`
	Model   string `yaml:"model"`
}

// TTS selects and configures the text-to-speech provider.
type TTS struct {
	// Provider is espeak (offline, Debian's espeak-ng) or openai (any OpenAI-compatible
	// /audio/speech endpoint, streamed as PCM).
	Provider string `yaml:"provider"`
	// Voice is the espeak-ng voice, a language code such as en-us.
	Voice string `yaml:"voice"`
	// WordsPerMinute is espeak-ng's speaking rate.
	WordsPerMinute int `yaml:"words_per_minute"`
	// BaseURL, APIKey, Model and OpenAIVoice address the openai provider.
	BaseURL     string `yaml:"base_url"`
	APIKey      string `yaml:"api_key"`
	Model       string `yaml:"model"`
	OpenAIVoice string `yaml:"openai_voice"`
}

// Dev configures `attendant dev`, the local stack.
type Dev struct {
	// DataDir holds the local PostgreSQL cluster, logs and pid files.
	DataDir string `yaml:"data_dir"`
	// HTTPAddr serves the join page and the dev process's health endpoints.
	HTTPAddr string `yaml:"http_addr"`
	// Room is the demo room created at start.
	Room string `yaml:"room"`
	// LiveKitBinary is the livekit-server executable (make deps puts it in bin/).
	LiveKitBinary string `yaml:"livekit_binary"`
	// WebAssets is the folder holding livekit-client's browser bundle.
	WebAssets string `yaml:"web_assets"`
	// DemoDocuments is a folder of Markdown documents ingested into the demo entity's
	// knowledge at start.
	DemoDocuments string `yaml:"demo_documents"`
}

// Default returns the configuration used when nothing else is given.
func Default() Config {
	return Config{
		Log: Log{Level: "info", Format: "text"},
		LiveKit: LiveKit{
			URL: "ws://127.0.0.1:7880",
		},
		Database: Database{URL: "postgres://attendant@127.0.0.1:5432/attendant?sslmode=disable"},
		Redis:    Redis{URL: "redis://127.0.0.1:6379/0"},
		Retrieval: Retrieval{
			Enabled: true, Embedder: "hashing", Dims: 384,
			BaseURL: "https://api.openai.com/v1", Model: "text-embedding-3-small",
			Deadline: 50 * time.Millisecond, EfSearch: 64, ContextBudget: 8000, ContextTTL: 12 * time.Hour,
			PrewarmLead: 30 * time.Minute,
			ChunkTokens: 512, ChunkOverlap: 50,
		},
		Worker: Worker{
			Room:         "demo",
			Identity:     "assistant",
			Name:         "Assistant",
			Greeting:     "Hello {name}, welcome to the meeting. I am the assistant.",
			HTTPAddr:     "127.0.0.1:9090",
			ReconnectMax: 5 * time.Second,
			GreetDelay:   time.Second,
			Instructions: "You are Attendant, an assistant taking part in this meeting. Answer briefly and plainly.",
			Capacity:     4,
		},
		Listen: Listen{
			EndOfTurn:      500 * time.Millisecond,
			MarginDB:       12,
			MinLevelDBFS:   -50,
			MinSpeech:      100 * time.Millisecond,
			MinSilence:     150 * time.Millisecond,
			PrePad:         200 * time.Millisecond,
			BargeIn:        true,
			BackchannelMax: 900 * time.Millisecond,
		},
		STT: STT{Provider: "pocketsphinx", BaseURL: "https://api.openai.com/v1", Model: "whisper-1", Language: "en"},
		LLM: LLM{Provider: "extractive", BaseURL: "https://api.openai.com/v1", Model: "gpt-4o-mini"},
		TTS: TTS{
			Provider: "espeak", Voice: "en-us", WordsPerMinute: 165,
			BaseURL: "https://api.openai.com/v1", Model: "tts-1", OpenAIVoice: "alloy",
		},
		Dispatcher: Dispatcher{Lease: 3 * time.Second, OfferTimeout: 2 * time.Second, Retention: 24 * time.Hour, ElectionTimeout: 300 * time.Millisecond},
		ControlPlane: ControlPlane{
			HTTPAddr: "127.0.0.1:8090", PublicURL: "http://127.0.0.1:8090",
			BcryptCost: 12, SessionTTL: 12 * time.Hour, LinkTTL: 24 * time.Hour,
			Contact: "the person who invited you", SMTPPort: 587,
		},
		Dev: Dev{
			DataDir:       ".data",
			HTTPAddr:      "127.0.0.1:8080",
			Room:          "demo",
			LiveKitBinary: "bin/livekit-server",
			WebAssets:     "web/node_modules/livekit-client/dist",
			DemoDocuments: "deploy/local/demo",
		},
	}
}

// Decode reads YAML from r into c. Unknown keys are errors.
func (c *Config) Decode(r io.Reader) error {
	dec := yaml.NewDecoder(r)
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return nil
}

// LoadFile applies the YAML file at path on top of c.
func (c *Config) LoadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	if err := c.Decode(bytes.NewReader(data)); err != nil {
		return fmt.Errorf("config %s: %w", path, err)
	}
	return nil
}

var (
	identityRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,64}$`)
	roomRE     = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,128}$`)
	voiceRE    = regexp.MustCompile(`^[A-Za-z0-9+_-]{1,64}$`)
	langRE     = regexp.MustCompile(`^[a-z]{2}$`)
)

// Validate checks the configuration and returns every problem found, each naming
// the key and what to do about it.
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not one of text, json", c.Log.Format)
	}
	if u, err := url.Parse(c.LiveKit.URL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
		bad("livekit.url", "%q must be a ws:// or wss:// URL such as ws://127.0.0.1:7880", c.LiveKit.URL)
	}
	if u, err := url.Parse(c.Database.URL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		bad("database.url", "must be a postgres:// connection string")
	}
	if c.Worker.GreetDelay < 0 || c.Worker.GreetDelay > 10*time.Second {
		bad("worker.greet_delay", "%s must be between 0s and 10s", c.Worker.GreetDelay)
	}
	if !roomRE.MatchString(c.Worker.Room) {
		bad("worker.room", "%q must be 1-128 letters, digits or _.:-", c.Worker.Room)
	}
	if !identityRE.MatchString(c.Worker.Identity) {
		bad("worker.identity", "%q must be 1-64 letters, digits or _.:-", c.Worker.Identity)
	}
	if strings.TrimSpace(c.Worker.Name) == "" || len(c.Worker.Name) > 64 {
		bad("worker.name", "must be 1-64 characters")
	}
	if len(c.Worker.Greeting) > 500 {
		bad("worker.greeting", "is %d bytes; keep it under 500", len(c.Worker.Greeting))
	}
	if c.Worker.HTTPAddr == "" {
		bad("worker.http_addr", "must be host:port, for example 127.0.0.1:9090")
	}
	for _, n := range c.Worker.DispatcherNodes() {
		if _, port, err := net.SplitHostPort(n); err != nil || port == "" {
			bad("worker.dispatchers", "%q must be host:port", n)
		}
	}
	if c.Worker.Capacity < 1 || c.Worker.Capacity > 1000 {
		bad("worker.capacity", "%d must be between 1 and 1000", c.Worker.Capacity)
	}
	if _, err := c.Worker.LabelMap(); err != nil {
		bad("worker.labels", "%v", err)
	}
	if c.Worker.ReconnectMax < 100*time.Millisecond || c.Worker.ReconnectMax > 5*time.Minute {
		bad("worker.reconnect_max", "%s must be between 100ms and 5m", c.Worker.ReconnectMax)
	}
	if u, err := url.Parse(c.Redis.URL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		bad("redis.url", "%q must be a redis:// URL such as redis://127.0.0.1:6379/0", c.Redis.URL)
	}
	r := c.Retrieval
	switch r.Embedder {
	case "hashing":
		if r.Dims < 64 || r.Dims > 4096 {
			bad("retrieval.dims", "%d must be between 64 and 4096 for the hashing embedder", r.Dims)
		}
	case "openai":
		checkRemote("retrieval", r.BaseURL, r.APIKey, r.Model, bad)
		if r.Dims < 1 || r.Dims > 16000 {
			bad("retrieval.dims", "%d must be between 1 and 16000 (pgvector's limit)", r.Dims)
		}
	default:
		bad("retrieval.embedder", "%q is not one of hashing, openai", r.Embedder)
	}
	if r.Deadline < time.Millisecond || r.Deadline > 10*time.Second {
		bad("retrieval.deadline", "%s must be between 1ms and 10s", r.Deadline)
	}
	if r.EfSearch < 10 || r.EfSearch > 1000 {
		bad("retrieval.ef_search", "%d must be between 10 and 1000", r.EfSearch)
	}
	if r.ContextBudget < 500 || r.ContextBudget > 200000 {
		bad("retrieval.context_budget", "%d must be between 500 and 200000 tokens", r.ContextBudget)
	}
	if r.ContextTTL < time.Minute || r.ContextTTL > 30*24*time.Hour {
		bad("retrieval.context_ttl", "%s must be between 1m and 720h", r.ContextTTL)
	}
	if d := c.Dispatcher; d.Lease < 500*time.Millisecond || d.Lease > time.Minute {
		bad("dispatcher.lease", "%s must be between 500ms and 1m", d.Lease)
	}
	if d := c.Dispatcher; d.OfferTimeout < 100*time.Millisecond || d.OfferTimeout > time.Minute {
		bad("dispatcher.offer_timeout", "%s must be between 100ms and 1m", d.OfferTimeout)
	}
	if d := c.Dispatcher; d.Retention < time.Minute || d.Retention > 90*24*time.Hour {
		bad("dispatcher.retention", "%s must be between 1m and 2160h (90 days)", d.Retention)
	}
	if d := c.Dispatcher; d.ElectionTimeout < 50*time.Millisecond || d.ElectionTimeout > 10*time.Second {
		bad("dispatcher.election_timeout", "%s must be between 50ms and 10s", d.ElectionTimeout)
	} else if d.Lease < 5*d.ElectionTimeout {
		bad("dispatcher.election_timeout", "%s must be at most a fifth of dispatcher.lease (%s): a failover takes two to four of it, and workers stop their sessions when it outlasts most of the lease", d.ElectionTimeout, d.Lease)
	}
	c.ControlPlane.validate(bad)
	if r.PrewarmLead < time.Minute || r.PrewarmLead >= r.ContextTTL {
		bad("retrieval.prewarm_lead", "%s must be at least 1m and less than retrieval.context_ttl (%s)", r.PrewarmLead, r.ContextTTL)
	}
	if r.ChunkTokens < 32 || r.ChunkTokens > 8192 {
		bad("retrieval.chunk_tokens", "%d must be between 32 and 8192", r.ChunkTokens)
	}
	if r.ChunkOverlap < 0 || r.ChunkOverlap >= r.ChunkTokens {
		bad("retrieval.chunk_overlap", "%d must be at least 0 and less than retrieval.chunk_tokens", r.ChunkOverlap)
	}
	l := c.Listen
	if l.EndOfTurn < 100*time.Millisecond || l.EndOfTurn > 5*time.Second {
		bad("listen.end_of_turn", "%s must be between 100ms and 5s", l.EndOfTurn)
	}
	if !(l.MarginDB >= 1 && l.MarginDB <= 40) {
		bad("listen.margin_db", "%v must be between 1 and 40", l.MarginDB)
	}
	if !(l.MinLevelDBFS >= -90 && l.MinLevelDBFS <= -10) {
		bad("listen.min_level_dbfs", "%v must be between -90 and -10", l.MinLevelDBFS)
	}
	if l.MinSpeech < 10*time.Millisecond || l.MinSpeech > 2*time.Second {
		bad("listen.min_speech", "%s must be between 10ms and 2s", l.MinSpeech)
	}
	if l.MinSilence < 10*time.Millisecond || l.MinSilence > 5*time.Second {
		bad("listen.min_silence", "%s must be between 10ms and 5s", l.MinSilence)
	} else if l.MinSilence >= l.EndOfTurn {
		bad("listen.min_silence", "%s must be shorter than listen.end_of_turn (%s)", l.MinSilence, l.EndOfTurn)
	}
	if l.PrePad < 0 || l.PrePad > 2*time.Second {
		bad("listen.pre_pad", "%s must be between 0s and 2s", l.PrePad)
	}
	if l.BackchannelMax < 200*time.Millisecond || l.BackchannelMax > 3*time.Second {
		bad("listen.backchannel_max", "%s must be between 200ms and 3s", l.BackchannelMax)
	}
	switch c.STT.Provider {
	case "pocketsphinx":
	case "openai":
		checkRemote("stt", c.STT.BaseURL, c.STT.APIKey, c.STT.Model, bad)
		if c.STT.Language != "" && !langRE.MatchString(c.STT.Language) {
			bad("stt.language", "%q must be an ISO-639-1 code such as en, or empty", c.STT.Language)
		}
	default:
		bad("stt.provider", "%q is not one of pocketsphinx, openai", c.STT.Provider)
	}
	switch c.LLM.Provider {
	case "extractive":
	case "openai":
		checkRemote("llm", c.LLM.BaseURL, c.LLM.APIKey, c.LLM.Model, bad)
	default:
		bad("llm.provider", "%q is not one of extractive, openai", c.LLM.Provider)
	}
	if len(c.Worker.Instructions) > 20000 {
		bad("worker.instructions", "is %d bytes; keep it under 20000", len(c.Worker.Instructions))
	}
	switch c.TTS.Provider {
	case "espeak":
		if !voiceRE.MatchString(c.TTS.Voice) {
			bad("tts.voice", "%q must be an espeak-ng voice such as en-us", c.TTS.Voice)
		}
		if c.TTS.WordsPerMinute < 80 || c.TTS.WordsPerMinute > 450 {
			bad("tts.words_per_minute", "%d must be between 80 and 450", c.TTS.WordsPerMinute)
		}
	case "openai":
		checkRemote("tts", c.TTS.BaseURL, c.TTS.APIKey, c.TTS.Model, bad)
		if !voiceRE.MatchString(c.TTS.OpenAIVoice) {
			bad("tts.openai_voice", "%q must be a voice name such as alloy", c.TTS.OpenAIVoice)
		}
	default:
		bad("tts.provider", "%q is not one of espeak, openai", c.TTS.Provider)
	}
	if c.Dev.DataDir == "" {
		bad("dev.data_dir", "must be a folder path such as .data")
	}
	if !roomRE.MatchString(c.Dev.Room) {
		bad("dev.room", "%q must be 1-128 letters, digits or _.:-", c.Dev.Room)
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("%w:\n  %w", ErrInvalid, joinLines(errs))
}

// ValidateLiveKit checks what talking to a LiveKit server needs beyond Validate: its
// API key and secret. Commands that join rooms call it; `attendant dev` sets its own.
func (c Config) ValidateLiveKit() error {
	if c.LiveKit.APIKey == "" || c.LiveKit.APISecret == "" {
		return fmt.Errorf("%w: livekit.api_key/api_secret: both must be set (ATTENDANT_LIVEKIT_API_KEY, ATTENDANT_LIVEKIT_API_SECRET); `attendant dev` sets them for the local server", ErrInvalid)
	}
	return nil
}

// ValidateDispatcher checks what running or reaching a dispatcher needs: the shared
// secret.
func (c Config) ValidateDispatcher() error {
	if len(c.Dispatcher.Secret) < 16 {
		return fmt.Errorf("%w: dispatcher.secret: at least 16 characters, the same on every node and worker (ATTENDANT_DISPATCHER_SECRET)", ErrInvalid)
	}
	return nil
}

func (cp ControlPlane) validate(bad func(key, format string, args ...any)) {
	if _, _, err := net.SplitHostPort(cp.HTTPAddr); err != nil {
		bad("control_plane.http_addr", "%q must be host:port", cp.HTTPAddr)
	}
	if u, err := url.Parse(cp.PublicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		bad("control_plane.public_url", "%q must be an http(s) URL such as https://meet.example.org", cp.PublicURL)
	}
	if cp.LiveKitPublicURL != "" {
		if u, err := url.Parse(cp.LiveKitPublicURL); err != nil || (u.Scheme != "ws" && u.Scheme != "wss") || u.Host == "" {
			bad("control_plane.livekit_public_url", "%q must be a ws:// or wss:// URL", cp.LiveKitPublicURL)
		}
	}
	if cp.BcryptCost < 4 || cp.BcryptCost > 16 {
		bad("control_plane.bcrypt_cost", "%d must be between 4 and 16 (10 or more outside tests)", cp.BcryptCost)
	}
	if cp.SessionTTL < time.Minute || cp.SessionTTL > 30*24*time.Hour {
		bad("control_plane.session_ttl", "%s must be between 1m and 720h", cp.SessionTTL)
	}
	if cp.LinkTTL < time.Minute || cp.LinkTTL > 30*24*time.Hour {
		bad("control_plane.link_ttl", "%s must be between 1m and 720h", cp.LinkTTL)
	}
	if cp.SMTPHost != "" {
		if cp.SMTPPort < 1 || cp.SMTPPort > 65535 {
			bad("control_plane.smtp_port", "%d is not a port", cp.SMTPPort)
		}
		if _, err := mail.ParseAddress(cp.SMTPFrom); err != nil {
			bad("control_plane.smtp_from", "%q must be an email address when control_plane.smtp_host is set", cp.SMTPFrom)
		}
	}
	if cp.MessageWebhook != "" {
		if u, err := url.Parse(cp.MessageWebhook); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad("control_plane.message_webhook", "%q must be an http(s) URL", cp.MessageWebhook)
		}
	}
}

// checkRemote checks the address of an OpenAI-compatible provider of stage.
func checkRemote(stage, baseURL, apiKey, model string, bad func(key, format string, args ...any)) {
	if u, err := url.Parse(baseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad(stage+".base_url", "%q must be an http(s) URL such as https://api.openai.com/v1", baseURL)
	}
	if apiKey == "" {
		bad(stage+".api_key", "must be set for the openai provider (ATTENDANT_%s_API_KEY; any value for servers without keys)", strings.ToUpper(stage))
	}
	if model == "" {
		bad(stage+".model", "must name the model")
	}
}

func joinLines(errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return errors.New(strings.Join(msgs, "\n  "))
}
