package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/attendant/attendant/internal/config"
	"github.com/attendant/attendant/internal/ops"
	"github.com/attendant/attendant/pipeline/agent"
	"github.com/attendant/attendant/pipeline/listen"
	"github.com/attendant/attendant/pipeline/llm"
	"github.com/attendant/attendant/pipeline/stt"
	"github.com/attendant/attendant/pipeline/tts"
	"github.com/attendant/attendant/retrieval"
	"github.com/attendant/attendant/worker"
)

func runWorker(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("worker", e)
	c, log, err := loadConfig(fs, e, args)
	if err != nil {
		return err
	}
	if err := c.ValidateLiveKit(); err != nil {
		return err
	}
	srv := ops.New(log)
	w, closeWorker, err := newWorker(ctx, c, nil, srv, log)
	if err != nil {
		return err
	}
	defer closeWorker()
	ln, err := ops.Listen(c.Worker.HTTPAddr)
	if err != nil {
		return fmt.Errorf("worker.http_addr: %w", err)
	}
	log.Info("worker serving health and metrics", "addr", "http://"+ln.Addr().String())
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(ctx, ln) }()
	err = w.Run(ctx)
	<-srvDone
	return err
}

// newWorker builds the worker from configuration and registers its metrics and
// readiness check on srv. With retrieval enabled, answers are grounded in the
// knowledge base kb (opened here when nil) and a goroutine follows context
// invalidations until release. release frees the providers once the worker has
// stopped.
func newWorker(ctx context.Context, c config.Config, kb *knowledge, srv *ops.Server, log *slog.Logger) (w *worker.Worker, release func(), err error) {
	synth, err := newSynthesizer(c.TTS)
	if err != nil {
		return nil, nil, err
	}
	model, err := newModel(c.LLM)
	if err != nil {
		return nil, nil, err
	}
	rec, err := newRecognizer(c.STT)
	if err != nil {
		return nil, nil, err
	}
	var closers []func()
	release = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	closers = append(closers, func() {
		if c, ok := rec.(io.Closer); ok {
			_ = c.Close()
		}
	})
	var source agent.ContextSource
	var inv *retrieval.Invalidations
	if c.Retrieval.Enabled {
		if kb == nil {
			if kb, err = openKnowledge(ctx, c, srv.Registry, true, log); err != nil {
				release()
				return nil, nil, fmt.Errorf("retrieval (set retrieval.enabled: false to run without the knowledge base): %w", err)
			}
			closers = append(closers, kb.close)
		}
		source = kb.assembler
		if inv, err = kb.assembler.Subscribe(ctx); err != nil {
			release()
			return nil, nil, err
		}
	}
	w, err = worker.New(worker.Config{
		Session: worker.SessionConfig{
			URL:        c.LiveKit.URL,
			APIKey:     c.LiveKit.APIKey,
			APISecret:  c.LiveKit.APISecret,
			Room:       c.Worker.Room,
			Identity:   c.Worker.Identity,
			Name:       c.Worker.Name,
			Greeting:   c.Worker.Greeting,
			GreetDelay: c.Worker.GreetDelay,
			Knowledge:  agent.Knowledge{Instructions: c.Worker.Instructions},
			Context:    source,
			Listen:     listenConfig(c.Listen),
			BargeIn:    c.Listen.BargeIn,
			// The config's bounds keep it valid for the listener.
			BackchannelMax: c.Listen.BackchannelMax,
		},
		Model:        model,
		Recognizer:   rec,
		ReconnectMax: c.Worker.ReconnectMax,
	}, synth, worker.NewMetrics(srv.Registry), log)
	if err != nil {
		if inv != nil {
			_ = inv.Close()
		}
		release()
		return nil, nil, err
	}
	srv.AddCheck("livekit_room", w.Ready)
	if inv != nil {
		// Edits to the room's entity, department or documents reach the session.
		listenCtx, stopListening := context.WithCancel(context.WithoutCancel(ctx))
		listening := make(chan struct{})
		go func() {
			defer close(listening)
			inv.Run(listenCtx, w.ContextChanged)
		}()
		closers = append(closers, func() { stopListening(); <-listening })
		// Rooms scheduled to meet soon get their contexts assembled ahead of time.
		warmCtx, stopWarming := context.WithCancel(context.WithoutCancel(ctx))
		warming := make(chan struct{})
		go func() {
			defer close(warming)
			kb.assembler.RunPrewarm(warmCtx, time.Minute)
		}()
		closers = append(closers, func() { stopWarming(); <-warming })
	}
	return w, release, nil
}

func listenConfig(c config.Listen) listen.Config {
	l := listen.DefaultConfig()
	l.EndOfTurn = c.EndOfTurn
	l.VAD.MarginDB = c.MarginDB
	l.VAD.MinLevelDBFS = c.MinLevelDBFS
	l.VAD.MinSpeech = c.MinSpeech
	l.VAD.MinSilence = c.MinSilence
	l.VAD.PrePad = c.PrePad
	return l
}

func newSynthesizer(c config.TTS) (worker.Synthesizer, error) {
	switch c.Provider {
	case "espeak":
		cfg := tts.DefaultEspeakConfig()
		cfg.Voice = c.Voice
		cfg.WordsPerMinute = c.WordsPerMinute
		return tts.NewEspeak(cfg)
	case "openai":
		return tts.NewOpenAI(tts.OpenAIConfig{BaseURL: c.BaseURL, APIKey: c.APIKey, Model: c.Model, Voice: c.OpenAIVoice})
	default:
		return nil, fmt.Errorf("tts.provider %q is not known", c.Provider)
	}
}

// newRecognizer returns the speech-to-text provider. Pocketsphinx's decoders are
// loaded when first needed (a quarter of a second each).
func newRecognizer(c config.STT) (worker.Recognizer, error) {
	switch c.Provider {
	case "pocketsphinx":
		return stt.NewPocketsphinx(stt.PocketsphinxConfig{})
	case "openai":
		return stt.NewOpenAI(stt.OpenAIConfig{BaseURL: c.BaseURL, APIKey: c.APIKey, Model: c.Model, Language: c.Language})
	default:
		return nil, fmt.Errorf("stt.provider %q is not known", c.Provider)
	}
}

func newModel(c config.LLM) (worker.Model, error) {
	switch c.Provider {
	case "extractive":
		return llm.NewExtractive(llm.ExtractiveConfig{})
	case "openai":
		return llm.NewOpenAI(llm.OpenAIConfig{BaseURL: c.BaseURL, APIKey: c.APIKey, Model: c.Model})
	default:
		return nil, fmt.Errorf("llm.provider %q is not known", c.Provider)
	}
}
