package turn

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

const ms = time.Millisecond

// obs is one call to Observe and the result it must give; reset calls Reset
// first.
type obs struct {
	at       time.Duration
	speaking bool
	want     bool
	reset    bool
}

// speak returns observations of speech every 20ms over [from, to).
func speak(from, to time.Duration) []obs {
	var out []obs
	for t := from; t < to; t += 20 * ms {
		out = append(out, obs{at: t, speaking: true})
	}
	return out
}

// quiet returns observations of silence every 20ms over [from, to), none of
// which may end the turn.
func quiet(from, to time.Duration) []obs {
	var out []obs
	for t := from; t < to; t += 20 * ms {
		out = append(out, obs{at: t})
	}
	return out
}

func steps(parts ...[]obs) []obs {
	var out []obs
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func TestSilence(t *testing.T) {
	tests := []struct {
		name  string
		steps []obs
	}{
		{"no speech never ends", quiet(0, 10*time.Second)},
		{"499ms of silence is not yet the end", steps(
			speak(0, time.Second),
			[]obs{{at: time.Second}, {at: 1499 * ms}},
		)},
		{"500ms of silence ends the turn once", steps(
			speak(0, time.Second),
			[]obs{{at: time.Second}, {at: 1499 * ms}, {at: 1500 * ms, want: true}, {at: 1501 * ms}, {at: 3 * time.Second}},
		)},
		{"sparse observations end the turn late, never early", steps(
			speak(0, time.Second),
			[]obs{{at: 1200 * ms}, {at: 1600 * ms}, {at: 1800 * ms, want: true}},
		)},
		{"speech resuming restarts the timer", steps(
			speak(0, time.Second),
			quiet(time.Second, 1400*ms),
			speak(1400*ms, 2*time.Second),
			quiet(2*time.Second, 2500*ms),
			[]obs{{at: 2500 * ms, want: true}},
		)},
		{"a new turn after the end can end too", steps(
			speak(0, time.Second),
			[]obs{{at: time.Second}, {at: 1500 * ms, want: true}},
			quiet(1520*ms, 3*time.Second),
			speak(3*time.Second, 4*time.Second),
			quiet(4*time.Second, 4500*ms),
			[]obs{{at: 4500 * ms, want: true}, {at: 6 * time.Second}},
		)},
		{"reset forgets speech heard", steps(
			speak(0, time.Second),
			[]obs{{at: time.Second, reset: true}},
			quiet(1020*ms, 5*time.Second),
		)},
		{"reset mid-silence, then a new turn ends", steps(
			speak(0, time.Second),
			quiet(time.Second, 1300*ms),
			[]obs{{at: 1300 * ms, speaking: true, reset: true}},
			quiet(1320*ms, 1820*ms),
			[]obs{{at: 1820 * ms, want: true}},
		)},
		{"reset after the end, then a new turn ends", steps(
			speak(0, time.Second),
			[]obs{{at: time.Second}, {at: 1500 * ms, want: true}},
			[]obs{{at: 1600 * ms, speaking: true, reset: true}},
			[]obs{{at: 1700 * ms}, {at: 2199 * ms}, {at: 2200 * ms, want: true}},
		)},
		{"time going backwards does not end the turn", steps(
			speak(0, time.Second),
			[]obs{{at: time.Second}, {at: 500 * ms}, {at: 1500 * ms, want: true}},
		)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSilence(DefaultSilence)
			if err != nil {
				t.Fatalf("NewSilence(%v): %v", DefaultSilence, err)
			}
			var trace []string
			for _, o := range tt.steps {
				if o.reset {
					s.Reset()
					trace = append(trace, "reset")
				}
				got := s.Observe(o.at, o.speaking, "some words")
				trace = append(trace, fmt.Sprintf("%v/%v", o.at, o.speaking))
				if got != o.want {
					t.Fatalf("Observe(%v, speaking=%v) = %v; want %v (after %v)", o.at, o.speaking, got, o.want, trace)
				}
			}
		})
	}
}

func TestSilenceIgnoresTranscript(t *testing.T) {
	for _, transcript := range []string{"", "and then", "That is all."} {
		s, err := NewSilence(300 * ms)
		if err != nil {
			t.Fatal(err)
		}
		s.Observe(0, true, transcript)
		if s.Observe(100*ms, false, transcript) || !s.Observe(400*ms, false, transcript) {
			t.Errorf("transcript %q: turn did not end exactly 300ms after the silence began", transcript)
		}
	}
}

func TestNewSilence(t *testing.T) {
	tests := []struct {
		silence time.Duration
		ok      bool
	}{
		{DefaultSilence, true},
		{MinSilence, true},
		{MaxSilence, true},
		{MinSilence - 1, false},
		{MaxSilence + 1, false},
		{0, false},
		{-time.Second, false},
	}
	for _, tt := range tests {
		s, err := NewSilence(tt.silence)
		if tt.ok && (err != nil || s == nil) {
			t.Errorf("NewSilence(%v) = %v, %v; want a detector", tt.silence, s, err)
		}
		if !tt.ok && (s != nil || !errors.Is(err, ErrInvalidConfig)) {
			t.Errorf("NewSilence(%v) = %v, %v; want nil, ErrInvalidConfig", tt.silence, s, err)
		}
	}
}

func BenchmarkSilenceObserve(b *testing.B) {
	s, err := NewSilence(DefaultSilence)
	if err != nil {
		b.Fatal(err)
	}
	var now time.Duration
	for b.Loop() {
		now += 20 * ms
		s.Observe(now, now%(2*time.Second) < time.Second, "")
	}
}
