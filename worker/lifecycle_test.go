package worker_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/attendant/attendant/internal/testenv"
	"github.com/attendant/attendant/pipeline/tts"
	"github.com/attendant/attendant/worker"
)

// heapInUse returns the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// A hundred sessions join and leave in one process: goroutines come back to where
// they started (testenv.Main also runs goleak at the end) and the heap does not grow
// with the number of sessions.
func TestHundredSessionsLeaveNothingBehind(t *testing.T) {
	lk := testenv.Shared(t).LiveKit
	room := newRoomName(t)
	synth, err := tts.NewEspeak(tts.DefaultEspeakConfig())
	if err != nil {
		t.Fatal(err)
	}
	session := func() {
		w, err := worker.New(worker.Config{Session: worker.SessionConfig{
			URL: lk.URL(), APIKey: lk.APIKey, APISecret: lk.APISecret,
			Room: room, Identity: "assistant", Name: "Assistant",
		}}, synth, worker.NewMetrics(prometheus.NewRegistry()), testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		waitFor(t, 20*time.Second, "the session to join", func() bool { return w.Ready(ctx) == nil })
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
	}
	base := runtime.NumGoroutine()
	// settle waits until the goroutines are back to the count before any session
	// (pion ends some of a closed connection's goroutines seconds later) and returns
	// the count; it gives up after 30 s.
	settle := func() int {
		deadline := time.Now().Add(30 * time.Second)
		for runtime.NumGoroutine() > base+5 && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
		}
		return runtime.NumGoroutine()
	}

	for range 10 { // warm up: caches, pools and the SDK's one-time state
		session()
	}
	g0, h0 := settle(), heapInUse()
	for range 100 {
		session()
	}
	g1, h1 := settle(), heapInUse()
	if g1 > base+5 {
		t.Errorf("%d goroutines 30 s after 110 sessions ended; %d before the first: sessions leave goroutines behind", g1, base)
	}
	if grown := int64(h1) - int64(h0); grown > 4<<20 {
		t.Errorf("heap in use grew by %d KiB over 100 sessions (from %d KiB); want it flat", grown>>10, h0>>10)
	}
	t.Logf("100 sessions: goroutines %d → %d, heap in use %d → %d KiB", g0, g1, h0>>10, h1>>10)
}
