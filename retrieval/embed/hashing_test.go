package embed

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

func newTestHashing(t testing.TB, dims int) *Hashing {
	t.Helper()
	h, err := NewHashing(dims)
	if err != nil {
		t.Fatalf("NewHashing(%d): %v", dims, err)
	}
	return h
}

// embedOne embeds one text or fails the test.
func embedOne(t testing.TB, e Embedder, text string) []float32 {
	t.Helper()
	vecs, err := e.Embed(context.Background(), []string{text})
	if err != nil {
		t.Fatalf("Embed(%.40q): %v", text, err)
	}
	return vecs[0]
}

func cosine(a, b []float32) float64 {
	var dot, na, nb float64
	for i := range a {
		dot += float64(a[i]) * float64(b[i])
		na += float64(a[i]) * float64(a[i])
		nb += float64(b[i]) * float64(b[i])
	}
	return dot / math.Sqrt(na*nb)
}

func norm(v []float32) float64 {
	var sum float64
	for _, x := range v {
		sum += float64(x) * float64(x)
	}
	return math.Sqrt(sum)
}

func TestNewHashingDims(t *testing.T) {
	tests := []struct {
		dims, want int
		ok         bool
	}{
		{0, DefaultHashingDims, true},
		{MinHashingDims, MinHashingDims, true},
		{MaxHashingDims, MaxHashingDims, true},
		{1536, 1536, true},
		{MinHashingDims - 1, 0, false},
		{MaxHashingDims + 1, 0, false},
		{-384, 0, false},
	}
	for _, tt := range tests {
		h, err := NewHashing(tt.dims)
		if !tt.ok {
			if !errors.Is(err, ErrInvalidConfig) {
				t.Errorf("NewHashing(%d) error = %v; want ErrInvalidConfig", tt.dims, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("NewHashing(%d): %v", tt.dims, err)
			continue
		}
		if h.Dims() != tt.want || h.Name() != fmt.Sprintf("hashing-v1-%d", tt.want) {
			t.Errorf("NewHashing(%d): Dims() = %d, Name() = %q; want %d, %q", tt.dims, h.Dims(), h.Name(), tt.want, fmt.Sprintf("hashing-v1-%d", tt.want))
		}
		vec := embedOne(t, h, "opening hours of the office")
		if len(vec) != tt.want || math.Abs(norm(vec)-1) > 1e-5 {
			t.Errorf("NewHashing(%d): vector of %d values with norm %v; want %d values with norm 1", tt.dims, len(vec), norm(vec), tt.want)
		}
	}
}

// similarityCases are questions, a text that answers each and one that
// does not.
var similarityCases = []struct{ query, relevant, unrelated string }{
	{"When does the office open?", "The office opens at nine in the morning.", "Visitors park in the garage."},
	{"Where can visitors park?", "Visitors park in the garage.", "The office opens at nine in the morning."},
	{"How do I reset my password?", "To reset a forgotten password, use the link on the sign-in page.", "The cafeteria serves lunch from noon until two."},
	{"Who is responsible for payroll?", "Payroll questions go to Maria in the finance team.", "The printer on the third floor is out of toner."},
	{"What is the refund policy for cancelled orders?", "Cancelled orders are refunded in full within 14 days.", "Our team meets every Monday to plan the week."},
	{"How many vacation days do employees get?", "Each employee gets 25 days of paid vacation per year.", "The building has a fire exit on every floor."},
	{"Is there a deadline for the expense reports?", "Expense reports are due on the fifth of each month.", "There is a coffee machine in the kitchen."},
	{"Wann öffnet das Büro?", "Das Büro öffnet um neun Uhr morgens.", "Besucher parken in der Tiefgarage."},
	{"Когда открывается офис?", "Офис открывается в девять утра.", "Посетители паркуются в гараже."},
	{"会议室在哪里？", "会议室在三楼，电梯旁边。", "午餐在十二点供应。"},
}

func TestHashingRanksSharedWordsCloser(t *testing.T) {
	h := newTestHashing(t, 0)
	for _, c := range similarityCases {
		q, rel, unrel := embedOne(t, h, c.query), embedOne(t, h, c.relevant), embedOne(t, h, c.unrelated)
		near, far := cosine(q, rel), cosine(q, unrel)
		t.Logf("%.3f %.3f %q", near, far, c.query)
		if near <= far {
			t.Errorf("query %q: cosine with %q = %.3f, not above %.3f with %q", c.query, c.relevant, near, far, c.unrelated)
		}
	}
}

func TestHashingIsDeterministic(t *testing.T) {
	texts := []string{
		"The office opens at nine in the morning.",
		"Visitors park in the garage.",
		"Das Büro öffnet um neun Uhr morgens.",
		"会议室在三楼，电梯旁边。",
	}
	a, b := newTestHashing(t, 0), newTestHashing(t, 0)
	first, err := a.Embed(context.Background(), texts)
	if err != nil {
		t.Fatalf("Embed: %v", err)
	}
	again, err := a.Embed(context.Background(), texts)
	if err != nil {
		t.Fatalf("Embed: %v", err)
	}
	reversed := slices.Clone(texts)
	slices.Reverse(reversed)
	other, err := b.Embed(context.Background(), reversed)
	if err != nil {
		t.Fatalf("Embed: %v", err)
	}
	for i, text := range texts {
		alone := embedOne(t, a, text)
		if !slices.Equal(first[i], again[i]) || !slices.Equal(first[i], alone) || !slices.Equal(first[i], other[len(texts)-1-i]) {
			t.Errorf("Embed(%q) differs between calls, instances or batches", text)
		}
		if n := norm(first[i]); math.Abs(n-1) > 1e-5 {
			t.Errorf("Embed(%q) has norm %v; want 1", text, n)
		}
	}
}

// TestHashingGolden pins the vector of one text, so that a change to the
// features, hashing or weights is noticed: such a change must also bump
// hashingVersion, since stored vectors would no longer match new ones.
func TestHashingGolden(t *testing.T) {
	vec := embedOne(t, newTestHashing(t, 0), "The office opens at nine in the morning; visitors park in the garage.")
	h := fnv.New64a()
	for _, x := range vec {
		_ = binary.Write(h, binary.LittleEndian, math.Float32bits(x))
	}
	const want = 0x3f9bf8dc72164397
	if got := h.Sum64(); got != want {
		t.Errorf("vector checksum = %#x; want %#x (if the change is meant, bump hashingVersion and this checksum)", got, want)
	}
}

func TestHashingConcurrent(t *testing.T) {
	h := newTestHashing(t, 0)
	texts := make([]string, 0, len(similarityCases)*3)
	for _, c := range similarityCases {
		texts = append(texts, c.query, c.relevant, c.unrelated)
	}
	want, err := h.Embed(context.Background(), texts)
	if err != nil {
		t.Fatalf("Embed: %v", err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range texts {
				text := texts[(i+g)%len(texts)]
				got, err := h.Embed(context.Background(), []string{text})
				if err != nil || !slices.Equal(got[0], want[(i+g)%len(texts)]) {
					t.Errorf("concurrent Embed(%q) = different vector, %v", text, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestHashingEmptyText(t *testing.T) {
	h := newTestHashing(t, 0)
	for _, text := range []string{"", "   \n\t", "?!… -- ...", "🙂🙂", "\xff\xfe"} {
		if _, err := h.Embed(context.Background(), []string{text}); !errors.Is(err, ErrEmptyText) {
			t.Errorf("Embed(%q) error = %v; want ErrEmptyText", text, err)
		}
	}
	_, err := h.Embed(context.Background(), []string{"one", "two", " ", "four"})
	if !errors.Is(err, ErrEmptyText) || !strings.Contains(err.Error(), "texts[2]") {
		t.Errorf("Embed with texts[2] blank: error = %v; want ErrEmptyText naming texts[2]", err)
	}
	vecs, err := h.Embed(context.Background(), nil)
	if err != nil || len(vecs) != 0 {
		t.Errorf("Embed(nil) = %d vectors, %v; want none and no error", len(vecs), err)
	}
}

func TestHashingCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := newTestHashing(t, 0).Embed(ctx, []string{"hello"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Embed on a cancelled context: error = %v; want context.Canceled", err)
	}
}

func TestHashingSplit(t *testing.T) {
	tests := []struct {
		text  string
		words []string
		pairs int // words joined to the one before
	}{
		{"When does the Office OPEN?", []string{"when", "does", "the", "office", "open"}, 4},
		{"Opens at 9. Closes at 17:30!", []string{"opens", "at", "9", "closes", "at", "17", "30"}, 5},
		{"Café CAFÉ café", []string{"café", "café", "café"}, 2},
		{"ОФИС открыт", []string{"офис", "открыт"}, 1},
		{"नमस्ते दुनिया", []string{"नमस्ते", "दुनिया"}, 1}, // vowel signs are marks inside the word
		{"会议室。在三楼", []string{"会", "议", "室", "在", "三", "楼"}, 4},
		{"データベースのバックアップ", []string{"データベース", "の", "バックアップ"}, 2},
		{"don't\xffstop", []string{"don", "t", "stop"}, 2},
		{"e-mail: a@b.example", []string{"e", "mail", "a", "b", "example"}, 3},
	}
	var s hashScratch
	for _, tt := range tests {
		s.split(tt.text)
		var words []string
		pairs := 0
		for _, w := range s.words {
			words = append(words, string(s.lower[w.start:w.end]))
			if w.joined {
				pairs++
			}
			if w.runes != len([]rune(string(s.lower[w.start:w.end]))) {
				t.Errorf("split(%q): word %q has runes = %d", tt.text, s.lower[w.start:w.end], w.runes)
			}
		}
		if !slices.Equal(words, tt.words) || pairs != tt.pairs {
			t.Errorf("split(%q) = %q with %d pairs; want %q with %d", tt.text, words, pairs, tt.words, tt.pairs)
		}
	}
}

func TestHashingCaseAndStems(t *testing.T) {
	h := newTestHashing(t, 0)
	if !slices.Equal(embedOne(t, h, "CAFÉ Офис"), embedOne(t, h, "café офис")) {
		t.Error("upper and lower case give different vectors; want the same")
	}
	// Character n-grams let inflections meet: "opening" is nearer "opens"
	// than an unrelated word is.
	base := embedOne(t, h, "opening")
	if near, far := cosine(base, embedOne(t, h, "opens")), cosine(base, embedOne(t, h, "garage")); near <= far+0.1 {
		t.Errorf("cosine(opening, opens) = %.3f, cosine(opening, garage) = %.3f; want the first clearly higher", near, far)
	}
}

func TestHashingLongText(t *testing.T) {
	h := newTestHashing(t, 0)
	long := chunkText(rand.New(rand.NewPCG(7, 7)), 200_000) // about 1.3 MB
	vec := embedOne(t, h, long)
	if n := norm(vec); math.Abs(n-1) > 1e-5 {
		t.Errorf("a %d-byte text has norm %v; want 1", len(long), n)
	}
	// One long token (a hash, a blob) must not drown the words around it.
	blob := strings.Repeat("Zm9vYmFyYmF6cXV4", 4000)
	query := embedOne(t, h, "office opening hours")
	withBlob := embedOne(t, h, "The office opening hours are nine to five. "+blob)
	if sim := cosine(query, withBlob); sim < 0.3 {
		t.Errorf("cosine with a text carrying a %d-byte token = %.3f; want at least 0.3", len(blob), sim)
	}
	if n := norm(embedOne(t, h, blob)); math.Abs(n-1) > 1e-5 {
		t.Errorf("a %d-byte token has norm %v; want 1", len(blob), n)
	}
}

// vocabulary is a made-up lexicon with a Zipf-like use: the first words
// come up most.
var vocabulary = func() []string {
	syllables := []string{"ka", "to", "ri", "men", "sel", "a", "or", "pa", "lin", "de", "us", "tra", "ve", "no", "gi", "ber", "ho", "im", "qu", "est"}
	r := rand.New(rand.NewPCG(1, 2))
	words := []string{"the", "of", "and", "to", "in", "is", "for", "on", "that", "with"}
	for len(words) < 5000 {
		var b strings.Builder
		for range 1 + r.IntN(4) {
			b.WriteString(syllables[r.IntN(len(syllables))])
		}
		words = append(words, b.String())
	}
	return words
}()

// chunkText returns n words of made-up prose, with capitals, commas and
// full stops.
func chunkText(r *rand.Rand, n int) string {
	zipf := rand.NewZipf(r, 1.1, 2, uint64(len(vocabulary)-1))
	var b strings.Builder
	for i := range n {
		w := vocabulary[zipf.Uint64()]
		if i%12 == 0 {
			w = strings.ToUpper(w[:1]) + w[1:]
		}
		b.WriteString(w)
		switch {
		case i%12 == 11:
			b.WriteString(". ")
		case i%5 == 4:
			b.WriteString(", ")
		default:
			b.WriteByte(' ')
		}
	}
	return b.String()
}

// BenchmarkHashing embeds one chunk of 512 words per operation.
func BenchmarkHashing(b *testing.B) {
	h := newTestHashing(b, 0)
	r := rand.New(rand.NewPCG(3, 4))
	chunks := make([]string, 64)
	for i := range chunks {
		chunks[i] = chunkText(r, 512)
	}
	b.SetBytes(int64(len(chunks[0])))
	b.ReportAllocs()
	ctx := context.Background()
	i := 0
	for b.Loop() {
		if _, err := h.Embed(ctx, chunks[i%len(chunks):i%len(chunks)+1]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkHashingBatch embeds 64 chunks of 512 words per operation and
// reports the time per chunk.
func BenchmarkHashingBatch(b *testing.B) {
	h := newTestHashing(b, 0)
	r := rand.New(rand.NewPCG(3, 4))
	chunks := make([]string, 64)
	for i := range chunks {
		chunks[i] = chunkText(r, 512)
	}
	b.ReportAllocs()
	ctx := context.Background()
	for b.Loop() {
		if _, err := h.Embed(ctx, chunks); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(chunks)), "ns/chunk")
}
