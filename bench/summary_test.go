package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func seq(from, to int) []float64 {
	var s []float64
	for v := from; v <= to; v++ {
		s = append(s, float64(v))
	}
	return s
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		name    string
		samples []float64
		want    Summary
	}{
		{"empty", nil, Summary{}},
		{"single", []float64{42.5}, Summary{Min: 42.5, P50: 42.5, P95: 42.5, Max: 42.5, Mean: 42.5}},
		{"1..20", seq(1, 20), Summary{Min: 1, P50: 10, P95: 19, Max: 20, Mean: 10.5}},
		{"1..100", seq(1, 100), Summary{Min: 1, P50: 50, P95: 95, Max: 100, Mean: 50.5}},
		{"1..10", seq(1, 10), Summary{Min: 1, P50: 5, P95: 10, Max: 10, Mean: 5.5}},
		{"two", []float64{30, 10}, Summary{Min: 10, P50: 10, P95: 30, Max: 30, Mean: 20}},
		{"unsorted", []float64{9, 1, 7, 3, 5}, Summary{Min: 1, P50: 5, P95: 9, Max: 9, Mean: 5}},
		{"repeated", []float64{4, 4, 4, 4}, Summary{Min: 4, P50: 4, P95: 4, Max: 4, Mean: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Summarize(tt.samples)
			if got.Min != tt.want.Min || got.P50 != tt.want.P50 || got.P95 != tt.want.P95 ||
				got.Max != tt.want.Max || got.Mean != tt.want.Mean {
				t.Errorf("Summarize(%v) = min %v p50 %v p95 %v max %v mean %v; want min %v p50 %v p95 %v max %v mean %v",
					tt.samples, got.Min, got.P50, got.P95, got.Max, got.Mean,
					tt.want.Min, tt.want.P50, tt.want.P95, tt.want.Max, tt.want.Mean)
			}
			if !slices.Equal(got.Samples, tt.samples) {
				t.Errorf("Summarize(%v).Samples = %v; want the input samples", tt.samples, got.Samples)
			}
		})
	}
}

func TestSummarizeDoesNotMutateInput(t *testing.T) {
	in := []float64{5, 3, 9, 1, 7}
	orig := slices.Clone(in)
	s := Summarize(in)
	if !slices.Equal(in, orig) {
		t.Errorf("Summarize mutated its input: now %v; want %v", in, orig)
	}
	if !slices.Equal(s.Samples, orig) {
		t.Errorf("Summarize(%v).Samples = %v; want the samples in their original order", orig, s.Samples)
	}
}

// requireReportKeys writes a report through write and checks that its JSON has
// every key named, returning the JSON.
func requireReportKeys(t *testing.T, write func(path string) error, keys ...string) []byte {
	t.Helper()
	path := filepath.Join(t.TempDir(), "report.json")
	if err := write(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if _, ok := raw[k]; !ok {
			t.Errorf("report JSON lacks %q: %s", k, data)
		}
	}
	return data
}
