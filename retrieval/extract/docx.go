package extract

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strings"
)

const (
	docxMainPart = "word/document.xml"
	docxCorePart = "docProps/core.xml"
	// maxZipEntries bounds the archive directory a DOCX may have.
	maxZipEntries = 10000
	// xmlPerText is how many bytes of WordprocessingML a byte of text may
	// take; it sets how far word/document.xml may unpack (100 MiB with the
	// default text limit) before the file is taken for a ZIP bomb.
	xmlPerText = 20
	// maxCoreBytes bounds docProps/core.xml, which holds only metadata.
	maxCoreBytes = 1 << 20
)

// extractDOCX reads a Word document from the ZIP archive it is: the
// paragraphs of word/document.xml (w:p, with w:t text, w:tab as a space and
// w:br or w:cr as line ends), in document order. Headings are paragraphs
// like any other; list paragraphs (w:numPr) become "- " lines; table cells
// are joined with " | " and rows are lines; deleted revisions, field codes
// and the fallback copies of drawings are left out. Headers, footers,
// footnotes and comments live in other parts and are not read. The title
// is docProps/core.xml's dc:title, else the first paragraph styled Title or
// Heading 1.
//
// Sizes are checked before anything is unpacked, against the directory's
// declared sizes, and again while reading through io.LimitReader, since the
// directory can lie.
func extractDOCX(ctx context.Context, data []byte, lim Limits) (Document, error) {
	if bytes.HasPrefix(data, []byte{0xD0, 0xCF, 0x11, 0xE0}) {
		return Document{}, problem(ErrMalformed, nil, "the Word document is password-protected or in the old .doc format; remove the password or save it as .docx and upload it again")
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return Document{}, problem(ErrMalformed, err, "the Word document is damaged (it is not a readable ZIP archive); save it again from Word and upload the new file")
	}
	if len(zr.File) > maxZipEntries {
		return Document{}, problem(ErrTooLarge, nil, fmt.Sprintf("the Word document is made of more than %d parts; it may be damaged or a ZIP bomb", maxZipEntries))
	}
	var main, core *zip.File
	for _, f := range zr.File {
		switch f.Name {
		case docxMainPart:
			main = f
		case docxCorePart:
			core = f
		}
	}
	if main == nil {
		return Document{}, problem(ErrMalformed, nil, "the archive holds no Word document (word/document.xml is missing); upload a .docx saved by a word processor")
	}
	maxXML := int64(lim.MaxTextBytes) * xmlPerText
	body, err := openPart(main, maxXML)
	if err != nil {
		return Document{}, err
	}
	defer body.Close()
	doc, err := docxText(ctx, body, lim, maxXML)
	if err != nil {
		return Document{}, err
	}
	if core != nil {
		if t := docxCoreTitle(core); t != "" {
			doc.Title = t
		}
	}
	return doc, nil
}

// limitedPart reads a ZIP entry and fails with ErrTooLarge past its limit.
type limitedPart struct {
	rc    io.ReadCloser
	r     io.Reader
	limit int64
	n     int64
}

func (p *limitedPart) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.n += int64(n)
	if p.n > p.limit {
		return n, errPartTooLarge
	}
	return n, err
}

func (p *limitedPart) Close() error { return p.rc.Close() }

var errPartTooLarge = errors.New("zip entry over its size limit")

func zipBomb(limit int64) *Error {
	return problem(ErrTooLarge, nil, fmt.Sprintf("the Word document unpacks to more than %s of XML; it is too large or a ZIP bomb", size(limit)))
}

func openPart(f *zip.File, limit int64) (*limitedPart, error) {
	if f.UncompressedSize64 > uint64(limit) {
		return nil, zipBomb(limit)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, problem(ErrMalformed, err, "the Word document is damaged (a part of it cannot be unpacked); save it again from Word and upload the new file")
	}
	return &limitedPart{rc: rc, r: io.LimitReader(rc, limit+1), limit: limit}, nil
}

// isW reports whether an XML name is in the WordprocessingML namespace,
// transitional or strict.
func isW(n xml.Name, local string) bool {
	return n.Local == local && strings.Contains(n.Space, "wordprocessingml")
}

// docxPara is a paragraph being read; nested ones come from text boxes.
type docxPara struct {
	text    strings.Builder
	style   string
	list    bool
	outline bool // w:outlineLvl 0: a top-level heading
}

type docxState struct {
	t       *textBuilder
	paras   []*docxPara
	inText  int
	skip    int   // depth inside an ignored subtree
	cells   []int // cells seen in each open table row
	tables  int
	prevLst bool // the last paragraph written was a list item
	title   string
}

func docxText(ctx context.Context, r io.Reader, lim Limits, maxXML int64) (Document, error) {
	d := xml.NewDecoder(r)
	s := &docxState{t: newTextBuilder(lim.MaxTextBytes)}
	for n := 0; ; n++ {
		if n%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return Document{}, err
			}
		}
		if s.t.full() {
			return Document{}, tooMuchText(lim)
		}
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			switch {
			case errors.Is(err, errPartTooLarge):
				return Document{}, zipBomb(maxXML)
			case errors.Is(err, zip.ErrFormat), errors.Is(err, zip.ErrChecksum), errors.Is(err, zip.ErrAlgorithm), errors.Is(err, io.ErrUnexpectedEOF):
				return Document{}, problem(ErrMalformed, err, "the Word document is damaged (its text part cannot be unpacked); save it again from Word and upload the new file")
			}
			return Document{}, problem(ErrMalformed, err, "the Word document is damaged (its text part is not valid XML); save it again from Word and upload the new file")
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			s.start(tok)
		case xml.EndElement:
			s.end(tok.Name)
		case xml.CharData:
			if s.inText > 0 && s.skip == 0 && len(s.paras) > 0 {
				s.paras[len(s.paras)-1].text.Write(tok)
			}
		}
	}
	return Document{Title: s.title, Text: s.t.String()}, nil
}

func (s *docxState) para() *docxPara {
	if len(s.paras) == 0 {
		return nil
	}
	return s.paras[len(s.paras)-1]
}

func wVal(e xml.StartElement) string {
	for _, a := range e.Attr {
		if a.Name.Local == "val" {
			return a.Value
		}
	}
	return ""
}

func (s *docxState) start(e xml.StartElement) {
	if s.skip > 0 {
		s.skip++
		return
	}
	n := e.Name
	p := s.para()
	switch {
	case n.Local == "Fallback" || isW(n, "del") || isW(n, "instrText") || isW(n, "delText"):
		s.skip = 1
	case isW(n, "p"):
		s.paras = append(s.paras, &docxPara{})
	case isW(n, "t"):
		s.inText++
	case p == nil:
	case isW(n, "tab"):
		p.text.WriteByte(' ')
	case isW(n, "br"), isW(n, "cr"):
		p.text.WriteByte('\n')
	case isW(n, "noBreakHyphen"):
		p.text.WriteByte('-')
	case isW(n, "pStyle"):
		p.style = wVal(e)
	case isW(n, "numPr"):
		p.list = true
	case isW(n, "outlineLvl"):
		p.outline = wVal(e) == "0"
	}
	switch {
	case isW(n, "tbl"):
		s.tables++
		s.t.brk(paragraphBreak)
	case isW(n, "tr"):
		s.cells = append(s.cells, 0)
		s.t.brk(lineBreak)
	case isW(n, "tc"):
		if k := len(s.cells); k > 0 {
			if s.cells[k-1] > 0 {
				s.t.brk(spaceBreak)
				s.t.words("|")
			}
			s.cells[k-1]++
		}
		s.t.brk(spaceBreak)
	}
}

func (s *docxState) end(n xml.Name) {
	if s.skip > 0 {
		s.skip--
		return
	}
	switch {
	case isW(n, "t"):
		if s.inText > 0 {
			s.inText--
		}
	case isW(n, "p"):
		if k := len(s.paras); k > 0 {
			p := s.paras[k-1]
			s.paras = s.paras[:k-1]
			s.write(p)
		}
	case isW(n, "tbl"):
		if s.tables > 0 {
			s.tables--
		}
		s.t.brk(paragraphBreak)
	case isW(n, "tr"):
		if k := len(s.cells); k > 0 {
			s.cells = s.cells[:k-1]
		}
		s.t.brk(lineBreak)
	}
}

// write adds a finished paragraph to the document.
func (s *docxState) write(p *docxPara) {
	text := p.text.String()
	if strings.TrimSpace(text) == "" {
		return
	}
	switch {
	case s.tables > 0:
		s.t.brk(spaceBreak)
	case p.list:
		if s.prevLst {
			s.t.brk(lineBreak)
		} else {
			s.t.brk(paragraphBreak)
		}
		s.t.words("-")
		s.t.brk(spaceBreak)
	default:
		s.t.brk(paragraphBreak)
	}
	s.prevLst = p.list && s.tables == 0
	for i, line := range strings.Split(text, "\n") {
		if i > 0 {
			s.t.brk(lineBreak)
		}
		s.t.words(line)
	}
	if s.title == "" && (isTitleStyle(p.style) || p.outline) {
		s.title = text
	}
}

// isTitleStyle reports the built-in Title and Heading 1 style IDs (Word
// writes "Title" and "Heading1" whatever the interface language).
func isTitleStyle(id string) bool {
	switch strings.ToLower(strings.ReplaceAll(id, " ", "")) {
	case "title", "heading1":
		return true
	}
	return false
}

// docxCoreTitle reads dc:title from docProps/core.xml; any problem there
// only means no title.
func docxCoreTitle(f *zip.File) string {
	part, err := openPart(f, maxCoreBytes)
	if err != nil {
		return ""
	}
	defer part.Close()
	d := xml.NewDecoder(part)
	in := false
	var title strings.Builder
	for {
		tok, err := d.Token()
		if err != nil {
			return ""
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			in = tok.Name.Local == "title"
		case xml.EndElement:
			if in {
				return title.String()
			}
		case xml.CharData:
			if in {
				title.Write(tok)
			}
		}
	}
}
