package talker

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/go-logr/logr"
	"github.com/livekit/protocol/livekit"
	protoLogger "github.com/livekit/protocol/logger"
	lksdk "github.com/livekit/server-sdk-go/v2"
	lkmedia "github.com/livekit/server-sdk-go/v2/pkg/media"
	"github.com/pion/webrtc/v4"

	"github.com/attendant/attendant/internal/logging"
)

// DefaultAssistant is the identity a Talker follows when Config.Assistant is empty.
const DefaultAssistant = "assistant"

// Config says where a Talker joins, as whom, and whom it listens to.
type Config struct {
	URL       string // LiveKit's signalling URL, ws:// or wss://
	APIKey    string
	APISecret string
	Room      string
	Identity  string
	Name      string // display name; the identity when empty
	// Assistant is the identity of the participant whose audio and captions are
	// followed (default "assistant").
	Assistant string
	// Logger receives the talker's and its room's warnings (optional). pion's
	// connection logs go to the SDK's process-wide logger (lksdk.SetLogger), which
	// a talker leaves alone.
	Logger *slog.Logger
}

func (c Config) withDefaults() (Config, error) {
	for _, f := range []struct{ name, value string }{
		{"URL", c.URL}, {"APIKey", c.APIKey}, {"APISecret", c.APISecret}, {"Room", c.Room}, {"Identity", c.Identity},
	} {
		if f.value == "" {
			return c, fmt.Errorf("%w: %s is required", ErrConfig, f.name)
		}
	}
	if c.Name == "" {
		c.Name = c.Identity
	}
	if c.Assistant == "" {
		c.Assistant = DefaultAssistant
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Talker is a participant in a LiveKit room driven by code: it says clips on its
// microphone and records the assistant's audio and everyone's captions. Its methods
// are safe for concurrent use.
type Talker struct {
	cfg      Config
	log      *slog.Logger
	lklog    protoLogger.Logger
	room     *lksdk.Room
	mic      *micTrack
	micSID   string
	heard    *Activity
	captions captionLog

	mu        sync.Mutex
	changed   notifier                   // an assistant track came or went, or began decoding
	tracks    map[string]*assistantTrack // by track SID
	closed    bool
	closeOnce sync.Once
}

// assistantTrack is one of the assistant's audio tracks being decoded.
type assistantTrack struct {
	sink *trackSink
	pcm  *lkmedia.PCMRemoteTrack
}

// Join connects to the room, publishes a 48 kHz mono microphone and returns once
// WebRTC has bound it, so that what Say queues is sent. The assistant may publish its
// audio later: WaitAssistant waits for it.
func Join(ctx context.Context, cfg Config) (*Talker, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	log := cfg.Logger.With("room", cfg.Room, "talker", cfg.Identity)
	lklog := protoLogger.LogRLogger(logr.FromSlogHandler(logging.AtLeast(log.Handler(), slog.LevelWarn)))
	mic, err := newMicTrack(lklog)
	if err != nil {
		return nil, err
	}
	t := &Talker{cfg: cfg, log: log, lklog: lklog, mic: mic, heard: newActivity(), tracks: map[string]*assistantTrack{}}

	cb := lksdk.NewRoomCallback()
	cb.OnTrackSubscribed = t.onTrackSubscribed
	cb.OnTrackUnsubscribed = t.onTrackUnsubscribed
	t.room = lksdk.NewRoom(cb)
	if err := t.room.RegisterTextStreamHandler(transcriptionTopic, t.captions.receive); err != nil {
		mic.Close()
		return nil, fmt.Errorf("%w: %v", ErrJoin, err)
	}
	err = t.room.JoinWithContext(ctx, cfg.URL, lksdk.ConnectInfo{
		APIKey:              cfg.APIKey,
		APISecret:           cfg.APISecret,
		RoomName:            cfg.Room,
		ParticipantIdentity: cfg.Identity,
		ParticipantName:     cfg.Name,
	}, lksdk.WithAutoSubscribe(true), lksdk.WithLogger(lklog))
	if err != nil {
		mic.Close()
		return nil, fmt.Errorf("%w: room %s as %s: %v", ErrJoin, cfg.Room, cfg.Identity, err)
	}
	pub, err := t.room.LocalParticipant.PublishTrack(mic, &lksdk.TrackPublicationOptions{
		Name:   "microphone",
		Source: livekit.TrackSource_MICROPHONE,
	})
	if err != nil {
		t.Close()
		return nil, fmt.Errorf("%w: publish microphone: %v", ErrJoin, err)
	}
	t.micSID = pub.SID()
	select {
	case <-mic.bound:
	case <-ctx.Done():
		t.Close()
		return nil, fmt.Errorf("%w: microphone not bound by WebRTC: %v", ErrJoin, ctx.Err())
	}
	log.Debug("joined", "mic", t.micSID)
	return t, nil
}

// onTrackSubscribed starts decoding the assistant's audio tracks to 16 kHz mono.
func (t *Talker) onTrackSubscribed(track *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
	if rp.Identity() != t.cfg.Assistant || track.Kind() != webrtc.RTPCodecTypeAudio {
		return
	}
	sink := newTrackSink(t.heard, func() {
		t.mu.Lock()
		t.changed.notify()
		t.mu.Unlock()
	})
	pcm, err := lkmedia.NewPCMRemoteTrack(track, sink,
		lkmedia.WithTargetSampleRate(decodeRate),
		lkmedia.WithTargetChannels(1),
		lkmedia.WithLogger(t.lklog))
	if err != nil {
		t.log.Error("cannot decode the assistant's audio", "track", pub.SID(), "err", err)
		return
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		pcm.Close()
		return
	}
	t.tracks[pub.SID()] = &assistantTrack{sink: sink, pcm: pcm}
	t.changed.notify()
	t.mu.Unlock()
	t.log.Debug("listening to the assistant", "track", pub.SID())
}

func (t *Talker) onTrackUnsubscribed(_ *webrtc.TrackRemote, pub *lksdk.RemoteTrackPublication, _ *lksdk.RemoteParticipant) {
	t.mu.Lock()
	tr, ok := t.tracks[pub.SID()]
	delete(t.tracks, pub.SID())
	t.changed.notify()
	t.mu.Unlock()
	if ok {
		tr.pcm.Close()
	}
}

// WaitAssistant waits until an audio track of the assistant is subscribed and its
// decoded audio is arriving (the assistant's track sends silence while it says
// nothing), so that Assistant records what it says from then on.
func (t *Talker) WaitAssistant(ctx context.Context) error {
	_, err := await(ctx, &t.mu, &t.changed, func() (struct{}, bool, error) {
		for _, tr := range t.tracks {
			if tr.sink.heard.Load() {
				return struct{}{}, true, nil
			}
		}
		if t.closed {
			return struct{}{}, false, ErrClosed
		}
		return struct{}{}, false, nil
	})
	return err
}

// MicSID is the SID of the published microphone track.
func (t *Talker) MicSID() string { return t.micSID }

// Room is the underlying LiveKit room, for what Talker does not wrap (sending chat or
// text streams, looking at participants). Leave it with Close, not Disconnect.
func (t *Talker) Room() *lksdk.Room { return t.room }

// Assistant is what has been heard from the assistant, recorded from the moment its
// audio track is subscribed.
func (t *Talker) Assistant() *Activity { return t.heard }

// Captions returns every caption received so far, from anyone, in arrival order.
func (t *Talker) Captions() []Caption { return t.captions.all() }

// WaitCaption waits for the first caption, already received or still to come, for
// which match returns true (any caption when match is nil), and returns it.
func (t *Talker) WaitCaption(ctx context.Context, match func(Caption) bool) (Caption, error) {
	return t.captions.wait(ctx, match)
}

// Close leaves the room, stops the decoders and the microphone (dropping what is still
// queued) and wakes every waiter, which then returns ErrClosed unless it already has
// its answer. Everything recorded stays readable. It is safe to call more than once.
func (t *Talker) Close() {
	t.closeOnce.Do(func() {
		t.mu.Lock()
		t.closed = true
		tracks := t.tracks
		t.tracks = nil
		t.changed.notify()
		t.mu.Unlock()

		t.mic.ClearQueue()
		t.room.Disconnect()
		// Closing a decoder flushes it into its sink, which takes the Activity's lock.
		for _, tr := range tracks {
			tr.pcm.Close()
		}
		t.mic.Close()
		t.heard.close()
		t.captions.close()
	})
}
