package chunker

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Defaults for zero Config fields.
const (
	// DefaultMinChars is the length below which a sentence is joined to
	// the next.
	DefaultMinChars = 20
	// DefaultMaxChars is the length past which a sentence is cut.
	DefaultMaxChars = 250
)

// Config sets sentence lengths, in characters (runes).
type Config struct {
	// MinChars: sentences shorter than this are joined to the next one,
	// except the last of an answer. Zero means DefaultMinChars; a negative
	// value joins nothing.
	MinChars int
	// MaxChars: a sentence longer than this is cut at its last comma or
	// semicolon (when that keeps at least half of it) or else at its last
	// space before the limit. Zero means DefaultMaxChars; a negative value
	// sets no limit.
	MaxChars int
}

// Chunker turns a stream of LLM text into speakable sentences as soon as
// each is complete. Feed an answer's text to Push in order, then call Flush
// once at its end; the Chunker is then ready for the next answer. A Chunker
// is not safe for concurrent use.
type Chunker struct {
	min, max int // resolved limits; <= 0 means none

	// Markdown step.
	lineStart bool   // at the start of a line, collecting its markup prefix
	prefix    []byte // markup bytes at the start of the line, undecided
	skipLine  bool   // dropping a code-fence line up to its newline

	// Sentence step.
	buf            []byte // cleaned text not yet emitted
	bufAtLineStart bool   // buf begins at the start of a line
	scan           int    // buf[:scan] holds no sentence end (a resume point)
	scanRunes      int    // runes in buf[:scan]
	held           string // a short sentence waiting to be joined to the next
}

// New returns a Chunker with cfg's limits.
func New(cfg Config) *Chunker {
	c := &Chunker{min: cfg.MinChars, max: cfg.MaxChars}
	if c.min == 0 {
		c.min = DefaultMinChars
	}
	if c.max == 0 {
		c.max = DefaultMaxChars
	}
	if c.max > 0 && c.min > c.max {
		c.min = c.max
	}
	c.reset()
	return c
}

func (c *Chunker) reset() {
	c.lineStart, c.prefix, c.skipLine = true, c.prefix[:0], false
	c.buf, c.bufAtLineStart, c.scan, c.scanRunes = c.buf[:0], true, 0, 0
	c.held = ""
}

// Push adds the next piece of the answer and returns the sentences it
// completed, in order (none when it completed none).
func (c *Chunker) Push(text string) []string {
	c.markdown(text)
	return c.sentences(false)
}

// Flush ends the answer: it returns every sentence not yet returned, short
// ones included, and readies the Chunker for a new answer.
func (c *Chunker) Flush() []string {
	out := c.sentences(true)
	c.reset() // also drops a last line that held only markup
	return out
}

// markdown appends text to buf without the markup that should not be
// spoken. Decisions about a line's prefix wait for its first character that
// is not markup, so they do not depend on how the text was split.
func (c *Chunker) markdown(text string) {
	for i := 0; i < len(text); i++ {
		b := text[i]
		if c.skipLine {
			if b == '\n' {
				c.skipLine, c.lineStart = false, true
				c.buf = append(c.buf, '\n')
			}
			continue
		}
		if c.lineStart {
			if b == '\n' { // the line held only markup
				c.prefix = c.prefix[:0]
				c.buf = append(c.buf, '\n')
				continue
			}
			if isMarkup(b) {
				c.prefix = append(c.prefix, b)
				continue
			}
			c.lineStart = false
			if c.flushPrefix() {
				c.skipLine = true
				continue
			}
		}
		switch b {
		case '\n':
			c.lineStart = true
			c.buf = append(c.buf, b)
		case '*', '`':
		default:
			c.buf = append(c.buf, b)
		}
	}
}

// isMarkup reports whether b may be part of a line's markup prefix.
func isMarkup(b byte) bool {
	switch b {
	case ' ', '\t', '\r', '#', '-', '*', '+', '>', '`', '_', '=', '~':
		return true
	}
	return false
}

// flushPrefix handles a line's markup prefix once the line's first other
// character has arrived: quote marks, a heading mark and a bullet are
// dropped, and what remains goes through like any text. It reports whether
// the line opens or closes a code fence (and so is dropped).
func (c *Chunker) flushPrefix() (fence bool) {
	p := c.prefix
	c.prefix = c.prefix[:0]
	p = trimBlank(p)
	for len(p) > 0 && p[0] == '>' {
		p = trimBlank(p[1:])
	}
	if hasPrefix(p, "```") || hasPrefix(p, "~~~") {
		return true
	}
	hashes := 0
	for hashes < len(p) && p[hashes] == '#' {
		hashes++
	}
	switch {
	case hashes >= 1 && hashes <= 6 && hashes < len(p) && isBlank(p[hashes]):
		p = trimBlank(p[hashes:])
	case len(p) >= 2 && (p[0] == '-' || p[0] == '*' || p[0] == '+') && isBlank(p[1]):
		p = trimBlank(p[1:])
	}
	for _, b := range p {
		if b != '*' && b != '`' {
			c.buf = append(c.buf, b)
		}
	}
	return false
}

func isBlank(b byte) bool { return b == ' ' || b == '\t' || b == '\r' }

func trimBlank(p []byte) []byte {
	for len(p) > 0 && isBlank(p[0]) {
		p = p[1:]
	}
	return p
}

func hasPrefix(p []byte, s string) bool {
	return len(p) >= len(s) && string(p[:len(s)]) == s
}

// sentences takes every sentence it can decide out of buf. With final set,
// the end of buf is the end of the answer.
func (c *Chunker) sentences(final bool) []string {
	var out []string
	for len(c.buf) > 0 {
		n, ok := c.next(final)
		if !ok {
			break
		}
		text := tidy(c.buf[:n])
		c.bufAtLineStart = c.buf[n-1] == '\n'
		c.buf = c.buf[:copy(c.buf, c.buf[n:])]
		c.scan, c.scanRunes = 0, 0
		if text != "" {
			out = c.emit(out, text)
		}
	}
	if final && c.held != "" {
		out = append(out, c.held)
		c.held = ""
	}
	return out
}

// emit adds a finished sentence to out, joining short ones to the next.
func (c *Chunker) emit(out []string, text string) []string {
	if c.held != "" {
		joined := join(c.held, text)
		if c.max <= 0 || utf8.RuneCountInString(joined) <= c.max {
			text = joined
		} else {
			out = append(out, c.held)
		}
		c.held = ""
	}
	if c.min > 0 && utf8.RuneCountInString(text) < c.min {
		c.held = text
		return out
	}
	return append(out, text)
}

// join puts two sentences together: with nothing between them after a CJK
// sentence end, with ". " when the first ended with a letter or digit (a
// heading or list item ended by its newline), else with a space.
func join(first, second string) string {
	last, _ := utf8.DecodeLastRuneInString(first)
	switch {
	case isCJKTerminator(last):
		return first + second
	case unicode.IsLetter(last) || unicode.IsDigit(last):
		return first + ". " + second
	default:
		return first + " " + second
	}
}

// tidy collapses whitespace runs to single spaces and trims the ends.
func tidy(b []byte) string {
	return strings.Join(strings.Fields(string(b)), " ")
}
