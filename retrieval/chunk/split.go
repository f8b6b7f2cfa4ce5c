package chunk

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Config sets the size of chunks.
type Config struct {
	// Tokens is the most tokens in a chunk (default 512).
	Tokens int
	// Overlap is about how many tokens of the end of a chunk start the next
	// one; 0 means none. It must be smaller than Tokens.
	Overlap int
}

// Defaults used for the zero Config.
const (
	DefaultTokens  = 512
	DefaultOverlap = 50
)

// DefaultConfig returns 512-token chunks overlapping by 50 tokens.
func DefaultConfig() Config { return Config{Tokens: DefaultTokens, Overlap: DefaultOverlap} }

// resolve applies the defaults: the zero Config is DefaultConfig, and a
// zero Tokens alone means DefaultTokens (with Overlap as given).
func (c Config) resolve() (Config, error) {
	if c == (Config{}) {
		return DefaultConfig(), nil
	}
	if c.Tokens < 0 || c.Overlap < 0 {
		return c, fmt.Errorf("%w: tokens (%d) and overlap (%d) must not be negative", ErrInvalidConfig, c.Tokens, c.Overlap)
	}
	if c.Tokens == 0 {
		c.Tokens = DefaultTokens
	}
	if c.Overlap >= c.Tokens {
		return c, fmt.Errorf("%w: overlap (%d) must be smaller than tokens (%d)", ErrInvalidConfig, c.Overlap, c.Tokens)
	}
	return c, nil
}

// Chunk is one piece of the input.
type Chunk struct {
	// Index is the chunk's position, from 0.
	Index int
	// Text is the input between Start and End.
	Text string
	// Tokens is CountTokens(Text), never above Config.Tokens.
	Tokens int
	// Start and End are byte offsets in the input.
	Start, End int
}

// Strengths of the gap before a token, weakest first.
const (
	inWord    = iota // no whitespace: a cut here splits a word
	word             // whitespace
	sentence         // the end of a sentence or a line that ends an item
	paragraph        // a blank line, or either end of the text
)

// Split cuts text into chunks as the package documentation describes. It
// returns no chunks for text that is empty or only whitespace, and an error
// only for an invalid Config.
func Split(text string, cfg Config) ([]Chunk, error) {
	cfg, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	toks := tokenSpans(text)
	if len(toks) == 0 {
		return nil, nil
	}
	s := &splitter{text: text, toks: toks, gaps: gaps(text, toks), cfg: cfg}
	return s.split(), nil
}

type splitter struct {
	text string
	toks []span
	gaps []uint8 // gaps[i]: the strength of the gap before token i; len(toks)+1
	cfg  Config
}

func (s *splitter) split() []Chunk {
	n := len(s.toks)
	var out []Chunk
	start, covered := 0, 0 // covered: tokens before it are in a chunk
	for {
		cut := s.cut(start, covered)
		c := s.chunk(len(out), start, cut)
		for c.Tokens > s.cfg.Tokens && cut > covered+1 {
			// Counting the chunk on its own can differ from the sum of its
			// tokens only after a cut inside a word; give back a token.
			cut--
			c = s.chunk(len(out), start, cut)
		}
		out = append(out, c)
		if cut >= n {
			return out
		}
		start, covered = s.overlap(start, cut), cut
	}
}

func (s *splitter) chunk(index, from, to int) Chunk {
	a, b := s.toks[from].start, s.toks[to-1].end
	text := s.text[a:b]
	return Chunk{Index: index, Text: text, Tokens: CountTokens(text), Start: a, End: b}
}

// cut returns where the chunk that starts at token start ends (exclusive).
// It takes at least one token past covered.
func (s *splitter) cut(start, covered int) int {
	n := len(s.toks)
	limit := min(start+s.cfg.Tokens, n)
	if limit == n {
		return n
	}
	lo := max(start, covered) + 1
	// A paragraph break, if the chunk is at least half full.
	for j := limit; j >= lo && j-start >= s.cfg.Tokens/2; j-- {
		if s.gaps[j] == paragraph {
			return j
		}
	}
	// The last sentence end, unless it leaves the chunk under a quarter
	// full before a sentence that will have to be cut between words anyway.
	for j := limit; j >= lo; j-- {
		if s.gaps[j] >= sentence {
			if j-start >= s.cfg.Tokens/4 || !s.longSentence(j) {
				return j
			}
			break
		}
	}
	// The last word boundary.
	for j := limit; j >= lo; j-- {
		if s.gaps[j] >= word {
			return j
		}
	}
	return limit
}

// longSentence reports whether the sentence starting at token j is longer
// than a chunk.
func (s *splitter) longSentence(j int) bool {
	end := min(j+s.cfg.Tokens+1, len(s.toks))
	for k := j + 1; k < end; k++ {
		if s.gaps[k] >= sentence {
			return false
		}
	}
	return end-j > s.cfg.Tokens
}

// overlap returns where the chunk after [start, cut) starts: whole sentences
// from the end of [start, cut) making at most Overlap tokens, if they make
// at least half of it, else whole words; after start in any case.
func (s *splitter) overlap(start, cut int) int {
	o := s.cfg.Overlap
	if o == 0 {
		return cut
	}
	from := max(cut-o, start+1)
	for j := from; j < cut; j++ {
		if s.gaps[j] >= sentence {
			if cut-j >= (o+1)/2 {
				return j
			}
			break
		}
	}
	for j := from; j < cut; j++ {
		if s.gaps[j] >= word {
			return j
		}
	}
	return cut
}

// gaps classifies the gap before each token.
func gaps(text string, toks []span) []uint8 {
	n := len(toks)
	g := make([]uint8, n+1)
	g[0], g[n] = paragraph, paragraph
	for i := 1; i < n; i++ {
		between := text[toks[i-1].end:toks[i].start]
		if between == "" {
			if r, _ := utf8.DecodeLastRuneInString(text[toks[i-1].start:toks[i-1].end]); isCJKTerminal(r) {
				g[i] = sentence
			} else {
				g[i] = inWord
			}
			continue
		}
		newlines := strings.Count(between, "\n")
		if newlines == 0 {
			newlines = strings.Count(between, "\r")
		}
		switch {
		case newlines >= 2:
			g[i] = paragraph
		case isCJKTerminal(lastRune(text, toks[i-1])), endsSentence(text, toks, i):
			g[i] = sentence
		case newlines == 1 && (startsItem(text, toks, i) || endsItem(text, toks[i-1])):
			g[i] = sentence
		default:
			g[i] = word
		}
	}
	return g
}

func tokenText(text string, t span) string { return text[t.start:t.end] }

func lastRune(text string, t span) rune {
	r, _ := utf8.DecodeLastRuneInString(tokenText(text, t))
	return r
}

func isCJKTerminal(r rune) bool { return r == '。' || r == '！' || r == '？' }

func isTerminal(r rune) bool { return r == '.' || r == '!' || r == '?' || r == '…' }

func isCloser(r rune) bool {
	switch r {
	case ')', ']', '}', '"', '\'', '”', '’', '»', '›':
		return true
	}
	return false
}

// adjacent reports whether tokens k and k+1 touch.
func adjacent(toks []span, k int) bool { return toks[k].end == toks[k+1].start }

// abbreviations never end a sentence before their full stop.
var abbreviations = map[string]bool{
	"mr": true, "mrs": true, "ms": true, "dr": true, "prof": true, "sr": true, "jr": true,
	"st": true, "vs": true, "etc": true, "cf": true, "no": true, "nos": true, "fig": true,
	"figs": true, "approx": true, "dept": true, "est": true, "inc": true, "ltd": true,
	"co": true, "corp": true, "vol": true, "pp": true, "ca": true, "al": true, "min": true,
	"max": true, "jan": true, "feb": true, "mar": true, "apr": true, "jun": true, "jul": true,
	"aug": true, "sep": true, "sept": true, "oct": true, "nov": true, "dec": true,
	"ref": true, "art": true, "sec": true, "para": true, "ch": true, "ed": true,
}

// endsSentence reports whether the whitespace before token i ends a
// sentence: terminal punctuation (and closing quotes or brackets) before it,
// not an abbreviation, an initial or a list number, and no lower-case
// letter after it.
func endsSentence(text string, toks []span, i int) bool {
	k := i - 1
	for k > 0 && isCloser(lastRune(text, toks[k])) && utf8.RuneCountInString(tokenText(text, toks[k])) == 1 && adjacent(toks, k-1) {
		k--
	}
	t := tokenText(text, toks[k])
	if t == "" || strings.TrimFunc(t, isTerminal) != "" {
		return false
	}
	next, _ := utf8.DecodeRuneInString(tokenText(text, toks[i]))
	if unicode.IsLower(next) {
		return false
	}
	if t != "." || k == 0 || !adjacent(toks, k-1) {
		return true
	}
	w, first := wordBefore(text, toks, k)
	switch {
	case utf8.RuneCountInString(w) == 1 && unicode.IsLetter([]rune(w)[0]):
		return false // an initial, or the end of "e.g."
	case abbreviations[strings.ToLower(w)] && (first == 0 || !adjacent(toks, first-1)):
		return false
	case isNumber(w) && (first == 0 || strings.ContainsAny(text[toks[first-1].end:toks[first].start], "\n\r")):
		return false // a list number at the start of a line
	}
	return true
}

// wordBefore returns the run of letters or digits that ends right before
// token k (tokens cut a long word into pieces) and the index of its first
// token.
func wordBefore(text string, toks []span, k int) (string, int) {
	j := k - 1
	for j > 0 && adjacent(toks, j-1) && isWordy(tokenText(text, toks[j-1])) && isWordy(tokenText(text, toks[j])) {
		j--
	}
	return text[toks[j].start:toks[k-1].end], j
}

// isWordy reports a token of letters or digits.
func isWordy(t string) bool {
	r, _ := utf8.DecodeRuneInString(t)
	return unicode.IsLetter(r) || unicode.IsDigit(r)
}

func isNumber(s string) bool {
	return s != "" && strings.TrimFunc(s, unicode.IsDigit) == ""
}

// startsItem reports whether token i begins a list item.
func startsItem(text string, toks []span, i int) bool {
	switch tokenText(text, toks[i]) {
	case "-", "*", "•", "–", "+":
		return i+1 == len(toks) || !adjacent(toks, i)
	}
	if isNumber(tokenText(text, toks[i])) && i+1 < len(toks) && adjacent(toks, i) {
		switch tokenText(text, toks[i+1]) {
		case ".", ")":
			return true
		}
	}
	return false
}

// endsItem reports whether a line ending with token t ends an item or a
// lead-in rather than running on.
func endsItem(text string, t span) bool {
	switch tokenText(text, t) {
	case ":", ";":
		return true
	}
	return false
}
