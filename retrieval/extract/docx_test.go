package extract

import (
	"archive/zip"
	"bytes"
	"strings"
	"testing"
)

func TestDOCX(t *testing.T) {
	body := para("Title", "Remote work policy") +
		para("Heading1", "Scope") +
		`<w:p><w:r><w:t>Applies to </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>all</w:t></w:r><w:r><w:t xml:space="preserve"> staff.</w:t><w:tab/><w:t>Tabbed.</w:t><w:br/><w:t>New line.</w:t></w:r></w:p>` +
		`<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>First item</w:t></w:r></w:p>` +
		`<w:p><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>Second item</w:t></w:r></w:p>` +
		`<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Day</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Hours</w:t></w:r></w:p></w:tc></w:tr>` +
		`<w:tr><w:tc><w:p><w:r><w:t>Mon</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>9&amp;5</w:t></w:r></w:p><w:p><w:r><w:t>flexible</w:t></w:r></w:p></w:tc></w:tr></w:tbl>` +
		`<w:p><w:del><w:r><w:delText>Deleted words.</w:delText></w:r></w:del><w:r><w:fldChar w:fldCharType="begin"/></w:r><w:r><w:instrText>PAGE</w:instrText></w:r><w:r><w:t>Kept</w:t></w:r></w:p>` +
		`<w:p><w:r><mc:AlternateContent><mc:Choice Requires="wps"><w:drawing><w:txbxContent><w:p><w:r><w:t>Box text</w:t></w:r></w:p></w:txbxContent></w:drawing></mc:Choice><mc:Fallback><w:pict><w:txbxContent><w:p><w:r><w:t>Box text</w:t></w:r></w:p></w:txbxContent></w:pict></mc:Fallback></mc:AlternateContent></w:r></w:p>`
	doc := mustExtract(t, "remote.docx", makeDOCX(t, body, ""))
	want := "Remote work policy\n\nScope\n\n" +
		"Applies to all staff. Tabbed.\nNew line.\n\n" +
		"- First item\n- Second item\n\n" +
		"Day | Hours\nMon | 9&5 flexible\n\n" +
		"Kept\n\nBox text"
	if doc.Text != want {
		t.Errorf("Text =\n%q\nwant\n%q", doc.Text, want)
	}
	if doc.Title != "Remote work policy" || doc.Format != DOCX {
		t.Errorf("Title, Format = %q, %q", doc.Title, doc.Format)
	}
}

func TestDOCXCoreTitle(t *testing.T) {
	core := `<?xml version="1.0"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Security Handbook</dc:title></cp:coreProperties>`
	doc := mustExtract(t, "sec.docx", makeDOCX(t, para("Heading1", "Intro")+para("", "Text."), core))
	if doc.Title != "Security Handbook" {
		t.Errorf("Title = %q; want %q", doc.Title, "Security Handbook")
	}
}

func TestDOCXMalformed(t *testing.T) {
	wantError(t, "cut.docx", makeDOCX(t, para("", "x"), "")[:100], Limits{}, ErrMalformed, "Word document is damaged")
	noMain := zipFiles(t, map[string]string{"[Content_Types].xml": "<Types/>", "word/other.xml": "<x/>"})
	wantError(t, "nomain.docx", noMain, Limits{}, ErrUnsupported, "not a Word document")
	// With only its start, Detect takes the name's word; Extract then finds
	// the main part missing.
	if _, err := extractDOCX(t.Context(), noMain, Limits{}.withDefaults()); err == nil || !strings.Contains(err.Error(), "word/document.xml is missing") {
		t.Errorf("extractDOCX without word/document.xml = %v", err)
	}
	badXML := zipFiles(t, map[string]string{docxMainPart: "<w:document><w:body><w:p>"})
	wantError(t, "badxml.docx", badXML, Limits{}, ErrMalformed, "not valid XML")
	ole := append([]byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}, make([]byte, 500)...)
	wantError(t, "locked.docx", ole, Limits{}, ErrMalformed, "password-protected")
	wantError(t, "old.doc", ole, Limits{}, ErrUnsupported, "old Word (.doc)")
}

// TestDOCXZipBomb checks a document.xml that unpacks far beyond the limit
// is refused by its declared size, and also when the directory lies.
func TestDOCXZipBomb(t *testing.T) {
	lim := Limits{MaxTextBytes: 1 << 10} // 20 KiB of XML allowed
	huge := "<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>" +
		strings.Repeat("<w:p><w:r><w:t>aaaaaaaaaaaaaaaa</w:t></w:r></w:p>", 1<<14) + "</w:body></w:document>"
	bomb := zipFiles(t, map[string]string{docxMainPart: huge})
	if len(bomb) > 20<<10 {
		t.Fatalf("bomb is %d bytes compressed; want a small file", len(bomb))
	}
	wantError(t, "bomb.docx", bomb, lim, ErrTooLarge, "ZIP bomb")

	// The same archive with its directory claiming a small size: unpacking
	// stops at the declared size and the archive is reported damaged.
	liar := lieAboutSize(t, bomb, 100)
	wantError(t, "liar.docx", liar, lim, ErrMalformed, "cannot be unpacked")
}

// lieAboutSize rewrites the uncompressed size in an archive's central
// directory (and local header) to n.
func lieAboutSize(t *testing.T, archive []byte, n uint32) []byte {
	t.Helper()
	out := bytes.Clone(archive)
	zr, err := zip.NewReader(bytes.NewReader(archive), int64(len(archive)))
	if err != nil || len(zr.File) != 1 {
		t.Fatal("bad test archive")
	}
	le := func(b []byte, v uint32) { b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24) }
	if i := bytes.Index(out, []byte("PK\x01\x02")); i >= 0 {
		le(out[i+24:], n)
	}
	if bytes.HasPrefix(out, []byte("PK\x03\x04")) {
		le(out[22:], n)
	}
	return out
}
