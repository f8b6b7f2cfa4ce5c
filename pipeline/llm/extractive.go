package llm

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/attendant/attendant/pipeline/chunker"
)

// DefaultMaxSentences is how many sentences Extractive answers with at most.
const DefaultMaxSentences = 3

// NoInformation is Extractive's answer when no sentence of its documents is
// relevant to the question.
const NoInformation = "I don't have information about that in my documents."

// ExtractiveConfig configures the extractive responder.
type ExtractiveConfig struct {
	// MaxSentences is the most sentences an answer holds; zero means
	// DefaultMaxSentences.
	MaxSentences int
}

// Extractive is an extractive responder, not a language model: it needs no
// model and no network, for `attendant dev`. It answers the last user
// message with the sentences of the system and tool messages (retrieved
// knowledge and tool results) that share the most words with it, after
// lower-casing, dropping stop words and stemming; ties go to the earlier
// sentence. The first system message is taken as the instructions and not
// quoted when other system messages follow it, and headings (fragments of
// fewer than four words without closing punctuation) are not quoted. The most relevant sentence comes first. When no sentence shares
// a word with the question it says NoInformation. It streams its answer word
// by word, ignores tools and is deterministic. It is safe for concurrent use.
type Extractive struct {
	max int
}

var _ Model = (*Extractive)(nil)

// NewExtractive returns an extractive responder. The error wraps
// ErrInvalidConfig.
func NewExtractive(cfg ExtractiveConfig) (*Extractive, error) {
	switch {
	case cfg.MaxSentences < 0:
		return nil, fmt.Errorf("%w: extractive max sentences %d must not be negative", ErrInvalidConfig, cfg.MaxSentences)
	case cfg.MaxSentences == 0:
		cfg.MaxSentences = DefaultMaxSentences
	}
	return &Extractive{max: cfg.MaxSentences}, nil
}

// Name says what this is: an extractive responder, not a language model.
func (e *Extractive) Name() string { return "extractive responder (not a language model)" }

// Stream answers the last user message of req, calling onDelta once per
// word (each word with the space before it). The error wraps
// ErrInvalidRequest when req has no user message; when ctx ends Stream
// returns ctx.Err().
func (e *Extractive) Stream(ctx context.Context, req Request, onDelta func(Delta) error) error {
	answer, err := e.answer(req)
	if err != nil {
		return err
	}
	for _, w := range chunker.Words(answer) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := onDelta(Delta{Text: w}); err != nil {
			return err
		}
	}
	return nil
}

// answer picks the sentences that answer req.
func (e *Extractive) answer(req Request) (string, error) {
	question := -1
	for i, m := range req.Messages {
		if m.Role == RoleUser {
			question = i
		}
	}
	if question < 0 {
		return "", fmt.Errorf("%w: no user message to answer", ErrInvalidRequest)
	}
	asked := terms(req.Messages[question].Content)

	type candidate struct {
		text  string
		score int
	}
	var candidates []candidate
	seen := make(map[string]bool)
	for _, m := range knowledge(req.Messages) {
		c := chunker.New(chunker.Config{MinChars: -1, MaxChars: -1})
		for _, s := range append(c.Push(m.Content), c.Flush()...) {
			if seen[s] || heading(s) {
				continue
			}
			seen[s] = true
			score := 0
			for t := range terms(s) {
				if asked[t] {
					score++
				}
			}
			if score > 0 {
				candidates = append(candidates, candidate{s, score})
			}
		}
	}
	if len(candidates) == 0 {
		return NoInformation, nil
	}
	slices.SortStableFunc(candidates, func(a, b candidate) int { return b.score - a.score })
	picked := make([]string, 0, e.max)
	for _, c := range candidates[:min(len(candidates), e.max)] {
		picked = append(picked, c.text)
	}
	return strings.Join(picked, " "), nil
}

// knowledge returns the messages to quote from: the system and tool
// messages, less the first system message when another system message
// follows it, as that one holds the instructions.
func knowledge(msgs []Message) []Message {
	first, systems := -1, 0
	for i, m := range msgs {
		if m.Role == RoleSystem {
			systems++
			if first < 0 {
				first = i
			}
		}
	}
	var out []Message
	for i, m := range msgs {
		if (m.Role == RoleSystem && (i != first || systems == 1)) || m.Role == RoleTool {
			out = append(out, m)
		}
	}
	return out
}

// heading reports whether s looks like a heading or a label rather than a
// sentence: fewer than four words and no closing punctuation.
func heading(s string) bool {
	last, _ := utf8.DecodeLastRuneInString(s)
	return len(strings.Fields(s)) < 4 && !strings.ContainsRune(".!?…。！？\"'”’)", last)
}

// terms returns the stems of the words of s that are not stop words.
func terms(s string) map[string]bool {
	out := make(map[string]bool)
	s = strings.ReplaceAll(strings.ToLower(s), "’", "'")
	for _, w := range strings.FieldsFunc(s, func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsNumber(r) && r != '\''
	}) {
		w = strings.Trim(w, "'")
		if w == "" || stopWords[w] {
			continue
		}
		w = strings.TrimSuffix(w, "'s")
		if w != "" && !stopWords[w] {
			out[stem(w)] = true
		}
	}
	return out
}

// stem strips common English inflections so that "opens", "opened",
// "opening" and "open" meet, as do "library" and "libraries". It is crude
// on purpose: both sides of a comparison go through it.
func stem(w string) string {
	n := len(w)
	switch {
	case n > 4 && strings.HasSuffix(w, "ies"):
		return w[:n-3] + "y"
	case n > 5 && strings.HasSuffix(w, "ing"):
		w = undouble(w[:n-3])
	case n > 4 && strings.HasSuffix(w, "ed"):
		w = undouble(w[:n-2])
	case n > 4 && (strings.HasSuffix(w, "ches") || strings.HasSuffix(w, "shes") ||
		strings.HasSuffix(w, "sses") || strings.HasSuffix(w, "xes") || strings.HasSuffix(w, "zes")):
		w = w[:n-2]
	case n > 3 && strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") &&
		!strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		w = w[:n-1]
	}
	if len(w) > 3 && strings.HasSuffix(w, "e") {
		w = w[:len(w)-1]
	}
	return w
}

// undouble drops the last letter of a doubled final consonant left by
// "stopped" or "running", except for l, s and z ("called", "passed").
func undouble(w string) string {
	n := len(w)
	if n >= 2 && w[n-1] == w[n-2] && !strings.ContainsRune("aeioulsz", rune(w[n-1])) {
		return w[:n-1]
	}
	return w
}

// stopWords are too common to tell sentences apart.
var stopWords = func() map[string]bool {
	m := make(map[string]bool)
	for _, w := range strings.Fields(`
		a about above after again against all also am an and any are aren't as at
		be because been before being below between both but by
		can can't cannot could couldn't
		did didn't do does doesn't doing don't down during
		each few for from further
		get gets got had hadn't has hasn't have haven't having he he'd he'll he's her here
		here's hers herself him himself his how how's
		i i'd i'll i'm i've if in into is isn't it it's its itself
		just know let let's like may me might more most must mustn't my myself
		need no nor not now of off on once only or other ought our ours ourselves out over own
		please same shall shan't she she'd she'll she's should shouldn't so some such
		tell than thank thanks that that's the their theirs them themselves then there there's
		these they they'd they'll they're they've this those through to too
		under until up us very want was wasn't we we'd we'll we're we've were weren't
		what what's when when's where where's which while who who's whom why why's will with
		won't would wouldn't yes you you'd you'll you're you've your yours yourself yourselves`) {
		m[w] = true
	}
	return m
}()
