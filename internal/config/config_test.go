package config

import (
	"errors"
	"flag"
	"os"
	"strings"
	"testing"
	"time"
)

func valid() Config {
	c := Default()
	c.LiveKit.APIKey, c.LiveKit.APISecret = "key", "secret"
	return c
}

func TestDefaultNeedsOnlyKeys(t *testing.T) {
	if err := Default().Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v; want nil", err)
	}
	if err := valid().ValidateLiveKit(); err != nil {
		t.Fatalf("Default() with LiveKit keys: ValidateLiveKit() = %v; want nil", err)
	}
	err := Default().ValidateLiveKit()
	if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "ATTENDANT_LIVEKIT_API_KEY") {
		t.Fatalf("Default().ValidateLiveKit() = %v; want a message naming ATTENDANT_LIVEKIT_API_KEY", err)
	}
}

func TestDecodeStrict(t *testing.T) {
	tests := []struct {
		name, yaml string
		wantErr    string
		check      func(Config) bool
	}{
		{"empty file", "", "", func(c Config) bool { return c.Worker.Identity == "assistant" }},
		{"sets values", "worker:\n  identity: helper\n  greet_delay: 250ms\ntts:\n  words_per_minute: 200\n", "",
			func(c Config) bool {
				return c.Worker.Identity == "helper" && c.Worker.GreetDelay == 250*time.Millisecond && c.TTS.WordsPerMinute == 200
			}},
		{"unknown key", "worker:\n  identty: helper\n", "identty", nil},
		{"unknown section", "workers: {}\n", "workers", nil},
		{"wrong type", "tts:\n  words_per_minute: fast\n", "line 2", nil},
		{"bad duration", "worker:\n  greet_delay: soon\n", "line 2", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			err := c.Decode(strings.NewReader(tc.yaml))
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Decode(%q) = %v; want ErrInvalid mentioning %q", tc.yaml, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%q) = %v", tc.yaml, err)
			}
			if !tc.check(c) {
				t.Errorf("Decode(%q) gave %+v", tc.yaml, c)
			}
		})
	}
}

func TestValidateMessages(t *testing.T) {
	tests := []struct {
		name   string
		modify func(*Config)
		want   string
	}{
		{"log level", func(c *Config) { c.Log.Level = "loud" }, "log.level"},
		{"livekit url", func(c *Config) { c.LiveKit.URL = "http://x" }, "livekit.url"},
		{"room", func(c *Config) { c.Worker.Room = "a room" }, "worker.room"},
		{"identity", func(c *Config) { c.Worker.Identity = "" }, "worker.identity"},
		{"provider", func(c *Config) { c.TTS.Provider = "magic" }, "tts.provider"},
		{"voice", func(c *Config) { c.TTS.Voice = "en us" }, "tts.voice"},
		{"rate", func(c *Config) { c.TTS.WordsPerMinute = 5 }, "tts.words_per_minute"},
		{"reconnect", func(c *Config) { c.Worker.ReconnectMax = time.Millisecond }, "worker.reconnect_max"},
		{"database", func(c *Config) { c.Database.URL = "mysql://x" }, "database.url"},
		{"llm provider", func(c *Config) { c.LLM.Provider = "magic" }, "llm.provider"},
		{"llm key", func(c *Config) { c.LLM.Provider = "openai" }, "llm.api_key"},
		{"llm url", func(c *Config) { c.LLM.Provider, c.LLM.APIKey, c.LLM.BaseURL = "openai", "k", "ftp://x" }, "llm.base_url"},
		{"stt provider", func(c *Config) { c.STT.Provider = "magic" }, "stt.provider"},
		{"stt key", func(c *Config) { c.STT.Provider = "openai" }, "stt.api_key"},
		{"stt model", func(c *Config) { c.STT.Provider, c.STT.APIKey, c.STT.Model = "openai", "k", "" }, "stt.model"},
		{"stt language", func(c *Config) { c.STT.Provider, c.STT.APIKey, c.STT.Language = "openai", "k", "english" }, "stt.language"},
		{"tts key", func(c *Config) { c.TTS.Provider = "openai" }, "tts.api_key"},
		{"tts openai voice", func(c *Config) { c.TTS.Provider, c.TTS.APIKey, c.TTS.OpenAIVoice = "openai", "k", "a b" }, "tts.openai_voice"},
		{"end of turn", func(c *Config) { c.Listen.EndOfTurn = 10 * time.Millisecond }, "listen.end_of_turn"},
		{"silence within turn", func(c *Config) { c.Listen.MinSilence = time.Second }, "listen.min_silence"},
		{"margin", func(c *Config) { c.Listen.MarginDB = 0 }, "listen.margin_db"},
		{"level", func(c *Config) { c.Listen.MinLevelDBFS = 3 }, "listen.min_level_dbfs"},
		{"min speech", func(c *Config) { c.Listen.MinSpeech = 0 }, "listen.min_speech"},
		{"pre pad", func(c *Config) { c.Listen.PrePad = -time.Second }, "listen.pre_pad"},
		{"backchannel", func(c *Config) { c.Listen.BackchannelMax = 10 * time.Second }, "listen.backchannel_max"},
		{"retrieval deadline", func(c *Config) { c.Retrieval.Deadline = time.Minute }, "retrieval.deadline"},
		{"dispatchers", func(c *Config) { c.Worker.Dispatchers = "127.0.0.1:7480, nowhere" }, "worker.dispatchers"},
		{"capacity", func(c *Config) { c.Worker.Capacity = 0 }, "worker.capacity"},
		{"labels", func(c *Config) { c.Worker.Labels = "lang=en,region" }, "worker.labels"},
		{"lease", func(c *Config) { c.Dispatcher.Lease = time.Millisecond }, "dispatcher.lease"},
		{"offer timeout", func(c *Config) { c.Dispatcher.OfferTimeout = time.Hour }, "dispatcher.offer_timeout"},
		{"retention", func(c *Config) { c.Dispatcher.Retention = time.Second }, "dispatcher.retention"},
		{"election timeout", func(c *Config) { c.Dispatcher.ElectionTimeout = time.Millisecond }, "dispatcher.election_timeout"},
		{"election timeout for the lease", func(c *Config) { c.Dispatcher.ElectionTimeout = time.Second }, "dispatcher.election_timeout"},
		{"ef search", func(c *Config) { c.Retrieval.EfSearch = 5 }, "retrieval.ef_search"},
		{"context ttl", func(c *Config) { c.Retrieval.ContextTTL = time.Second }, "retrieval.context_ttl"},
		{"prewarm lead", func(c *Config) { c.Retrieval.PrewarmLead = 13 * time.Hour }, "retrieval.prewarm_lead"},
		{"chunk tokens", func(c *Config) { c.Retrieval.ChunkTokens = 1 }, "retrieval.chunk_tokens"},
	}
	for _, tc := range tests {
		c := valid()
		tc.modify(&c)
		err := c.Validate()
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Validate() = %v; want ErrInvalid naming %s", tc.name, err, tc.want)
		}
	}
}

func TestDispatcherSettings(t *testing.T) {
	c := valid()
	if err := c.ValidateDispatcher(); err == nil || !strings.Contains(err.Error(), "dispatcher.secret") {
		t.Errorf("ValidateDispatcher with no secret = %v", err)
	}
	c.Dispatcher.Secret = "sixteen-chars-ok"
	if err := c.ValidateDispatcher(); err != nil {
		t.Errorf("ValidateDispatcher = %v", err)
	}
	c.Worker.Dispatchers, c.Worker.Labels = " a:1, b:2 ,", "lang=en, region=eu"
	if n := c.Worker.DispatcherNodes(); len(n) != 2 || n[0] != "a:1" || n[1] != "b:2" {
		t.Errorf("DispatcherNodes = %q", n)
	}
	if l, err := c.Worker.LabelMap(); err != nil || len(l) != 2 || l["region"] != "eu" {
		t.Errorf("LabelMap = %v, %v", l, err)
	}
}

func TestValidateListsEveryProblem(t *testing.T) {
	c := valid()
	c.Log.Level = "x"
	c.TTS.Voice = ""
	err := c.Validate()
	if err == nil || !strings.Contains(err.Error(), "log.level") || !strings.Contains(err.Error(), "tts.voice") {
		t.Fatalf("Validate() = %v; want both log.level and tts.voice", err)
	}
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/a.yaml"
	if err := os.WriteFile(path, []byte("worker:\n  identity: from-file\n  name: File\n  room: file-room\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	o := RegisterFlags(fs)
	if err := fs.Parse([]string{"--config", path, "--worker.identity", "from-flag"}); err != nil {
		t.Fatal(err)
	}
	env := []string{"ATTENDANT_WORKER_IDENTITY=from-env", "ATTENDANT_WORKER_NAME=Env",
		"ATTENDANT_LIVEKIT_API_KEY=k", "ATTENDANT_LIVEKIT_API_SECRET=s", "HOME=/root"}
	c, err := Load(env, o)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Worker.Identity != "from-flag" || c.Worker.Name != "Env" || c.Worker.Room != "file-room" {
		t.Errorf("identity, name, room = %q, %q, %q; want from-flag, Env, file-room", c.Worker.Identity, c.Worker.Name, c.Worker.Room)
	}
}

func TestEnvErrors(t *testing.T) {
	c := Default()
	if err := c.ApplyEnv([]string{"ATTENDANT_WORKER_IDENTIY=x"}); err == nil || !strings.Contains(err.Error(), "ATTENDANT_WORKER_IDENTIY") {
		t.Errorf("unknown variable: err = %v; want it named", err)
	}
	if err := c.ApplyEnv([]string{"ATTENDANT_TTS_WORDS_PER_MINUTE=fast"}); err == nil || !strings.Contains(err.Error(), "whole number") {
		t.Errorf("bad number: err = %v; want a whole-number message", err)
	}
	if err := c.ApplyEnv([]string{"ATTENDANT_WORKER_RECONNECT_MAX=2s"}); err != nil || c.Worker.ReconnectMax != 2*time.Second {
		t.Errorf("duration: err = %v, value %s; want 2s", err, c.Worker.ReconnectMax)
	}
}

func TestSampleFileIsValidAndComplete(t *testing.T) {
	data, err := os.ReadFile("../../attendant.sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c := Default()
	if err := c.Decode(strings.NewReader(string(data))); err != nil {
		t.Fatalf("attendant.sample.yaml: %v", err)
	}
	c.LiveKit.APIKey, c.LiveKit.APISecret = "key", "secret"
	if err := c.Validate(); err != nil {
		t.Fatalf("attendant.sample.yaml does not validate: %v", err)
	}
	if c != valid() {
		t.Errorf("attendant.sample.yaml differs from Default():\n got %+v\nwant %+v", c, valid())
	}
	for _, key := range Keys() {
		leafName := key[strings.LastIndex(key, ".")+1:]
		if !strings.Contains(string(data), leafName+":") {
			t.Errorf("attendant.sample.yaml does not document %s", key)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add("worker:\n  identity: a\n")
	f.Add("log: {level: debug}\n")
	f.Add("tts:\n  words_per_minute: -1\n")
	f.Add(":\n- [")
	f.Fuzz(func(t *testing.T, in string) {
		c := Default()
		if err := c.Decode(strings.NewReader(in)); err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Decode error %v is not ErrInvalid", err)
			}
			return
		}
		_ = c.Validate()
	})
}

func TestNumbersAndSwitchesFromEnvironment(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	o := RegisterFlags(fs)
	if err := fs.Parse([]string{"--listen.barge_in=false"}); err != nil {
		t.Fatal(err)
	}
	env := []string{"ATTENDANT_LISTEN_MARGIN_DB=8.5", "ATTENDANT_LISTEN_END_OF_TURN=700ms",
		"ATTENDANT_LIVEKIT_API_KEY=k", "ATTENDANT_LIVEKIT_API_SECRET=s"}
	c, err := Load(env, o)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Listen.MarginDB != 8.5 || c.Listen.EndOfTurn != 700*time.Millisecond || c.Listen.BargeIn {
		t.Errorf("margin, end of turn, barge-in = %v, %v, %v; want 8.5, 700ms, false", c.Listen.MarginDB, c.Listen.EndOfTurn, c.Listen.BargeIn)
	}
	fs = flag.NewFlagSet("t", flag.ContinueOnError)
	if _, err := Load([]string{"ATTENDANT_LISTEN_MARGIN_DB=loud"}, RegisterFlags(fs)); err == nil || !strings.Contains(err.Error(), "listen.margin_db") {
		t.Errorf("Load with a margin of %q = %v; want an error naming listen.margin_db", "loud", err)
	}
}
