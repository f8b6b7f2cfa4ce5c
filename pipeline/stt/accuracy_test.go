package stt

import (
	"math"
	"strings"
	"testing"
)

// wordAccuracy returns 1 - WER of hyp against ref: the reference's word
// count less the substitutions, deletions and insertions of a minimal
// word alignment, over the reference's word count, floored at 0. Words are
// compared case-insensitively, without surrounding punctuation.
func wordAccuracy(ref, hyp string) float64 {
	r, h := words(ref), words(hyp)
	if len(r) == 0 {
		if len(h) == 0 {
			return 1
		}
		return 0
	}
	// prev[j] is the edit distance between the words of r seen so far and
	// h[:j].
	prev := make([]int, len(h)+1)
	cur := make([]int, len(h)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(r); i++ {
		cur[0] = i
		for j := 1; j <= len(h); j++ {
			sub := prev[j-1]
			if r[i-1] != h[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return max(0, 1-float64(prev[len(h)])/float64(len(r)))
}

// words splits s into lower-case words without surrounding punctuation.
func words(s string) []string {
	var out []string
	for _, w := range strings.Fields(strings.ToLower(s)) {
		if w = strings.Trim(w, ".,;:!?\"'()"); w != "" {
			out = append(out, w)
		}
	}
	return out
}

func TestWordAccuracy(t *testing.T) {
	tests := []struct {
		ref, hyp string
		want     float64
	}{
		{"hello how are you", "hello how are you", 1},
		{"Hello, how are you?", "hello how are you", 1},
		{"hello how are you", "hello who are you", 0.75},       // one substitution
		{"hello how are you", "hello are you", 0.75},           // one deletion
		{"hello how are you", "hello how are you today", 0.75}, // one insertion
		{"hello how are you", "", 0},
		{"hello how are you", "a b c d e f g h", 0}, // floored
		{"please open the budget report", "please open a budget report", 0.8},
		{"", "", 1},
		{"", "noise", 0},
	}
	for _, tt := range tests {
		if got := wordAccuracy(tt.ref, tt.hyp); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("wordAccuracy(%q, %q) = %.3f, want %.3f", tt.ref, tt.hyp, got, tt.want)
		}
	}
}
