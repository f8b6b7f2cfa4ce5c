package audio

import (
	"math"
	"testing"
	"time"
)

func TestLevelDBFS(t *testing.T) {
	square := make([]int16, 4800)
	for i := range square {
		if (i/24)%2 == 0 {
			square[i] = math.MaxInt16
		} else {
			square[i] = math.MinInt16
		}
	}
	tests := []struct {
		name    string
		samples []int16
		want    float64
		tol     float64
	}{
		{"nil", nil, SilenceDBFS, 0},
		{"empty", []int16{}, SilenceDBFS, 0},
		{"silence", make([]int16, 1000), SilenceDBFS, 0},
		{"full-scale square", square, 0, 0.01},
		{"full-scale sine", Sine(48000, 1000, time.Second, 1).Samples, -3.01, 0.1},
		{"half-amplitude sine", Sine(48000, 1000, time.Second, 0.5).Samples, -9.03, 0.1},
		{"one lsb", []int16{1, -1, 1, -1}, -90.31, 0.01},
		{"clamped to silence", append(make([]int16, 1_000_000), 1), SilenceDBFS, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := LevelDBFS(tt.samples)
			if math.Abs(got-tt.want) > tt.tol {
				t.Errorf("LevelDBFS() = %.3f dBFS, want %.3f ± %.2f", got, tt.want, tt.tol)
			}
		})
	}
}
