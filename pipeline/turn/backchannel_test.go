package turn

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestIsBackchannel(t *testing.T) {
	tests := []struct {
		transcript string
		want       bool
	}{
		// Acknowledgements, with case, punctuation and spelling variants.
		{"mm-hm", true},
		{"Mm-hmm.", true},
		{"mmhmm", true},
		{"Mhm", true},
		{"mmm", true},
		{"uh huh", true},
		{"Uh-huh!", true},
		{"ok", true},
		{"OK.", true},
		{"Okay", true},
		{"okaaay...", true},
		{"'kay", true},
		{"yeah", true},
		{"Yeah, yeah.", true},
		{"yes", true},
		{"YES!", true},
		{"right", true},
		{"Right, right, right.", true},
		{"sure", true},
		{"Sure!", true},
		{"got it", true},
		{"Got it.", true},
		{"I see", true},
		{"Oh, I see.", true},
		{"hmm", true},
		{"Hmmm?", true},
		{"ah", true},
		{"oh", true},
		{"Ohhh okay", true},
		{"okay, got it", true},
		{"alright", true},
		{"all right", true},
		{"That's right.", true},
		{"that’s true", true},
		{"of course", true},
		{"sounds good", true},
		{"  yep  ", true},
		{"\tmakes sense\n", true},
		{"yeah yeah okay sure", true},

		// Attempts to take the turn.
		{"", false},
		{"   ", false},
		{"...", false},
		{"-", false},
		{"okay so what is the budget", false},
		{"stop", false},
		{"Stop!", false},
		{"wait", false},
		{"wait a second", false},
		{"hold on", false},
		{"no", false},
		{"No, no.", false},
		{"yes please tell me more about the agenda", false},
		{"yes please", false},
		{"what", false},
		{"sorry", false},
		{"excuse me", false},
		{"um", false},
		{"uh", false},
		{"I", false},
		{"see", false},
		{"got", false},
		{"okay but", false},
		{"right, and the budget?", false},
		{"yeah yeah yeah yeah yeah", false},
		{"ok 2", false},
		{"okay2", false},
		{"ja", false},
	}
	for _, tt := range tests {
		if got := IsBackchannel(tt.transcript); got != tt.want {
			t.Errorf("IsBackchannel(%q) = %v; want %v", tt.transcript, got, tt.want)
		}
	}
}

func TestBackchannelVocabulary(t *testing.T) {
	for _, p := range backchannelPhrases {
		if !IsBackchannel(p) {
			t.Errorf("IsBackchannel(%q) = false for a listed phrase", p)
		}
		if !IsBackchannel(strings.ToUpper(p) + ".") {
			t.Errorf("IsBackchannel(%q) = false for a listed phrase in capitals", strings.ToUpper(p)+".")
		}
	}
}

func FuzzIsBackchannel(f *testing.F) {
	for _, s := range []string{"", "mm-hm", "Okay, got it.", "okay so what is the budget", "yeah yeah yeah yeah", "’", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := IsBackchannel(s)
		if got && !strings.ContainsFunc(s, func(r rune) bool { return r != utf8.RuneError && r > ' ' }) {
			t.Errorf("IsBackchannel(%q) = true for a transcript with no words", s)
		}
		// Punctuation around the words does not change the answer.
		if again := IsBackchannel("¿" + s + "!?"); again != got {
			t.Errorf("IsBackchannel(%q) = %v but IsBackchannel(%q) = %v", s, got, "¿"+s+"!?", again)
		}
	})
}

func BenchmarkIsBackchannel(b *testing.B) {
	for b.Loop() {
		IsBackchannel("Oh, okay. Got it.")
	}
}
