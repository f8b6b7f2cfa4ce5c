package extract

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeText returns data as a UTF-8 string: UTF-8 (with or without a byte
// order mark) as it is, UTF-16 with a byte order mark decoded. Anything else
// is ErrMalformed, since guessing a legacy encoding would store wrong text.
func decodeText(data []byte) (string, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		data = data[3:]
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		return decodeUTF16(data[2:], false)
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		return decodeUTF16(data[2:], true)
	}
	if !utf8.Valid(data) {
		return "", problem(ErrMalformed, nil, "the text is not in UTF-8; save it with UTF-8 encoding and upload it again")
	}
	return string(data), nil
}

func decodeUTF16(data []byte, bigEndian bool) (string, error) {
	if len(data)%2 != 0 {
		return "", problem(ErrMalformed, nil, "the UTF-16 text is cut short (an odd number of bytes); save it with UTF-8 encoding and upload it again")
	}
	units := make([]uint16, len(data)/2)
	for i := range units {
		if bigEndian {
			units[i] = uint16(data[2*i])<<8 | uint16(data[2*i+1])
		} else {
			units[i] = uint16(data[2*i+1])<<8 | uint16(data[2*i])
		}
	}
	runes := utf16.Decode(units)
	for _, r := range runes {
		if r == utf8.RuneError {
			return "", problem(ErrMalformed, nil, "the UTF-16 text holds broken characters; save it with UTF-8 encoding and upload it again")
		}
	}
	return string(runes), nil
}

// extractText reads a plain-text file. Its own line structure is kept;
// Extract then normalises line ends and drops control characters.
func extractText(data []byte, lim Limits) (Document, error) {
	s, err := decodeText(data)
	if err != nil {
		return Document{}, err
	}
	if len(s) > lim.MaxTextBytes*2 {
		return Document{}, tooMuchText(lim)
	}
	return Document{Text: s}, nil
}
