package worker

import (
	"slices"
	"testing"
	"time"

	"github.com/livekit/media-sdk"
)

// recordingSink plays like media-sdk's track: it keeps what it was given and drops it
// on ClearQueue. The test clock decides what has been "played".
type recordingSink struct {
	writes  [][]int16
	cleared int
}

func (s *recordingSink) WriteSample(p media.PCM16Sample) error {
	s.writes = append(s.writes, append([]int16(nil), p...))
	return nil
}

func (s *recordingSink) ClearQueue() { s.cleared++ }

func ramp(n int, from int16) []int16 {
	out := make([]int16, n)
	for i := range out {
		out[i] = from + int16(i)
	}
	return out
}

func TestSpeechOutPauseResumeKeepsUnheard(t *testing.T) {
	const rate = 1000 // one sample per millisecond keeps the arithmetic readable
	clock := time.Unix(0, 0)
	sink := &recordingSink{}
	o := newSpeechOut(sink, rate)
	o.now = func() time.Time { return clock }

	speech := ramp(500, 0) // 500 ms
	if err := o.Write(speech); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(200 * time.Millisecond)
	o.Pause()
	if sink.cleared != 1 {
		t.Fatalf("Pause cleared the sink %d times; want 1", sink.cleared)
	}
	if got := o.Remaining(); got != 300*time.Millisecond {
		t.Errorf("Remaining after pausing at 200 ms of 500 = %s; want 300ms", got)
	}
	// Speech written while paused waits behind the held part.
	if err := o.Write(ramp(100, 1000)); err != nil {
		t.Fatal(err)
	}
	if len(sink.writes) != 1 {
		t.Fatalf("a write while paused reached the sink")
	}
	clock = clock.Add(time.Second) // time passes while paused: nothing is lost
	if err := o.Resume(); err != nil {
		t.Fatal(err)
	}
	want := append(ramp(300, 200), ramp(100, 1000)...)
	if got := sink.writes[len(sink.writes)-1]; !slices.Equal(got, want) {
		t.Errorf("Resume handed %d samples starting %v; want the unheard 300 then the 100 written while paused", len(got), got[:3])
	}
	clock = clock.Add(400 * time.Millisecond)
	if got := o.Remaining(); got != 0 {
		t.Errorf("Remaining after playing everything = %s; want 0", got)
	}
}

func TestSpeechOutClear(t *testing.T) {
	clock := time.Unix(0, 0)
	sink := &recordingSink{}
	o := newSpeechOut(sink, 1000)
	o.now = func() time.Time { return clock }
	_ = o.Write(ramp(500, 0))
	o.Pause()
	_ = o.Write(ramp(10, 0))
	o.Clear()
	if got := o.Remaining(); got != 0 {
		t.Errorf("Remaining after Clear = %s; want 0", got)
	}
	if err := o.Resume(); err != nil || len(sink.writes) != 1 {
		t.Errorf("Resume after Clear wrote %d times (err %v); want nothing new", len(sink.writes)-1, err)
	}
	// After Clear, new speech plays at once.
	_ = o.Write(ramp(50, 7))
	if len(sink.writes) != 2 || sink.writes[1][0] != 7 {
		t.Errorf("write after Clear did not reach the sink")
	}
}

func TestSpeechOutQueuesBehindPlaying(t *testing.T) {
	clock := time.Unix(0, 0)
	o := newSpeechOut(&recordingSink{}, 1000)
	o.now = func() time.Time { return clock }
	_ = o.Write(ramp(300, 0))
	clock = clock.Add(100 * time.Millisecond)
	_ = o.Write(ramp(300, 0)) // queued after the 200 ms still playing
	clock = clock.Add(250 * time.Millisecond)
	if got := o.Remaining(); got != 250*time.Millisecond {
		t.Errorf("Remaining = %s; want 250ms (600 written, 350 played)", got)
	}
	clock = clock.Add(time.Second)
	_ = o.Write(ramp(100, 0)) // after silence: starts now, not in the past
	if got := o.Remaining(); got != 100*time.Millisecond {
		t.Errorf("Remaining after a gap = %s; want 100ms", got)
	}
}

func TestSpeechOutCountsWhatWasHeard(t *testing.T) {
	const rate = 1000
	clock := time.Unix(0, 0)
	o := newSpeechOut(&recordingSink{}, rate)
	o.now = func() time.Time { return clock }
	if err := o.Write(ramp(400, 0)); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(150 * time.Millisecond)
	if got := o.Heard(); got != 150 {
		t.Errorf("Heard after 150 ms = %d samples; want 150", got)
	}
	o.Pause()
	if !o.Paused() {
		t.Error("Paused() = false after Pause")
	}
	clock = clock.Add(time.Second)
	if got := o.Heard(); got != 150 {
		t.Errorf("Heard while paused = %d; want it to stay 150", got)
	}
	if err := o.Resume(); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(100 * time.Millisecond)
	if got, w := o.Heard(), o.Written(); got != 250 || w != 400 {
		t.Errorf("after resuming for 100 ms: heard %d of %d written; want 250 of 400", got, w)
	}
	o.Clear()
	if o.Heard() != 0 || o.Written() != 0 || o.Paused() {
		t.Error("Clear left counts or the pause behind")
	}
}
