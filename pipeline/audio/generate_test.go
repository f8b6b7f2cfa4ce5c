package audio

import (
	"slices"
	"testing"
	"time"
)

func TestClipDuration(t *testing.T) {
	tests := []struct {
		clip Clip
		want time.Duration
	}{
		{Clip{SampleRate: 16000, Samples: make([]int16, 16000)}, time.Second},
		{Clip{SampleRate: 48000, Samples: make([]int16, 960)}, 20 * time.Millisecond},
		{Clip{SampleRate: 22050, Samples: make([]int16, 33075)}, 1500 * time.Millisecond},
		{Clip{SampleRate: 0, Samples: make([]int16, 10)}, 0},
		{Clip{SampleRate: 8000}, 0},
	}
	for _, tt := range tests {
		if got := tt.clip.Duration(); got != tt.want {
			t.Errorf("Clip{%d Hz, %d samples}.Duration() = %v, want %v", tt.clip.SampleRate, len(tt.clip.Samples), got, tt.want)
		}
	}
}

func TestSine(t *testing.T) {
	c := Sine(8000, 1000, 100*time.Millisecond, 1)
	if c.SampleRate != 8000 || len(c.Samples) != 800 {
		t.Fatalf("Sine() = %d Hz with %d samples, want 8000 Hz with 800", c.SampleRate, len(c.Samples))
	}
	// 1 kHz at 8 kHz: eight samples per cycle, peak at index 2.
	if c.Samples[0] != 0 || c.Samples[2] != 32767 || c.Samples[6] != -32767 {
		t.Errorf("Sine() first cycle = %v, want 0 at 0, ±32767 at 2 and 6", c.Samples[:8])
	}
	for _, amp := range []float64{-1, 0} {
		if lvl := LevelDBFS(Sine(8000, 440, 10*time.Millisecond, amp).Samples); lvl != SilenceDBFS {
			t.Errorf("Sine(amplitude %v) level = %v, want silence", amp, lvl)
		}
	}
	if loud, full := Sine(8000, 440, 10*time.Millisecond, 5), Sine(8000, 440, 10*time.Millisecond, 1); !slices.Equal(loud.Samples, full.Samples) {
		t.Errorf("Sine(amplitude 5) differs from Sine(amplitude 1); want it clamped to full scale")
	}
	if got := Sine(0, 440, time.Second, 1); len(got.Samples) != 0 {
		t.Errorf("Sine(rate 0) has %d samples, want 0", len(got.Samples))
	}
}

func TestFrames(t *testing.T) {
	c := Clip{SampleRate: 1000, Samples: []int16{1, 2, 3, 4, 5, 6, 7}}
	tests := []struct {
		name  string
		clip  Clip
		frame time.Duration
		want  [][]int16
	}{
		{"padded", c, 3 * time.Millisecond, [][]int16{{1, 2, 3}, {4, 5, 6}, {7, 0, 0}}},
		{"exact", c, 7 * time.Millisecond, [][]int16{{1, 2, 3, 4, 5, 6, 7}}},
		{"longer than clip", c, 10 * time.Millisecond, [][]int16{{1, 2, 3, 4, 5, 6, 7, 0, 0, 0}}},
		{"single samples", c, time.Millisecond, [][]int16{{1}, {2}, {3}, {4}, {5}, {6}, {7}}},
		{"sub-sample frame", c, time.Microsecond, nil},
		{"zero frame", c, 0, nil},
		{"empty clip", Clip{SampleRate: 1000}, time.Millisecond, nil},
		{"zero rate", Clip{Samples: []int16{1}}, time.Millisecond, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Frames(tt.clip, tt.frame)
			if !slices.EqualFunc(got, tt.want, slices.Equal) {
				t.Errorf("Frames(%v) = %v, want %v", tt.frame, got, tt.want)
			}
		})
	}
}

func TestFramesIndependent(t *testing.T) {
	c := Sine(48000, 440, 50*time.Millisecond, 0.5)
	frames := Frames(c, 20*time.Millisecond)
	if len(frames) != 3 || len(frames[0]) != 960 {
		t.Fatalf("got %d frames of %d samples, want 3 of 960", len(frames), len(frames[0]))
	}
	next := frames[1][0]
	_ = append(frames[0], 12345)
	if frames[1][0] != next {
		t.Errorf("appending to frame 0 overwrote frame 1")
	}
	frames[0][0] = 999
	if c.Samples[0] == 999 {
		t.Errorf("Frames shares memory with the clip")
	}
}

func TestTrim(t *testing.T) {
	c := Clip{SampleRate: 1000, Samples: []int16{0, 5, -5, 400, 20, -300, 3, 0}}
	got := Trim(c, 300)
	if want := []int16{400, 20, -300}; !slices.Equal(got.Samples, want) || got.SampleRate != 1000 {
		t.Errorf("Trim = %v at %d Hz; want %v at 1000 Hz", got.Samples, got.SampleRate, want)
	}
	if q := Trim(Clip{SampleRate: 8000, Samples: []int16{1, -2, 3}}, 300); len(q.Samples) != 0 {
		t.Errorf("Trim of a quiet clip kept %v; want nothing", q.Samples)
	}
}
