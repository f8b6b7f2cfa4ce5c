// Package bench holds Attendant's load and latency scenarios and their reports.
package bench

import (
	"encoding/json"
	"math"
	"os"
	"slices"
	"time"
)

// Summary describes a set of samples.
type Summary struct {
	Samples []float64 `json:"samples"`
	Min     float64   `json:"min"`
	P50     float64   `json:"p50"`
	P95     float64   `json:"p95"`
	P99     float64   `json:"p99"`
	Max     float64   `json:"max"`
	Mean    float64   `json:"mean"`
}

// Summarize computes the summary of samples; percentiles are nearest-rank.
func Summarize(samples []float64) Summary {
	s := Summary{Samples: samples}
	if len(samples) == 0 {
		return s
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	var sum float64
	for _, v := range sorted {
		sum += v
	}
	rank := func(p float64) float64 {
		i := int(math.Ceil(p*float64(len(sorted)))) - 1
		return sorted[max(i, 0)]
	}
	s.Min, s.Max = sorted[0], sorted[len(sorted)-1]
	s.P50, s.P95, s.P99 = rank(0.50), rank(0.95), rank(0.99)
	s.Mean = sum / float64(len(sorted))
	return s
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

func drain(ch chan struct{}) {
	select {
	case <-ch:
	default:
	}
}
