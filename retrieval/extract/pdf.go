package extract

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"

	"github.com/ledongthuc/pdf"
)

// Bounds on the work one PDF may cost, on top of Limits. The PDF library
// reads lazily and cannot be interrupted, so everything it would read is
// measured first.
const (
	// maxPageContent is the most decoded content-stream data of one page
	// (or one form it draws); a page over it is too complex to read.
	maxPageContent = 16 << 20
	// maxDocContent is the most decoded content-stream data of a document.
	maxDocContent = 512 << 20
	// maxOps is the most content-stream operators run for one document.
	maxOps = 20_000_000
	// maxWork bounds the text-decoding work of a document: the library
	// looks each character code up in a list, so a string costs its length
	// times the length of its font's map.
	maxWork = 2_000_000_000
	// maxFormDepth bounds forms drawn inside forms.
	maxFormDepth = 8
	// maxTreeDepth bounds the page tree.
	maxTreeDepth = 64
	// maxStateDepth bounds nested graphics states (q without Q).
	maxStateDepth = 256
	// maxColumns bounds a PNG predictor's row, which the library allocates.
	maxColumns = 1 << 16
)

// extractPDF reads the text of a PDF page by page, in the order the pages'
// content streams draw it (which is reading order for documents made by word
// processors and most other producers; text placed out of order, such as
// some multi-column layouts, keeps the producer's order). A move to a new
// baseline starts a line; a vertical jump of more than 2.5 times the font
// size or 1.3 times the last line spacing (a paragraph gap, a new column)
// or a change of font size by a fifth starts a paragraph; a
// horizontal gap of a fifth of the font size between two pieces of text on
// a line becomes a space. Each page ends a paragraph. Text in forms
// (XObjects) is read; text drawn as images is not (a scanned PDF without a
// text layer gives ErrEmpty). Encrypted PDFs open only when they have no
// user password (restrictions on printing or copying are not a bar) and use
// 128-bit RC4 or AES-128 (see checkEncryption).
//
// The library (github.com/ledongthuc/pdf) is guarded: checkPDFStructure
// refuses the cross-reference loops and oversized tables that would hang or
// exhaust it, its panics are recovered, pages are found by a bounded walk of
// the page tree, every stream is measured before it is interpreted, and the
// operator count and ctx are checked as the content runs. A page whose
// content breaks off keeps the text read before the break; a PDF with no
// readable page is ErrMalformed.
func extractPDF(ctx context.Context, data []byte, lim Limits) (Document, error) {
	src, n := pdfSource(data)
	if err := checkPDFStructure(data[:n]); err != nil {
		return Document{}, err
	}
	var r *pdf.Reader
	var openErr error
	if perr := guard(func() { r, openErr = pdf.NewReader(src, n) }); perr != nil {
		openErr = perr
	}
	if openErr != nil {
		return Document{}, pdfOpenError(openErr)
	}

	if err := checkEncryption(r); err != nil {
		return Document{}, err
	}
	x := &pdfText{ctx: ctx, out: newTextBuilder(lim.MaxTextBytes)}
	var pages []pdfPage
	var treeErr error
	if perr := guard(func() {
		var visits int
		treeErr = collectPages(r.Trailer().Key("Root").Key("Pages"), pdf.Value{}, 0, &pages, &visits, lim.MaxPages)
	}); perr != nil {
		return Document{}, problem(ErrMalformed, perr, "the PDF is damaged (its list of pages cannot be read); save or print it to PDF again and upload the new file")
	}
	if treeErr != nil {
		return Document{}, treeErr
	}
	if len(pages) == 0 {
		return Document{}, problem(ErrMalformed, nil, "the PDF has no pages (it may be damaged); save or print it to PDF again and upload the new file")
	}
	failed := 0
	for _, pg := range pages {
		if err := ctx.Err(); err != nil {
			return Document{}, err
		}
		if err := x.page(pg); err != nil {
			var a abort
			if errors.As(err, &a) {
				if a.err == errTextFull {
					return Document{}, tooMuchText(lim)
				}
				return Document{}, a.err
			}
			failed++
		}
		x.endParagraph()
	}
	if x.out.full() {
		return Document{}, tooMuchText(lim)
	}
	text := x.out.String()
	if strings.TrimSpace(text) == "" && failed > 0 {
		return Document{}, problem(ErrMalformed, nil, "the PDF is damaged (its pages cannot be read); save or print it to PDF again and upload the new file")
	}
	var title string
	guard(func() { title = r.Trailer().Key("Info").Key("Title").Text() })
	return Document{Title: title, Text: text, Pages: len(pages)}, nil
}

// pdfSource presents data to the library, which insists on a "%PDF-1.0" to
// "%PDF-1.7" header line and on "%%EOF" in the last 100 bytes: a PDF 2.0
// header is read as 1.7 and anything after the last "%%EOF" (padding some
// uploaders add) is cut off. It returns the reader and the size to use.
func pdfSource(data []byte) (io.ReaderAt, int64) {
	n := len(data)
	tail := data[max(0, n-1024):]
	if i := bytes.LastIndex(tail, []byte("%%EOF")); i >= 0 {
		n = n - len(tail) + i + len("%%EOF")
	}
	src := io.ReaderAt(bytes.NewReader(data[:n]))
	if n >= 9 && bytes.HasPrefix(data, []byte("%PDF-")) && isDigit(data[5]) && data[6] == '.' && isDigit(data[7]) {
		accepted := data[5] == '1' && data[7] <= '7' && (data[8] == '\n' || data[8] == '\r')
		if !accepted {
			src = &headerPatch{ReaderAt: src, head: []byte("%PDF-1.7\n")}
		}
	}
	return src, int64(n)
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// headerPatch overlays its head on the first bytes of a ReaderAt.
type headerPatch struct {
	io.ReaderAt
	head []byte
}

func (h *headerPatch) ReadAt(p []byte, off int64) (int, error) {
	n, err := h.ReaderAt.ReadAt(p, off)
	for i := 0; i < n; i++ {
		if o := off + int64(i); o < int64(len(h.head)) {
			p[i] = h.head[o]
		}
	}
	return n, err
}

// pdfOpenError says what stopped the library opening a PDF.
func pdfOpenError(err error) *Error {
	msg := err.Error()
	switch {
	case errors.Is(err, pdf.ErrInvalidPassword):
		return problem(ErrMalformed, err, "the PDF is encrypted with a password; remove the password and upload it again")
	case strings.Contains(msg, "encrypt"):
		return problem(ErrMalformed, err, "the PDF is encrypted in a way that cannot be opened here; remove the password or protection and upload it again")
	}
	return problem(ErrMalformed, err, "this is not a readable PDF (it may be damaged or cut short); save or print it to PDF again and upload the new file")
}

// checkEncryption refuses encryption with keys shorter than 128 bits, which
// the library opens but decrypts wrongly (it does not shorten the per-object
// RC4 key), so the pages would read as garbage or not at all.
func checkEncryption(r *pdf.Reader) error {
	var short bool
	guard(func() {
		enc := r.Trailer().Key("Encrypt")
		if enc.IsNull() {
			return
		}
		bits := enc.Key("Length").Int64()
		if bits == 0 {
			bits = 40
		}
		short = enc.Key("V").Int64() != 4 && bits < 128
	})
	if short {
		return problem(ErrMalformed, nil, "the PDF is encrypted with old 40-bit protection that cannot be opened here; remove the protection (print or save it to PDF again without it) and upload it again")
	}
	return nil
}

// guard runs f and turns a panic in it into an error.
func guard(f func()) (err error) {
	defer func() {
		if x := recover(); x != nil {
			if a, ok := x.(abort); ok {
				err = a
				return
			}
			err = fmt.Errorf("pdf library: %v", x)
		}
	}()
	f()
	return nil
}

// abort stops the interpretation of a content stream from inside the
// library's callback: the document is over a limit or ctx is done.
type abort struct{ err error }

func (a abort) Error() string { return a.err.Error() }

var (
	errTextFull   = errors.New("text limit reached")
	errTooComplex = problem(ErrTooLarge, nil, "the PDF is too complex to read (its pages hold too many drawing instructions); print it to a simpler PDF and upload it again")
)

// pdfPage is a page and the resources it inherits.
type pdfPage struct {
	v, res pdf.Value
}

// collectPages walks the page tree depth first, carrying inherited
// resources. It refuses trees deeper than maxTreeDepth, more than maxPages
// pages, and more nodes visited than pages allow (a tree that reuses its own
// nodes).
func collectPages(node, res pdf.Value, depth int, out *[]pdfPage, visits *int, maxPages int) error {
	*visits++
	if depth > maxTreeDepth || *visits > 4*maxPages+maxTreeDepth {
		return problem(ErrMalformed, nil, "the PDF is damaged (its page tree loops or is too deep); save or print it to PDF again and upload the new file")
	}
	if r := node.Key("Resources"); !r.IsNull() {
		res = r
	}
	kids := node.Key("Kids")
	if kids.Kind() != pdf.Array || node.Key("Type").Name() == "Page" {
		if node.Kind() != pdf.Dict {
			return nil
		}
		if len(*out) >= maxPages {
			return problem(ErrTooLarge, nil, fmt.Sprintf("the PDF has more than %d pages; split it into smaller files and upload them separately", maxPages))
		}
		*out = append(*out, pdfPage{v: node, res: res})
		return nil
	}
	for i := 0; i < kids.Len(); i++ {
		if err := collectPages(kids.Index(i), res, depth+1, out, visits, maxPages); err != nil {
			return err
		}
	}
	return nil
}

// matrix is a PDF transformation [a b c d e f].
type matrix [6]float64

var identity = matrix{1, 0, 0, 1, 0, 0}

// mul returns m then n: the transformation that applies m first.
func (m matrix) mul(n matrix) matrix {
	return matrix{
		m[0]*n[0] + m[1]*n[2], m[0]*n[1] + m[1]*n[3],
		m[2]*n[0] + m[3]*n[2], m[2]*n[1] + m[3]*n[3],
		m[4]*n[0] + m[5]*n[2] + n[4], m[4]*n[1] + m[5]*n[3] + n[5],
	}
}

func translate(x, y float64) matrix { return matrix{1, 0, 0, 1, x, y} }

// gstate is the part of the graphics state that places text.
type gstate struct {
	ctm                               matrix
	font                              *pdfFont
	size, charSpace, wordSpace, scale float64
	leading, rise                     float64
}

// pdfText interprets content streams and lays their text out.
type pdfText struct {
	ctx     context.Context
	out     *textBuilder
	ops     int
	work    int64 // bytes decoded times the cost of their font's decoder
	content int64 // decoded content bytes measured so far

	// Layout of the text written so far on this page.
	have      bool
	x, y      float64 // where the last piece of text ended
	size      float64 // its font size
	gap       float64 // the last line-to-line distance, 0 at a page start
	lastSpace bool    // the last piece ended in a space
}

// scope is one content stream being run: a page or a form.
type scope struct {
	res   pdf.Value
	fonts map[string]*pdfFont
	depth int
}

func (x *pdfText) endParagraph() {
	x.out.brk(paragraphBreak)
	x.have = false
	x.gap = 0
}

// page runs one page's content.
func (x *pdfText) page(pg pdfPage) error {
	return guard(func() {
		x.run(pg.v.Key("Contents"), &scope{res: pg.res, fonts: map[string]*pdfFont{}}, gstate{ctm: identity, scale: 1})
	})
}

// measure reads a content stream (or array of them) to its end, refusing one
// that decodes to more than the page allowance or the document's.
func (x *pdfText) measure(v pdf.Value, limit int64) {
	var total int64
	streams := []pdf.Value{v}
	if v.Kind() == pdf.Array {
		streams = streams[:0]
		for i := 0; i < v.Len() && i < 10000; i++ {
			streams = append(streams, v.Index(i))
		}
	}
	for _, s := range streams {
		n := streamSize(s, limit-total)
		total += n
		if total > limit {
			panic(abort{errTooComplex})
		}
	}
	x.content += total
	if x.content > maxDocContent {
		panic(abort{errTooComplex})
	}
}

// streamSize returns the decoded size of a stream, reading at most limit+1
// bytes. Predictor rows wider than maxColumns are refused before the
// library allocates them.
func streamSize(s pdf.Value, limit int64) int64 {
	if s.Kind() != pdf.Stream {
		return 0
	}
	parms := s.Key("DecodeParms")
	if parms.Kind() == pdf.Array {
		for i := 0; i < parms.Len() && i < 16; i++ {
			if c := parms.Index(i).Key("Columns").Int64(); c < 0 || c > maxColumns {
				panic(abort{errTooComplex})
			}
		}
	} else if c := parms.Key("Columns").Int64(); c < 0 || c > maxColumns {
		panic(abort{errTooComplex})
	}
	rc := s.Reader()
	defer rc.Close()
	n, _ := io.Copy(io.Discard, io.LimitReader(rc, limit+1))
	return n
}

// run interprets one content stream in sc with the starting state g.
func (x *pdfText) run(content pdf.Value, sc *scope, g gstate) {
	if content.IsNull() {
		return
	}
	x.measure(content, maxPageContent)
	var stack []gstate
	tm, tlm := identity, identity
	pdf.Interpret(content, func(stk *pdf.Stack, op string) {
		x.ops++
		if x.ops > maxOps {
			panic(abort{errTooComplex})
		}
		if x.ops%1024 == 0 {
			if err := x.ctx.Err(); err != nil {
				panic(abort{err})
			}
		}
		if x.out.full() {
			panic(abort{errTextFull})
		}
		args := make([]pdf.Value, stk.Len())
		for i := len(args) - 1; i >= 0; i-- {
			args[i] = stk.Pop()
		}
		num := func(i int) float64 {
			f := args[i].Float64()
			if math.IsNaN(f) || math.IsInf(f, 0) {
				return 0
			}
			return f
		}
		mat := func() matrix {
			var m matrix
			for i := range m {
				m[i] = num(i)
			}
			return m
		}
		switch op {
		case "q":
			if len(stack) < maxStateDepth {
				stack = append(stack, g)
			}
		case "Q":
			if n := len(stack); n > 0 {
				g, stack = stack[n-1], stack[:n-1]
			}
		case "cm":
			if len(args) == 6 {
				g.ctm = mat().mul(g.ctm)
			}
		case "BT":
			tm, tlm = identity, identity
		case "Tf":
			if len(args) == 2 {
				g.font = sc.font(args[0].Name())
				g.size = num(1)
			}
		case "Tc":
			if len(args) == 1 {
				g.charSpace = num(0)
			}
		case "Tw":
			if len(args) == 1 {
				g.wordSpace = num(0)
			}
		case "Tz":
			if len(args) == 1 {
				g.scale = num(0) / 100
			}
		case "TL":
			if len(args) == 1 {
				g.leading = num(0)
			}
		case "Ts":
			if len(args) == 1 {
				g.rise = num(0)
			}
		case "Td", "TD":
			if len(args) == 2 {
				if op == "TD" {
					g.leading = -num(1)
				}
				tlm = translate(num(0), num(1)).mul(tlm)
				tm = tlm
			}
		case "Tm":
			if len(args) == 6 {
				tlm = mat()
				tm = tlm
			}
		case "T*":
			tlm = translate(0, -g.leading).mul(tlm)
			tm = tlm
		case "Tj":
			if len(args) == 1 {
				tm = x.show(&g, tm, args[0].RawString())
			}
		case "'", "\"":
			if op == "\"" && len(args) == 3 {
				g.wordSpace, g.charSpace = num(0), num(1)
				args = args[2:]
			}
			if len(args) == 1 {
				tlm = translate(0, -g.leading).mul(tlm)
				tm = x.show(&g, tlm, args[0].RawString())
			}
		case "TJ":
			if len(args) == 1 && args[0].Kind() == pdf.Array {
				a := args[0]
				for i := 0; i < a.Len(); i++ {
					v := a.Index(i)
					if v.Kind() == pdf.String {
						tm = x.show(&g, tm, v.RawString())
						continue
					}
					tx := -v.Float64() / 1000 * g.size * g.scale
					if !math.IsNaN(tx) && !math.IsInf(tx, 0) {
						tm = translate(tx, 0).mul(tm)
					}
				}
			}
		case "Do":
			if len(args) == 1 {
				x.form(sc, g, args[0].Name())
			}
		}
	})
}

// form runs a form XObject drawn with Do; images and the rest are ignored.
func (x *pdfText) form(sc *scope, g gstate, name string) {
	if sc.depth >= maxFormDepth {
		return
	}
	xo := sc.res.Key("XObject").Key(name)
	if xo.Kind() != pdf.Stream || xo.Key("Subtype").Name() != "Form" {
		return
	}
	if m := xo.Key("Matrix"); m.Kind() == pdf.Array && m.Len() == 6 {
		var fm matrix
		for i := range fm {
			fm[i] = m.Index(i).Float64()
		}
		g.ctm = fm.mul(g.ctm)
	}
	res := xo.Key("Resources")
	if res.IsNull() {
		res = sc.res
	}
	x.run(xo, &scope{res: res, fonts: map[string]*pdfFont{}, depth: sc.depth + 1}, g)
}

// show lays out one string shown with the text matrix tm and returns the
// text matrix after it.
func (x *pdfText) show(g *gstate, tm matrix, raw string) matrix {
	f := g.font
	if f == nil || raw == "" {
		return tm
	}
	trm := matrix{g.size * g.scale, 0, 0, g.size, 0, g.rise}.mul(tm).mul(g.ctm)
	size := math.Hypot(trm[2], trm[3])
	x.work += int64(len(raw)) * int64(f.cost)
	if x.work > maxWork {
		panic(abort{errTooComplex})
	}
	text := f.enc.Decode(raw)
	tx := f.advance(raw, g)
	next := translate(tx, 0).mul(tm)
	end := matrix{g.size * g.scale, 0, 0, g.size, 0, g.rise}.mul(next).mul(g.ctm)
	x.place(trm[4], trm[5], end[4], size, text)
	return next
}

// place writes a piece of text that starts at (x0, y0) and ends at x1 in
// device space, drawn at the given font size, deciding from where the last
// piece ended whether a space, a line break or a paragraph break comes
// between them.
func (x *pdfText) place(x0, y0, x1, size float64, text string) {
	if strings.TrimSpace(text) == "" {
		if text != "" && x.have {
			x.lastSpace = true
			x.x = x1
		}
		return
	}
	if size <= 0 || math.IsNaN(size) || math.IsInf(size, 0) {
		size = 1
	}
	if x.have {
		dy := math.Abs(x.y - y0)
		big := math.Max(size, x.size)
		switch {
		case dy > 0.5*big:
			paragraph := dy > 2.5*big ||
				x.gap > 0 && dy > 1.3*x.gap ||
				math.Abs(size-x.size) > 0.2*big
			if paragraph {
				x.out.brk(paragraphBreak)
				x.gap = 0
			} else {
				x.out.brk(lineBreak)
				x.gap = dy
			}
		case !x.lastSpace && (x0-x.x > 0.2*size || x.x-x0 > 2*size):
			x.out.brk(spaceBreak)
		}
	}
	if text[0] == ' ' {
		x.out.brk(spaceBreak)
	}
	x.out.words(text)
	x.have = true
	x.x, x.y, x.size = x1, y0, size
	x.lastSpace = strings.HasSuffix(text, " ")
}
