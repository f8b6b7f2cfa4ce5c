package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/protocol/livekit"
	protoLogger "github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"

	"github.com/attendant/attendant/pipeline/agent"
	"github.com/attendant/attendant/pipeline/audio"
	"github.com/attendant/attendant/pipeline/listen"
)

type lkLogger = protoLogger.Logger

// resumeTimeout bounds the SDK's attempt to resume a broken connection before the
// session gives the room up and the worker joins it afresh.
const resumeTimeout = 8 * time.Second

// Synthesizer turns text into speech; pipeline/tts provides implementations.
type Synthesizer interface {
	Synthesize(ctx context.Context, text string) (audio.Clip, error)
}

// SessionConfig says which room to join and as whom.
type SessionConfig struct {
	URL       string
	APIKey    string
	APISecret string
	Room      string
	Identity  string
	Name      string
	// Greeting is said to each participant who joins; {name} becomes their name.
	Greeting string
	// GreetDelay lets a newcomer's subscription to the assistant settle before the greeting.
	GreetDelay time.Duration
	// Knowledge grounds answers (instructions and passages) when Context is nil, or
	// when Context cannot provide the room's context.
	Knowledge agent.Knowledge
	// Context provides the room's assembled context and fresh passages per turn
	// (retrieval.Assembler); nil uses Knowledge alone.
	Context agent.ContextSource
	// HistoryTokens bounds the conversation sent to the model (default 4000).
	HistoryTokens int
	// Listen configures each participant's VAD and end of turn.
	Listen listen.Config
	// BargeIn lets participants interrupt the assistant by talking over it.
	BargeIn bool
	// BackchannelMax is the longest speech over the assistant that may still be a
	// backchannel; longer speech interrupts without waiting for its transcript.
	BackchannelMax time.Duration
}

// session is one connection of the assistant to one room. It owns the goroutines it
// starts: the speaker loop, and the per-track decoders media-sdk runs, which end when
// their tracks end or the room is left.
type session struct {
	cfg        SessionConfig
	tts        Synthesizer
	model      Model      // nil: nothing is answered
	recognizer Recognizer // nil: speech is metered, not understood
	metrics    *Metrics
	log        *slog.Logger
	lklog      lkLogger
	greeted    *greetedSet

	histMu  sync.Mutex
	history *agent.History

	knowMu    sync.Mutex
	knowledge agent.Knowledge
	loaded    bool

	room     *lksdk.Room
	voice    *voiceTrack
	floor    *floor
	pub      *lksdk.LocalTrackPublication
	say      chan utterance
	captions *captioner
	heard    chan heardEvent
	holding  atomic.Bool // the conversation is holding the assistant's speech
	lost     chan string // disconnection reasons from the SDK
	mu       sync.Mutex
	tracks   map[string]*remoteInput // by track SID
}

// utterance is one thing for the speaker goroutine to say: a fixed text (a greeting,
// a fallback) or the answer to a question already in the history.
type utterance struct {
	text     string
	question string
	after    time.Duration
	to       string // participant identity
	name     string // their display name, for the model
	turn     *turnStats
	greeting bool
}

type remoteInput struct {
	identity string
	in       *inbound
}

// run joins the room, serves it until ctx ends (leaving cleanly) or the connection is
// lost (returning an error saying why), and stops every goroutine it started.
func (s *session) run(ctx context.Context, joined func(time.Duration)) error {
	start := time.Now()
	s.say = make(chan utterance, 16)
	s.heard = make(chan heardEvent, 256)
	s.lost = make(chan string, 1)
	s.tracks = map[string]*remoteInput{}

	voice, err := newVoiceTrack(s.lklog)
	if err != nil {
		return err
	}
	s.voice = voice
	s.floor = newFloor(voice.out)
	defer voice.Close()

	cb := lksdk.NewRoomCallback()
	cb.OnParticipantConnected = s.onParticipantConnected
	cb.OnParticipantDisconnected = s.onParticipantDisconnected
	cb.OnTrackSubscribed = s.onTrackSubscribed
	cb.OnTrackUnsubscribed = s.onTrackUnsubscribed
	lost := func(reason string) {
		select {
		case s.lost <- reason:
		default:
		}
	}
	cb.OnDisconnectedWithReason = func(reason lksdk.DisconnectionReason) { lost(string(reason)) }
	cb.OnReconnected = func() {
		s.metrics.Resumes.WithLabelValues(s.cfg.Room).Inc()
		s.log.Info("connection resumed")
	}

	joinCtx, cancelJoin := context.WithTimeout(ctx, 20*time.Second)
	room := lksdk.NewRoom(cb)
	s.room = room
	s.history = agent.NewHistory(s.cfg.HistoryTokens)
	if s.model != nil {
		if err := room.RegisterTextStreamHandler(ChatTopic, s.onChat); err != nil {
			cancelJoin()
			return err
		}
	}
	err = room.JoinWithContext(joinCtx, s.cfg.URL, lksdk.ConnectInfo{
		APIKey:              s.cfg.APIKey,
		APISecret:           s.cfg.APISecret,
		RoomName:            s.cfg.Room,
		ParticipantIdentity: s.cfg.Identity,
		ParticipantName:     s.cfg.Name,
		ParticipantKind:     lksdk.ParticipantAgent,
	}, lksdk.WithAutoSubscribe(true))
	cancelJoin()
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrJoin, s.cfg.Room, err)
	}
	defer s.leave()

	pub, err := room.LocalParticipant.PublishTrack(voice, &lksdk.TrackPublicationOptions{
		Name:   "assistant-voice",
		Source: livekit.TrackSource_MICROPHONE,
	})
	if err != nil {
		return fmt.Errorf("%w: publish voice: %v", ErrJoin, err)
	}
	s.pub = pub
	s.captions = &captioner{lp: room.LocalParticipant}
	took := time.Since(start)
	s.metrics.JoinSeconds.Observe(took.Seconds())
	s.metrics.Connected.WithLabelValues(s.cfg.Room).Set(1)
	defer s.metrics.Connected.WithLabelValues(s.cfg.Room).Set(0)
	s.log.Info("joined room", "took", took.Round(time.Millisecond), "participants", len(room.GetRemoteParticipants()))
	if joined != nil {
		joined(took)
	}

	// People already in the room when the assistant (re)joins are greeted once, like
	// newcomers; greetedSet remembers them across rejoins.
	for _, p := range room.GetRemoteParticipants() {
		s.onParticipantConnected(p)
	}

	speakCtx, stopSpeaking := context.WithCancel(ctx)
	speakerDone := make(chan struct{})
	go func() {
		defer close(speakerDone)
		s.speak(speakCtx)
	}()
	defer func() {
		stopSpeaking()
		<-speakerDone
	}()
	if s.recognizer != nil && s.model != nil {
		conversing := make(chan struct{})
		go func() {
			defer close(conversing)
			s.converse(speakCtx)
		}()
		defer func() {
			stopSpeaking()
			<-conversing
		}()
	}

	// The SDK resumes a broken connection by itself. When the server went away, a
	// resume can stall without ever reporting a disconnection, so a connection that
	// has not been up for resumeTimeout counts as losing the room.
	check := time.NewTicker(500 * time.Millisecond)
	defer check.Stop()
	var downSince time.Time
	for {
		select {
		case <-ctx.Done():
			return nil
		case reason := <-s.lost:
			if reason == string(lksdk.DuplicateIdentity) {
				return ErrReplaced
			}
			return fmt.Errorf("%w: %s", ErrDisconnected, reason)
		case now := <-check.C:
			if room.ConnectionState() == lksdk.ConnectionStateConnected {
				downSince = time.Time{}
				continue
			}
			if downSince.IsZero() {
				downSince = now
			} else if now.Sub(downSince) >= resumeTimeout {
				return fmt.Errorf("%w: not reconnected within %s", ErrDisconnected, resumeTimeout)
			}
		}
	}
}

// leave disconnects from the room, once the captions being sent are out, and ends
// every remote track decoder.
func (s *session) leave() {
	if s.captions != nil && !s.captions.drain(2*time.Second) {
		s.log.Warn("left the room with captions still being sent")
	}
	s.room.Disconnect()
	s.mu.Lock()
	inputs := s.tracks
	s.tracks = map[string]*remoteInput{}
	s.mu.Unlock()
	// Leaving ends every track, and so every decoder goroutine.
	timeout := time.After(5 * time.Second)
	for _, in := range inputs {
		select {
		case <-in.in.done:
		case <-timeout:
			s.log.Warn("a participant's decoder did not stop", "participant", in.identity)
		}
		s.metrics.InputLevel.DeleteLabelValues(s.cfg.Room, in.identity)
	}
}

func (s *session) onParticipantConnected(p *lksdk.RemoteParticipant) {
	if p.Kind() == lksdk.ParticipantAgent || !s.greeted.add(p.Identity()) {
		return
	}
	text := strings.ReplaceAll(s.cfg.Greeting, "{name}", displayName(p))
	if strings.TrimSpace(text) == "" {
		return
	}
	s.enqueue(utterance{text: text, after: s.cfg.GreetDelay, to: p.Identity(), greeting: true})
}

func (s *session) onParticipantDisconnected(p *lksdk.RemoteParticipant) {
	s.greeted.remove(p.Identity())
	s.log.Info("participant left", "participant", p.Identity())
}

func (s *session) onTrackSubscribed(track *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, p *lksdk.RemoteParticipant) {
	if track.Kind() != webrtc.RTPCodecTypeAudio {
		return
	}
	id := p.Identity()
	h := &hearing{
		s: s, identity: id, name: displayName(p), track: pub.SID(),
		meter: newLevelMeter(
			s.metrics.InputLevel.WithLabelValues(s.cfg.Room, id),
			s.metrics.InputSeconds.WithLabelValues(s.cfg.Room, id),
		),
	}
	// Other agents are metered but not listened to: assistants do not converse.
	if s.recognizer != nil && s.model != nil && p.Kind() != lksdk.ParticipantAgent {
		l, err := listen.New(s.cfg.Listen)
		if err != nil {
			s.log.Error("cannot listen to participant", "participant", id, "err", err)
		}
		h.l = l
	}
	in, err := decodeTrack(track, h, s.lklog)
	if err != nil {
		s.log.Error("cannot decode participant audio", "participant", id, "track", pub.SID(), "err", err)
		return
	}
	s.mu.Lock()
	s.tracks[pub.SID()] = &remoteInput{identity: id, in: in}
	s.mu.Unlock()
	s.log.Info("listening to participant", "participant", id, "track", pub.SID())
}

func (s *session) onTrackUnsubscribed(_ *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, _ *lksdk.RemoteParticipant) {
	s.mu.Lock()
	in, ok := s.tracks[pub.SID()]
	delete(s.tracks, pub.SID())
	s.mu.Unlock()
	if ok {
		// The track has ended, and with it the decoder goroutine.
		s.metrics.InputLevel.DeleteLabelValues(s.cfg.Room, in.identity)
	}
}

// speak plays queued utterances one after another until ctx ends. Each is a speech
// job on the floor, which the conversation can pause, resume or interrupt.
func (s *session) speak(ctx context.Context) {
	if err := s.voice.waitBound(ctx); err != nil {
		return
	}
	for {
		var u utterance
		select {
		case <-ctx.Done():
			return
		case u = <-s.say:
		}
		if u.after > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(u.after):
			}
		}
		jctx, cancel := context.WithCancel(ctx)
		j := s.floor.begin(cancel)
		if u.question != "" && s.model != nil {
			s.respond(jctx, j, u)
		} else if err := s.utter(jctx, j, u); err != nil && ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			s.metrics.SpeakFailures.Inc()
			s.log.Error("could not speak", "participant", u.to, "err", err)
		}
		cancel()
	}
}

// utter says a fixed text as job j and waits until it has been heard.
func (s *session) utter(ctx context.Context, j *speechJob, u utterance) error {
	defer s.floor.end(j)
	s.floor.mark(j, u.text)
	if u.greeting {
		s.metrics.Greetings.Inc()
	}
	s.log.Info("saying", "participant", u.to, "text", u.text)
	// The words go out as the assistant's caption as they start to be heard.
	segment := newSegmentID()
	err := s.speakSentence(ctx, j, u.text, func() {}, func() {
		s.caption(segment, u.text, true)
	})
	if err != nil {
		return err
	}
	return s.voice.wait(ctx)
}

// displayName is the participant's name, or their identity when they have none.
func displayName(p *lksdk.RemoteParticipant) string {
	if name := strings.TrimSpace(p.Name()); name != "" {
		return name
	}
	return p.Identity()
}

// greetedSet remembers who has been greeted, so a rejoin does not greet them again.
type greetedSet struct {
	mu  sync.Mutex
	ids map[string]bool
}

func (g *greetedSet) add(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.ids == nil {
		g.ids = map[string]bool{}
	}
	if g.ids[id] {
		return false
	}
	g.ids[id] = true
	return true
}

func (g *greetedSet) remove(id string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.ids, id)
}
