package chunker

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// decision is what is known about a possible sentence end.
type decision int

const (
	undecided decision = iota // the text so far cannot tell
	notEnd
	end
)

// Bounds on how far classify looks, so that text arriving a byte at a time
// costs linear time. Decisions still depend only on the text.
const (
	maxRun     = 16 // terminators taken as one run ("?!", "...")
	maxClosers = 16 // closing quotes and brackets after them
	maxGap     = 64 // whitespace runes after them: a longer gap ends the sentence
)

// abbreviations never end a sentence when followed by a full stop.
var abbreviations = map[string]bool{
	"dr": true, "mr": true, "mrs": true, "ms": true, "prof": true,
	"st": true, "jr": true, "sr": true, "vs": true, "etc": true,
	"e.g": true, "i.e": true, "cf": true,
}

// next returns the length of the first sentence in buf (up to and
// including its end, or its newline), and false when the text so far cannot
// tell where it ends.
func (c *Chunker) next(final bool) (int, bool) {
	buf := c.buf
	i, runes := c.scan, c.scanRunes
	for i < len(buf) {
		if c.max > 0 && runes >= c.max {
			return c.cutLong(), true
		}
		if !utf8.FullRune(buf[i:]) && !final {
			break
		}
		r, size := utf8.DecodeRune(buf[i:])
		switch {
		case r == '\n':
			return i + 1, true
		case isTerminator(r):
			stop, d := c.classify(i, final)
			switch d {
			case undecided:
				c.scan, c.scanRunes = i, runes
				return 0, false
			case end:
				return stop, true
			}
			runes += utf8.RuneCount(buf[i:stop])
			i = stop
			continue
		}
		i += size
		runes++
	}
	c.scan, c.scanRunes = i, runes
	if final {
		return len(buf), true
	}
	return 0, false
}

// classify decides whether the terminator at buf[i] ends a sentence. It
// returns the index just past the terminators and any closing quotes or
// brackets after them.
func (c *Chunker) classify(i int, final bool) (int, decision) {
	buf := c.buf
	j, dots, count, cjk := i, 0, 0, false
	for {
		r, size, ok := runeAt(buf, j, final)
		if !ok {
			return 0, undecided
		}
		if size == 0 || !isTerminator(r) || count == maxRun {
			break
		}
		if r == '.' {
			dots++
		}
		cjk = cjk || isCJKTerminator(r)
		count++
		j += size
	}
	for closers := 0; closers < maxClosers; closers++ {
		r, size, ok := runeAt(buf, j, final)
		if !ok {
			return 0, undecided
		}
		if size == 0 || !isCloser(r) {
			break
		}
		j += size
	}
	after, size, ok := runeAt(buf, j, final)
	switch {
	case !ok:
		return 0, undecided
	case size == 0 || cjk:
		return j, end // the end of the answer, or a CJK sentence end
	case !unicode.IsSpace(after):
		return j, notEnd // 3.14, example.com, e.g
	}
	k := j
	for gap := 0; ; gap++ {
		if gap == maxGap {
			return j, end
		}
		r, size, ok := runeAt(buf, k, final)
		if !ok {
			return 0, undecided
		}
		if size == 0 {
			return j, end // final: only whitespace follows
		}
		if r == '\n' {
			return j, end
		}
		if !unicode.IsSpace(r) {
			break
		}
		k += size
	}
	following, _, ok := runeAt(buf, k, final)
	if !ok {
		return 0, undecided
	}
	if unicode.IsLower(following) {
		return j, notEnd // "and then... we left", "approx. five"
	}
	if count == 1 && dots == 1 && j == i+1 && c.abbreviation(i, following) {
		return j, notEnd
	}
	return j, end
}

// runeAt decodes the rune at buf[i]. size is 0 at the end of a final buf;
// ok is false when more text is needed (the end of a buf that is not final,
// or a rune cut short by it).
func runeAt(buf []byte, i int, final bool) (r rune, size int, ok bool) {
	if i >= len(buf) {
		return 0, 0, final
	}
	if !final && !utf8.FullRune(buf[i:]) {
		return 0, 0, false
	}
	r, size = utf8.DecodeRune(buf[i:])
	return r, size, true
}

// abbreviation reports whether the lone full stop at buf[i], followed
// (after whitespace) by the rune following, belongs to an abbreviation, an
// initial or a list number rather than ending a sentence.
func (c *Chunker) abbreviation(i int, following rune) bool {
	buf := c.buf
	k := i
	for k > 0 {
		r, size := utf8.DecodeLastRune(buf[:k])
		if !unicode.IsLetter(r) && r != '.' {
			break
		}
		k -= size
	}
	word := strings.TrimLeft(string(buf[k:i]), ".")
	if word == "" {
		return c.listNumber(i)
	}
	lower := strings.ToLower(word)
	first, _ := utf8.DecodeRuneInString(word)
	switch {
	case abbreviations[lower]:
		return true
	case lower == "no":
		return unicode.IsDigit(following)
	case utf8.RuneCountInString(word) == 1 && unicode.IsUpper(first):
		return true // an initial: J. R. R. Tolkien
	}
	return false
}

// listNumber reports whether buf[:i] is a line's list number: one to three
// digits at the start of a line.
func (c *Chunker) listNumber(i int) bool {
	if !c.bufAtLineStart {
		return false
	}
	digits := c.buf[:i]
	if len(digits) == 0 || len(digits) > 3 {
		return false
	}
	for _, b := range digits {
		if b < '0' || b > '9' {
			return false
		}
	}
	return true
}

// cutLong returns where to cut buf, whose first c.max runes hold no
// sentence end: after the last comma or semicolon followed by whitespace if
// that keeps at least half, else at the last whitespace, else at c.max runes.
func (c *Chunker) cutLong() int {
	buf := c.buf
	limit := 0
	for n := 0; n < c.max; n++ {
		_, size := utf8.DecodeRune(buf[limit:])
		limit += size
	}
	lastPause, lastSpace := -1, -1
	for i := 0; i < limit; {
		r, size := utf8.DecodeRune(buf[i:])
		if isPause(r) && i+size < len(buf) {
			if after, _ := utf8.DecodeRune(buf[i+size:]); unicode.IsSpace(after) {
				lastPause = i + size
			}
		}
		if unicode.IsSpace(r) && i > 0 {
			lastSpace = i
		}
		i += size
	}
	switch {
	case lastPause >= limit/2:
		return lastPause
	case lastSpace > 0:
		return lastSpace
	default:
		return limit
	}
}

func isTerminator(r rune) bool {
	switch r {
	case '.', '!', '?', '…':
		return true
	}
	return isCJKTerminator(r)
}

func isCJKTerminator(r rune) bool {
	switch r {
	case '。', '！', '？', '｡':
		return true
	}
	return false
}

func isCloser(r rune) bool {
	switch r {
	case '"', '\'', '”', '’', '»', ')', ']', '}', '」', '』', '）', '】', '》', '〉':
		return true
	}
	return false
}

func isPause(r rune) bool {
	switch r {
	case ',', ';', '，', '；', '、':
		return true
	}
	return false
}
