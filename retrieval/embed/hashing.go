package embed

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync"
	"unicode"
	"unicode/utf8"
)

// Sizes of Hashing vectors.
const (
	// DefaultHashingDims is the size NewHashing(0) uses.
	DefaultHashingDims = 384
	// MinHashingDims is the smallest size; fewer dimensions make unrelated
	// features collide too often.
	MinHashingDims = 64
	// MaxHashingDims is the largest size.
	MaxHashingDims = 4096
)

// hashingVersion names the features, their hashing and their weights. It
// is part of Name, so it must change whenever the vector of some text
// would.
const hashingVersion = "v1"

// Feature weights, before sublinear term frequency. Words count most; a
// word's character n-grams together weigh about as much as the word, so
// that "opens" still meets "open" without n-grams drowning out the words.
const (
	wordWeight = 1.0
	pairWeight = 0.5
	gramWeight = 0.25
	// stopScale scales a stop word's features and a pair of stop words.
	stopScale = 0.2
	// fullGrams is the n-gram count of an 8-rune word. The n-grams of a
	// longer word share that word's total weight, so that one long token
	// (a hash, a base64 blob, a sentence of Thai) cannot outweigh the
	// rest of the text.
	fullGrams = 21
	minGram   = 3
	maxGram   = 5
)

// Feature kinds, hashed first so that a word and an n-gram spelt alike
// are different features.
const (
	kindWord byte = 'w'
	kindPair byte = 'p'
	kindGram byte = 'g'
)

// maxPooledFeatures bounds the feature table a scratch keeps for reuse, so
// that one huge text does not pin a huge table.
const maxPooledFeatures = 1 << 18

var _ Embedder = (*Hashing)(nil)

// Hashing is an offline Embedder that needs no model. It lower-cases the
// text and splits it into words (runs of letters, digits and combining
// marks; each Han ideograph and each Hiragana character is a word of its
// own, since those scripts put no spaces between words). Its features are
// the words, adjacent pairs of words within a sentence and the character
// 3-, 4- and 5-grams of each word with its boundaries marked ("<op",
// "ope", "pen", "en>", ...). Each feature is hashed with 64-bit FNV-1a
// (fixed constants, so vectors are the same in every process) to a
// dimension and a sign, weighted by kind and by 1+ln(count), and added in;
// the sum is scaled to unit length. A few English stop words ("the", "is",
// "when") weigh less.
//
// Texts that share words or word stems come out close, which is what
// retrieval over a meeting's documents mostly needs; synonyms and
// paraphrases without shared words do not. Text is not Unicode-normalised:
// a composed "é" and an "e" with a combining accent are different letters.
//
// A Hashing is safe for concurrent use.
type Hashing struct {
	dims    int
	scratch sync.Pool // *hashScratch
}

// NewHashing returns a Hashing embedder making vectors of dims values
// (MinHashingDims..MaxHashingDims; zero means DefaultHashingDims). The
// error wraps ErrInvalidConfig.
func NewHashing(dims int) (*Hashing, error) {
	if dims == 0 {
		dims = DefaultHashingDims
	}
	if dims < MinHashingDims || dims > MaxHashingDims {
		return nil, fmt.Errorf("%w: hashing dims %d, want %d..%d", ErrInvalidConfig, dims, MinHashingDims, MaxHashingDims)
	}
	return &Hashing{dims: dims}, nil
}

// Dims returns the length of the vectors.
func (h *Hashing) Dims() int { return h.dims }

// Name returns "hashing-v1-<dims>", such as "hashing-v1-384". The version
// changes whenever the features or weights do.
func (h *Hashing) Name() string { return "hashing-" + hashingVersion + "-" + strconv.Itoa(h.dims) }

// Embed returns the unit vector of each text, the same for the same text
// in every process. A text without a letter or a digit fails the call with
// ErrEmptyText. ctx is checked between texts.
func (h *Hashing) Embed(ctx context.Context, texts []string) ([][]float32, error) {
	out := make([][]float32, len(texts))
	if len(texts) == 0 {
		return out, nil
	}
	backing := make([]float32, len(texts)*h.dims)
	s, _ := h.scratch.Get().(*hashScratch)
	if s == nil {
		s = &hashScratch{}
	}
	defer func() {
		if len(s.feats.slots) <= 2*maxPooledFeatures {
			h.scratch.Put(s)
		}
	}()
	for i, text := range texts {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("hashing embedder: %w", err)
		}
		v := backing[i*h.dims : (i+1)*h.dims : (i+1)*h.dims]
		if !s.embed(text, v) {
			return nil, fmt.Errorf("%w: texts[%d] has no letters or digits", ErrEmptyText, i)
		}
		out[i] = v
	}
	return out, nil
}

// hashScratch holds the buffers of one embedding, reused across texts.
type hashScratch struct {
	lower []byte    // the text's words, lower-cased, back to back
	words []word    // where each word is in lower
	runes []int     // byte offset of each rune of the word being split into n-grams
	acc   []float64 // the vector being summed
	feats featureTable
}

// word is one word of the text.
type word struct {
	start, end int  // bytes in hashScratch.lower
	runes      int  // its length in runes
	stop       bool // a stop word
	joined     bool // follows the previous word in the same sentence
}

// embed writes the unit vector of text into v and reports whether text had
// a word to embed.
func (s *hashScratch) embed(text string, v []float32) bool {
	s.split(text)
	if len(s.words) == 0 {
		return false
	}
	s.feats.reset(len(s.words) * 8)
	for i, w := range s.words {
		bytes := s.lower[w.start:w.end]
		scale := 1.0
		if w.stop {
			scale = stopScale
		}
		s.feats.add(finish(hashBytes(start(kindWord), bytes)), wordWeight*scale)
		if w.joined {
			prev := s.words[i-1]
			pair := pairWeight
			if prev.stop && w.stop {
				pair *= stopScale
			}
			h := hashBytes(start(kindPair), s.lower[prev.start:prev.end])
			h = hashByte(h, ' ')
			s.feats.add(finish(hashBytes(h, bytes)), pair)
		}
		if w.runes > 1 {
			s.addGrams(bytes, w.runes, gramWeight*scale)
		}
	}

	dims := len(v)
	if cap(s.acc) < dims {
		s.acc = make([]float64, dims)
	}
	acc := s.acc[:dims]
	clear(acc)
	for _, f := range s.feats.slots {
		if f.key == 0 {
			continue
		}
		// Explicit conversions keep the compiler from fusing a multiply
		// and an add, so every architecture sums the same values.
		x := float64(float64(f.weight) * sublinear(f.count))
		j := uint32(f.key) % uint32(dims)
		if f.key>>63 != 0 {
			x = -x
		}
		acc[j] += x
	}
	var sum float64
	for _, x := range acc {
		sum += float64(x * x)
	}
	if sum == 0 {
		return false // every feature cancelled out: possible in theory, never seen
	}
	scale := 1 / math.Sqrt(sum)
	for j, x := range acc {
		v[j] = float32(x * scale)
	}
	return true
}

// split fills s.lower and s.words with the lower-cased words of text.
func (s *hashScratch) split(text string) {
	s.lower, s.words = s.lower[:0], s.words[:0]
	inWord := false // a word is open at the end of s.lower
	joined := false // no sentence break since the last word
	runes := 0
	closeWord := func() {
		if !inWord {
			return
		}
		w := &s.words[len(s.words)-1]
		w.end, w.runes = len(s.lower), runes
		w.stop = w.runes <= maxStopRunes && isStopWord(s.lower[w.start:w.end])
		inWord, joined = false, true
	}
	openWord := func() {
		s.words = append(s.words, word{start: len(s.lower), joined: joined && len(s.words) > 0})
		inWord, runes = true, 0
	}
	for _, r := range text {
		switch {
		case r < utf8.RuneSelf:
			c := byte(r)
			switch {
			case 'a' <= c && c <= 'z' || '0' <= c && c <= '9':
			case 'A' <= c && c <= 'Z':
				c += 'a' - 'A'
			default:
				closeWord()
				if c == '.' || c == '!' || c == '?' || c == ';' {
					joined = false
				}
				continue
			}
			if !inWord {
				openWord()
			}
			s.lower = append(s.lower, c)
			runes++
		case isSingleRuneWord(r):
			closeWord()
			openWord()
			s.lower = utf8.AppendRune(s.lower, r)
			runes = 1
			closeWord()
		case unicode.IsLetter(r) || unicode.IsDigit(r) || inWord && unicode.IsMark(r):
			if !inWord {
				openWord()
			}
			s.lower = utf8.AppendRune(s.lower, unicode.ToLower(r))
			runes++
		default:
			closeWord()
			if r == '。' || r == '！' || r == '？' || r == '；' {
				joined = false
			}
		}
	}
	closeWord()
}

// isSingleRuneWord reports whether r is a word by itself: a Han ideograph
// or a Hiragana character, from scripts written without spaces.
func isSingleRuneWord(r rune) bool {
	return r >= 0x3040 && (unicode.Is(unicode.Han, r) || unicode.Is(unicode.Hiragana, r))
}

// addGrams adds the character n-grams of w, a word of n runes, each with
// its share of weight.
func (s *hashScratch) addGrams(w []byte, n int, weight float64) {
	// s.runes[i] is where rune i starts; s.runes[n] is len(w).
	s.runes = s.runes[:0]
	for i := range string(w) {
		s.runes = append(s.runes, i)
	}
	s.runes = append(s.runes, len(w))
	if grams := 3*n - 3; grams > fullGrams {
		weight *= math.Sqrt(float64(fullGrams) / float64(grams))
	}
	// Positions 0 and n+1 of the padded word are the boundary marks;
	// position p in 1..n is rune p-1.
	for k := minGram; k <= maxGram; k++ {
		for first := 0; first+k <= n+2; first++ {
			end := first + k
			h := start(kindGram)
			if first == 0 {
				h = hashByte(h, '<')
			}
			h = hashBytes(h, w[s.runes[max(first, 1)-1]:s.runes[min(end, n+1)-1]])
			if end == n+2 {
				h = hashByte(h, '>')
			}
			s.feats.add(finish(h), weight)
		}
	}
}

// 64-bit FNV-1a.
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

// start begins the hash of a feature of the given kind.
func start(kind byte) uint64 { return hashByte(fnvOffset, kind) }

func hashByte(h uint64, b byte) uint64 { return (h ^ uint64(b)) * fnvPrime }

func hashBytes(h uint64, p []byte) uint64 {
	for _, b := range p {
		h = (h ^ uint64(b)) * fnvPrime
	}
	return h
}

// finish mixes the bits of an FNV-1a hash (MurmurHash3's 64-bit
// finaliser), so that its low bits pick the dimension and its top bit the
// sign independently.
func finish(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

// sublinearTable holds sublinear(n) for small n.
var sublinearTable = func() (t [64]float64) {
	for n := 1; n < len(t); n++ {
		t[n] = logCount(uint32(n))
	}
	return t
}()

// sublinear returns 1+ln(n), the weight of a feature seen n times.
func sublinear(n uint32) float64 {
	if n < uint32(len(sublinearTable)) {
		return sublinearTable[n]
	}
	return logCount(n)
}

// logCount returns 1+ln(n) rounded to float32, which hides the last-bit
// differences between math.Log's implementations on different CPUs.
func logCount(n uint32) float64 {
	return float64(float32(1 + math.Log(float64(n))))
}

// featureTable counts the features of one text: an open-addressing hash
// table keyed by the feature's hash.
type featureTable struct {
	slots []feature
	used  int
}

// feature is one slot of a featureTable; key 0 marks a free slot.
type feature struct {
	key    uint64
	count  uint32
	weight float32 // the largest weight the feature was added with
}

// reset empties the table, sized for about hint features.
func (t *featureTable) reset(hint int) {
	size := 64
	for size < 2*hint && size < 2*maxPooledFeatures {
		size <<= 1
	}
	if cap(t.slots) < size {
		t.slots = make([]feature, size)
	} else {
		t.slots = t.slots[:size]
		clear(t.slots)
	}
	t.used = 0
}

// add counts one occurrence of the feature with hash key and weight w.
func (t *featureTable) add(key uint64, w float64) {
	if key == 0 {
		key = 1
	}
	if 2*(t.used+1) > len(t.slots) {
		t.grow()
	}
	mask := uint64(len(t.slots) - 1)
	for i := key & mask; ; i = (i + 1) & mask {
		f := &t.slots[i]
		switch f.key {
		case key:
			f.count++
			f.weight = max(f.weight, float32(w))
			return
		case 0:
			*f = feature{key: key, count: 1, weight: float32(w)}
			t.used++
			return
		}
	}
}

// grow doubles the table.
func (t *featureTable) grow() {
	old := t.slots
	t.slots = make([]feature, 2*len(old))
	mask := uint64(len(t.slots) - 1)
	for _, f := range old {
		if f.key == 0 {
			continue
		}
		i := f.key & mask
		for t.slots[i].key != 0 {
			i = (i + 1) & mask
		}
		t.slots[i] = f
	}
}
