package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/attendant/attendant/worker"
)

// AssistantJoinOptions configures the assistant-join scenario: how long the
// assistant takes to join a room.
type AssistantJoinOptions struct {
	// N is how many joins to measure.
	N int
	// Session is the worker's room connection; its Room is the room used.
	Session worker.SessionConfig
	// TTS speaks the greeting, as in a real worker.
	TTS worker.Synthesizer
	// Timeout bounds each join.
	Timeout time.Duration
	Logger  *slog.Logger
}

// AssistantJoinReport is what the assistant-join scenario measured. Times are in
// milliseconds.
type AssistantJoinReport struct {
	Scenario string    `json:"scenario"`
	Started  time.Time `json:"started"`
	N        int       `json:"n"`
	// Subscribed is worker start → the assistant's track subscribed by a participant
	// already in the room.
	Subscribed Summary `json:"subscribed_ms"`
	// Published is worker start → the worker's voice track published (its own view).
	Published Summary `json:"published_ms"`
}

// AssistantJoin measures the assistant's join time N times: an observer
// participant waits in the room; each round starts a fresh worker and times it
// until the observer is subscribed to the assistant's voice track, then stops the
// worker and waits until it has left.
func AssistantJoin(ctx context.Context, o AssistantJoinOptions) (AssistantJoinReport, error) {
	if o.N <= 0 {
		o.N = 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	rep := AssistantJoinReport{Scenario: "assistant-join", Started: time.Now().UTC(), N: o.N}
	lksdk.SetLogger(worker.SDKLogger(o.Logger))
	subscribed := make(chan struct{}, 1)
	left := make(chan struct{}, 1)
	cb := lksdk.NewRoomCallback()
	cb.OnTrackSubscribed = func(_ *webrtc.TrackRemote, _ *lksdk.RemoteTrackPublication, rp *lksdk.RemoteParticipant) {
		if rp.Identity() == o.Session.Identity {
			signal(subscribed)
		}
	}
	cb.OnParticipantDisconnected = func(rp *lksdk.RemoteParticipant) {
		if rp.Identity() == o.Session.Identity {
			signal(left)
		}
	}
	observer, err := lksdk.ConnectToRoom(o.Session.URL, lksdk.ConnectInfo{
		APIKey: o.Session.APIKey, APISecret: o.Session.APISecret, RoomName: o.Session.Room,
		ParticipantIdentity: "bench-observer", ParticipantName: "Bench Observer",
	}, cb, lksdk.WithAutoSubscribe(true))
	if err != nil {
		return rep, fmt.Errorf("observer join: %w", err)
	}
	defer observer.Disconnect()

	var subs, pubs []float64
	for i := range o.N {
		drain(subscribed)
		drain(left)
		w, err := worker.New(worker.Config{Session: o.Session}, o.TTS, worker.NewMetrics(prometheus.NewRegistry()), o.Logger)
		if err != nil {
			return rep, err
		}
		published := make(chan time.Duration, 1)
		w.OnJoined = func(d time.Duration) {
			select {
			case published <- d:
			default:
			}
		}
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- w.Run(runCtx) }()
		var took time.Duration
		select {
		case <-subscribed:
			took = time.Since(start)
		case <-time.After(o.Timeout):
			stop()
			<-done
			return rep, fmt.Errorf("join %d: the observer was not subscribed to the assistant within %s", i+1, o.Timeout)
		case <-ctx.Done():
			stop()
			<-done
			return rep, ctx.Err()
		}
		select {
		case d := <-published:
			pubs = append(pubs, ms(d))
		default:
		}
		stop()
		<-done
		select {
		case <-left:
		case <-time.After(o.Timeout):
			return rep, fmt.Errorf("join %d: the assistant did not leave within %s", i+1, o.Timeout)
		}
		subs = append(subs, ms(took))
		o.Logger.Info("join measured", "round", i+1, "subscribed_ms", ms(took))
	}
	rep.Subscribed = Summarize(subs)
	rep.Published = Summarize(pubs)
	return rep, nil
}

// WriteText prints the report as a short table.
func (r AssistantJoinReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "assistant join over %d joins (ms)     min     p50     p95     max    mean\n", r.N)
	row := func(name string, s Summary) {
		fmt.Fprintf(w, "  %-34s %7.1f %7.1f %7.1f %7.1f %7.1f\n", name, s.Min, s.P50, s.P95, s.Max, s.Mean)
	}
	row("worker start → track subscribed", r.Subscribed)
	row("worker start → track published", r.Published)
}

// WriteJSON writes the report to path.
func (r AssistantJoinReport) WriteJSON(path string) error { return writeJSON(path, r) }
