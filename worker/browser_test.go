package worker_test

import (
	"context"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/attendant/attendant/internal/browser"
	"github.com/attendant/attendant/internal/devstack"
	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/pipeline/audio"
	"github.com/attendant/attendant/web"
)

// guestLevels returns the input level of every guest the worker listens to.
func guestLevels(v *prometheus.GaugeVec) map[string]float64 {
	ch := make(chan prometheus.Metric, 64)
	go func() { v.Collect(ch); close(ch) }()
	out := map[string]float64{}
	for m := range ch {
		var d dto.Metric
		if m.Write(&d) != nil {
			continue
		}
		for _, l := range d.GetLabel() {
			if l.GetName() == "participant" && strings.HasPrefix(l.GetValue(), web.GuestIdentityPrefix) {
				out[l.GetValue()] = d.GetGauge().GetValue()
			}
		}
	}
	return out
}

// serveJoinPage serves the join page for room until the test ends.
func serveJoinPage(t *testing.T, lk *devstack.LiveKit, room string) *httptest.Server {
	t.Helper()
	join, err := web.NewJoinHandler(web.JoinConfig{
		LiveKitURL: lk.URL(), APIKey: lk.APIKey, APISecret: lk.APISecret, Room: room,
		AssetsDir: filepath.Join(testenv.ModuleRoot(), web.DefaultAssetsDir),
		Logger:    testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(join)
	t.Cleanup(srv.Close)
	return srv
}

// Headless Chromium opens the join page with a fake microphone playing a tone; the
// worker decodes it and its input level rises, and it greets the browser's user.
func TestBrowserMicrophoneReachesWorker(t *testing.T) {
	lk := testenv.Shared(t).LiveKit
	room := newRoomName(t)
	_, metrics := startWorker(t, lk, room)

	srv := serveJoinPage(t, lk, room)

	wav := filepath.Join(t.TempDir(), "tone.wav")
	if err := os.WriteFile(wav, audio.EncodeWAV(audio.Sine(48000, 330, 5*time.Second, 0.5)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := browser.Launch(ctx, srv.URL+"/?autojoin=1&name="+url.QueryEscape("Carol"), browser.Options{FakeAudioWAV: wav})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })

	var heard string
	waitFor(t, 60*time.Second, "the browser's microphone above -30 dBFS at the worker", func() bool {
		for id, level := range guestLevels(metrics.InputLevel) {
			if level > -30 {
				heard = id
				return true
			}
		}
		return false
	})
	waitFor(t, 20*time.Second, "the worker to greet the browser's user", func() bool {
		return testutil.ToFloat64(metrics.Greetings) == 1
	})
	t.Logf("worker heard %s", heard)
}
