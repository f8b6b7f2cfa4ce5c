package web

import (
	"errors"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		wantErr error
	}{
		{"simple", "Ada", "Ada", nil},
		{"trimmed", "  Ada Lovelace \n", "Ada Lovelace", nil},
		{"unicode", "Zoë Ñúñez 李雷", "Zoë Ñúñez 李雷", nil},
		{"emoji", "Sam 🎧", "Sam 🎧", nil},
		{"max length", strings.Repeat("é", MaxNameLength), strings.Repeat("é", MaxNameLength), nil},
		{"empty", "", "", ErrNameEmpty},
		{"only spaces", " \t\n ", "", ErrNameEmpty},
		{"too long", strings.Repeat("a", MaxNameLength+1), "", ErrNameTooLong},
		{"tab inside", "Ada\tL", "", ErrNameControl},
		{"newline inside", "Ada\nL", "", ErrNameControl},
		{"escape", "Ada\x1b[31m", "", ErrNameControl},
		{"nul", "Ada\x00", "", ErrNameControl},
		{"c1 control", "Ada\u0085x", "", ErrNameControl},
		{"zero width space", "Ada\u200bL", "", ErrNameUnprintable},
		{"bidi override", "Ada\u202eL", "", ErrNameUnprintable},
		{"invalid utf8", "Ada\xff", "", ErrNameEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidateName(tt.in)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("ValidateName(%q) error = %v, want %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("ValidateName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzValidateName(f *testing.F) {
	for _, seed := range []string{"Ada", "", " ", "a\tb", "\xff", "\u200b", strings.Repeat("x", 65), "Zoë 🎧"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ValidateName(in)
		if err != nil {
			if got != "" {
				t.Fatalf("ValidateName(%q) returned %q with error %v", in, got, err)
			}
			return
		}
		if got != strings.TrimSpace(got) || got == "" {
			t.Fatalf("ValidateName(%q) = %q: not trimmed or empty", in, got)
		}
		if !utf8.ValidString(got) {
			t.Fatalf("ValidateName(%q) = %q: invalid UTF-8", in, got)
		}
		if n := utf8.RuneCountInString(got); n > MaxNameLength {
			t.Fatalf("ValidateName(%q) = %q: %d characters", in, got, n)
		}
		for _, r := range got {
			if unicode.IsControl(r) || !unicode.IsPrint(r) {
				t.Fatalf("ValidateName(%q) = %q: holds %U", in, got, r)
			}
		}
		if again, err := ValidateName(got); err != nil || again != got {
			t.Fatalf("ValidateName not idempotent on %q: %q, %v", got, again, err)
		}
	})
}
