package extract

import (
	"archive/zip"
	"bytes"
	"context"
	"errors"
	"image"
	"image/color"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/go-pdf/fpdf"
)

// pdfOptions shape a generated PDF.
type pdfOptions struct {
	title        string
	userPassword string // encrypt with this user password
	ownerOnly    bool   // encrypt with an owner password only
	image        bool   // draw an image on each page
	uncompressed bool
}

// makePDF writes a PDF with one page per element of pages; each page has
// its paragraphs written with MultiCell, a blank line between them.
func makePDF(t testing.TB, pages [][]string, o pdfOptions) []byte {
	t.Helper()
	f := fpdf.New("P", "mm", "A4", "")
	f.SetCreationDate(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	f.SetCatalogSort(true)
	if o.uncompressed {
		f.SetCompression(false)
	}
	if o.title != "" {
		f.SetTitle(o.title, true)
	}
	switch {
	case o.userPassword != "":
		f.SetProtection(fpdf.CnProtectPrint, o.userPassword, "owner")
	case o.ownerOnly:
		f.SetProtection(fpdf.CnProtectPrint, "", "owner")
	}
	if o.image {
		var buf bytes.Buffer
		img := image.NewGray(image.Rect(0, 0, 40, 20))
		for i := range img.Pix {
			img.Pix[i] = uint8(i * 7)
		}
		img.Set(1, 1, color.White)
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		f.RegisterImageOptionsReader("scan", fpdf.ImageOptions{ImageType: "PNG"}, &buf)
	}
	for _, paras := range pages {
		f.AddPage()
		if o.image {
			f.ImageOptions("scan", 10, 10, 180, 90, false, fpdf.ImageOptions{ImageType: "PNG"}, 0, "")
		}
		f.SetFont("Helvetica", "", 12)
		for i, p := range paras {
			if i > 0 {
				f.Ln(6)
			}
			f.MultiCell(0, 6, p, "", "L", false)
		}
	}
	var out bytes.Buffer
	if err := f.Output(&out); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// makeDOCX writes a minimal Word document whose body is bodyXML (the
// children of w:body); core, when set, is docProps/core.xml.
func makeDOCX(t testing.TB, bodyXML, core string) []byte {
	t.Helper()
	files := map[string]string{
		"[Content_Types].xml": `<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/></Types>`,
		"word/document.xml": `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>` +
			`<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"><w:body>` +
			bodyXML + `</w:body></w:document>`,
	}
	if core != "" {
		files[docxCorePart] = core
	}
	return zipFiles(t, files)
}

func zipFiles(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range []string{"[Content_Types].xml", docxMainPart, docxCorePart} {
		if content, ok := files[name]; ok {
			writeZip(t, zw, name, content)
		}
	}
	for name, content := range files {
		if name != "[Content_Types].xml" && name != docxMainPart && name != docxCorePart {
			writeZip(t, zw, name, content)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func writeZip(t testing.TB, zw *zip.Writer, name, content string) {
	w, err := zw.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(content)); err != nil {
		t.Fatal(err)
	}
}

// para is a WordprocessingML paragraph with an optional style.
func para(style, text string) string {
	var b strings.Builder
	b.WriteString("<w:p>")
	if style != "" {
		b.WriteString(`<w:pPr><w:pStyle w:val="` + style + `"/></w:pPr>`)
	}
	b.WriteString(`<w:r><w:t xml:space="preserve">` + text + `</w:t></w:r></w:p>`)
	return b.String()
}

// mustExtract extracts with default limits and fails the test on error.
func mustExtract(t *testing.T, name string, data []byte) Document {
	t.Helper()
	doc, err := Extract(context.Background(), name, data, Limits{})
	if err != nil {
		t.Fatalf("Extract(%q) error: %v", name, err)
	}
	return doc
}

// wantError extracts and checks the error's kind and that its message
// contains each of words.
func wantError(t *testing.T, name string, data []byte, lim Limits, kind error, words ...string) {
	t.Helper()
	doc, err := Extract(context.Background(), name, data, lim)
	if err == nil {
		t.Fatalf("Extract(%q) = %q, nil; want error %v", name, doc.Text, kind)
	}
	if !errors.Is(err, kind) {
		t.Fatalf("Extract(%q) error = %v; want one wrapping %v", name, err, kind)
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, name+": ") {
		t.Errorf("error %q does not start with the file name %q", msg, name)
	}
	for _, w := range words {
		if !strings.Contains(msg, w) {
			t.Errorf("error %q does not mention %q", msg, w)
		}
	}
}
