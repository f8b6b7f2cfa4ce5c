package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/livekit/protocol/livekit"
	protoLogger "github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
	lkmedia "github.com/livekit/server-sdk-go/v2/pkg/media"
	"github.com/pion/webrtc/v4"

	"github.com/attendant/attendant/pipeline/agent"
	"github.com/attendant/attendant/pipeline/audio"
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
	// Knowledge grounds answers to chat messages (instructions and passages).
	Knowledge agent.Knowledge
	// HistoryTokens bounds the conversation sent to the model (default 4000).
	HistoryTokens int
}

// session is one connection of the assistant to one room. It owns the goroutines it
// starts: the speaker loop, and the per-track decoders media-sdk runs, which end when
// their tracks end or the room is left.
type session struct {
	cfg     SessionConfig
	tts     Synthesizer
	model   Model // nil: chat is not answered
	history *agent.History
	metrics *Metrics
	log     *slog.Logger
	lklog   lkLogger
	greeted *greetedSet

	room   *lksdk.Room
	voice  *voiceTrack
	pub    *lksdk.LocalTrackPublication
	say    chan utterance
	lost   chan string // disconnection reasons from the SDK
	mu     sync.Mutex
	tracks map[string]*remoteInput // by track SID
}

// utterance is one thing for the speaker goroutine to say: a greeting (text) or the
// answer to a chat question.
type utterance struct {
	text     string
	question string
	after    time.Duration
	to       string // participant identity
	name     string // their display name, for the model
}

type remoteInput struct {
	identity string
	track    *lkmedia.PCMRemoteTrack
}

// run joins the room, serves it until ctx ends (leaving cleanly) or the connection is
// lost (returning an error saying why), and stops every goroutine it started.
func (s *session) run(ctx context.Context, joined func(time.Duration)) error {
	start := time.Now()
	s.say = make(chan utterance, 16)
	s.lost = make(chan string, 1)
	s.tracks = map[string]*remoteInput{}

	voice, err := newVoiceTrack(s.lklog)
	if err != nil {
		return err
	}
	s.voice = voice
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

// leave disconnects from the room and ends every remote track decoder.
func (s *session) leave() {
	s.room.Disconnect()
	s.mu.Lock()
	for sid, in := range s.tracks {
		in.track.Close()
		s.metrics.InputLevel.DeleteLabelValues(s.cfg.Room, in.identity)
		delete(s.tracks, sid)
	}
	s.mu.Unlock()
}

func (s *session) onParticipantConnected(p *lksdk.RemoteParticipant) {
	if p.Kind() == lksdk.ParticipantAgent || !s.greeted.add(p.Identity()) {
		return
	}
	name := p.Name()
	if strings.TrimSpace(name) == "" {
		name = p.Identity()
	}
	text := strings.ReplaceAll(s.cfg.Greeting, "{name}", name)
	if strings.TrimSpace(text) == "" {
		return
	}
	select {
	case s.say <- utterance{text: text, after: s.cfg.GreetDelay, to: p.Identity()}:
	default:
		s.log.Warn("speech queue full; greeting dropped", "participant", p.Identity())
	}
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
	meter := newLevelMeter(
		s.metrics.InputLevel.WithLabelValues(s.cfg.Room, id),
		s.metrics.InputSeconds.WithLabelValues(s.cfg.Room, id),
	)
	in, err := lkmedia.NewPCMRemoteTrack(track, meter,
		lkmedia.WithTargetSampleRate(InputSampleRate),
		lkmedia.WithTargetChannels(1),
		lkmedia.WithLogger(s.lklog))
	if err != nil {
		s.log.Error("cannot decode participant audio", "participant", id, "track", pub.SID(), "err", err)
		return
	}
	s.mu.Lock()
	s.tracks[pub.SID()] = &remoteInput{identity: id, track: in}
	s.mu.Unlock()
	s.log.Info("listening to participant", "participant", id, "track", pub.SID())
}

func (s *session) onTrackUnsubscribed(_ *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, _ *lksdk.RemoteParticipant) {
	s.mu.Lock()
	in, ok := s.tracks[pub.SID()]
	delete(s.tracks, pub.SID())
	s.mu.Unlock()
	if ok {
		in.track.Close()
		s.metrics.InputLevel.DeleteLabelValues(s.cfg.Room, in.identity)
	}
}

// speak plays queued utterances one after another until ctx ends.
func (s *session) speak(ctx context.Context) {
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
		var err error
		if u.question != "" {
			err = s.answer(ctx, u)
		} else {
			err = s.utter(ctx, u)
		}
		if err != nil && !errors.Is(err, context.Canceled) {
			s.metrics.SpeakFailures.Inc()
			s.log.Error("could not speak", "participant", u.to, "err", err)
		}
	}
}

func (s *session) utter(ctx context.Context, u utterance) error {
	t := time.Now()
	clip, err := s.tts.Synthesize(ctx, u.text)
	if err != nil {
		return err
	}
	s.metrics.SynthSeconds.Observe(time.Since(t).Seconds())
	s.metrics.SpeechSeconds.Add(clip.Duration().Seconds())
	s.metrics.Greetings.Inc()
	s.log.Info("greeting", "participant", u.to, "speech", clip.Duration().Round(10*time.Millisecond))
	// The words go out as the assistant's caption as they start to be heard.
	caption(s.room.LocalParticipant, s.pub.SID(), newSegmentID(), u.text, true)
	return s.voice.play(ctx, clip)
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
