package extract

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// rawPDF assembles a PDF from object bodies numbered from 1, with a
// classic cross-reference table and the given extra trailer entries.
func rawPDF(objs []string, trailer string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	x := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R %s >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, trailer, x)
	return b.Bytes()
}

// xrefStreamPDF assembles a PDF 1.5 file whose objects numbered in packed
// are stored in one object stream (object number len(objs)+1, extending
// extends when that is not 0), indexed by an unfiltered cross-reference
// stream. container overrides the object stream's number in the index
// when not 0, to build broken files.
func xrefStreamPDF(objs []string, packed map[int]bool, extends, container int) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.5\n")
	n := len(objs)
	stm := n + 1
	if container == 0 {
		container = stm
	}
	offsets := map[int]int{}
	var header, body strings.Builder
	index := map[int]int{}
	count := 0
	for i, o := range objs {
		num := i + 1
		if packed[num] {
			fmt.Fprintf(&header, "%d %d ", num, body.Len())
			index[num] = count
			count++
			body.WriteString(o + "\n")
			continue
		}
		offsets[num] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", num, o)
	}
	data := header.String() + body.String()
	ext := ""
	if extends != 0 {
		ext = fmt.Sprintf(" /Extends %d 0 R", extends)
	}
	offsets[stm] = b.Len()
	fmt.Fprintf(&b, "%d 0 obj\n<< /Type /ObjStm /N %d /First %d /Length %d%s >>\nstream\n%s\nendstream\nendobj\n",
		stm, count, header.Len(), len(data), ext, data)
	xref := stm + 1
	offsets[xref] = b.Len()
	var rows bytes.Buffer
	for num := 0; num <= xref; num++ {
		switch {
		case num == 0:
			rows.Write([]byte{0, 0, 0, 0, 0, 0xff, 0xff})
		case packed[num]:
			rows.Write([]byte{2, 0, 0, byte(container >> 8), byte(container), 0, byte(index[num])})
		default:
			o := offsets[num]
			rows.Write([]byte{1, byte(o >> 24), byte(o >> 16), byte(o >> 8), byte(o), 0, 0})
		}
	}
	fmt.Fprintf(&b, "%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Root 1 0 R /Length %d >>\nstream\n", xref, xref+1, rows.Len())
	b.Write(rows.Bytes())
	fmt.Fprintf(&b, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", offsets[xref])
	return b.Bytes()
}

func stream(dict, data string) string {
	return fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data)
}

// handMadeObjects is a one-page document exercising the text operators,
// a ToUnicode map on a two-byte font and a form XObject.
func handMadeObjects() []string {
	content := "BT /F1 12 Tf 14 TL 72 720 Td (Hello) Tj ( world) Tj " +
		"0 -14 Td [(Kern)30(ed)-400(gap)] TJ T* (next) Tj (line) ' " +
		"0 -40 Td (New paragraph.) Tj " +
		"/F2 12 Tf 0 -14 Td <00010002> Tj ET " +
		"q 1 0 0 1 0 500 cm /Fm1 Do Q"
	form := "BT /F1 12 Tf 72 100 Td (Form text.) Tj ET"
	cmap := "/CIDInit /ProcSet findresource begin 12 dict begin begincmap " +
		"1 begincodespacerange <0000> <FFFF> endcodespacerange " +
		"2 beginbfchar <0001> <004F> <0002> <004B> endbfchar endcmap CMapName currentdict /CMap defineresource pop end end"
	return []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 /Resources << /Font << /F1 5 0 R /F2 6 0 R >> /XObject << /Fm1 7 0 R >> >> >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
		stream("", content),
		"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding /FirstChar 32 /LastChar 126 /Widths 9 0 R >>",
		"<< /Type /Font /Subtype /Type0 /BaseFont /X /Encoding /Identity-H /DescendantFonts [<< /Type /Font /Subtype /CIDFontType2 /DW 600 /W [1 [700 650]] >>] /ToUnicode 8 0 R >>",
		stream("/Type /XObject /Subtype /Form /BBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >>", form),
		stream("", cmap),
		"[" + strings.TrimSpace(strings.Repeat("500 ", 95)) + "]",
	}
}

const handMadeText = "Hello world\nKerned gap\nnext\nline\n\nNew paragraph.\nOK\n\nForm text."

func pdfSeeds() [][]byte {
	objs := handMadeObjects()
	return [][]byte{
		rawPDF(objs, "/Info << /Title (Hand made) >>"),
		xrefStreamPDF(objs, map[int]bool{2: true, 3: true, 5: true}, 0, 0),
	}
}

func TestPDFHandMade(t *testing.T) {
	for i, data := range pdfSeeds() {
		doc, err := Extract(context.Background(), "hand.pdf", data, Limits{})
		if err != nil {
			t.Fatalf("seed %d: %v", i, err)
		}
		if doc.Text != handMadeText {
			t.Errorf("seed %d: Text =\n%q\nwant\n%q", i, doc.Text, handMadeText)
		}
	}
}

func TestPDFObjectStreamLoops(t *testing.T) {
	objs := handMadeObjects()
	packed := map[int]bool{2: true, 3: true, 5: true}
	n := len(objs) + 1 // the object stream's number
	cases := map[string][]byte{
		// Objects said to live in an object stream that is itself packed:
		// the library would recurse until the stack overflows.
		"stream in stream": xrefStreamPDF(objs, packed, 0, 3),
		// An object stream extending itself: the library loops forever.
		"extends itself": xrefStreamPDF(objs, packed, n, 0),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
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
