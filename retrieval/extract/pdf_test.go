package extract

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

func TestPDF(t *testing.T) {
	data := makePDF(t, [][]string{
		{"Leave Policy", "Employees may take 25 days of paid leave each year. Requests go to the line manager."},
		{"Sick leave", "Report sickness before 10:00 on the first day."},
	}, pdfOptions{title: "Staff Handbook"})
	doc := mustExtract(t, "handbook.pdf", data)
	if doc.Format != PDF || doc.Pages != 2 || doc.Title != "Staff Handbook" {
		t.Errorf("Extract = format %q, %d pages, title %q; want pdf, 2, Staff Handbook", doc.Format, doc.Pages, doc.Title)
	}
	want := "Leave Policy\n\nEmployees may take 25 days of paid leave each year. Requests go to the line manager.\n\nSick leave\n\nReport sickness before 10:00 on the first day."
	if doc.Text != want {
		t.Errorf("Text =\n%q\nwant\n%q", doc.Text, want)
	}
}

func TestPDFWrappedLines(t *testing.T) {
	long := strings.Repeat("The quick brown fox jumps over the lazy dog. ", 8)
	doc := mustExtract(t, "wrap.pdf", makePDF(t, [][]string{{long, "Second paragraph."}}, pdfOptions{uncompressed: true}))
	paras := strings.Split(doc.Text, "\n\n")
	if len(paras) != 2 {
		t.Fatalf("got %d paragraphs; want 2:\n%s", len(paras), doc.Text)
	}
	if got := strings.Join(strings.Fields(paras[0]), " "); got != strings.TrimSpace(long) {
		t.Errorf("first paragraph = %q; want the words of %q", got, long)
	}
	if !strings.Contains(paras[0], "\n") {
		t.Errorf("wrapped paragraph kept no line breaks: %q", paras[0])
	}
}

func TestPDFEncrypted(t *testing.T) {
	data := makePDF(t, [][]string{{"Secret text."}}, pdfOptions{userPassword: "hunter2"})
	wantError(t, "secret.pdf", data, Limits{}, ErrMalformed, "encrypted", "password")

	// fpdf encrypts with 40-bit RC4, which the library decrypts wrongly:
	// even without a user password it is refused, in words.
	data = makePDF(t, [][]string{{"Open text."}}, pdfOptions{ownerOnly: true})
	wantError(t, "restricted.pdf", data, Limits{}, ErrMalformed, "encrypted", "remove the protection")
}

func TestPDFImageOnly(t *testing.T) {
	data := makePDF(t, [][]string{{}, {}}, pdfOptions{image: true})
	wantError(t, "scan.pdf", data, Limits{}, ErrEmpty, "no extractable text", "scanned")
}

func TestPDFVersion2Header(t *testing.T) {
	data := makePDF(t, [][]string{{"Version two."}}, pdfOptions{})
	data = append([]byte("%PDF-2.0"), data[len("%PDF-1.3"):]...)
	data = append(data, "\n\x00\x00\x00"...) // padding after %%EOF
	if doc := mustExtract(t, "v2.pdf", data); doc.Text != "Version two." {
		t.Errorf("Text = %q; want %q", doc.Text, "Version two.")
	}
}

func TestPDFMaxPages(t *testing.T) {
	data := makePDF(t, [][]string{{"one"}, {"two"}, {"three"}}, pdfOptions{})
	wantError(t, "long.pdf", data, Limits{MaxPages: 2}, ErrTooLarge, "more than 2 pages")
	if doc, err := Extract(context.Background(), "long.pdf", data, Limits{MaxPages: 3}); err != nil || doc.Pages != 3 {
		t.Errorf("Extract with MaxPages 3 = %d pages, %v; want 3, nil", doc.Pages, err)
	}
}

func TestPDFMaxText(t *testing.T) {
	data := makePDF(t, [][]string{{strings.Repeat("word ", 400)}}, pdfOptions{})
	wantError(t, "wordy.pdf", data, Limits{MaxTextBytes: 1000}, ErrTooLarge, "more than")
}

func TestPDFMalformed(t *testing.T) {
	good := makePDF(t, [][]string{{"Some text here."}}, pdfOptions{})
	cases := map[string][]byte{
		"header only":    []byte("%PDF-1.4\n"),
		"truncated":      good[:len(good)/2],
		"garbage":        append([]byte("%PDF-1.4\n"), bytes.Repeat([]byte{0xde, 0xad}, 500)...),
		"not a pdf":      bytes.Repeat([]byte{0x01, 0x02, 0x03}, 100),
		"no xref":        []byte("%PDF-1.4\n1 0 obj << >> endobj\nstartxref\n9999\n%%EOF\n"),
		"xref elsewhere": bytes.Replace(good, []byte("startxref\n"), []byte("startxref\n1"), 1),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			wantError(t, "bad.pdf", data, Limits{}, ErrMalformed, "PDF")
		})
	}
}

// TestPDFLoops checks the crafted structures that would hang or crash the
// PDF library are refused.
func TestPDFLoops(t *testing.T) {
	cases := map[string]string{
		"prev loop": "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" +
			"2 0 obj\n<< /Type /Pages /Kids [] /Count 0 >>\nendobj\n" +
			"xref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \ntrailer\n<< /Size 3 /Root 1 0 R /Prev @ >>\nstartxref\n@\n%%EOF\n",
		"huge table": "%PDF-1.4\nxref\n999999999999 1\n0000000000 65535 f \ntrailer\n<< /Size 3 >>\nstartxref\n9\n%%EOF\n",
		"page tree loop": "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n" +
			"2 0 obj\n<< /Type /Pages /Kids [2 0 R] /Count 1 >>\nendobj\n" +
			"xref\n0 3\n0000000000 65535 f \n0000000009 00000 n \n0000000058 00000 n \ntrailer\n<< /Size 3 /Root 1 0 R >>\nstartxref\n@\n%%EOF\n",
	}
	for name, src := range cases {
		t.Run(name, func(t *testing.T) {
			data := fixOffsets(src)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, err := Extract(ctx, "loop.pdf", data, Limits{})
			if err == nil {
				t.Fatal("Extract = nil error; want one")
			}
			t.Log(err)
		})
	}
}

// fixOffsets replaces each "@" with the offset of "xref" in src and checks
// the object offsets written into the table.
func fixOffsets(src string) []byte {
	x := strings.Index(src, "xref")
	return []byte(strings.ReplaceAll(src, "@", itoa(x)))
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
