package extract

import (
	"bytes"
	"strconv"
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/html/charset"
)

// extractHTML reads an HTML page with the x/net/html tokenizer (a stream, so
// memory stays proportional to the text, not to the markup). The page's
// declared or sniffed character set is decoded to UTF-8; entities are
// decoded; script, style, noscript, template, nav, head, svg, iframe,
// object, canvas, select and button contents and elements marked hidden are
// dropped; block elements become paragraph breaks; list items and table rows
// become lines ("- " or "N. " before items, " | " between cells); images
// keep their alt text; <pre> keeps its lines. The title is <title>, else the
// first <h1>.
func extractHTML(data []byte, lim Limits) (Document, error) {
	enc, _, _ := charset.DetermineEncoding(data, "text/html")
	if decoded, err := enc.NewDecoder().Bytes(data); err == nil {
		data = decoded
	}
	return htmlText(data, lim)
}

// headContent may appear in <head>; any other start tag there means the
// page left <head> without closing it.
var headContent = map[atom.Atom]bool{
	atom.Title: true, atom.Meta: true, atom.Link: true, atom.Style: true,
	atom.Script: true, atom.Base: true, atom.Noscript: true, atom.Template: true,
}

// skipped elements lose everything inside them.
var skipped = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Nav: true, atom.Svg: true, atom.Iframe: true, atom.Object: true,
	atom.Canvas: true, atom.Select: true, atom.Button: true, atom.Head: true,
}

// blocks start and end paragraphs.
var blocks = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Section: true, atom.Article: true,
	atom.Main: true, atom.Header: true, atom.Footer: true, atom.Aside: true,
	atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
	atom.Ul: true, atom.Ol: true, atom.Dl: true, atom.Table: true, atom.Blockquote: true,
	atom.Pre: true, atom.Figure: true, atom.Figcaption: true, atom.Address: true,
	atom.Form: true, atom.Fieldset: true, atom.Legend: true, atom.Details: true,
	atom.Summary: true, atom.Caption: true, atom.Hr: true, atom.Body: true, atom.Html: true,
	atom.Center: true, atom.Hgroup: true, atom.Menu: true,
}

// lines start and end a line.
var lines = map[atom.Atom]bool{
	atom.Li: true, atom.Tr: true, atom.Dt: true, atom.Dd: true, atom.Br: true,
	atom.Option: true,
}

// voids never have an end tag.
var voids = map[atom.Atom]bool{
	atom.Area: true, atom.Base: true, atom.Br: true, atom.Col: true, atom.Embed: true,
	atom.Hr: true, atom.Img: true, atom.Input: true, atom.Link: true, atom.Meta: true,
	atom.Source: true, atom.Track: true, atom.Wbr: true, atom.Param: true,
}

type htmlList struct {
	ordered bool
	next    int
}

type htmlState struct {
	t        *textBuilder
	skip     []string // names of the open skipped elements, outermost first
	pre      int
	lists    []htmlList
	cells    []int // cells seen in each open table row
	title    strings.Builder
	inTitle  bool
	titleSet bool
	h1       strings.Builder
	inH1     int
	h1Done   bool
}

func htmlText(data []byte, lim Limits) (Document, error) {
	z := html.NewTokenizer(bytes.NewReader(data))
	s := &htmlState{t: newTextBuilder(lim.MaxTextBytes)}
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			break // io.EOF: the tokenizer reads any byte sequence to the end
		}
		if s.t.full() {
			return Document{}, tooMuchText(lim)
		}
		tok := z.Token()
		switch tt {
		case html.TextToken:
			s.text(tok.Data)
		case html.StartTagToken:
			s.start(tok)
			if voids[tok.DataAtom] {
				s.end(tok)
			}
		case html.SelfClosingTagToken:
			s.start(tok)
			s.end(tok)
		case html.EndTagToken:
			s.end(tok)
		}
	}
	title := s.title.String()
	if strings.TrimSpace(title) == "" {
		title = s.h1.String()
	}
	return Document{Title: title, Text: s.t.String()}, nil
}

func (s *htmlState) text(data string) {
	if s.inTitle {
		if !s.titleSet {
			s.title.WriteString(data)
		}
		return
	}
	if len(s.skip) > 0 {
		return
	}
	if s.inH1 > 0 && !s.h1Done {
		s.h1.WriteString(data)
	}
	if s.pre > 0 {
		s.t.pre(data)
		return
	}
	s.t.words(data)
}

func hidden(tok html.Token) bool {
	for _, a := range tok.Attr {
		switch {
		case a.Key == "hidden":
			return true
		case a.Key == "aria-hidden" && strings.EqualFold(a.Val, "true"):
			return true
		}
	}
	return false
}

func attr(tok html.Token, key string) string {
	for _, a := range tok.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func (s *htmlState) start(tok html.Token) {
	a := tok.DataAtom
	if len(s.skip) == 1 && s.skip[0] == "head" && !headContent[a] {
		s.skip = s.skip[:0] // a page that left <head> without closing it
	}
	if a == atom.Title && (len(s.skip) == 0 || s.skip[0] == "head") {
		s.inTitle = true
		return
	}
	if n := len(s.skip); n > 0 {
		if tok.Data == s.skip[n-1] && !voids[a] {
			s.skip = append(s.skip, tok.Data)
		}
		return
	}
	if (skipped[a] || hidden(tok)) && !voids[a] {
		s.skip = append(s.skip, tok.Data)
		return
	}
	switch {
	case (a == atom.Ul || a == atom.Ol || a == atom.Menu) && len(s.lists) > 0:
		s.t.brk(lineBreak) // a list inside a list item
	case blocks[a]:
		s.t.brk(paragraphBreak)
	case lines[a]:
		s.t.brk(lineBreak)
	}
	switch a {
	case atom.H1:
		s.inH1++
	case atom.Pre, atom.Textarea, atom.Listing, atom.Plaintext, atom.Xmp:
		s.pre++
	case atom.Ul, atom.Menu:
		s.lists = append(s.lists, htmlList{})
	case atom.Ol:
		next := 1
		if n, err := strconv.Atoi(attr(tok, "start")); err == nil {
			next = n
		}
		s.lists = append(s.lists, htmlList{ordered: true, next: next})
	case atom.Li:
		marker := "-"
		if n := len(s.lists); n > 0 && s.lists[n-1].ordered {
			marker = strconv.Itoa(s.lists[n-1].next) + "."
			s.lists[n-1].next++
		}
		s.t.words(marker)
		s.t.brk(spaceBreak)
	case atom.Tr:
		s.cells = append(s.cells, 0)
	case atom.Td, atom.Th:
		if n := len(s.cells); n > 0 {
			if s.cells[n-1] > 0 {
				s.t.brk(spaceBreak)
				s.t.words("|")
			}
			s.cells[n-1]++
		}
		s.t.brk(spaceBreak)
	case atom.Img, atom.Area:
		if alt := attr(tok, "alt"); strings.TrimSpace(alt) != "" {
			s.t.brk(spaceBreak)
			s.t.words(alt)
			s.t.brk(spaceBreak)
		}
	case atom.Input:
		if strings.EqualFold(attr(tok, "type"), "image") {
			s.t.words(attr(tok, "alt"))
		}
	}
}

func (s *htmlState) end(tok html.Token) {
	a := tok.DataAtom
	if a == atom.Title && s.inTitle {
		if strings.TrimSpace(s.title.String()) != "" {
			s.titleSet = true
		}
		s.inTitle = false
		return
	}
	if n := len(s.skip); n > 0 {
		if tok.Data == s.skip[n-1] {
			s.skip = s.skip[:n-1]
		}
		return
	}
	switch {
	case (a == atom.Ul || a == atom.Ol || a == atom.Menu) && len(s.lists) > 1:
		s.t.brk(lineBreak)
	case blocks[a]:
		s.t.brk(paragraphBreak)
	case lines[a]:
		s.t.brk(lineBreak)
	}
	switch a {
	case atom.H1:
		if s.inH1 > 0 {
			s.inH1--
			if s.inH1 == 0 && strings.TrimSpace(s.h1.String()) != "" {
				s.h1Done = true
			}
		}
	case atom.Pre, atom.Textarea, atom.Listing, atom.Plaintext, atom.Xmp:
		if s.pre > 0 {
			s.pre--
		}
	case atom.Ul, atom.Ol, atom.Menu:
		if n := len(s.lists); n > 0 {
			s.lists = s.lists[:n-1]
		}
	case atom.Tr:
		if n := len(s.cells); n > 0 {
			s.cells = s.cells[:n-1]
		}
	}
}
