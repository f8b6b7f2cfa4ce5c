package chunk

import (
	"strings"
	"testing"
)

func TestCountTokens(t *testing.T) {
	cases := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"   \n\t ", 0},
		{"Hello world", 2},
		{"The quick brown fox jumps over the lazy dog.", 10},
		{"don't", 2},                // "don" "'t"
		{"well-known", 2},           // "well" "-known"
		{"internationalization", 4}, // 20 letters in pieces of 6
		{"2026", 2},                 // "202" "6"
		{"3.14", 3},                 // "3" "." "14"
		{"----", 1},
		{"-----", 2},
		{"?!", 2},
		{"東京都", 3},
		{"Привет", 3},
		{"café naïve", 2},
		{"e\u0301te\u0301", 1}, // combining accents stay in the word
		{"👍👍", 2},
	}
	for _, c := range cases {
		if got := CountTokens(c.in); got != c.want {
			t.Errorf("CountTokens(%q) = %d; want %d", c.in, got, c.want)
		}
	}
}

// TestCountTokensProse compares the count for English prose with cl100k's
// published example counts and the usual rule of about four characters per
// token for English.
func TestCountTokensProse(t *testing.T) {
	examples := []struct {
		in    string
		cl100 int // cl100k_base count
	}{
		{"The quick brown fox jumps over the lazy dog.", 10},
		{"tiktoken is great!", 6},
		{"Hello world", 2},
	}
	for _, e := range examples {
		got := CountTokens(e.in)
		if d := float64(got-e.cl100) / float64(e.cl100); d > 0.2 || d < -0.2 {
			t.Errorf("CountTokens(%q) = %d; cl100k gives %d (off by %.0f%%)", e.in, got, e.cl100, d*100)
		}
	}
	prose := strings.Join([]string{
		"Employees are entitled to twenty-five days of paid annual leave, in addition to public holidays.",
		"Requests for leave should be submitted through the HR portal at least two weeks in advance, and approved by the employee's line manager.",
		"Unused leave may be carried over to the following year, up to a maximum of five days, unless otherwise agreed in writing.",
		"If you are unwell, please inform your manager before 10:00 on the first day of absence, and provide a fit note after seven calendar days.",
		"The organisation reserves the right to review this policy periodically to ensure that it remains consistent with legislation and best practice.",
	}, " ")
	got := CountTokens(prose)
	rule := float64(len(prose)) / 4
	if r := float64(got) / rule; r < 0.8 || r > 1.2 {
		t.Errorf("CountTokens(prose) = %d; the four-characters rule gives %.0f (ratio %.2f)", got, rule, r)
	}
	words := len(strings.Fields(prose))
	t.Logf("prose: %d tokens, %d words (%.2f per word), %d bytes", got, words, float64(got)/float64(words), len(prose))
}

func TestCountTokensAdditive(t *testing.T) {
	texts := []string{
		"Hello, world! It's a well-known fact: 12345 apples cost £3.50 each.",
		"Пример текста на русском языке. 東京は日本の首都です。",
		"supercalifragilisticexpialidocious and antidisestablishmentarianism",
	}
	for _, text := range texts {
		spans := tokenSpans(text)
		if len(spans) != CountTokens(text) {
			t.Fatalf("tokenSpans gives %d spans; CountTokens %d", len(spans), CountTokens(text))
		}
		for i := 1; i < len(spans); i++ {
			if spans[i].start == spans[i-1].end && !strings.ContainsAny(text[spans[i-1].end:spans[i].start], " ") {
				continue // cut inside a word: not promised
			}
			a, b := text[:spans[i].start], text[spans[i].start:]
			if CountTokens(a)+CountTokens(b) != CountTokens(text) {
				t.Errorf("counts of %q and %q do not add up to %d", a, b, CountTokens(text))
			}
		}
	}
}
