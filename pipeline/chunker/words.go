package chunker

import "unicode"

// Words splits s into one piece per word, each piece carrying the whitespace before
// its word, so that the pieces concatenate to s: how a model's streamed tokens look,
// one word at a time.
func Words(s string) []string {
	var out []string
	start, prevSpace := 0, true
	for i, r := range s {
		space := unicode.IsSpace(r)
		if space && !prevSpace && i > start {
			out = append(out, s[start:i])
			start = i
		}
		prevSpace = space
	}
	if start < len(s) {
		out = append(out, s[start:])
	}
	return out
}
