package extract

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Break strengths between pieces of text, weakest first.
const (
	noBreak = iota
	spaceBreak
	lineBreak
	paragraphBreak
)

// textBuilder assembles a document's text from inline words and structural
// breaks. Breaks are held until the next text, so that a run of block ends
// gives one paragraph break and nothing dangles at either end. It stops
// taking text once it holds more than max bytes; full reports that.
type textBuilder struct {
	b       strings.Builder
	pending int
	max     int
}

func newTextBuilder(max int) *textBuilder { return &textBuilder{max: max} }

// brk asks for a break of at least strength k before the next text.
func (t *textBuilder) brk(k int) {
	t.pending = max(t.pending, k)
}

// full reports whether the builder holds more than its limit.
func (t *textBuilder) full() bool { return t.b.Len() > t.max }

// words appends inline text with every run of whitespace collapsed to one
// space; whitespace at either end becomes a pending space.
func (t *textBuilder) words(s string) {
	if t.full() {
		return
	}
	for len(s) > 0 {
		r, n := utf8.DecodeRuneInString(s)
		if unicode.IsSpace(r) {
			t.brk(spaceBreak)
			s = s[n:]
			continue
		}
		end := strings.IndexFunc(s, unicode.IsSpace)
		if end < 0 {
			end = len(s)
		}
		t.flush()
		t.b.WriteString(s[:end])
		s = s[end:]
	}
}

// pre appends preformatted text: line ends are kept as line breaks and the
// blanks inside a line as they are.
func (t *textBuilder) pre(s string) {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for i, line := range strings.Split(s, "\n") {
		if i > 0 {
			t.brk(lineBreak)
		}
		if t.full() {
			return
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		t.flush()
		t.b.WriteString(strings.TrimRightFunc(line, unicode.IsSpace))
	}
}

// flush writes the pending break, if any, before new text.
func (t *textBuilder) flush() {
	if t.b.Len() > 0 {
		switch t.pending {
		case spaceBreak:
			t.b.WriteByte(' ')
		case lineBreak:
			t.b.WriteByte('\n')
		case paragraphBreak:
			t.b.WriteString("\n\n")
		}
	}
	t.pending = noBreak
}

func (t *textBuilder) String() string { return t.b.String() }
