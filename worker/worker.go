package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	protoLogger "github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"

	"github.com/attendant/attendant/internal/logging"
	"github.com/attendant/attendant/pipeline/listen"
)

// Config is what a Worker needs.
type Config struct {
	Session SessionConfig
	// Model answers chat messages and, with Recognizer, speech; nil leaves both
	// unanswered.
	Model Model
	// Recognizer transcribes participants' turns; nil: speech is not listened to.
	Recognizer Recognizer
	// ReconnectMax caps the wait between attempts to rejoin after losing the room.
	ReconnectMax time.Duration
}

// Worker keeps the assistant in its room: it joins, and when the connection is lost
// (LiveKit restarted, network cut) it joins again with capped exponential backoff.
type Worker struct {
	cfg     Config
	tts     Synthesizer
	metrics *Metrics
	log     *slog.Logger
	lklog   lkLogger
	greeted greetedSet

	connected atomic.Bool
	current   atomic.Pointer[session]
	// OnJoined, when set before Run, is called after every successful join with the
	// time it took; benchmarks use it.
	OnJoined func(time.Duration)
}

// New returns a worker; Run starts it.
func New(cfg Config, tts Synthesizer, metrics *Metrics, log *slog.Logger) (*Worker, error) {
	if tts == nil || metrics == nil || log == nil {
		return nil, errors.New("worker: tts, metrics and log are required")
	}
	if cfg.ReconnectMax <= 0 {
		cfg.ReconnectMax = 5 * time.Second
	}
	if cfg.Session.Listen.VAD.SampleRate == 0 {
		cfg.Session.Listen = listen.DefaultConfig()
	}
	if cfg.Session.Listen.VAD.SampleRate != InputSampleRate {
		return nil, fmt.Errorf("worker: listen sample rate %d; the worker decodes at %d Hz", cfg.Session.Listen.VAD.SampleRate, InputSampleRate)
	}
	if _, err := listen.New(cfg.Session.Listen); err != nil {
		return nil, fmt.Errorf("worker: %w", err)
	}
	if cfg.Session.BackchannelMax <= 0 {
		cfg.Session.BackchannelMax = 900 * time.Millisecond
	}
	log = log.With("room", cfg.Session.Room, "identity", cfg.Session.Identity)
	lklog := SDKLogger(log)
	lksdk.SetLogger(lklog)
	return &Worker{cfg: cfg, tts: tts, metrics: metrics, log: log, lklog: lklog}, nil
}

// Room is the room the worker joins.
func (w *Worker) Room() string { return w.cfg.Session.Room }

// Ready reports whether the worker is in its room; it backs /readyz.
func (w *Worker) Ready(context.Context) error {
	if !w.connected.Load() {
		return fmt.Errorf("not in room %s", w.cfg.Session.Room)
	}
	return nil
}

// Run stays in the room until ctx ends, then leaves cleanly and returns nil. It
// returns ErrReplaced, without joining again, when another session joins the room
// with the same identity.
func (w *Worker) Run(ctx context.Context) error {
	w.metrics.ActiveSessions.Inc()
	defer w.metrics.ActiveSessions.Dec()
	backoff := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		started := time.Now()
		s := &session{cfg: w.cfg.Session, tts: w.tts, model: w.cfg.Model, recognizer: w.cfg.Recognizer, metrics: w.metrics, log: w.log, lklog: w.lklog, greeted: &w.greeted}
		w.current.Store(s)
		err := s.run(ctx, func(took time.Duration) {
			w.connected.Store(true)
			if attempt > 0 {
				w.metrics.Rejoins.WithLabelValues(w.cfg.Session.Room).Inc()
			}
			if w.OnJoined != nil {
				w.OnJoined(took)
			}
		})
		w.connected.Store(false)
		if ctx.Err() != nil {
			w.log.Info("left room")
			return nil
		}
		if errors.Is(err, ErrReplaced) {
			w.log.Warn("another session took the room; not joining again", "err", err)
			return err
		}
		if time.Since(started) > 30*time.Second {
			backoff = 100 * time.Millisecond
		}
		w.log.Warn("lost the room; joining again", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, w.cfg.ReconnectMax)
	}
}

// ContextChanged tells the worker that the agent context of rooms changed (an
// entity, department, room or document was edited): if its room is among them, the
// next turn loads the context afresh.
func (w *Worker) ContextChanged(rooms []string) {
	for _, r := range rooms {
		if r == w.cfg.Session.Room {
			if s := w.current.Load(); s != nil {
				s.forget()
				w.log.Info("room context changed; reloading it at the next turn")
			}
			return
		}
	}
}

// SDKLogger adapts log for the LiveKit SDK and pion, passing on warnings and worse only.
// The SDK's logger is process-wide: lksdk.SetLogger(SDKLogger(log)) before connecting.
func SDKLogger(log *slog.Logger) protoLogger.Logger {
	return protoLogger.LogRLogger(logr.FromSlogHandler(logging.AtLeast(log.Handler(), slog.LevelWarn)))
}
