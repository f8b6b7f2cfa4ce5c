// Package bench holds Attendant's load and latency scenarios and their reports.
package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"slices"
	"time"

	lksdk "github.com/livekit/server-sdk-go/v2"
	"github.com/pion/webrtc/v4"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/attendant/attendant/worker"
)

// JoinOptions configures the join-latency scenario.
type JoinOptions struct {
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

// JoinReport is what the join scenario measured. Times are in milliseconds.
type JoinReport struct {
	Scenario string    `json:"scenario"`
	Started  time.Time `json:"started"`
	N        int       `json:"n"`
	// Subscribed is worker start → the assistant's track subscribed by a participant
	// already in the room.
	Subscribed Summary `json:"subscribed_ms"`
	// Published is worker start → the worker's voice track published (its own view).
	Published Summary `json:"published_ms"`
}

// Summary describes a set of samples.
type Summary struct {
	Samples []float64 `json:"samples"`
	Min     float64   `json:"min"`
	P50     float64   `json:"p50"`
	P95     float64   `json:"p95"`
	P99     float64   `json:"p99"`
	Max     float64   `json:"max"`
	Mean    float64   `json:"mean"`
}

// Summarize computes the summary of samples; percentiles are nearest-rank.
func Summarize(samples []float64) Summary {
	s := Summary{Samples: samples}
	if len(samples) == 0 {
		return s
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	var sum float64
	for _, v := range sorted {
		sum += v
	}
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(sorted)))) - 1
		return sorted[max(i, 0)]
	}
	s.Min, s.Max = sorted[0], sorted[len(sorted)-1]
	s.P50, s.P95, s.P99 = rank(0.50), rank(0.95), rank(0.99)
	s.Mean = sum / float64(len(sorted))
	return s
}

// Join measures the assistant's join time N times: an observer participant waits in
// the room; each round starts a fresh worker and times it until the observer is
// subscribed to the assistant's voice track, then stops the worker and waits until
// it has left.
func Join(ctx context.Context, o JoinOptions) (JoinReport, error) {
	if o.N <= 0 {
		o.N = 20
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	rep := JoinReport{Scenario: "join", Started: time.Now().UTC(), N: o.N}
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
func (r JoinReport) WriteText(w io.Writer) {
	fmt.Fprintf(w, "join latency over %d joins (ms)       min     p50     p95     max    mean\n", r.N)
	row := func(name string, s Summary) {
		fmt.Fprintf(w, "  %-34s %7.1f %7.1f %7.1f %7.1f %7.1f\n", name, s.Min, s.P50, s.P95, s.Max, s.Mean)
	}
	row("worker start → track subscribed", r.Subscribed)
	row("worker start → track published", r.Published)
}

// WriteJSON writes the report to path.
func (r JoinReport) WriteJSON(path string) error { return writeJSON(path, r) }

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func drain(ch chan struct{}) {
	select {
	case <-ch:
	default:
	}
}
