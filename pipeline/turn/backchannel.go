package turn

import (
	"strings"
	"unicode"
)

// MaxBackchannelWords is the most words an utterance may have and still be a
// backchannel ("uh huh" counts as two).
const MaxBackchannelWords = 4

// backchannelPhrases are the acknowledgements a listener gives without
// taking the turn. Spelling variants with repeated letters ("mmm", "hmmm",
// "okaaay") are covered by squeezing repeats, and hyphens and apostrophes
// by tokenizing, so each is listed once. Hesitations such as "um" and "uh"
// alone are left out: they usually precede an attempt to speak. So are "no"
// and "wait", which object rather than acknowledge.
var backchannelPhrases = []string{
	// Sounds.
	"mm", "mhm", "mm hm", "uh huh", "hm", "ah", "aha", "oh", "ooh", "wow",
	// Words.
	"ok", "okay", "k", "kay", "yeah", "yea", "ya", "yep", "yup", "yes", "right",
	"sure", "alright", "all right", "cool", "nice", "great", "good", "fine",
	"perfect", "gotcha", "true", "exactly", "indeed", "totally", "absolutely",
	"definitely", "interesting",
	// Phrases.
	"got it", "i see", "i know", "of course", "that's right", "that's true",
	"makes sense", "fair enough", "sounds good",
}

// maxPhraseWords is the most words in one backchannel phrase.
const maxPhraseWords = 2

// backchannels holds backchannelPhrases normalized as transcripts are: words
// squeezed and joined by single spaces.
var backchannels = func() map[string]bool {
	m := make(map[string]bool, len(backchannelPhrases))
	for _, p := range backchannelPhrases {
		w, ok := words(p, maxPhraseWords)
		if !ok || len(w) == 0 {
			panic("turn: bad backchannel phrase " + p)
		}
		m[strings.Join(w, " ")] = true
	}
	return m
}()

// IsBackchannel reports whether a short utterance is a listener's
// acknowledgement ("mm-hm", "uh huh", "ok", "okay", "yeah", "yes", "right",
// "sure", "got it", "I see", "mhm", "hmm", "ah", "oh" ...) rather than an
// attempt to take the turn: at most MaxBackchannelWords words, all from the
// backchannel vocabulary, case- and punctuation-insensitive. Repeats and
// combinations count ("yeah yeah", "oh okay, got it"). An empty transcript,
// or one of punctuation only, is not a backchannel.
func IsBackchannel(transcript string) bool {
	w, ok := words(transcript, MaxBackchannelWords)
	if !ok || len(w) == 0 {
		return false
	}
	// reach[i]: the first i words split into backchannel phrases.
	var reach [MaxBackchannelWords + 1]bool
	reach[0] = true
	for i := 1; i <= len(w); i++ {
		for n := 1; n <= maxPhraseWords && n <= i && !reach[i]; n++ {
			reach[i] = reach[i-n] && backchannels[strings.Join(w[i-n:i], " ")]
		}
	}
	return reach[len(w)]
}

// words splits s into lower-case words of letters and digits, dropping
// apostrophes inside words ("that's" becomes "thats") and squeezing runs of
// the same letter ("hmmm" becomes "hm", "okaaay" becomes "okay"). Anything
// else separates words. It returns false as soon as s has more than limit
// words.
func words(s string, limit int) ([]string, bool) {
	var out []string
	var b strings.Builder
	var last rune
	flush := func() bool {
		if b.Len() == 0 {
			return true
		}
		out = append(out, b.String())
		b.Reset()
		last = 0
		return len(out) <= limit
	}
	for _, r := range s {
		switch {
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			r = unicode.ToLower(r)
			if r != last {
				b.WriteRune(r)
				last = r
			}
		case r == '\'' || r == '’' || r == '‘' || r == '`':
		default:
			if !flush() {
				return nil, false
			}
		}
	}
	if !flush() {
		return nil, false
	}
	return out, true
}
