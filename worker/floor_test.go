package worker

import (
	"context"
	"testing"
	"time"
)

// A job that ends while paused (the pause came after its last sample) must not leave
// the next job paused, and a late decision about it must not touch the next job.
func TestFloorJobsAreIndependent(t *testing.T) {
	const rate = 1000
	clock := time.Unix(0, 0)
	sink := &recordingSink{}
	out := newSpeechOut(sink, rate)
	out.now = func() time.Time { return clock }
	f := newFloor(out)

	_, cancel1 := context.WithCancel(context.Background())
	j1 := f.begin(cancel1)
	if err := f.write(j1, ramp(100, 0)); err != nil {
		t.Fatal(err)
	}
	clock = clock.Add(200 * time.Millisecond) // all of it heard
	if !f.pause(j1.id) {
		t.Fatal("pause of the current job refused")
	}
	f.end(j1)

	ctx2, cancel2 := context.WithCancel(context.Background())
	j2 := f.begin(cancel2)
	if f.interrupt(j1.id, 0) || f.pause(j1.id) {
		t.Error("a decision about the ended job touched the floor")
	}
	if err := f.write(j2, ramp(100, 0)); err != nil {
		t.Fatal(err)
	}
	if out.Paused() || len(sink.writes) != 2 {
		t.Fatalf("the next job's speech was held (paused %v, %d writes); want it played", out.Paused(), len(sink.writes))
	}
	clock = clock.Add(40 * time.Millisecond)
	if !f.interrupt(j2.id, 30*time.Millisecond) {
		t.Fatal("interrupt of the current job refused")
	}
	if ctx2.Err() == nil {
		t.Error("interrupt did not cancel the job's context")
	}
	if err := f.write(j2, ramp(10, 0)); err == nil {
		t.Error("an interrupted job could still write")
	}
	got := f.end(j2)
	if !got.interrupted || got.stop != 30*time.Millisecond {
		t.Errorf("outcome %+v; want interrupted with its stop time", got)
	}
}

// What was heard of an interrupted answer is the sentences whose audio had begun.
func TestFloorHeardSentences(t *testing.T) {
	const rate = 1000
	clock := time.Unix(0, 0)
	out := newSpeechOut(&recordingSink{}, rate)
	out.now = func() time.Time { return clock }
	f := newFloor(out)
	_, cancel := context.WithCancel(context.Background())
	j := f.begin(cancel)
	for _, s := range []string{"One.", "Two.", "Three."} {
		f.mark(j, s)
		if err := f.write(j, ramp(100, 0)); err != nil {
			t.Fatal(err)
		}
	}
	clock = clock.Add(150 * time.Millisecond) // into the second sentence
	f.interrupt(j.id, 0)
	if got := f.end(j); got.heard != "One. Two." {
		t.Errorf("heard %q; want %q", got.heard, "One. Two.")
	}
}
