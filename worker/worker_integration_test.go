package worker_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/livekit/media-sdk"
	"github.com/livekit/protocol/livekit"
	lksdk "github.com/livekit/server-sdk-go/v2"
	lkmedia "github.com/livekit/server-sdk-go/v2/pkg/media"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/attendant/attendant/internal/devstack"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/pipeline/audio"
	"github.com/attendant/attendant/pipeline/tts"
	"github.com/attendant/attendant/worker"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var roomSeq struct {
	sync.Mutex
	n int
}

func newRoomName(t *testing.T) string {
	roomSeq.Lock()
	defer roomSeq.Unlock()
	roomSeq.n++
	return fmt.Sprintf("test-%d-%d", os.Getpid(), roomSeq.n)
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("TESTENV_VERBOSE") != "" {
		return slog.Default()
	}
	return slog.New(slog.DiscardHandler)
}

// startWorker runs a worker in room until the test ends and returns its metrics.
func startWorker(t *testing.T, lk *devstack.LiveKit, room string) (*worker.Worker, *worker.Metrics) {
	t.Helper()
	return startWorkerWith(t, lk, room, nil)
}

// startWorkerWith runs a worker whose chat answers come from model (nil: no chat).
func startWorkerWith(t *testing.T, lk *devstack.LiveKit, room string, model worker.Model) (*worker.Worker, *worker.Metrics) {
	t.Helper()
	synth, err := tts.NewEspeak(tts.DefaultEspeakConfig())
	if err != nil {
		t.Fatal(err)
	}
	metrics := worker.NewMetrics(prometheus.NewRegistry())
	w := runWorker(t, worker.Config{
		Session: worker.SessionConfig{
			URL: lk.URL(), APIKey: lk.APIKey, APISecret: lk.APISecret,
			Room: room, Identity: "assistant", Name: "Assistant",
			Greeting:   "Hello {name}, welcome to the meeting. I am the assistant.",
			GreetDelay: 300 * time.Millisecond,
		},
		ReconnectMax: time.Second,
		Model:        model,
	}, synth, metrics)
	return w, metrics
}

// runWorker runs a worker until the test ends, checking that it then leaves cleanly,
// and returns once it is in its room.
func runWorker(t *testing.T, cfg worker.Config, synth worker.Synthesizer, metrics *worker.Metrics) *worker.Worker {
	t.Helper()
	w, err := worker.New(cfg, synth, metrics, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("worker.Run returned %v; want nil after cancel", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("worker did not leave within 15s of cancel")
		}
	})
	waitFor(t, 20*time.Second, "worker to join", func() bool { return w.Ready(ctx) == nil })
	return w
}

// listener is a Go participant that records the assistant's audio as 16 kHz PCM.
type listener struct {
	mu       sync.Mutex
	loud     time.Duration // audio above -40 dBFS
	total    time.Duration
	frames   int
	subbed   chan struct{}
	subOnce  sync.Once
	tracks   []*lkmedia.PCMRemoteTrack
	assistID string
	captions []receivedCaption
}

type receivedCaption struct {
	from, text string
	attrs      map[string]string
}

func (l *listener) receivedCaptions() []receivedCaption {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]receivedCaption(nil), l.captions...)
}

func (l *listener) WriteSample(s media.PCM16Sample) error {
	d := time.Duration(len(s)) * time.Second / 16000
	l.mu.Lock()
	defer l.mu.Unlock()
	l.total += d
	l.frames++
	if audio.LevelDBFS(s) > -40 {
		l.loud += d
	}
	return nil
}

func (l *listener) Close() error { return nil }

func (l *listener) loudAudio() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.loud
}

// joinListener connects a participant named name that decodes the assistant's track.
func joinListener(t *testing.T, lk *devstack.LiveKit, room, identity, name string) (*lksdk.Room, *listener) {
	t.Helper()
	l := &listener{subbed: make(chan struct{}), assistID: "assistant"}
	cb := lksdk.NewRoomCallback()
	cb.OnTrackSubscribed = func(track *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
		if rp.Identity() != l.assistID || track.Kind() != webrtc.RTPCodecTypeAudio {
			return
		}
		pcm, err := lkmedia.NewPCMRemoteTrack(track, l, lkmedia.WithTargetSampleRate(16000))
		if err != nil {
			t.Errorf("decode assistant track: %v", err)
			return
		}
		l.mu.Lock()
		l.tracks = append(l.tracks, pcm)
		l.mu.Unlock()
		l.subOnce.Do(func() { close(l.subbed) })
	}
	r := lksdk.NewRoom(cb)
	if err := r.RegisterTextStreamHandler(worker.TranscriptionTopic, func(reader *lksdk.TextStreamReader, from string) {
		text := reader.ReadAll()
		l.mu.Lock()
		l.captions = append(l.captions, receivedCaption{from: from, text: text, attrs: reader.Info.Attributes})
		l.mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	err := r.JoinWithContext(context.Background(), lk.URL(), lksdk.ConnectInfo{
		APIKey: lk.APIKey, APISecret: lk.APISecret, RoomName: room,
		ParticipantIdentity: identity, ParticipantName: name,
	}, lksdk.WithAutoSubscribe(true))
	if err != nil {
		t.Fatalf("participant %s join: %v", identity, err)
	}
	t.Cleanup(func() {
		r.Disconnect()
		l.mu.Lock()
		tracks := l.tracks
		l.mu.Unlock()
		// Closing flushes the decoder into WriteSample, which takes l.mu.
		for _, tr := range tracks {
			tr.Close()
		}
	})
	return r, l
}

// publishTone publishes a microphone track playing a sine (amplitude 0 publishes
// silence) until the test ends.
func publishTone(t *testing.T, r *lksdk.Room, freq, amplitude float64) {
	t.Helper()
	track, err := lkmedia.NewPCMLocalTrack(16000, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.LocalParticipant.PublishTrack(track, &lksdk.TrackPublicationOptions{
		Name: "mic", Source: livekit.TrackSource_MICROPHONE,
	}); err != nil {
		t.Fatalf("publish: %v", err)
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tone := audio.Sine(16000, freq, time.Second, amplitude)
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for {
			// Keep about a second queued; the track paces it out in 10 ms frames.
			_ = track.WriteSample(tone.Samples[:8000])
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-done
		track.Close()
	})
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A participant who joins hears at least a second of spoken greeting.
func TestParticipantHearsGreeting(t *testing.T) {
	lk := testenv.Shared(t).LiveKit
	room := newRoomName(t)
	_, metrics := startWorker(t, lk, room)

	_, l := joinListener(t, lk, room, "alice", "Alice")
	select {
	case <-l.subbed:
	case <-time.After(20 * time.Second):
		t.Fatal("the assistant's track was not subscribed within 20s")
	}
	waitFor(t, 20*time.Second, "a second of non-silent greeting audio", func() bool {
		return l.loudAudio() >= time.Second
	})
	if got := testutil.ToFloat64(metrics.Greetings); got != 1 {
		t.Errorf("greetings = %v; want 1", got)
	}
	// The greeting also arrives as the assistant's final caption.
	waitFor(t, 10*time.Second, "the greeting's caption", func() bool { return len(l.receivedCaptions()) > 0 })
	c := l.receivedCaptions()[0]
	if c.from != "assistant" || !strings.Contains(c.text, "Hello Alice") || c.attrs[worker.AttrFinal] != "true" ||
		c.attrs[worker.AttrSegment] == "" || !strings.HasPrefix(c.attrs[worker.AttrTrack], "TR_") {
		t.Errorf("caption = %+v; want the greeting from assistant, final, with segment and track", c)
	}
}

// A participant's tone shows in the worker's input-level metric; a silent one does not.
func TestInputLevelMetric(t *testing.T) {
	lk := testenv.Shared(t).LiveKit
	room := newRoomName(t)
	_, metrics := startWorker(t, lk, room)

	loud, _ := joinListener(t, lk, room, "tone", "Tone")
	publishTone(t, loud, 440, 0.5)
	quiet, _ := joinListener(t, lk, room, "quiet", "Quiet")
	publishTone(t, quiet, 440, 0)

	level := func(id string) float64 {
		return testutil.ToFloat64(metrics.InputLevel.WithLabelValues(room, id))
	}
	// A 0.5-amplitude sine is about -9 dBFS; Opus keeps it within a few dB.
	waitFor(t, 20*time.Second, "the tone's level above -15 dBFS", func() bool { return level("tone") > -15 })
	waitFor(t, 20*time.Second, "audio decoded from the quiet participant", func() bool {
		return testutil.ToFloat64(metrics.InputSeconds.WithLabelValues(room, "quiet")) > 1
	})
	if got := level("quiet"); got > -60 {
		t.Errorf("silent participant's level = %.1f dBFS; want below -60", got)
	}
	if got := level("tone"); got > -3 || got < -15 {
		t.Errorf("tone level = %.1f dBFS; want about -9", got)
	}
}

// When LiveKit restarts, the worker joins the room again and greets who comes back.
func TestRejoinAfterLiveKitRestart(t *testing.T) {
	lk := testenv.LiveKit(t)
	room := newRoomName(t)
	w, metrics := startWorker(t, lk, room)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := lk.Restart(ctx); err != nil {
		t.Fatalf("restart livekit: %v", err)
	}
	// Either the SDK restores the connection itself (a resume) or the worker gives the
	// room up and joins it again (a rejoin); both must put the assistant back.
	waitFor(t, 30*time.Second, "the worker to be back in the room after the restart", func() bool {
		back := testutil.ToFloat64(metrics.Rejoins.WithLabelValues(room)) + testutil.ToFloat64(metrics.Resumes.WithLabelValues(room))
		return back >= 1 && w.Ready(ctx) == nil
	})
	_, l := joinListener(t, lk, room, "bob", "Bob")
	waitFor(t, 20*time.Second, "the rejoined assistant's greeting", func() bool {
		return l.loudAudio() >= time.Second
	})
}
