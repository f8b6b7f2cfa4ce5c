package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/attendant/attendant/internal/config"
	"github.com/attendant/attendant/retrieval"
	"github.com/attendant/attendant/worker"
)

// roomSetup is what a room's assistant is made of: its display name and providers.
type roomSetup struct {
	name  string
	synth worker.Synthesizer
	model worker.Model
	rec   worker.Recognizer
}

// roomProviders gives each room the providers its entity asks for (another voice,
// model or provider than the worker's configuration), made once per distinct
// configuration and shared by the rooms that ask for it. A request the worker
// cannot serve (a remote provider with no API key configured here, a voice the
// provider refuses) is logged and the room gets the worker's own.
type roomProviders struct {
	c        config.Config
	defaults roomSetup
	log      *slog.Logger

	mu     sync.Mutex
	synths map[config.TTS]worker.Synthesizer
	models map[config.LLM]worker.Model
	recs   map[config.STT]worker.Recognizer
}

func newRoomProviders(c config.Config, defaults roomSetup, log *slog.Logger) *roomProviders {
	return &roomProviders{c: c, defaults: defaults, log: log, synths: map[config.TTS]worker.Synthesizer{},
		models: map[config.LLM]worker.Model{}, recs: map[config.STT]worker.Recognizer{}}
}

// errNoKey is an entity asking for a remote provider this worker has no key for.
var errNoKey = errors.New("this worker has no API key configured for it")

// forRoom is the setup of a room whose entity asks for s.
func (p *roomProviders) forRoom(room string, s retrieval.Assistant) roomSetup {
	setup := p.defaults
	if s.Name != "" {
		setup.name = s.Name
	}
	tts, llm, stt := p.c.TTS, p.c.LLM, p.c.STT
	if s.TTSProvider != "" {
		tts.Provider = s.TTSProvider
	}
	if s.Voice != "" {
		if tts.Provider == "espeak" {
			tts.Voice = s.Voice
		} else {
			tts.OpenAIVoice = s.Voice
		}
	}
	if s.TTSModel != "" && tts.Provider == "openai" {
		tts.Model = s.TTSModel
	}
	if s.LLMProvider != "" {
		llm.Provider = s.LLMProvider
	}
	if s.LLMModel != "" && llm.Provider == "openai" {
		llm.Model = s.LLMModel
	}
	if s.STTProvider != "" {
		stt.Provider = s.STTProvider
	}
	if s.STTModel != "" && stt.Provider == "openai" {
		stt.Model = s.STTModel
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if tts != p.c.TTS {
		setup.synth = provider(p, room, "tts", p.synths, tts, setup.synth, func(c config.TTS) (worker.Synthesizer, error) {
			if c.Provider == "openai" && c.APIKey == "" {
				return nil, errNoKey
			}
			return newSynthesizer(c)
		})
	}
	if llm != p.c.LLM {
		setup.model = provider(p, room, "llm", p.models, llm, setup.model, func(c config.LLM) (worker.Model, error) {
			if c.Provider == "openai" && c.APIKey == "" {
				return nil, errNoKey
			}
			return newModel(c)
		})
	}
	if stt != p.c.STT {
		setup.rec = provider(p, room, "stt", p.recs, stt, setup.rec, func(c config.STT) (worker.Recognizer, error) {
			if c.Provider == "openai" && c.APIKey == "" {
				return nil, errNoKey
			}
			return newRecognizer(c)
		})
	}
	return setup
}

// provider returns the provider made for cfg, making it the first time; when it
// cannot be made, it logs why and returns fallback (the worker's own). p.mu is held.
func provider[C comparable, P any](p *roomProviders, room, stage string, made map[C]P, cfg C, fallback P, make func(C) (P, error)) P {
	if v, ok := made[cfg]; ok {
		return v
	}
	v, err := make(cfg)
	if err != nil {
		p.log.Warn("the room's entity asks for a provider this worker cannot use; the worker's own serves it",
			"room", room, "stage", stage, "wanted", fmt.Sprintf("%+v", redacted(cfg)), "err", err)
		return fallback
	}
	made[cfg] = v
	return v
}

// redacted is a provider configuration fit for a log line (no API key).
func redacted(cfg any) any {
	switch c := cfg.(type) {
	case config.TTS:
		c.APIKey = ""
		return c
	case config.LLM:
		c.APIKey = ""
		return c
	case config.STT:
		c.APIKey = ""
		return c
	}
	return cfg
}

// close releases the providers made for rooms (recognizers hold decoders).
func (p *roomProviders) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, r := range p.recs {
		if c, ok := r.(io.Closer); ok {
			_ = c.Close()
		}
	}
}

// settingsOf returns the assistant settings of room's entity, or none (the worker's
// own) when the room is not in the knowledge base or the lookup fails.
func settingsOf(ctx context.Context, kb *knowledge, room string, log *slog.Logger) retrieval.Assistant {
	if kb == nil {
		return retrieval.Assistant{}
	}
	s, err := kb.store.RoomAssistant(ctx, room)
	if err != nil {
		if !errors.Is(err, retrieval.ErrNotFound) {
			log.Warn("reading the room's assistant settings failed; the worker's own serve it", "room", room, "err", err)
		}
		return retrieval.Assistant{}
	}
	return s
}
