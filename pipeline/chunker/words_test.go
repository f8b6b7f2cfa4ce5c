package chunker

import (
	"slices"
	"strings"
	"testing"
)

func TestWords(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"one", []string{"one"}},
		{"one two", []string{"one", " two"}},
		{"  lead", []string{"  lead"}},
		{"trail ", []string{"trail", " "}},
		{"a\n\nb\tc", []string{"a", "\n\nb", "\tc"}},
		{"héllo wörld", []string{"héllo", " wörld"}},
	}
	for _, tt := range tests {
		got := Words(tt.in)
		if !slices.Equal(got, tt.want) {
			t.Errorf("Words(%q) = %q; want %q", tt.in, got, tt.want)
		}
		if strings.Join(got, "") != tt.in {
			t.Errorf("Words(%q) joined = %q; want the input", tt.in, strings.Join(got, ""))
		}
	}
}

func TestWordsConcatenate(t *testing.T) {
	for _, s := range []string{"", "one", "one two", " lead and trail ", "a\n\nb"} {
		if got := strings.Join(Words(s), ""); got != s {
			t.Errorf("Words(%q) joined = %q; want the input", s, got)
		}
	}
}
