package talker

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/livekit/media-sdk"

	"github.com/attendant/attendant/pipeline/audio"
)

const (
	// decodeRate is the rate the assistant's audio is decoded to: Opus's own, as a
	// browser plays it, so no resampler delays what is heard.
	decodeRate = 48000
	// windowLen is the span of one level measurement.
	windowLen     = 10 * time.Millisecond
	windowSamples = decodeRate / 100
	// keepFor bounds the timeline: windows older than this behind the newest are dropped.
	keepFor = 5 * time.Minute
)

// window is 10 ms of received audio.
type window struct {
	at    time.Time // when its last sample was received
	level float64   // RMS level in dBFS
}

// Activity is what a Talker heard from the assistant: a timeline of 10 ms windows of
// decoded audio, each with its level and receive time (see the package comment for how
// receive times are assigned). It keeps the last five minutes. All methods are safe for
// concurrent use; the waiting ones return as soon as a matching window arrives, when
// ctx ends, or with ErrClosed once the Talker is closed and nothing matched.
//
// A window is loud when its level is above the threshold given, silent otherwise.
type Activity struct {
	mu      sync.Mutex
	windows []window // oldest first; at never decreases
	dropped int      // windows dropped from the front so far: windows[i] is the (dropped+i)th
	changed notifier
	closed  bool
}

// Gap is a stretch of silence. Start is when its first silent window began to arrive
// (the end of the loud window before it, as SilenceAfter reports); End is the receive
// time of the loud window that ended it (as SoundAfter reports), or of its last silent
// window when the silence lasts to the end of the span asked about.
type Gap struct {
	Start, End time.Time
}

// Duration is how long the gap lasted.
func (g Gap) Duration() time.Duration { return g.End.Sub(g.Start) }

func newActivity() *Activity { return &Activity{} }

// add appends windows in receive order, drops those older than keepFor and wakes the
// waiters.
func (a *Activity) add(ws []window) {
	if len(ws) == 0 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, w := range ws {
		if n := len(a.windows); n > 0 && w.at.Before(a.windows[n-1].at) {
			w.at = a.windows[n-1].at
		}
		a.windows = append(a.windows, w)
	}
	cut := a.windows[len(a.windows)-1].at.Add(-keepFor)
	if k := sort.Search(len(a.windows), func(i int) bool { return !a.windows[i].at.Before(cut) }); k > 0 {
		a.windows = a.windows[k:]
		a.dropped += k
	}
	a.changed.notify()
}

// close marks the end of the timeline: waiters that found nothing return ErrClosed.
func (a *Activity) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed = true
	a.changed.notify()
}

// after returns the index of the first window received after t. Callers hold mu.
func (a *Activity) after(t time.Time) int {
	return sort.Search(len(a.windows), func(i int) bool { return a.windows[i].at.After(t) })
}

// start is when windows[i] began to arrive: 10 ms before its receive time, but not
// before the window ahead of it ended. Callers hold mu.
func (a *Activity) start(i int) time.Time {
	s := a.windows[i].at.Add(-windowLen)
	if i > 0 && s.Before(a.windows[i-1].at) {
		s = a.windows[i-1].at
	}
	return s
}

// scan calls visit for each window received after `after` that it has not visited yet,
// waking on new windows, until visit reports done; it returns visit's result.
func (a *Activity) scan(ctx context.Context, after time.Time, visit func(i int) (time.Time, bool)) (time.Time, error) {
	next := 0 // sequence number of the next window to visit
	return await(ctx, &a.mu, &a.changed, func() (time.Time, bool, error) {
		i := max(a.after(after), next-a.dropped)
		for ; i < len(a.windows); i++ {
			if t, done := visit(i); done {
				return t, true, nil
			}
		}
		next = a.dropped + i
		if a.closed {
			return time.Time{}, false, ErrClosed
		}
		return time.Time{}, false, nil
	})
}

// SoundAfter waits for the first window received after `after` whose level is above
// thresholdDBFS and returns its receive time: when the sound was heard.
func (a *Activity) SoundAfter(ctx context.Context, after time.Time, thresholdDBFS float64) (time.Time, error) {
	return a.scan(ctx, after, func(i int) (time.Time, bool) {
		w := a.windows[i]
		return w.at, w.level > thresholdDBFS
	})
}

// SilenceAfter waits for the first window received after `after` that is silent (level
// at or below thresholdDBFS) and is followed only by silent windows until at least
// hold of silent audio has arrived, and returns when that first silent window began to
// arrive (not before `after`). Speech has short gaps between words: a hold of about
// 150 ms tells a pause from the end. Pass the time the sound was heard (SoundAfter's
// result) as `after`, or the silence before the sound will match. An assistant that
// stops sending altogether never proves silence: bound the wait with ctx.
func (a *Activity) SilenceAfter(ctx context.Context, after time.Time, thresholdDBFS float64, hold time.Duration) (time.Time, error) {
	var run time.Time // start of the current silent run; zero when none
	var heard time.Duration
	return a.scan(ctx, after, func(i int) (time.Time, bool) {
		if a.windows[i].level > thresholdDBFS {
			run, heard = time.Time{}, 0
			return time.Time{}, false
		}
		if run.IsZero() {
			run = a.start(i)
			if run.Before(after) {
				run = after
			}
		}
		heard += windowLen
		return run, heard >= hold
	})
}

// Loud returns how much audio above thresholdDBFS was received after from and up to
// and including to, counting 10 ms per loud window.
func (a *Activity) Loud(from, to time.Time, thresholdDBFS float64) time.Duration {
	a.mu.Lock()
	defer a.mu.Unlock()
	var d time.Duration
	for i := a.after(from); i < len(a.windows) && !a.windows[i].at.After(to); i++ {
		if a.windows[i].level > thresholdDBFS {
			d += windowLen
		}
	}
	return d
}

// Gaps returns the stretches of silence (windows at or below thresholdDBFS) lasting at
// least shortest among the windows received after from and up to and including to, in
// order. A stretch that began before from starts at from.
func (a *Activity) Gaps(from, to time.Time, thresholdDBFS float64, shortest time.Duration) []Gap {
	a.mu.Lock()
	defer a.mu.Unlock()
	var gaps []Gap
	var open *Gap
	keep := func() {
		if open != nil && open.Duration() >= shortest {
			gaps = append(gaps, *open)
		}
		open = nil
	}
	for i := a.after(from); i < len(a.windows) && !a.windows[i].at.After(to); i++ {
		w := a.windows[i]
		if w.level > thresholdDBFS {
			if open != nil {
				open.End = w.at
				keep()
			}
			continue
		}
		if open == nil {
			open = &Gap{Start: a.start(i)}
			if open.Start.Before(from) {
				open.Start = from
			}
		}
		open.End = w.at
	}
	keep()
	return gaps
}

// trackSink receives one track's decoded audio from media-sdk (it is the
// PCMRemoteTrack's writer) and records it in an Activity as 10 ms windows.
type trackSink struct {
	a     *Activity
	now   func() time.Time
	heard atomic.Bool // some audio has arrived
	// onFirst is called once, after the first audio has been recorded.
	onFirst func()

	mu      sync.Mutex
	partial []int16 // the start of a window whose end has not arrived yet
}

func newTrackSink(a *Activity, onFirst func()) *trackSink {
	return &trackSink{a: a, now: time.Now, onFirst: onFirst, partial: make([]int16, 0, windowSamples)}
}

// WriteSample records a chunk of 16 kHz mono audio arriving now.
func (s *trackSink) WriteSample(pcm media.PCM16Sample) error {
	at := s.now()
	s.mu.Lock()
	ws := s.split(pcm, at)
	s.mu.Unlock()
	s.a.add(ws)
	if len(pcm) > 0 && !s.heard.Swap(true) && s.onFirst != nil {
		s.onFirst()
	}
	return nil
}

// Close is called by media-sdk when the track's decoder closes.
func (s *trackSink) Close() error { return nil }

// split cuts a chunk that arrived at `at` into the windows it completes, each stamped
// with `at` less the duration of the chunk's samples after it. Callers hold mu.
func (s *trackSink) split(pcm []int16, at time.Time) []window {
	var ws []window
	for len(pcm) > 0 {
		n := min(windowSamples-len(s.partial), len(pcm))
		s.partial = append(s.partial, pcm[:n]...)
		pcm = pcm[n:]
		if len(s.partial) < windowSamples {
			break
		}
		later := time.Duration(len(pcm)) * time.Second / decodeRate
		ws = append(ws, window{at: at.Add(-later), level: audio.LevelDBFS(s.partial)})
		s.partial = s.partial[:0]
	}
	return ws
}

// notifier wakes every waiter at once. Its owner's lock guards it: a waiter takes the
// channel from wait, unlocks and blocks on it; notify closes that channel.
type notifier struct{ ch chan struct{} }

func (n *notifier) wait() <-chan struct{} {
	if n.ch == nil {
		n.ch = make(chan struct{})
	}
	return n.ch
}

func (n *notifier) notify() {
	if n.ch != nil {
		close(n.ch)
		n.ch = nil
	}
}

// await calls check with mu held until it reports done or an error, waiting on n
// between calls; it returns ctx's error when ctx ends first.
func await[T any](ctx context.Context, mu sync.Locker, n *notifier, check func() (T, bool, error)) (T, error) {
	for {
		mu.Lock()
		v, done, err := check()
		var wake <-chan struct{}
		if !done && err == nil {
			wake = n.wait()
		}
		mu.Unlock()
		if done || err != nil {
			return v, err
		}
		select {
		case <-wake:
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
	}
}
