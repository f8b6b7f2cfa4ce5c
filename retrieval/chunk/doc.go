// Package chunk cuts a document's text into overlapping pieces of a bounded
// number of tokens for embedding and retrieval.
//
// Split counts tokens with CountTokens, an offline approximation of the
// cl100k_base byte-pair encoding (see CountTokens for the rule), and cuts:
//
//   - never above Config.Tokens tokens per chunk;
//   - at a paragraph break (a blank line) when the chunk is at least half
//     full, else at the last sentence end that fits, else at the last word
//     boundary; a sentence longer than a chunk is cut between words, and a
//     single "word" longer than a chunk (a long URL, base64) between tokens;
//   - so that each chunk after the first starts with about Config.Overlap
//     tokens from the end of the one before: whole sentences when they make
//     up at least half the overlap, else whole words.
//
// A sentence ends at ".", "!", "?" or "…" (with any closing quotes or
// brackets) followed by whitespace and something other than a lower-case
// letter, at the CJK "。", "！" and "？" with or without a space, and at a
// line end before a list item ("- ", "* ", "• ", "1.", "2)") or after a line
// ending in ":" or ";". Not ends: abbreviations (Dr. Mr. e.g. i.e. etc.
// approx. No. …), single-letter initials (J. R. R. Tolkien), decimals
// (3.14), list numbers ("1." at the start of a line).
//
// Every token of the input is in at least one chunk, chunks come in input
// order, and each chunk's Text is exactly the input between its Start and
// End byte offsets (so it never starts or ends with whitespace).
package chunk
