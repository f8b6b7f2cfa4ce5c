// Package extract turns an uploaded document into plain text for the
// knowledge base: PDF, Markdown, plain text, HTML and Word (.docx).
//
// Extract refuses a file over Limits.MaxBytes before parsing it, finds the
// format from the content first and the name second (Detect), reads it with
// the reader for that format and returns a Document whose Text keeps the
// reading order and the structure that matters for answering from it:
// paragraphs and headings separated by blank lines, list items and table
// rows on lines of their own. Anything that goes wrong is an *Error that
// names the file and says, in words for the person who uploaded it, what is
// wrong and what to do; it wraps one of ErrUnsupported, ErrTooLarge,
// ErrMalformed and ErrEmpty. Nothing is returned with an error, so a caller
// that stores only successful results stores nothing for a bad file.
//
// The readers:
//
//   - text: UTF-8, or UTF-16 with a byte order mark; anything else is
//     refused rather than guessed;
//   - Markdown: rendered with goldmark, then read as HTML;
//   - HTML: the x/net/html tokenizer, in the page's declared character set;
//   - DOCX: word/document.xml read with archive/zip and encoding/xml,
//     sizes checked against the limits before and while unpacking;
//   - PDF: github.com/ledongthuc/pdf, guarded against the inputs that hang
//     or crash it, with its own text layout (see extractPDF).
//
// Each reader has a fuzz target (FuzzExtractText, FuzzExtractMarkdown,
// FuzzExtractHTML, FuzzExtractDOCX, FuzzExtractPDF) that checks it never
// panics and returns either an error or valid UTF-8 text within the limits.
package extract
