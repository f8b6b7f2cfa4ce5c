package extract

import (
	"bytes"
	"io"
	"strconv"
	"strings"

	"github.com/ledongthuc/pdf"
)

const (
	// maxCMap bounds the decoded size of a font's ToUnicode map.
	maxCMap = 2 << 20
	// maxCMapEntries bounds the entries the library builds from a ToUnicode
	// map (it repeats a block's declared count at each block end).
	maxCMapEntries = 100_000
	// maxWidths bounds the width entries read from a font.
	maxWidths = 100_000
)

// pdfFont is what laying out text needs from a font: how its codes decode
// to Unicode, how wide its glyphs are, and what decoding costs.
type pdfFont struct {
	enc       pdf.TextEncoding
	composite bool // two-byte codes (Type0)
	first     int
	widths    []float64
	missing   float64
	cidW      map[int]float64
	cost      int // lookups per decoded byte
}

// font returns the font a content stream names in its scope's resources.
func (sc *scope) font(name string) *pdfFont {
	if f, ok := sc.fonts[name]; ok {
		return f
	}
	f := newPDFFont(sc.res.Key("Font").Key(name))
	sc.fonts[name] = f
	return f
}

// latin1 decodes bytes as the first 256 code points: the fallback for text
// in a font that is missing.
type latin1 struct{}

func (latin1) Decode(raw string) string {
	r := make([]rune, len(raw))
	for i := 0; i < len(raw); i++ {
		r[i] = rune(raw[i])
	}
	return string(r)
}

// newPDFFont reads a font dictionary. Its ToUnicode map is measured and
// its entries counted before the library parses it; a map over the bounds
// panics, which fails the page.
func newPDFFont(v pdf.Value) *pdfFont {
	f := &pdfFont{enc: latin1{}, missing: 500, cost: 1}
	if v.Kind() != pdf.Dict {
		return f
	}
	entries := 0
	if tu := v.Key("ToUnicode"); tu.Kind() == pdf.Stream {
		entries = cmapEntries(tu)
	}
	if d := v.Key("Encoding").Key("Differences"); d.Kind() == pdf.Array {
		entries += d.Len()
	}
	f.cost = 1 + entries
	font := &pdf.Font{V: v}
	f.enc = font.Encoder()

	if strings.Contains(v.Key("BaseFont").Name(), "Courier") {
		f.missing = 600
	}
	if mw := v.Key("FontDescriptor").Key("MissingWidth").Float64(); mw > 0 {
		f.missing = mw
	}
	if v.Key("Subtype").Name() == "Type0" {
		f.composite = true
		f.readCIDWidths(v.Key("DescendantFonts").Index(0))
		return f
	}
	f.first = int(v.Key("FirstChar").Int64())
	if w := v.Key("Widths"); w.Kind() == pdf.Array {
		n := min(w.Len(), maxWidths)
		f.widths = make([]float64, n)
		for i := range f.widths {
			f.widths[i] = w.Index(i).Float64()
		}
	}
	return f
}

// readCIDWidths reads a CID font's default width DW and its W array, made
// of "c [w1 w2 ...]" and "cfirst clast w" groups.
func (f *pdfFont) readCIDWidths(cid pdf.Value) {
	f.missing = 1000
	if dw := cid.Key("DW").Float64(); dw > 0 {
		f.missing = dw
	}
	w := cid.Key("W")
	n := min(w.Len(), maxWidths)
	f.cidW = map[int]float64{}
	for i := 0; i < n && len(f.cidW) < maxWidths; {
		c := int(w.Index(i).Int64())
		if i+1 < n && w.Index(i+1).Kind() == pdf.Array {
			list := w.Index(i + 1)
			for j := 0; j < list.Len() && len(f.cidW) < maxWidths; j++ {
				f.cidW[c+j] = list.Index(j).Float64()
			}
			i += 2
			continue
		}
		if i+2 < n {
			last, width := int(w.Index(i+1).Int64()), w.Index(i+2).Float64()
			for c2 := c; c2 <= last && c2-c < maxWidths && len(f.cidW) < maxWidths; c2++ {
				f.cidW[c2] = width
			}
		}
		i += 3
	}
}

// advance returns how far showing raw moves the text position, in text
// space: glyph widths scaled by the font size, plus character and word
// spacing, times the horizontal scale.
func (f *pdfFont) advance(raw string, g *gstate) float64 {
	var tx float64
	if f.composite {
		for i := 0; i+1 < len(raw); i += 2 {
			w, ok := f.cidW[int(raw[i])<<8|int(raw[i+1])]
			if !ok || w <= 0 {
				w = f.missing
			}
			tx += w/1000*g.size + g.charSpace
		}
		return tx * g.scale
	}
	for i := 0; i < len(raw); i++ {
		c := int(raw[i])
		w := f.missing
		if j := c - f.first; j >= 0 && j < len(f.widths) && f.widths[j] > 0 {
			w = f.widths[j]
		}
		tx += w/1000*g.size + g.charSpace
		if c == ' ' {
			tx += g.wordSpace
		}
	}
	return tx * g.scale
}

// cmapEntries measures a ToUnicode map and counts the entries the library
// will build from it, following its rule: each "N beginbfchar",
// "N beginbfrange" or "N begincodespacerange" sets the count, and each
// "endbfchar" or "endbfrange" adds that many entries. A map too large or
// with too many entries panics.
func cmapEntries(tu pdf.Value) int {
	if c := tu.Key("DecodeParms").Key("Columns").Int64(); c < 0 || c > maxColumns {
		panic("pdf font map: predictor row too wide")
	}
	rc := tu.Reader()
	defer rc.Close()
	data, _ := io.ReadAll(io.LimitReader(rc, maxCMap+1))
	if len(data) > maxCMap {
		panic("pdf font map too large")
	}
	total, n := 0, -1
	prev := []byte(nil)
	for _, tok := range bytes.FieldsFunc(data, isPSSeparator) {
		switch string(tok) {
		case "beginbfchar", "beginbfrange", "begincodespacerange":
			n = -1
			if v, err := strconv.Atoi(string(prev)); err == nil {
				n = v
			}
		case "endcodespacerange":
			n = -1
		case "endbfchar", "endbfrange":
			total += max(n, 0)
			if total > maxCMapEntries {
				panic("pdf font map has too many entries")
			}
		}
		prev = tok
	}
	return total
}

// isPSSeparator reports the PostScript whitespace and delimiters.
func isPSSeparator(r rune) bool {
	switch r {
	case ' ', '\t', '\n', '\r', '\f', 0, '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return true
	}
	return false
}
