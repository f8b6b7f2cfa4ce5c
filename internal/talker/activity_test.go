package talker

import (
	"context"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

const (
	loud   = -10.0 // dBFS of a loud window
	quiet  = -70.0
	thresh = -40.0
)

var t0 = time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)

// ms is t0 plus n milliseconds.
func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

// feed adds one window per character of pattern ('#' loud, '.' silent), 10 ms apart,
// the first received at first.
func feed(a *Activity, first time.Time, pattern string) {
	ws := make([]window, 0, len(pattern))
	for i, c := range pattern {
		level := quiet
		if c == '#' {
			level = loud
		}
		ws = append(ws, window{at: first.Add(time.Duration(i) * windowLen), level: level})
	}
	a.add(ws)
}

func shortCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestSoundAfter(t *testing.T) {
	a := newActivity()
	// windows at 0..90 ms: loud at 30, 40 and 80 ms
	feed(a, ms(0), "...##...#.")
	for _, tc := range []struct {
		after time.Time
		want  time.Time
	}{
		{ms(-1), ms(30)},
		{ms(29), ms(30)},
		{ms(30), ms(40)}, // strictly after
		{ms(40), ms(80)},
	} {
		got, err := a.SoundAfter(shortCtx(t), tc.after, thresh)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("SoundAfter(%v) = %v, %v; want %v", tc.after.Sub(t0), got.Sub(t0), err, tc.want.Sub(t0))
		}
	}
}

// A waiter wakes on audio that arrives after it started waiting.
func TestSoundAfterWaits(t *testing.T) {
	a := newActivity()
	feed(a, ms(0), "#..")
	got := make(chan time.Time, 1)
	go func() {
		at, err := a.SoundAfter(shortCtx(t), ms(5), thresh)
		if err != nil {
			t.Errorf("SoundAfter: %v", err)
		}
		got <- at
	}()
	feed(a, ms(30), "...")
	feed(a, ms(60), "..#")
	if at := <-got; !at.Equal(ms(80)) {
		t.Errorf("SoundAfter = %v; want the loud window at 80ms", at.Sub(t0))
	}
}

func TestWaitsEndWithContextAndClose(t *testing.T) {
	a := newActivity()
	feed(a, ms(0), "#....")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := a.SoundAfter(ctx, ms(0), thresh); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SoundAfter with no sound = %v; want DeadlineExceeded", err)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := a.SilenceAfter(ctx, ms(0), thresh, time.Second); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SilenceAfter with too short a silence = %v; want DeadlineExceeded", err)
	}

	errs := make(chan error, 1)
	go func() {
		_, err := a.SoundAfter(context.Background(), ms(0), thresh)
		errs <- err
	}()
	a.close()
	if err := <-errs; !errors.Is(err, ErrClosed) {
		t.Errorf("SoundAfter after close = %v; want ErrClosed", err)
	}
	// What was recorded before the close still answers.
	if got, err := a.SoundAfter(context.Background(), ms(-1), thresh); err != nil || !got.Equal(ms(0)) {
		t.Errorf("SoundAfter over recorded audio after close = %v, %v; want 0s, nil", got.Sub(t0), err)
	}
}

func TestSilenceAfter(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pattern string // from 0 ms, 10 ms per window
		after   time.Time
		hold    time.Duration
		want    time.Time
	}{
		// The word pause (3 windows) is shorter than the hold; the silence from
		// 90 ms (the end of the loud window received at 90 ms) lasts.
		{"pause is not silence", "#####...##.....", ms(0), 50 * time.Millisecond, ms(90)},
		{"short hold takes the pause", "#####...##.....", ms(0), 30 * time.Millisecond, ms(40)},
		{"zero hold", "##.", ms(0), 0, ms(10)},
		// The first silent window starts before `after`: silence starts at `after`.
		{"clamped to after", "##......", ms(15), 30 * time.Millisecond, ms(15)},
	} {
		a := newActivity()
		feed(a, ms(0), tc.pattern)
		got, err := a.SilenceAfter(shortCtx(t), tc.after, thresh, tc.hold)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%s: SilenceAfter(%q, hold %v) = %v, %v; want %v", tc.name, tc.pattern, tc.hold, got.Sub(t0), err, tc.want.Sub(t0))
		}
	}
}

// The hold counts audio, fed in pieces: the answer comes once enough silence arrived.
func TestSilenceAfterAcrossChunks(t *testing.T) {
	a := newActivity()
	feed(a, ms(0), "###..")
	got := make(chan time.Time, 1)
	go func() {
		at, err := a.SilenceAfter(shortCtx(t), ms(0), thresh, 100*time.Millisecond)
		if err != nil {
			t.Errorf("SilenceAfter: %v", err)
		}
		got <- at
	}()
	feed(a, ms(50), ".#")                    // the silence is broken after 3 windows
	feed(a, ms(70), strings.Repeat(".", 12)) // 120 ms of silence from 60 ms
	if at := <-got; !at.Equal(ms(60)) {
		t.Errorf("SilenceAfter = %v; want 60ms, the end of the loud window received at 60ms", at.Sub(t0))
	}
}

func TestLoud(t *testing.T) {
	a := newActivity()
	feed(a, ms(0), "##..###..#")
	for _, tc := range []struct {
		from, to time.Time
		want     time.Duration
	}{
		{ms(-1), ms(90), 60 * time.Millisecond},
		{ms(0), ms(90), 50 * time.Millisecond}, // from is exclusive
		{ms(-1), ms(50), 40 * time.Millisecond},
		{ms(60), ms(80), 0},
	} {
		if got := a.Loud(tc.from, tc.to, thresh); got != tc.want {
			t.Errorf("Loud(%v, %v) = %v; want %v", tc.from.Sub(t0), tc.to.Sub(t0), got, tc.want)
		}
	}
}

func TestGaps(t *testing.T) {
	a := newActivity()
	//              0    5    10   15   20
	feed(a, ms(0), "##.##.....###....")
	got := a.Gaps(ms(-1), ms(160), thresh, 30*time.Millisecond)
	want := []Gap{
		{Start: ms(40), End: ms(100)},  // after the loud window at 40 ms, until the one at 100 ms
		{Start: ms(120), End: ms(160)}, // to the end of the span
	}
	if len(got) != len(want) {
		t.Fatalf("Gaps = %v; want %v", fmtGaps(got), fmtGaps(want))
	}
	for i := range want {
		if !got[i].Start.Equal(want[i].Start) || !got[i].End.Equal(want[i].End) {
			t.Errorf("gap %d = %v; want %v", i, fmtGaps(got[i:i+1]), fmtGaps(want[i:i+1]))
		}
	}
	if d := got[0].Duration(); d != 60*time.Millisecond {
		t.Errorf("first gap lasts %v; want 60ms (5 silent windows and a window's share of the edges)", d)
	}
	// The one-window pause is a gap when nothing shorter is excluded.
	if all := a.Gaps(ms(-1), ms(160), thresh, 0); len(all) != 3 {
		t.Errorf("Gaps with no minimum = %v; want 3 gaps", fmtGaps(all))
	}
	// A span starting inside a silence clips it.
	if in := a.Gaps(ms(65), ms(95), thresh, 0); len(in) != 1 || !in[0].Start.Equal(ms(65)) || !in[0].End.Equal(ms(90)) {
		t.Errorf("Gaps(65ms, 95ms) = %v; want [65ms–90ms]", fmtGaps(in))
	}
}

func fmtGaps(gs []Gap) string {
	var b strings.Builder
	for _, g := range gs {
		b.WriteString("[" + g.Start.Sub(t0).String() + "–" + g.End.Sub(t0).String() + "]")
	}
	return b.String()
}

// Windows more than keepFor older than the newest are dropped, and waits resume
// correctly across the drop.
func TestActivityKeepsFiveMinutes(t *testing.T) {
	a := newActivity()
	feed(a, ms(0), "#")
	got := make(chan time.Time, 1)
	go func() {
		at, err := a.SoundAfter(shortCtx(t), ms(0), thresh)
		if err != nil {
			t.Errorf("SoundAfter: %v", err)
		}
		got <- at
	}()
	minute := strings.Repeat(".", 6000)
	for i := range 6 {
		feed(a, ms(10+i*60000), minute)
	}
	late := ms(10 + 6*60000)
	feed(a, late, "#")
	if at := <-got; !at.Equal(late) {
		t.Errorf("SoundAfter across drops = %v; want %v", at.Sub(t0), late.Sub(t0))
	}
	a.mu.Lock()
	n, oldest := len(a.windows), a.windows[0].at
	a.mu.Unlock()
	if limit := int(keepFor/windowLen) + 1; n > limit {
		t.Errorf("%d windows kept; want at most %d", n, limit)
	}
	if late.Sub(oldest) > keepFor {
		t.Errorf("oldest window kept is %v older than the newest; want at most %v", late.Sub(oldest), keepFor)
	}
	if d := a.Loud(ms(-1), late, thresh); d != windowLen {
		t.Errorf("Loud over everything = %v; want 10ms (the first loud window was dropped)", d)
	}
}

func TestReceiveTimesNeverGoBack(t *testing.T) {
	a := newActivity()
	a.add([]window{{at: ms(100), level: quiet}, {at: ms(90), level: loud}})
	got, err := a.SoundAfter(shortCtx(t), ms(0), thresh)
	if err != nil || !got.Equal(ms(100)) {
		t.Errorf("SoundAfter = %v, %v; want 100ms (a window is not received before the one ahead of it)", got.Sub(t0), err)
	}
}

// sine returns n samples of a full-scale-ish tone (or silence for amp 0).
func sine(n int, amp float64) []int16 {
	s := make([]int16, n)
	for i := range s {
		s[i] = int16(amp * 32767 * math.Sin(2*math.Pi*440*float64(i)/decodeRate))
	}
	return s
}

// Decoded chunks of any length become 10 ms windows ending where their samples end.
func TestTrackSinkSplitsChunks(t *testing.T) {
	a := newActivity()
	var firsts int
	s := newTrackSink(a, func() { firsts++ })
	var now time.Time
	s.now = func() time.Time { return now }

	// 30 ms of silence arriving at 30 ms: windows end at 10, 20 and 30 ms.
	now = ms(30)
	s.WriteSample(sine(3*windowSamples, 0))
	// 25 ms of tone at 55 ms: two windows (ending 45 and 55 ms less the 5 ms left over).
	now = ms(55)
	s.WriteSample(sine(5*windowSamples/2, 0.5))
	// 5 ms of tone at 60 ms completes the window that began with the left-over 5 ms.
	now = ms(60)
	s.WriteSample(sine(windowSamples/2, 0.5))

	if firsts != 1 {
		t.Errorf("onFirst called %d times; want once", firsts)
	}
	a.mu.Lock()
	ws := append([]window(nil), a.windows...)
	a.mu.Unlock()
	want := []struct {
		at   time.Time
		loud bool
	}{{ms(10), false}, {ms(20), false}, {ms(30), false}, {ms(40), true}, {ms(50), true}, {ms(60), true}}
	if len(ws) != len(want) {
		t.Fatalf("%d windows; want %d", len(ws), len(want))
	}
	for i, w := range want {
		if !ws[i].at.Equal(w.at) || (ws[i].level > thresh) != w.loud {
			t.Errorf("window %d = at %v, %.1f dBFS; want at %v, loud %v", i, ws[i].at.Sub(t0), ws[i].level, w.at.Sub(t0), w.loud)
		}
	}
	if got := ws[3].level; got < -10 || got > -8 {
		t.Errorf("tone window level = %.1f dBFS; want about -9 (a 0.5 sine)", got)
	}
}

// Concurrent writers and readers: run with -race.
func TestActivityConcurrent(t *testing.T) {
	a := newActivity()
	s := newTrackSink(a, nil)
	ctx := shortCtx(t)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 200 {
			s.WriteSample(sine(160, float64(i%2)*0.5))
		}
	}()
	go func() {
		defer wg.Done()
		for range 200 {
			now := time.Now()
			a.Loud(now.Add(-time.Second), now, thresh)
			a.Gaps(now.Add(-time.Second), now, thresh, 0)
		}
	}()
	if _, err := a.SoundAfter(ctx, time.Time{}, thresh); err != nil {
		t.Errorf("SoundAfter: %v", err)
	}
	wg.Wait()
}

func TestPlayout(t *testing.T) {
	var p playout
	first := p.queue(ms(0), 500*time.Millisecond)
	second := p.queue(ms(100), 200*time.Millisecond) // queued while the first plays
	third := p.queue(ms(900), 100*time.Millisecond)  // queued when idle
	for _, tc := range []struct {
		name       string
		got        Spoken
		start, end time.Time
	}{
		{"first", first, ms(0), ms(500)},
		{"second", second, ms(500), ms(700)},
		{"third", third, ms(900), ms(1000)},
	} {
		if !tc.got.Start.Equal(tc.start) || !tc.got.End.Equal(tc.end) {
			t.Errorf("%s clip plays %v–%v; want %v–%v", tc.name, tc.got.Start.Sub(t0), tc.got.End.Sub(t0), tc.start.Sub(t0), tc.end.Sub(t0))
		}
	}
}
