package worker_test

import (
	"context"
	"errors"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

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

// A hundred sessions join and leave in one process while a participant keeps asking
// questions, so each session runs the whole voice pipeline (listening, transcribing,
// answering, being cut off by the session's end): goroutines come back to where they
// started (testenv.Main also runs goleak at the end) and the heap does not grow with
// the number of sessions.
func TestHundredSessionsLeaveNothingBehind(t *testing.T) {
	r := startVoiceRig(t, "Sure. The office opens at nine.", "When does the office open?")
	synth, err := tts.NewEspeak(tts.DefaultEspeakConfig())
	if err != nil {
		t.Fatal(err)
	}
	metrics := worker.NewMetrics(prometheus.NewRegistry())
	// Most sessions hear part of a question; every twentieth stays for a whole turn.
	session := func(stay time.Duration) {
		w, err := worker.New(r.config(), synth, metrics, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		waitFor(t, 20*time.Second, "the session to join", func() bool { return w.Ready(ctx) == nil })
		time.Sleep(stay)
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run = %v", err)
		}
	}
	// A participant asks a question every 1.5 s for as long as the test runs.
	tk := r.join(t, "dave", "Dave", false)
	question := spoken(t, "When does the office open")
	talking, stopTalking := context.WithCancel(context.Background())
	talked := make(chan struct{})
	go func() {
		defer close(talked)
		for {
			if _, err := tk.SayAndWait(talking, question); err != nil {
				return
			}
			select {
			case <-talking.Done():
				return
			case <-time.After(700 * time.Millisecond):
			}
		}
	}()
	defer func() { stopTalking(); <-talked }()
	// settle waits until the goroutine count is at most target (pion ends some of a
	// closed connection's goroutines seconds later), or, with target < 0, until it
	// has not changed for two seconds; it gives up after 30 s and returns the count.
	settle := func(target int) int {
		deadline := time.Now().Add(30 * time.Second)
		last, since := runtime.NumGoroutine(), time.Now()
		for time.Now().Before(deadline) {
			n := runtime.NumGoroutine()
			if target >= 0 && n <= target || target < 0 && time.Since(since) >= 2*time.Second {
				break
			}
			if n != last {
				last, since = n, time.Now()
			}
			time.Sleep(100 * time.Millisecond)
		}
		return runtime.NumGoroutine()
	}
	stay := func(i int) time.Duration {
		if i%20 == 0 {
			return 3 * time.Second
		}
		return 400 * time.Millisecond
	}
	// Warm up first: connection pools to the providers, caches and the SDK's one-time
	// state are there after the first sessions and stay.
	for i := range 10 {
		session(stay(i))
	}
	g0, h0 := settle(-1), heapInUse()
	for i := range 100 {
		session(stay(i))
	}
	g1, h1 := settle(g0+5), heapInUse()
	if g1 > g0+5 {
		t.Errorf("%d goroutines after 100 more sessions ended; %d before them: sessions leave goroutines behind", g1, g0)
		var buf strings.Builder
		_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
		t.Log(buf.String())
	}
	if grown := int64(h1) - int64(h0); grown > 4<<20 {
		t.Errorf("heap in use grew by %d KiB over 100 sessions (from %d KiB); want it flat", grown>>10, h0>>10)
	}
	t.Logf("100 sessions: goroutines %d → %d, heap in use %d → %d KiB", g0, g1, h0>>10, h1>>10)
	if n := testutil.ToFloat64(metrics.InputSeconds.WithLabelValues(r.room, "dave")); n < 20 {
		t.Errorf("the sessions heard %.1f s of the participant; want the voice path exercised", n)
	}
	if n := histCount(metrics.STTSeconds); n == 0 {
		t.Error("no turn was transcribed; want the voice path exercised")
	}
}

// A second session joining the room with the assistant's identity (the dispatcher
// gave the room to another worker) sends the first one away for good: it returns
// ErrReplaced instead of joining again, and the room keeps one assistant.
func TestReplacedSessionDoesNotRejoin(t *testing.T) {
	r := startVoiceRig(t, "Hello.", "Hello?")
	synth, err := tts.NewEspeak(tts.DefaultEspeakConfig())
	if err != nil {
		t.Fatal(err)
	}
	metrics := worker.NewMetrics(prometheus.NewRegistry())
	run := func() (*worker.Worker, context.CancelFunc, chan error) {
		w, err := worker.New(r.config(), synth, metrics, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		waitFor(t, 20*time.Second, "a session to join", func() bool { return w.Ready(ctx) == nil })
		return w, cancel, done
	}
	_, cancelOld, oldDone := run()
	defer cancelOld()
	newer, cancelNew, newDone := run()
	defer func() { cancelNew(); <-newDone }()
	select {
	case err := <-oldDone:
		if !errors.Is(err, worker.ErrReplaced) {
			t.Fatalf("the replaced session returned %v; want ErrReplaced", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the first session is still running after another joined with its identity")
	}
	// The newer session stays in the room: the old one did not come back and send it away.
	time.Sleep(2 * time.Second)
	if err := newer.Ready(context.Background()); err != nil {
		t.Errorf("the newer session: %v; want still in the room", err)
	}
	if n := testutil.ToFloat64(metrics.Rejoins.WithLabelValues(r.room)); n != 0 {
		t.Errorf("%v rejoins; want none", n)
	}
}
