package chunker

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// chunkAll pushes the pieces in order, flushes, and returns every sentence.
func chunkAll(cfg Config, pieces ...string) []string {
	c := New(cfg)
	var out []string
	for _, p := range pieces {
		out = append(out, c.Push(p)...)
	}
	return append(out, c.Flush()...)
}

// noMerge keeps every sentence separate, to test where sentences end.
var noMerge = Config{MinChars: -1}

type chunkCase struct {
	name string
	cfg  Config
	in   string
	want []string
}

var boundaryCases = []chunkCase{
	{"two sentences", noMerge, "Hello world. How are you?", []string{"Hello world.", "How are you?"}},
	{"exclamation and question", noMerge, "Wow! Really? Yes.", []string{"Wow!", "Really?", "Yes."}},
	{"repeated marks", noMerge, "What?! No way!!", []string{"What?!", "No way!!"}},
	{"titles", noMerge, "Dr. Smith is here. Mr. and Mrs. Jones too.", []string{"Dr. Smith is here.", "Mr. and Mrs. Jones too."}},
	{"Ms and St", noMerge, "Ms. Lee went to St. Louis. She liked it.", []string{"Ms. Lee went to St. Louis.", "She liked it."}},
	{"e.g. and i.e.", noMerge, "Use e.g. this or i.e. that. Okay.", []string{"Use e.g. this or i.e. that.", "Okay."}},
	{"etc", noMerge, "Apples, pears, etc. Then more.", []string{"Apples, pears, etc. Then more."}},
	{"vs", noMerge, "Cats vs. Dogs is a film. Watch it.", []string{"Cats vs. Dogs is a film.", "Watch it."}},
	{"No before a number", noMerge, "See No. 5 today. No. Never.", []string{"See No. 5 today.", "No.", "Never."}},
	{"decimal", noMerge, "Pi is 3.14 roughly. Yes.", []string{"Pi is 3.14 roughly.", "Yes."}},
	{"version", noMerge, "Version 2.0.1 is out. Upgrade!", []string{"Version 2.0.1 is out.", "Upgrade!"}},
	{"number then stop", noMerge, "It costs $5. Cheap!", []string{"It costs $5.", "Cheap!"}},
	{"initials", noMerge, "J. R. R. Tolkien wrote it. True.", []string{"J. R. R. Tolkien wrote it.", "True."}},
	{"domain inside", noMerge, "Visit example.com today. Or mail a@b.org please.", []string{"Visit example.com today.", "Or mail a@b.org please."}},
	{"domain at end", noMerge, "Go to example.com. Then rest.", []string{"Go to example.com.", "Then rest."}},
	{"url", noMerge, "See https://example.com/a.b?c=d. Done.", []string{"See https://example.com/a.b?c=d.", "Done."}},
	{"no space after stop", noMerge, "Hello.World", []string{"Hello.World"}},
	{"ellipsis inside", noMerge, "And then... we left. Fine.", []string{"And then... we left.", "Fine."}},
	{"unicode ellipsis inside", noMerge, "Wait… what? Fine…", []string{"Wait… what?", "Fine…"}},
	{"ellipsis before capital", noMerge, "I see… That helps.", []string{"I see…", "That helps."}},
	{"lower-case continuation", noMerge, "It is approx. five metres.", []string{"It is approx. five metres."}},
	{"list numbers", noMerge, "1. First item\n2. Second item", []string{"1. First item", "2. Second item"}},
	{"number mid-line", noMerge, "I have 2. Then stop.", []string{"I have 2.", "Then stop."}},
	{"newline", noMerge, "Line one\nLine two", []string{"Line one", "Line two"}},
	{"blank lines", noMerge, "One.\n\n\nTwo.", []string{"One.", "Two."}},
	{"closing quote", noMerge, `He said "Stop." Then left.`, []string{`He said "Stop."`, "Then left."}},
	{"closing bracket", noMerge, "(See above.) Next.", []string{"(See above.)", "Next."}},
	{"cjk", noMerge, "你好。我很好！你呢？", []string{"你好。", "我很好！", "你呢？"}},
	{"cjk closer", noMerge, "「はい。」次です。", []string{"「はい。」", "次です。"}},
	{"whitespace collapsed", noMerge, "  Lots   of \t space.   ", []string{"Lots of space."}},
	{"long gap ends", noMerge, "It is 5." + strings.Repeat(" ", 70) + "and more", []string{"It is 5.", "and more"}},
	{"no end", noMerge, "no punctuation at all", []string{"no punctuation at all"}},
	{"empty", noMerge, "", nil},
	{"only spaces", noMerge, " \n \n ", nil},
}

var markdownCases = []chunkCase{
	{"bold italic code", noMerge, "**Bold** and *italic* and `code`.", []string{"Bold and italic and code."}},
	{"heading", noMerge, "# Heading\nText.", []string{"Heading", "Text."}},
	{"subheading", noMerge, "## Sub heading\n", []string{"Sub heading"}},
	{"bullets", noMerge, "- one\n- two\n* three\n+ four", []string{"one", "two", "three", "four"}},
	{"indented bullet", noMerge, "  - indented bullet", []string{"indented bullet"}},
	{"bold bullet", noMerge, "- **Name**: value", []string{"Name: value"}},
	{"quote", noMerge, "> quoted text", []string{"quoted text"}},
	{"fence", noMerge, "```python\nprint(1)\n```\nAfter.", []string{"print(1)", "After."}},
	{"rule", noMerge, "Before.\n---\nAfter rule.", []string{"Before.", "After rule."}},
	{"negative number", noMerge, "-5 degrees outside.", []string{"-5 degrees outside."}},
	{"hashtag", noMerge, "#hashtag stays", []string{"#hashtag stays"}},
	{"underscores kept", noMerge, "Use snake_case names.", []string{"Use snake_case names."}},
	{"numbered bold", noMerge, "1. **First** step.\n2. Second step.", []string{"1. First step.", "2. Second step."}},
	{"bold sentence end", noMerge, "**Note.** Next one.", []string{"Note.", "Next one."}},
}

var lengthCases = []chunkCase{
	{"short ones joined", Config{}, "Hi! I am fine. How about you, my friend?", []string{"Hi! I am fine. How about you, my friend?"}},
	{"short last kept", Config{}, "This first sentence is long enough. Bye.", []string{"This first sentence is long enough.", "Bye."}},
	{"short alone", Config{}, "Short.", []string{"Short."}},
	{"heading gets a stop", Config{}, "# Menu\nWe serve pasta and pizza daily.", []string{"Menu. We serve pasta and pizza daily."}},
	{"list items get stops", Config{}, "- Apples\n- Pears\n- Plums and more plums", []string{"Apples. Pears. Plums and more plums"}},
	{"cjk joined without space", Config{}, "你好。我很好！", []string{"你好。我很好！"}},
	{"join would pass max", Config{MinChars: 10, MaxChars: 20}, "Hi. This one is medium.", []string{"Hi.", "This one is medium."}},
	{"cut at space", Config{MinChars: -1, MaxChars: 30}, "one two three four five six seven eight nine ten.",
		[]string{"one two three four five six", "seven eight nine ten."}},
	{"cut at comma", Config{MinChars: -1, MaxChars: 30}, "alpha beta gamma, delta epsilon zeta eta theta.",
		[]string{"alpha beta gamma,", "delta epsilon zeta eta theta."}},
	{"comma too early", Config{MinChars: -1, MaxChars: 30}, "ab, cdefg hijkl mnopq rstuv wxyz abc.",
		[]string{"ab, cdefg hijkl mnopq rstuv", "wxyz abc."}},
	{"semicolon", Config{MinChars: -1, MaxChars: 30}, "first part is here; second part follows now.",
		[]string{"first part is here;", "second part follows now."}},
	{"comma inside number", Config{MinChars: -1, MaxChars: 20}, "1,000,000 dollars is a lot.",
		[]string{"1,000,000 dollars", "is a lot."}},
	{"no space at all", Config{MinChars: -1, MaxChars: 30}, strings.Repeat("x", 70),
		[]string{strings.Repeat("x", 30), strings.Repeat("x", 30), strings.Repeat("x", 10)}},
	{"multibyte cut", Config{MinChars: -1, MaxChars: 4}, "ääääää", []string{"ääää", "ää"}},
	{"no limit", Config{MinChars: -1, MaxChars: -1}, strings.Repeat("y", 600), []string{strings.Repeat("y", 600)}},
}

func allCases() []chunkCase {
	return slices.Concat(boundaryCases, markdownCases, lengthCases)
}

func TestChunker(t *testing.T) {
	for _, tt := range allCases() {
		t.Run(tt.name, func(t *testing.T) {
			if got := chunkAll(tt.cfg, tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("chunks of %q = %q; want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestSplitAnywhere feeds every case split at every byte boundary, and byte
// by byte, and wants the output of the whole text each time.
func TestSplitAnywhere(t *testing.T) {
	for _, tt := range allCases() {
		t.Run(tt.name, func(t *testing.T) {
			for i := 0; i <= len(tt.in); i++ {
				if got := chunkAll(tt.cfg, tt.in[:i], tt.in[i:]); !slices.Equal(got, tt.want) {
					t.Fatalf("split at byte %d (%q | %q): %q; want %q", i, tt.in[:i], tt.in[i:], got, tt.want)
				}
			}
			var bytes []string
			for i := range len(tt.in) {
				bytes = append(bytes, tt.in[i:i+1])
			}
			if got := chunkAll(tt.cfg, bytes...); !slices.Equal(got, tt.want) {
				t.Errorf("byte by byte: %q; want %q", got, tt.want)
			}
		})
	}
}

// TestEmitsAsSoonAsComplete checks which Push returns each sentence: the
// one that brings the first character after it (or a newline), not Flush.
func TestEmitsAsSoonAsComplete(t *testing.T) {
	tests := []struct {
		name      string
		cfg       Config
		pushes    []string
		want      [][]string // per push
		wantFlush []string
	}{
		{
			name:      "next word decides",
			cfg:       noMerge,
			pushes:    []string{"Hello", " there", ".", " How", " are", " you", "?"},
			want:      [][]string{nil, nil, nil, {"Hello there."}, nil, nil, nil},
			wantFlush: []string{"How are you?"},
		},
		{
			name:      "newline decides",
			cfg:       noMerge,
			pushes:    []string{"Done.", "\n", "More"},
			want:      [][]string{nil, {"Done."}, nil},
			wantFlush: []string{"More"},
		},
		{
			name:      "decimal is not an end",
			cfg:       noMerge,
			pushes:    []string{"It is 3", ".", "14", " now. ", "Yes"},
			want:      [][]string{nil, nil, nil, nil, {"It is 3.14 now."}},
			wantFlush: []string{"Yes"},
		},
		{
			name:      "cjk needs no space",
			cfg:       noMerge,
			pushes:    []string{"你好", "。", "我"},
			want:      [][]string{nil, nil, {"你好。"}},
			wantFlush: []string{"我"},
		},
		{
			name:      "two at once",
			cfg:       noMerge,
			pushes:    []string{"One. Two. Three"},
			want:      [][]string{{"One.", "Two."}},
			wantFlush: []string{"Three"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := New(tt.cfg)
			for i, p := range tt.pushes {
				if got := c.Push(p); !slices.Equal(got, tt.want[i]) {
					t.Errorf("Push(%q) (push %d) = %q; want %q", p, i, got, tt.want[i])
				}
			}
			if got := c.Flush(); !slices.Equal(got, tt.wantFlush) {
				t.Errorf("Flush() = %q; want %q", got, tt.wantFlush)
			}
		})
	}
}

func TestReuseAfterFlush(t *testing.T) {
	c := New(Config{})
	first := append(c.Push("# Title\n- a bullet that is cut off mid"), c.Flush()...)
	second := append(c.Push("- Second answer starts on a fresh line."), c.Flush()...)
	if want := []string{"Title. a bullet that is cut off mid"}; !slices.Equal(first, want) {
		t.Errorf("first answer = %q; want %q", first, want)
	}
	if want := []string{"Second answer starts on a fresh line."}; !slices.Equal(second, want) {
		t.Errorf("second answer = %q; want %q (state must not leak from the first)", second, want)
	}
}

// speakable returns the letters and digits of the input s that the chunker
// must keep: all of them except those on code-fence lines. Asterisks and
// backticks go first, as the chunker drops them wherever they are.
func speakable(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if !fenceLine(line) {
			b.WriteString(lettersAndDigits(strings.NewReplacer("*", "", "`", "").Replace(line)))
		}
	}
	return b.String()
}

func lettersAndDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r != utf8.RuneError && (unicode.IsLetter(r) || unicode.IsDigit(r)) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// fenceLine reports whether the chunker drops line as a code fence: its
// markup prefix, less blanks and quote marks, starts with ``` or ~~~ and
// something other than markup follows it.
func fenceLine(line string) bool {
	n := 0
	for n < len(line) && isMarkup(line[n]) {
		n++
	}
	if n == len(line) {
		return false
	}
	p := trimBlank([]byte(line[:n]))
	for len(p) > 0 && p[0] == '>' {
		p = trimBlank(p[1:])
	}
	return hasPrefix(p, "```") || hasPrefix(p, "~~~")
}

func FuzzChunker(f *testing.F) {
	for _, tt := range allCases() {
		f.Add(tt.in, uint16(len(tt.in)/3), uint16(len(tt.in)/2), int8(tt.cfg.MinChars), int16(tt.cfg.MaxChars))
	}
	f.Add("Dr. J. R. R. Tolkien… e.g. 3.14\n1. **x**\n```\n", uint16(5), uint16(9), int8(0), int16(12))
	f.Add("a\xe4\xbd\xa0\xff. B", uint16(2), uint16(3), int8(-1), int16(2))
	f.Fuzz(func(t *testing.T, in string, cut1, cut2 uint16, minChars int8, maxChars int16) {
		cfg := Config{MinChars: int(minChars), MaxChars: int(maxChars)}
		a, b := int(cut1)%(len(in)+1), int(cut2)%(len(in)+1)
		a, b = min(a, b), max(a, b)

		whole := chunkAll(cfg, in)
		if pieces := chunkAll(cfg, in[:a], in[a:b], in[b:]); !slices.Equal(pieces, whole) {
			t.Fatalf("cfg %+v: split at %d and %d gave %q; whole gave %q", cfg, a, b, pieces, whole)
		}
		for i, s := range whole {
			if s == "" || s != strings.TrimSpace(s) || strings.ContainsAny(s, "\n\t") {
				t.Errorf("sentence %d = %q; want non-empty, trimmed, on one line", i, s)
			}
		}
		if got, want := lettersAndDigits(strings.Join(whole, " ")), speakable(in); got != want {
			t.Errorf("cfg %+v: letters and digits out %q; want those in, %q (sentences %q)", cfg, got, want, whole)
		}
	})
}

func BenchmarkPush(b *testing.B) {
	answer := strings.Repeat("Sure! The library opens at 9 a.m. on weekdays, e.g. Monday, and Dr. Smith's "+
		"talk on J. R. R. Tolkien starts at 3.30 p.m. in room No. 4. **Bring** a ticket… or not. ", 4)
	tokens := tokenize(answer)
	c := New(Config{})
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		for _, tok := range tokens {
			c.Push(tok)
		}
		c.Flush()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(tokens)), "ns/token")
}

// tokenize cuts s like a language model's tokenizer roughly does: words
// with their leading space, and punctuation on its own.
func tokenize(s string) []string {
	var out []string
	start := 0
	for i, r := range s {
		if i > start && (r == ' ' || unicode.IsPunct(r)) {
			out = append(out, s[start:i])
			start = i
		}
	}
	return append(out, s[start:])
}

func ExampleChunker() {
	c := New(Config{})
	for _, tok := range []string{"Sure", "!", " Dr", ".", " Smith", " is", " in", " room", " 4", ".", " He", " can", " help", "."} {
		for _, s := range c.Push(tok) {
			fmt.Printf("%q\n", s)
		}
	}
	for _, s := range c.Flush() {
		fmt.Printf("%q\n", s)
	}
	// Output:
	// "Sure! Dr. Smith is in room 4."
	// "He can help."
}
