package extract

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Format is the kind of document a file holds.
type Format string

// The formats Extract reads.
const (
	PDF      Format = "pdf"
	Markdown Format = "markdown"
	Text     Format = "text"
	HTML     Format = "html"
	DOCX     Format = "docx"
)

// Document is the plain text of an uploaded file, in reading order, with
// section titles kept as their own paragraphs.
//
// Paragraphs (and headings, code blocks, tables) are separated by one blank
// line; lines inside a paragraph, list items and table rows by a single
// newline. List items start with "- " (or "N. " in numbered lists in HTML and
// Markdown) and table cells are joined with " | ". Text is valid UTF-8 with
// "\n" line ends, no control characters other than tab and newline, no
// trailing spaces on a line and no leading or trailing blank lines.
type Document struct {
	// Title is the document's own title where the format has one (PDF
	// metadata, HTML <title> or first <h1>, Markdown front matter or first
	// heading, DOCX properties or first Title/Heading 1 paragraph); empty
	// otherwise, and callers may fall back to the file name.
	Title  string
	Format Format
	Text   string
	// Pages is the number of pages of a PDF, 0 for other formats.
	Pages int
}

// Limits bound the work Extract does for one file. A zero or negative field
// means its default.
type Limits struct {
	// MaxBytes is the largest file accepted (default 20 MiB). Larger files
	// are refused before any parsing.
	MaxBytes int64
	// MaxPages is the largest number of PDF pages read (default 2000).
	MaxPages int
	// MaxTextBytes is the most extracted text kept (default 5 MiB); a file
	// with more is refused.
	MaxTextBytes int
}

// Default limits.
const (
	DefaultMaxBytes     = 20 << 20
	DefaultMaxPages     = 2000
	DefaultMaxTextBytes = 5 << 20
)

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultMaxBytes
	}
	if l.MaxPages <= 0 {
		l.MaxPages = DefaultMaxPages
	}
	if l.MaxTextBytes <= 0 {
		l.MaxTextBytes = DefaultMaxTextBytes
	}
	return l
}

// Detect says which format a file holds, from its first bytes (head; the
// whole file, or at least its first 512 bytes) and then its name. The
// content decides where it can: "%PDF-" is a PDF, a ZIP archive holding
// word/document.xml is a DOCX, text that starts like HTML is HTML (unless
// the name ends in .md, since Markdown may start with HTML), other text is
// Markdown when the name says so (.md, .markdown, .mdown, .mkd), HTML when
// the name says so (.html, .htm, .xhtml) and plain text otherwise. Content
// that sniffs as binary is taken at its name's word only for .pdf and .docx
// (Extract then reports what is wrong with it) and for text names when it
// is valid UTF-8 (text with stray NULs). Legacy Office files, RTF, images,
// ZIP archives other than Word documents and anything else are
// ErrUnsupported, with a message saying what to upload instead.
func Detect(name string, head []byte) (Format, error) {
	ext := fileExt(name)
	if bytes.HasPrefix(head, []byte("%PDF-")) {
		return PDF, nil
	}
	if bytes.HasPrefix(head, []byte("PK\x03\x04")) {
		if looksLikeDOCX(head, ext) {
			return DOCX, nil
		}
		return "", problem(ErrUnsupported, nil, "this is a ZIP archive but not a Word document; only .docx files are read from Office documents")
	}
	if bytes.HasPrefix(head, []byte{0xD0, 0xCF, 0x11, 0xE0}) {
		if ext == ".docx" {
			// Word wraps a password-protected .docx in this container;
			// Extract says so.
			return DOCX, nil
		}
		return "", problem(ErrUnsupported, nil, "old Word (.doc) and other legacy Office files cannot be read; save it as .docx or PDF and upload it again")
	}
	if bytes.HasPrefix(head, []byte(`{\rtf`)) {
		return "", problem(ErrUnsupported, nil, "RTF files cannot be read; save it as .docx, PDF or plain text and upload it again")
	}
	if len(head) > 0 {
		mime, _, _ := strings.Cut(http.DetectContentType(head), ";")
		switch {
		case mime == "text/html":
			if isMarkdownExt(ext) {
				return Markdown, nil
			}
			return HTML, nil
		case mime == "text/xml":
			if isHTMLExt(ext) || bytes.Contains(bytes.ToLower(head), []byte("<html")) {
				return HTML, nil
			}
			return textByName(ext), nil
		case mime == "text/plain":
			return textByName(ext), nil
		case strings.HasPrefix(mime, "image/"):
			return "", problem(ErrUnsupported, nil, "this is an image; upload the document as PDF, Word (.docx), HTML, Markdown or plain text")
		}
	}
	switch {
	case ext == ".pdf":
		return PDF, nil
	case isTextExt(ext) && utf8.Valid(trimPartialRune(head)):
		// Text with stray NULs or other controls that sniffing calls
		// binary; Extract strips them.
		return textByName(ext), nil
	case ext == ".docx":
		return DOCX, nil
	}
	return "", problem(ErrUnsupported, nil, "this file type cannot be read; upload PDF, Word (.docx), HTML, Markdown or plain text")
}

func fileExt(name string) string {
	base := name[strings.LastIndexAny(name, `/\`)+1:]
	i := strings.LastIndexByte(base, '.')
	if i <= 0 {
		return ""
	}
	return strings.ToLower(base[i:])
}

func isMarkdownExt(ext string) bool {
	switch ext {
	case ".md", ".markdown", ".mdown", ".mkd":
		return true
	}
	return false
}

func isHTMLExt(ext string) bool {
	switch ext {
	case ".html", ".htm", ".xhtml":
		return true
	}
	return false
}

func isTextExt(ext string) bool {
	return ext == ".txt" || ext == ".text" || isMarkdownExt(ext) || isHTMLExt(ext)
}

// trimPartialRune drops an incomplete UTF-8 sequence cut off at the end of
// a file's head.
func trimPartialRune(b []byte) []byte {
	for i := len(b) - 1; i >= 0 && i >= len(b)-3; i-- {
		if utf8.RuneStart(b[i]) {
			if !utf8.FullRune(b[i:]) {
				return b[:i]
			}
			break
		}
	}
	return b
}

func textByName(ext string) Format {
	switch {
	case isMarkdownExt(ext):
		return Markdown
	case isHTMLExt(ext):
		return HTML
	}
	return Text
}

// looksLikeDOCX reports whether a ZIP archive is a Word document: when head
// is the whole archive its directory must list word/document.xml; when it
// is only the start, that name (or the .docx extension) must appear.
func looksLikeDOCX(head []byte, ext string) bool {
	if zr, err := zip.NewReader(bytes.NewReader(head), int64(len(head))); err == nil {
		for _, f := range zr.File {
			if f.Name == docxMainPart {
				return true
			}
		}
		return false
	}
	return bytes.Contains(head, []byte("word/")) || ext == ".docx"
}

// Extract returns the text of the file called name whose contents are data.
// It refuses a file over limits.MaxBytes before parsing it, detects its
// format with Detect, and returns an *Error wrapping ErrUnsupported,
// ErrTooLarge, ErrMalformed or ErrEmpty when the file cannot give text; its
// message names the file and says what to do. When ctx ends first it
// returns an error wrapping ctx.Err().
func Extract(ctx context.Context, name string, data []byte, limits Limits) (Document, error) {
	doc, err := extract(ctx, data, limits.withDefaults(), name)
	if err != nil {
		if e, ok := err.(*Error); ok {
			e.File = name
			return Document{}, e
		}
		return Document{}, fmt.Errorf("%s: %w", name, err)
	}
	return doc, nil
}

func extract(ctx context.Context, data []byte, lim Limits, name string) (Document, error) {
	if int64(len(data)) > lim.MaxBytes {
		return Document{}, problem(ErrTooLarge, nil, fmt.Sprintf("the file is %s; the largest file accepted is %s", size(int64(len(data))), size(lim.MaxBytes)))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return Document{}, problem(ErrEmpty, nil, "the file is empty")
	}
	if err := ctx.Err(); err != nil {
		return Document{}, err
	}
	format, err := Detect(name, data)
	if err != nil {
		return Document{}, err
	}
	var doc Document
	switch format {
	case PDF:
		doc, err = extractPDF(ctx, data, lim)
	case DOCX:
		doc, err = extractDOCX(ctx, data, lim)
	case HTML:
		doc, err = extractHTML(data, lim)
	case Markdown:
		doc, err = extractMarkdown(data, lim)
	case Text:
		doc, err = extractText(data, lim)
	}
	if err != nil {
		return Document{}, err
	}
	doc.Format = format
	doc.Title = oneLine(doc.Title)
	doc.Text = tidy(doc.Text)
	if len(doc.Text) > lim.MaxTextBytes {
		return Document{}, tooMuchText(lim)
	}
	if doc.Text == "" {
		return Document{}, problem(ErrEmpty, nil, emptyMessage(format))
	}
	return doc, nil
}

func tooMuchText(lim Limits) *Error {
	return problem(ErrTooLarge, nil, fmt.Sprintf("the document holds more than %s of text; split it into smaller files and upload them separately", size(int64(lim.MaxTextBytes))))
}

func emptyMessage(f Format) string {
	switch f {
	case PDF:
		return "the PDF has no extractable text (it may be a scanned image); run it through text recognition (OCR) or upload the original document"
	case DOCX:
		return "the Word document has no text"
	case HTML:
		return "the web page has no readable text"
	}
	return "the file has no text"
}

// size formats a byte count for people: "512 bytes", "3.2 MiB".
func size(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%d bytes", n)
	case n < 1<<20:
		return trimZero(fmt.Sprintf("%.1f KiB", float64(n)/(1<<10)))
	default:
		return trimZero(fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)))
	}
}

func trimZero(s string) string { return strings.Replace(s, ".0 ", " ", 1) }

// tidy makes extracted text valid UTF-8 with "\n" line ends, without control
// characters other than tab and newline, without blanks at line ends, with
// at most one blank line in a row and no blank lines at either end.
func tidy(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	newlines := 0     // line ends held back until something follows them
	var blanks []byte // blanks held back until something follows them on their line
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		i += n
		switch r {
		case '\r':
			if i < len(s) && s[i] == '\n' {
				i++
			}
			r = '\n'
		case '\u2028', '\u2029', '\v', '\f', '\u0085':
			r = '\n'
		}
		switch {
		case r == '\n':
			newlines++
			blanks = blanks[:0]
		case unicode.IsSpace(r):
			blanks = utf8.AppendRune(blanks, r)
		case r == utf8.RuneError && n == 1, isControl(r):
		default:
			if b.Len() > 0 {
				b.WriteString("\n\n"[:min(newlines, 2)])
				b.Write(blanks)
			}
			newlines, blanks = 0, blanks[:0]
			b.WriteRune(r)
		}
	}
	return b.String()
}

// isControl reports runes that never belong in extracted text: C0 and C1
// controls (tab and newline are handled before they get here), the
// byte-order mark and the non-characters U+FFFE and U+FFFF.
func isControl(r rune) bool {
	switch {
	case r < 0x20, r >= 0x7f && r < 0xa0:
		return true
	case r == '\ufeff', r == '\ufffe', r == '\uffff':
		return true
	}
	return false
}

// oneLine collapses all whitespace in s to single spaces and trims it.
func oneLine(s string) string {
	return strings.Join(strings.Fields(tidy(s)), " ")
}
