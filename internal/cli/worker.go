package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/attendant/attendant/internal/config"
	"github.com/attendant/attendant/internal/ops"
	"github.com/attendant/attendant/pipeline/agent"
	"github.com/attendant/attendant/pipeline/listen"
	"github.com/attendant/attendant/pipeline/llm"
	"github.com/attendant/attendant/pipeline/stt"
	"github.com/attendant/attendant/pipeline/tts"
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
	var run func(context.Context) error
	if nodes := c.Worker.DispatcherNodes(); len(nodes) > 0 {
		if err := c.ValidateDispatcher(); err != nil {
			return err
		}
		id := c.Worker.ID
		if id == "" {
			host, _ := os.Hostname()
			id = fmt.Sprintf("%s-%d", host, os.Getpid())
		}
		// Every room's lines name this worker, as the dispatcher knows it.
		a, release, err := newAssistant(ctx, c, nil, srv, log.With("worker", id))
		if err != nil {
			return err
		}
		defer release()
		labels, _ := c.Worker.LabelMap() // validated with the configuration
		d, err := worker.NewDispatched(worker.DispatchConfig{Nodes: nodes, Secret: c.Dispatcher.Secret, ID: id,
			Capacity: c.Worker.Capacity, Labels: labels, Version: Version, Heartbeat: c.Dispatcher.Lease / 6, Lease: c.Dispatcher.Lease,
			ReconnectMax: c.Worker.ReconnectMax}, a, log)
		if err != nil {
			return err
		}
		log.Info("worker taking rooms from the dispatcher", "worker", id, "nodes", nodes, "capacity", c.Worker.Capacity)
		srv.AddCheck("dispatcher", d.Ready)
		run = d.Run
	} else {
		w, closeWorker, err := newWorker(ctx, c, nil, srv, log)
		if err != nil {
			return err
		}
		defer closeWorker()
		run = w.Run
	}
	ln, err := ops.Listen(c.Worker.HTTPAddr)
	if err != nil {
		return fmt.Errorf("worker.http_addr: %w", err)
	}
	log.Info("worker serving health and metrics", "addr", "http://"+ln.Addr().String())
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(ctx, ln) }()
	err = run(ctx)
	<-srvDone
	return err
}

// assistant holds what every room's session shares: the providers, the knowledge
// source and the metrics. It runs one worker.Worker per room: the configured room,
// or each room the dispatcher assigns (it is a worker.RoomRunner).
type assistant struct {
	c      config.Config
	source agent.ContextSource
	// kb, when retrieval is on, holds each room's entity's assistant settings;
	// providers serves those that differ from the worker's configuration.
	kb        *knowledge
	providers *roomProviders
	metrics   *worker.Metrics
	log       *slog.Logger

	mu      sync.Mutex
	running map[*worker.Worker]struct{}
}

// newRoom builds the assistant for one room, as its entity wants it.
func (a *assistant) newRoom(ctx context.Context, room string) (*worker.Worker, error) {
	c := a.c
	setup := a.providers.forRoom(room, settingsOf(ctx, a.kb, room, a.log))
	return worker.New(worker.Config{
		Session: worker.SessionConfig{
			URL:        c.LiveKit.URL,
			APIKey:     c.LiveKit.APIKey,
			APISecret:  c.LiveKit.APISecret,
			Room:       room,
			Identity:   c.Worker.Identity,
			Name:       setup.name,
			Greeting:   c.Worker.Greeting,
			GreetDelay: c.Worker.GreetDelay,
			Knowledge:  agent.Knowledge{Instructions: c.Worker.Instructions},
			Context:    a.source,
			Listen:     listenConfig(c.Listen),
			BargeIn:    c.Listen.BargeIn,
			// The config's bounds keep it valid for the listener.
			BackchannelMax: c.Listen.BackchannelMax,
		},
		Model:        setup.model,
		Recognizer:   setup.rec,
		ReconnectMax: c.Worker.ReconnectMax,
	}, setup.synth, a.metrics, a.log)
}

func (a *assistant) track(w *worker.Worker, on bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if on {
		a.running[w] = struct{}{}
	} else {
		delete(a.running, w)
	}
}

// RunRoom runs the assistant in room until ctx ends.
func (a *assistant) RunRoom(ctx context.Context, room string) error {
	w, err := a.newRoom(ctx, room)
	if err != nil {
		return err
	}
	a.track(w, true)
	defer a.track(w, false)
	return w.Run(ctx)
}

// inRoom returns a readiness check: an assistant of room is in it now.
func (a *assistant) inRoom(room string) func(context.Context) error {
	return func(ctx context.Context) error {
		a.mu.Lock()
		defer a.mu.Unlock()
		err := fmt.Errorf("no assistant in room %s", room)
		for w := range a.running {
			if w.Room() == room {
				if err = w.Ready(ctx); err == nil {
					return nil
				}
			}
		}
		return err
	}
}

// contextChanged tells every running room that some rooms' context changed.
func (a *assistant) contextChanged(rooms []string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for w := range a.running {
		w.ContextChanged(rooms)
	}
}

// newAssistant builds the shared parts from configuration and registers the metrics
// on srv. With retrieval enabled, answers are grounded in the knowledge base kb
// (opened here when nil), and goroutines follow context invalidations and pre-warm
// scheduled rooms until release. release frees the providers once every room has
// stopped.
func newAssistant(ctx context.Context, c config.Config, kb *knowledge, srv *ops.Server, log *slog.Logger) (a *assistant, release func(), err error) {
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
	a = &assistant{c: c, metrics: worker.NewMetrics(srv.Registry), log: log,
		running: map[*worker.Worker]struct{}{}}
	a.providers = newRoomProviders(c, roomSetup{name: c.Worker.Name, synth: synth, model: model, rec: rec}, log)
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
	}, a.providers.close)
	if !c.Retrieval.Enabled {
		return a, release, nil
	}
	if kb == nil {
		if kb, err = openKnowledge(ctx, c, srv.Registry, true, log); err != nil {
			release()
			return nil, nil, fmt.Errorf("retrieval (set retrieval.enabled: false to run without the knowledge base): %w", err)
		}
		closers = append(closers, kb.close)
	}
	a.source, a.kb = kb.assembler, kb
	inv, err := kb.assembler.Subscribe(ctx)
	if err != nil {
		release()
		return nil, nil, err
	}
	// Edits to a room's entity, department or documents reach its session.
	listenCtx, stopListening := context.WithCancel(context.WithoutCancel(ctx))
	listening := make(chan struct{})
	go func() {
		defer close(listening)
		inv.Run(listenCtx, a.contextChanged)
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
	return a, release, nil
}

// newWorker builds the assistant for the configured room (worker.room) and adds its
// readiness check to srv; release frees the providers once it has stopped.
func newWorker(ctx context.Context, c config.Config, kb *knowledge, srv *ops.Server, log *slog.Logger) (*worker.Worker, func(), error) {
	a, release, err := newAssistant(ctx, c, kb, srv, log)
	if err != nil {
		return nil, nil, err
	}
	w, err := a.newRoom(ctx, c.Worker.Room)
	if err != nil {
		release()
		return nil, nil, err
	}
	a.track(w, true)
	srv.AddCheck("livekit_room", w.Ready)
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
