// Package chunker turns a stream of language-model text into speakable
// sentences as soon as each one is complete, so that text-to-speech can start
// on the first sentence while the model is still writing the rest.
//
// A Chunker takes text in pieces of any size (a token, a word, a byte) and
// returns the same sentences however the text was split. It works in two
// steps:
//
//  1. Markdown that should not be spoken is removed: bold and italic
//     asterisks, backticks, heading marks ("# "), bullets ("- ", "* ",
//     "+ "), quote marks ("> "), code-fence lines ("```go") and lines made
//     only of markup (rules such as "---").
//  2. The text is cut into sentences. A sentence ends at a newline, or at
//     ".", "!", "?" or "…" (with any closing quotes or brackets) followed by
//     whitespace and then something other than a lower-case letter (or by
//     64 or more whitespace characters), or at the end of the answer; the CJK forms "。", "！" and "？" end a sentence
//     with no space after them. Not ends: abbreviations (Dr. Mr. Mrs. Ms.
//     Prof. St. Jr. Sr. vs. etc. e.g. i.e., and No. before a number),
//     initials (J. R. R. Tolkien), decimals (3.14), addresses (example.com,
//     a@b.org), an ellipsis followed by a lower-case word, and list numbers
//     ("1.") at the start of a line.
//
// Sentences shorter than Config.MinChars are held and joined to the next one
// (a full stop is added between them when the short one ended at a newline
// without punctuation, such as a heading or a list item, so the voice pauses
// there); a sentence that grows past Config.MaxChars is cut at its last
// comma or semicolon, or else its last space. Whitespace inside a sentence
// is collapsed to single spaces.
package chunker
