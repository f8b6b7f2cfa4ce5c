package web

import (
	"errors"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLength is the largest number of characters (Unicode code points)
// accepted as a display name.
const MaxNameLength = 64

// Sentinel errors returned by ValidateName. Their messages are shown to the
// person joining, so they are written as plain sentences.
var (
	// ErrNameEmpty means the name was empty or only white space.
	ErrNameEmpty = errors.New("please enter a name")
	// ErrNameTooLong means the name had more than MaxNameLength characters.
	ErrNameTooLong = errors.New("name is too long: use at most " + strconv.Itoa(MaxNameLength) + " characters")
	// ErrNameEncoding means the name was not valid UTF-8.
	ErrNameEncoding = errors.New("name is not valid UTF-8 text")
	// ErrNameControl means the name held control characters such as
	// tabs, newlines or escape sequences.
	ErrNameControl = errors.New("name must not contain control characters such as tabs or line breaks")
	// ErrNameUnprintable means the name held invisible or unprintable
	// characters other than a plain space.
	ErrNameUnprintable = errors.New("name must contain only printable characters")
)

// ValidateName trims surrounding white space from name and checks that the
// rest is a usable display name: 1 to MaxNameLength printable characters,
// with no control or invisible characters. It returns the trimmed name, or
// one of the ErrName sentinel errors.
func ValidateName(name string) (string, error) {
	if !utf8.ValidString(name) {
		return "", ErrNameEncoding
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return "", ErrNameEmpty
	}
	if utf8.RuneCountInString(name) > MaxNameLength {
		return "", ErrNameTooLong
	}
	for _, r := range name {
		switch {
		case unicode.IsControl(r):
			return "", ErrNameControl
		case !unicode.IsPrint(r):
			return "", ErrNameUnprintable
		}
	}
	return name, nil
}
