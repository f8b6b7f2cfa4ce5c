package chunk

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// checkChunks verifies the promises Split makes for any text and config.
func checkChunks(t testing.TB, text string, cfg Config, chunks []Chunk) {
	t.Helper()
	cfg, err := cfg.resolve()
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimFunc(text, unicode.IsSpace) == "" || CountTokens(text) == 0 {
		if len(chunks) != 0 {
			t.Fatalf("Split(%q) = %d chunks; want none", text, len(chunks))
		}
		return
	}
	if len(chunks) == 0 {
		t.Fatalf("Split(%q) = no chunks", text)
	}
	spans := tokenSpans(text)
	covered := 0 // spans[:covered] are in some chunk
	for i, c := range chunks {
		switch {
		case c.Index != i:
			t.Fatalf("chunk %d has Index %d", i, c.Index)
		case c.Start < 0 || c.End > len(text) || c.Start >= c.End:
			t.Fatalf("chunk %d spans [%d, %d) of %d bytes", i, c.Start, c.End, len(text))
		case c.Text != text[c.Start:c.End]:
			t.Fatalf("chunk %d Text %q is not the input at [%d, %d)", i, c.Text, c.Start, c.End)
		case c.Tokens != CountTokens(c.Text):
			t.Fatalf("chunk %d says %d tokens; CountTokens says %d", i, c.Tokens, CountTokens(c.Text))
		case c.Tokens > cfg.Tokens || c.Tokens == 0:
			t.Fatalf("chunk %d has %d tokens; limit %d", i, c.Tokens, cfg.Tokens)
		case !utf8.ValidString(c.Text) && utf8.ValidString(text):
			t.Fatalf("chunk %d is not valid UTF-8", i)
		}
		if i > 0 {
			p := chunks[i-1]
			if c.Start <= p.Start || c.End <= p.End {
				t.Fatalf("chunk %d [%d, %d) does not move past chunk %d [%d, %d)", i, c.Start, c.End, i-1, p.Start, p.End)
			}
			if c.Start > p.End && strings.TrimFunc(text[p.End:c.Start], unicode.IsSpace) != "" {
				t.Fatalf("text %q between chunks %d and %d is in neither", text[p.End:c.Start], i-1, i)
			}
		}
		for covered < len(spans) && spans[covered].start >= c.Start && spans[covered].end <= c.End {
			covered++
		}
	}
	if covered != len(spans) {
		t.Fatalf("token %d %q (of %d) is in no chunk", covered, text[spans[covered].start:spans[covered].end], len(spans))
	}
}

func split(t testing.TB, text string, cfg Config) []Chunk {
	t.Helper()
	chunks, err := Split(text, cfg)
	if err != nil {
		t.Fatalf("Split: %v", err)
	}
	checkChunks(t, text, cfg, chunks)
	return chunks
}

func texts(chunks []Chunk) []string {
	out := make([]string, len(chunks))
	for i, c := range chunks {
		out[i] = c.Text
	}
	return out
}

func TestSplitConfig(t *testing.T) {
	cases := []struct {
		cfg  Config
		want Config
		err  bool
	}{
		{Config{}, Config{512, 50}, false},
		{Config{Tokens: 100}, Config{100, 0}, false},
		{Config{Overlap: 10}, Config{512, 10}, false},
		{Config{Tokens: 10, Overlap: 9}, Config{10, 9}, false},
		{Config{Tokens: 10, Overlap: 10}, Config{}, true},
		{Config{Tokens: -1}, Config{}, true},
		{Config{Tokens: 10, Overlap: -1}, Config{}, true},
		{Config{Overlap: 600}, Config{}, true},
	}
	for _, c := range cases {
		got, err := c.cfg.resolve()
		if c.err {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("resolve(%+v) error = %v; want ErrInvalidConfig", c.cfg, err)
			}
			if _, err := Split("text", c.cfg); !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("Split with %+v error = %v; want ErrInvalidConfig", c.cfg, err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("resolve(%+v) = %+v, %v; want %+v", c.cfg, got, err, c.want)
		}
	}
}

func TestSplitEmpty(t *testing.T) {
	for _, s := range []string{"", " ", "\n\n\t  \u00a0\u3000"} {
		if chunks := split(t, s, Config{}); len(chunks) != 0 {
			t.Errorf("Split(%q) = %q; want no chunks", s, texts(chunks))
		}
	}
}

func TestSplitShort(t *testing.T) {
	chunks := split(t, "  One sentence.  \n", Config{})
	if len(chunks) != 1 || chunks[0].Text != "One sentence." || chunks[0].Start != 2 || chunks[0].End != 15 || chunks[0].Tokens != 4 {
		t.Errorf("Split = %+v", chunks)
	}
}

func TestSplitSentenceBoundaries(t *testing.T) {
	// Each sentence is 5 tokens; chunks of 12 hold two whole sentences.
	text := "Alpha beta gamma delta. Epsilon zeta eta theta. Iota kappa lambda mu. Nu xi omicron pi."
	chunks := split(t, text, Config{Tokens: 12})
	want := []string{"Alpha beta gamma delta. Epsilon zeta eta theta.", "Iota kappa lambda mu. Nu xi omicron pi."}
	if fmt.Sprint(texts(chunks)) != fmt.Sprint(want) {
		t.Errorf("Split = %q; want %q", texts(chunks), want)
	}
}

func TestSplitNotBoundaries(t *testing.T) {
	// None of these full stops ends a sentence, so with room for the
	// whole first line but not a cut after "Dr.", the chunk ends at the
	// real sentence end.
	cases := []string{
		"Ask Dr. Smith about it today please. Then go.",
		"Pay 3.50 pounds for the ticket now please. Then go.",
		"Books by J. R. Tolkien are great reading. Then go.",
		"Bring pens, e.g. blue ones for the form. Then go.",
		"It was approx. three hours of hard work. Then go.",
		"the end... and then it went quiet again. Then go.",
	}
	for _, text := range cases {
		first := text[:strings.Index(text, " Then")]
		chunks := split(t, text, Config{Tokens: CountTokens(first) + 1})
		if chunks[0].Text != first {
			t.Errorf("Split(%q)[0] = %q; want %q", text, chunks[0].Text, first)
		}
	}
}

func TestSplitParagraphs(t *testing.T) {
	para := func(n int) string {
		return strings.TrimSpace(strings.Repeat(fmt.Sprintf("Sentence %d here. ", n), 4))
	}
	// Paragraphs of 16 tokens; chunks of 40 end at a paragraph break when
	// at least half full rather than after more sentences.
	text := para(1) + "\n\n" + para(2) + "\n\n" + para(3) + "\n\n" + para(4)
	chunks := split(t, text, Config{Tokens: 40})
	for i, c := range chunks[:len(chunks)-1] {
		if !strings.HasPrefix(text[c.End:], "\n\n") {
			t.Errorf("chunk %d %q does not end at a paragraph break", i, c.Text)
		}
	}
	if len(chunks) != 2 {
		t.Errorf("Split = %q; want two chunks of two paragraphs", texts(chunks))
	}
}

func TestSplitOverlap(t *testing.T) {
	var b strings.Builder
	for i := range 60 {
		fmt.Fprintf(&b, "Sentence number %d is here. ", i) // 7 tokens each
	}
	text := b.String()
	chunks := split(t, text, Config{Tokens: 64, Overlap: 16})
	if len(chunks) < 5 {
		t.Fatalf("Split = %d chunks; want several", len(chunks))
	}
	for i := 1; i < len(chunks); i++ {
		p, c := chunks[i-1], chunks[i]
		if c.Start >= p.End {
			t.Fatalf("chunk %d does not overlap chunk %d", i, i-1)
		}
		shared := CountTokens(text[c.Start:p.End])
		if shared < 8 || shared > 16 {
			t.Errorf("chunks %d and %d share %d tokens; want about 16", i-1, i, shared)
		}
		if !strings.HasPrefix(c.Text, "Sentence") {
			t.Errorf("chunk %d starts %q; want a whole sentence", i, c.Text[:20])
		}
	}
	// No overlap asked for: chunks touch.
	for i, c := range split(t, text, Config{Tokens: 64}) {
		if i > 0 && !strings.HasPrefix(c.Text, "Sentence") {
			t.Errorf("chunk %d starts %q", i, c.Text)
		}
	}
}

func TestSplitOverlapWords(t *testing.T) {
	// One long sentence: the overlap is whole words.
	text := strings.Repeat("word ", 300) + "end."
	chunks := split(t, text, Config{Tokens: 100, Overlap: 20})
	for i := 1; i < len(chunks); i++ {
		if shared := CountTokens(text[chunks[i].Start:chunks[i-1].End]); shared != 20 {
			t.Errorf("chunks %d and %d share %d tokens; want 20", i-1, i, shared)
		}
	}
}

func TestSplitLongSentence(t *testing.T) {
	long := strings.TrimSpace(strings.Repeat("many words in one sentence ", 50)) + "."
	text := "Short start. " + long + " Short end."
	chunks := split(t, text, Config{Tokens: 64, Overlap: 8})
	for i, c := range chunks {
		if c.Tokens > 64 {
			t.Errorf("chunk %d has %d tokens", i, c.Tokens)
		}
		// Cut between words: every chunk starts and ends on a word.
		if c.Start > 0 && !unicode.IsSpace(rune(text[c.Start-1])) {
			t.Errorf("chunk %d starts inside a word: %q", i, text[c.Start-1:c.Start+5])
		}
	}
}

func TestSplitLongWord(t *testing.T) {
	blob := strings.Repeat("QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo", 40) // 1400 letters and digits, no spaces
	chunks := split(t, "See "+blob+" for details.", Config{Tokens: 50, Overlap: 5})
	if len(chunks) < 5 {
		t.Errorf("Split = %d chunks; want the blob cut into several", len(chunks))
	}
}

func TestSplitUnicode(t *testing.T) {
	text := "東京は日本の首都です。大阪は第二の都市です。" + strings.Repeat("京都は古都です。", 20) +
		"\n\nПривет, мир! Как дела? Всё хорошо.\n\nZoë’s café — “naïve” résumé. 😀 Done."
	chunks := split(t, text, Config{Tokens: 30, Overlap: 5})
	for i, c := range chunks {
		if !utf8.ValidString(c.Text) {
			t.Errorf("chunk %d is not valid UTF-8", i)
		}
	}
	if !strings.HasSuffix(chunks[0].Text, "。") {
		t.Errorf("chunk 0 %q does not end at a CJK full stop", chunks[0].Text)
	}
}

func TestSplitLists(t *testing.T) {
	text := "Bring the following:\n- a laptop\n- a badge\n- a photo\n1. sign in\n2. sign out"
	chunks := split(t, text, Config{Tokens: 10})
	for i, c := range chunks {
		if i > 0 && !(strings.HasPrefix(c.Text, "-") || strings.HasPrefix(c.Text, "1") || strings.HasPrefix(c.Text, "2")) {
			t.Errorf("chunk %d %q does not start at a list item", i, c.Text)
		}
	}
}

func TestSplitInvalidUTF8(t *testing.T) {
	split(t, "bad \xff\xfe bytes. More \xc3 text.", Config{Tokens: 3, Overlap: 1})
}

// TestSplitRandom checks the invariants on random text of words, numbers,
// punctuation, newlines and other scripts, with random configs.
func TestSplitRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"the", "policy", "applies", "to", "all", "employees", "Dr.", "e.g.", "3.14", "2026",
		"internationalization", "don't", "well-known", "東京", "Привет", "😀", "—", "(note)", "“quoted”", "x", "A."}
	seps := []string{" ", " ", " ", " ", ". ", "! ", "? ", "\n", "\n\n", ", ", "\t", "...", "。"}
	for n := range 300 {
		var b strings.Builder
		for range r.IntN(400) {
			b.WriteString(words[r.IntN(len(words))])
			b.WriteString(seps[r.IntN(len(seps))])
		}
		tokens := 1 + r.IntN(80)
		cfg := Config{Tokens: tokens, Overlap: r.IntN(tokens)}
		text := b.String()
		chunks, err := Split(text, cfg)
		if err != nil {
			t.Fatal(err)
		}
		checkChunks(t, text, cfg, chunks)
		if t.Failed() {
			t.Fatalf("case %d, config %+v, text %q", n, cfg, text)
		}
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("Hello world. This is a test.\n\nNew paragraph here! And more?", 8, 2)
	f.Add("Dr. Smith paid 3.50 for e.g. tea. 東京。大阪。", 4, 1)
	f.Add(strings.Repeat("x", 100)+" don't well-known", 3, 2)
	f.Add("\xff\xfe\x00 \n\n - item\n1. item", 2, 0)
	f.Add("", 0, 0)
	f.Fuzz(func(t *testing.T, text string, tokens, overlap int) {
		cfg := Config{Tokens: tokens % 1000, Overlap: overlap % 1000}
		chunks, err := Split(text, cfg)
		if _, cerr := cfg.resolve(); cerr != nil {
			if err == nil {
				t.Fatalf("Split(%+v) gave no error; resolve says %v", cfg, cerr)
			}
			return
		}
		if err != nil {
			t.Fatalf("Split(%+v): %v", cfg, err)
		}
		checkChunks(t, text, cfg, chunks)
	})
}

func BenchmarkSplit(b *testing.B) {
	var sb strings.Builder
	r := rand.New(rand.NewPCG(3, 4))
	words := strings.Fields("the employee must request approval from their line manager before booking travel and submit receipts within thirty days of the trip for reimbursement according to the finance policy")
	for sb.Len() < 100<<10 {
		n := 8 + r.IntN(20)
		for i := range n {
			w := words[r.IntN(len(words))]
			if i == 0 {
				w = strings.ToUpper(w[:1]) + w[1:]
			}
			sb.WriteString(w)
			if i < n-1 {
				sb.WriteByte(' ')
			}
		}
		sb.WriteString(". ")
		if r.IntN(6) == 0 {
			sb.WriteString("\n\n")
		}
	}
	text := sb.String()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Split(text, Config{}); err != nil {
			b.Fatal(err)
		}
	}
}
