package extract

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
)

func TestDetect(t *testing.T) {
	pdf := makePDF(t, [][]string{{"x"}}, pdfOptions{})
	docx := makeDOCX(t, para("", "x"), "")
	xlsx := zipFiles(t, map[string]string{"[Content_Types].xml": "<Types/>", "xl/workbook.xml": "<workbook/>"})
	cases := []struct {
		name string
		head []byte
		want Format
		err  error
	}{
		{"a.pdf", pdf, PDF, nil},
		{"a.txt", pdf, PDF, nil},   // content wins over the name
		{"a.docx", pdf, PDF, nil},  // content wins over the name
		{"a.bin", docx, DOCX, nil}, // the archive's parts say Word
		{"a.docx", docx[:200], DOCX, nil},
		{"a.xlsx", xlsx, "", ErrUnsupported},
		{"a.html", []byte("<!DOCTYPE html><p>x"), HTML, nil},
		{"a.txt", []byte("  <html><body>x"), HTML, nil},
		{"a.md", []byte("<!-- note -->\n# Title"), Markdown, nil},
		{"a.MD", []byte("# Title"), Markdown, nil},
		{"a.markdown", []byte("plain words"), Markdown, nil},
		{"a.htm", []byte("plain words"), HTML, nil},
		{"a.xhtml", []byte(`<?xml version="1.0"?><html>`), HTML, nil},
		{"a.txt", []byte("plain words"), Text, nil},
		{"notes", []byte("plain words"), Text, nil},
		{`C:\docs\a.txt`, []byte("plain"), Text, nil},
		{"a.txt", []byte("\xff\xfeh\x00i\x00"), Text, nil},
		{"a.png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "", ErrUnsupported},
		{"a.txt", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), "", ErrUnsupported},
		{"a.pdf", []byte{0, 1, 2, 3, 4}, PDF, nil}, // binary: the name decides, Extract reports the damage
		{"a.exe", []byte{0, 1, 2, 3, 4}, "", ErrUnsupported},
		{"a.doc", []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, "", ErrUnsupported},
		{"a.rtf", []byte(`{\rtf1\ansi hello}`), "", ErrUnsupported},
		{"a.md", nil, Markdown, nil},
		{"a", nil, "", ErrUnsupported},
	}
	for _, c := range cases {
		got, err := Detect(c.name, c.head)
		if got != c.want || !errors.Is(err, c.err) {
			t.Errorf("Detect(%q, %.20q) = %q, %v; want %q, %v", c.name, c.head, got, err, c.want, c.err)
		}
	}
}

func TestText(t *testing.T) {
	cases := []struct {
		name, in, want string
	}{
		{"plain", "Hello.\nWorld.", "Hello.\nWorld."},
		{"crlf", "a\r\nb\rc", "a\nb\nc"},
		{"controls", "a\x1bb\x7fc\tend\u0085z\ufeff", "abc\tend\nz"},
		{"nul", "a\x00b\x07c", "abc"},
		{"blank lines", "\n\n  \na  \n\n\n\nb\t\n\n", "a\n\nb"},
		{"bom", "\ufeffText", "Text"},
		{"unicode", "Zoë — 東京 ✓", "Zoë — 東京 ✓"},
		{"indent kept", "a\n    b", "a\n    b"},
	}
	for _, c := range cases {
		doc := mustExtract(t, c.name+".txt", []byte(c.in))
		if doc.Text != c.want || doc.Format != Text || doc.Pages != 0 {
			t.Errorf("%s: Extract = %q (%s); want %q (text)", c.name, doc.Text, doc.Format, c.want)
		}
	}
}

func TestTextUTF16(t *testing.T) {
	le := []byte{0xFF, 0xFE, 'H', 0, 'i', 0, 0x3D, 0xD8, 0x00, 0xDE} // "Hi😀"
	be := []byte{0xFE, 0xFF, 0, 'H', 0, 'i'}
	if doc := mustExtract(t, "le.txt", le); doc.Text != "Hi😀" {
		t.Errorf("UTF-16LE = %q; want %q", doc.Text, "Hi😀")
	}
	if doc := mustExtract(t, "be.txt", be); doc.Text != "Hi" {
		t.Errorf("UTF-16BE = %q; want %q", doc.Text, "Hi")
	}
	wantError(t, "odd.txt", []byte{0xFF, 0xFE, 'H', 0, 'i'}, Limits{}, ErrMalformed, "UTF-16")
	wantError(t, "lone.txt", []byte{0xFF, 0xFE, 0x3D, 0xD8, 'a', 0}, Limits{}, ErrMalformed, "UTF-16")
}

func TestTextNotUTF8(t *testing.T) {
	wantError(t, "latin1.txt", []byte("caf\xe9 au lait"), Limits{}, ErrMalformed, "not in UTF-8", "save it with UTF-8")
}

func TestEmpty(t *testing.T) {
	for _, name := range []string{"a.txt", "a.md", "a.html", "a.pdf", "a.docx", "a"} {
		wantError(t, name, nil, Limits{}, ErrEmpty, "empty")
		wantError(t, name, []byte(" \n\t "), Limits{}, ErrEmpty, "empty")
	}
	wantError(t, "controls.txt", []byte("\x00\x01\x1b"), Limits{}, ErrEmpty, "no text")
	wantError(t, "blank.html", []byte("<html><head><title>T</title><script>var x</script></head><body> </body></html>"), Limits{}, ErrEmpty, "no readable text")
	wantError(t, "blank.docx", makeDOCX(t, "<w:p/>", ""), Limits{}, ErrEmpty, "no text")
}

func TestTooLarge(t *testing.T) {
	lim := Limits{MaxBytes: 100}
	// Too large is decided before parsing: a damaged file over the limit
	// is reported as too large, not as damaged.
	data := append([]byte("%PDF-1.7\n"), bytes.Repeat([]byte{0xFF}, 200)...)
	wantError(t, "big.pdf", data, lim, ErrTooLarge, "209 bytes", "100 bytes")
	wantError(t, "big.txt", bytes.Repeat([]byte("a"), 101), lim, ErrTooLarge)
	if _, err := Extract(context.Background(), "ok.txt", bytes.Repeat([]byte("a"), 100), lim); err != nil {
		t.Errorf("Extract at exactly MaxBytes: %v", err)
	}
	wantError(t, "huge.txt", bytes.Repeat([]byte("a "), 3<<20), Limits{}, ErrTooLarge, "5 MiB of text")
	wantError(t, "words.html", []byte("<p>"+strings.Repeat("word ", 100)), Limits{MaxTextBytes: 50}, ErrTooLarge, "50 bytes of text")
}

func TestLimitsDefaults(t *testing.T) {
	l := Limits{}.withDefaults()
	if l.MaxBytes != 20<<20 || l.MaxPages != 2000 || l.MaxTextBytes != 5<<20 {
		t.Errorf("defaults = %+v", l)
	}
	l = Limits{MaxBytes: -1, MaxPages: 3}.withDefaults()
	if l.MaxBytes != DefaultMaxBytes || l.MaxPages != 3 {
		t.Errorf("withDefaults kept %+v", l)
	}
}

func TestContextCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Extract(ctx, "a.txt", []byte("text"), Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Extract with a cancelled context = %v; want context.Canceled", err)
	}
	_, err = Extract(ctx, "a.pdf", makePDF(t, [][]string{{"x"}}, pdfOptions{}), Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Extract of a PDF with a cancelled context = %v; want context.Canceled", err)
	}
}

func TestWrongExtension(t *testing.T) {
	doc := mustExtract(t, "report.pdf", []byte("<html><title>Report</title><body><p>Real HTML.</p></body></html>"))
	if doc.Format != HTML || doc.Text != "Real HTML." || doc.Title != "Report" {
		t.Errorf("HTML named .pdf = %+v", doc)
	}
	doc = mustExtract(t, "policy.txt", makePDF(t, [][]string{{"A PDF inside."}}, pdfOptions{}))
	if doc.Format != PDF || doc.Text != "A PDF inside." {
		t.Errorf("PDF named .txt = %+v", doc)
	}
	doc = mustExtract(t, "notes.pdf", []byte("Just some notes."))
	if doc.Format != Text {
		t.Errorf("text named .pdf read as %q", doc.Format)
	}
	wantError(t, "fake.docx", []byte{0x01, 0x02, 0x03, 0x04, 0x05}, Limits{}, ErrMalformed, "not a readable ZIP")
	wantError(t, "fake.pdf", []byte{0x01, 0x02, 0x03, 0x04, 0x05}, Limits{}, ErrMalformed, "not a readable PDF")
}

func TestErrorMessage(t *testing.T) {
	_, err := Extract(context.Background(), "file.pdf", makePDF(t, [][]string{{"x"}}, pdfOptions{userPassword: "pw"}), Limits{})
	want := "file.pdf: the PDF is encrypted with a password; remove the password and upload it again"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v; want %q", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.File != "file.pdf" || e.Cause == nil {
		t.Errorf("errors.As(*Error) = %+v", e)
	}
}

func TestTidy(t *testing.T) {
	cases := map[string]string{
		"":                     "",
		"  a  ":                "a",
		"a \n b":               "a\n b",
		"a\n\n\n\nb":           "a\n\nb",
		"a\u2028b\u2029c":      "a\nb\nc",
		"bad \xff\xfe utf8":    "bad  utf8",
		"\x00\n\x00a":          "a",
		"tab\tkept \u00a0here": "tab\tkept \u00a0here",
	}
	for in, want := range cases {
		if got := tidy(in); got != want {
			t.Errorf("tidy(%q) = %q; want %q", in, got, want)
		}
	}
}
