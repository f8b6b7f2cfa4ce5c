package audio

import (
	"slices"
	"testing"
	"time"
)

func TestResample(t *testing.T) {
	if !haveSoxr {
		t.Skip("built without cgo: media-sdk's pure-Go fallback drops the tail for non-integer rate ratios")
	}
	tests := []struct {
		from, to int
	}{
		{22050, 48000},
		{48000, 16000},
		{16000, 48000},
		{44100, 22050},
	}
	for _, tt := range tests {
		in := Sine(tt.from, 440, time.Second, 0.5)
		out := Resample(in, tt.to)
		if out.SampleRate != tt.to {
			t.Errorf("%d→%d: rate = %d", tt.from, tt.to, out.SampleRate)
		}
		ratio := float64(out.Duration()) / float64(in.Duration())
		if ratio < 0.99 || ratio > 1.01 {
			t.Errorf("%d→%d: duration %v, want %v within 1%%", tt.from, tt.to, out.Duration(), in.Duration())
		}
		// A -9 dBFS tone must stay close to -9 dBFS, not turn to silence.
		if lvl := LevelDBFS(out.Samples); lvl < -12 {
			t.Errorf("%d→%d: level %.1f dBFS, want about -9", tt.from, tt.to, lvl)
		}
	}
}

func TestResampleSameRate(t *testing.T) {
	in := Sine(16000, 440, 10*time.Millisecond, 0.5)
	out := Resample(in, 16000)
	if out.SampleRate != 16000 || !slices.Equal(out.Samples, in.Samples) {
		t.Errorf("Resample(same rate) changed the clip")
	}
}

func TestResampleDegenerate(t *testing.T) {
	tests := []struct {
		name string
		in   Clip
		rate int
	}{
		{"empty clip", Clip{SampleRate: 16000}, 48000},
		{"zero target", Sine(16000, 440, time.Millisecond, 1), 0},
		{"negative target", Sine(16000, 440, time.Millisecond, 1), -1},
		{"zero source", Clip{Samples: []int16{1, 2, 3}}, 48000},
	}
	for _, tt := range tests {
		out := Resample(tt.in, tt.rate)
		if out.SampleRate != tt.rate || len(out.Samples) != 0 {
			t.Errorf("%s: got %d Hz with %d samples, want %d Hz with none", tt.name, out.SampleRate, len(out.Samples), tt.rate)
		}
	}
}

func BenchmarkResample22050To48000(b *testing.B) {
	in := Sine(22050, 440, time.Second, 0.5)
	for b.Loop() {
		Resample(in, 48000)
	}
}
