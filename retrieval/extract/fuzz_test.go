package extract

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzLimits keep fuzzing fast while still reaching the limit paths.
var fuzzLimits = Limits{MaxBytes: 1 << 20, MaxPages: 50, MaxTextBytes: 64 << 10}

// checkExtract runs one input through a format's reader and through
// Extract, and checks that each returns an error or a document whose text
// is valid UTF-8 within the limits.
func checkExtract(t *testing.T, name string, data []byte, read func(context.Context, []byte, Limits) (Document, error)) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	lim := fuzzLimits.withDefaults()
	if doc, err := read(ctx, data, lim); err == nil {
		if !utf8.ValidString(tidy(doc.Text)) || !utf8.ValidString(oneLine(doc.Title)) {
			t.Fatalf("reader gave invalid UTF-8: %q", doc.Text)
		}
	}
	doc, err := Extract(ctx, name, data, lim)
	if err != nil {
		if _, ok := err.(*Error); !ok && ctx.Err() == nil {
			t.Fatalf("Extract error %v is not an *Error", err)
		}
		return
	}
	switch {
	case !utf8.ValidString(doc.Text), !utf8.ValidString(doc.Title):
		t.Fatalf("Extract gave invalid UTF-8: %q", doc.Text)
	case doc.Text == "" || strings.TrimSpace(doc.Text) != doc.Text:
		t.Fatalf("Extract gave untidy text %q", doc.Text)
	case len(doc.Text) > lim.MaxTextBytes:
		t.Fatalf("Extract gave %d bytes of text; limit %d", len(doc.Text), lim.MaxTextBytes)
	case doc.Format == "":
		t.Fatal("Extract gave no format")
	}
}

func FuzzExtractText(f *testing.F) {
	for _, s := range []string{"Hello world.\r\nSecond line.", "\ufeffBOM", "\xff\xfeh\x00i\x00", "\xfe\xff\x00h", "caf\xe9", "a\x00b", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkExtract(t, "fuzz.txt", data, func(_ context.Context, d []byte, l Limits) (Document, error) { return extractText(d, l) })
	})
}

func FuzzExtractMarkdown(f *testing.F) {
	for _, s := range []string{
		"---\ntitle: T\n---\n# Head\n\nText with **bold** and [link](x).\n\n- a\n- b\n\n```\ncode\n```\n",
		"<div>raw</div>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
		"> quote\n>> nested\n\n![alt](img.png) &amp; \\*",
		"---\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkExtract(t, "fuzz.md", data, func(_ context.Context, d []byte, l Limits) (Document, error) { return extractMarkdown(d, l) })
	})
}

func FuzzExtractHTML(f *testing.F) {
	for _, s := range []string{
		"<html><head><title>T</title><style>x</style></head><body><h1>H</h1><p>a<br>b</p><ul><li>x</ul><table><tr><td>1<td>2</table></body></html>",
		"<pre>a\n b</pre><img alt=pic><nav>n</nav><p hidden>h</p><ol start=5><li>x",
		"<meta charset=windows-1252><p>caf\xe9",
		"<head><p>unclosed",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkExtract(t, "fuzz.html", data, func(_ context.Context, d []byte, l Limits) (Document, error) { return extractHTML(d, l) })
	})
}

func FuzzExtractDOCX(f *testing.F) {
	f.Add(makeDOCX(f, para("Title", "T")+para("", "Body <w:tab/> text")+`<w:tbl><w:tr><w:tc><w:p><w:r><w:t>c</w:t></w:r></w:p></w:tc></w:tr></w:tbl>`, `<cp:coreProperties xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>X</dc:title></cp:coreProperties>`))
	f.Add(makeDOCX(f, `<w:p><w:pPr><w:numPr/></w:pPr><w:r><w:t>item</w:t><w:br/></w:r></w:p>`, ""))
	f.Add(zipFiles(f, map[string]string{docxMainPart: "<w:document><w:p><w:t>broken"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkExtract(t, "fuzz.docx", data, extractDOCX)
	})
}

func FuzzExtractPDF(f *testing.F) {
	f.Add(makePDF(f, [][]string{{"Title", "Some text. More text."}, {"Page two."}}, pdfOptions{title: "T", uncompressed: true}))
	f.Add(makePDF(f, [][]string{{"Compressed text."}}, pdfOptions{}))
	f.Add(makePDF(f, [][]string{{"Locked."}}, pdfOptions{userPassword: "x", uncompressed: true}))
	for _, seed := range pdfSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		checkExtract(t, "fuzz.pdf", data, extractPDF)
	})
}
