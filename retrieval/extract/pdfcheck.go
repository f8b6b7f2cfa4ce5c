package extract

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"io"
	"slices"
)

// Bounds checked before the PDF library sees a file.
const (
	// maxXrefSections bounds the chain of cross-reference sections (one per
	// incremental save).
	maxXrefSections = 1000
	// maxObjStm is the most an object stream may decode to.
	maxObjStm = 4 << 20
	// maxXrefStream is the most a cross-reference stream may decode to.
	maxXrefStream = 64 << 20
	// maxDict bounds the scan for the end of a dictionary.
	maxDict = 1 << 20
)

// checkPDFStructure refuses what would make the PDF library loop forever,
// recurse without end or allocate without bound, all of which it does on
// crafted files and none of which can be recovered from: cross-reference
// sections whose /Prev links loop; object numbers (/Size, subsection and
// /Index ranges) beyond what the file could hold, which the library
// allocates tables for; /W field widths over 8 bytes and predictor rows over
// maxColumns, which it allocates buffers for; object streams stored in
// object streams (endless recursion) and /Extends chains that loop; and
// object streams that decode to more than maxObjStm, which it would
// decompress again for every object read from them.
//
// It is a check, not a parser: what it cannot read (an offset off target, an
// unknown filter, encrypted streams) it leaves to the library, whose errors
// are recoverable.
func checkPDFStructure(data []byte) error {
	s := &xrefCheck{
		data:       data,
		bound:      len(data)/4 + 1<<16,
		offsets:    map[int]int{},
		compressed: map[int]int{},
		seen:       map[int]bool{},
	}
	off, ok := startXref(data)
	if !ok {
		return nil
	}
	visited := map[int]bool{}
	for off >= 0 {
		if visited[off] || len(visited) >= maxXrefSections {
			return damagedPDF("its cross-reference sections point at each other in a loop")
		}
		visited[off] = true
		if off >= len(data) {
			return nil
		}
		p := skipWS(data, off)
		var err error
		if bytes.HasPrefix(data[p:], []byte("xref")) {
			off, err = s.table(p + len("xref"))
		} else {
			off, err = s.stream(p)
		}
		if err != nil {
			return err
		}
	}
	return s.objectStreams()
}

func damagedPDF(what string) *Error {
	return problem(ErrMalformed, nil, "the PDF is damaged ("+what+"); save or print it to PDF again and upload the new file")
}

func tooManyObjects() *Error {
	return problem(ErrMalformed, nil, "the PDF is damaged (it declares more objects than the file could hold); save or print it to PDF again and upload the new file")
}

type xrefCheck struct {
	data       []byte
	bound      int         // highest object number accepted
	offsets    map[int]int // object number → file offset, from xref streams
	compressed map[int]int // object number → the object stream holding it
	seen       map[int]bool
	inflated   int64
}

// startXref finds the offset after the last "startxref".
func startXref(data []byte) (int, bool) {
	tail := data[max(0, len(data)-1024):]
	i := bytes.LastIndex(tail, []byte("startxref"))
	if i < 0 {
		return 0, false
	}
	p := len(data) - len(tail) + i + len("startxref")
	v, _, ok := readInt(data, skipWS(data, p))
	return v, ok && v >= 0
}

// table checks a classic cross-reference table's subsection ranges and
// returns its trailer's /Prev, or -1.
func (s *xrefCheck) table(p int) (int, error) {
	d := s.data
	for {
		p = skipWS(d, p)
		if bytes.HasPrefix(d[p:], []byte("trailer")) {
			dict, _, ok := dictAt(d, p+len("trailer"))
			if !ok {
				return -1, nil
			}
			return dictInt(dict, "Prev", -1), nil
		}
		start, q, ok1 := readInt(d, p)
		count, q, ok2 := readInt(d, skipWS(d, q))
		if !ok1 || !ok2 {
			return -1, nil
		}
		if start < 0 || count < 0 || start > s.bound || count > s.bound-start {
			return -1, tooManyObjects()
		}
		p = q
		for i := 0; i < 3*count; i++ {
			p = skipWS(d, p)
			q := tokenEnd(d, p)
			if q == p {
				return -1, nil
			}
			p = q
		}
	}
}

// stream checks a cross-reference stream, records its entries and returns
// its /Prev, or -1.
func (s *xrefCheck) stream(p int) (int, error) {
	dict, body, ok := objectAt(s.data, p, s.offsets)
	if !ok || !bytes.Contains(dict, []byte("/XRef")) {
		return -1, nil
	}
	size := dictInt(dict, "Size", 0)
	if size < 0 || size > s.bound {
		return -1, tooManyObjects()
	}
	w := dictInts(dict, "W")
	if len(w) < 3 {
		return -1, nil
	}
	row := 0
	for _, n := range w {
		if n < 0 || n > 8 {
			return -1, damagedPDF("its cross-reference stream has impossible field widths")
		}
		row += n
	}
	index := dictInts(dict, "Index")
	if index == nil {
		index = []int{0, size}
	}
	for i := 0; i+1 < len(index); i += 2 {
		if index[i] < 0 || index[i+1] < 0 || index[i] > s.bound || index[i+1] > s.bound-index[i] {
			return -1, tooManyObjects()
		}
	}
	prev := dictInt(dict, "Prev", -1)
	if err := checkColumns(dict); err != nil {
		return -1, err
	}
	raw, err := decodeStream(dict, body, maxXrefStream)
	if err != nil {
		return prev, nil // the library reports what it cannot read
	}
	if row == 0 {
		return prev, nil
	}
	for i := 0; i+1 < len(index); i += 2 {
		for x := index[i]; x < index[i]+index[i+1]; x++ {
			if len(raw) < row {
				return prev, nil
			}
			typ, f2 := 1, 0
			if w[0] > 0 {
				typ = beInt(raw[:w[0]])
			}
			f2 = beInt(raw[w[0] : w[0]+w[1]])
			raw = raw[row:]
			if s.seen[x] {
				continue
			}
			s.seen[x] = true
			switch typ {
			case 1:
				s.offsets[x] = f2
			case 2:
				s.compressed[x] = f2
			}
		}
	}
	return prev, nil
}

// objectStreams checks the object streams the cross-reference streams name.
func (s *xrefCheck) objectStreams() error {
	var containers []int
	for _, c := range s.compressed {
		containers = append(containers, c)
	}
	slices.Sort(containers)
	containers = slices.Compact(containers)
	for _, c := range containers {
		if _, ok := s.compressed[c]; ok {
			return damagedPDF("an object stream is stored inside an object stream")
		}
	}
	const (
		visiting = 1
		done     = 2
	)
	state := map[int]int{}
	for _, c := range containers {
		var path []int
		for cur := c; state[cur] != done; {
			if state[cur] == visiting {
				return damagedPDF("its object streams extend each other in a loop")
			}
			state[cur] = visiting
			path = append(path, cur)
			off, ok := s.offsets[cur]
			if !ok {
				break
			}
			dict, body, ok := objectAt(s.data, off, s.offsets)
			if !ok {
				break
			}
			if err := checkColumns(dict); err != nil {
				return err
			}
			if out, err := decodeStream(dict, body, maxObjStm); err == nil {
				s.inflated += int64(len(out))
			} else if err == errStreamTooLarge {
				return problem(ErrTooLarge, nil, "the PDF holds an object stream that unpacks to more than "+size(maxObjStm)+"; it is too large or a compression bomb")
			}
			if s.inflated > maxDocContent {
				return problem(ErrTooLarge, nil, "the PDF's objects unpack to more than "+size(maxDocContent)+"; it is too large or a compression bomb")
			}
			ext := dictRef(dict, "Extends")
			if ext < 0 {
				break
			}
			if _, ok := s.compressed[ext]; ok {
				return damagedPDF("an object stream extends one stored inside an object stream")
			}
			cur = ext
		}
		for _, p := range path {
			state[p] = done
		}
	}
	return nil
}

func checkColumns(dict []byte) error {
	if c := dictInt(dict, "Columns", 1); c < 0 || c > maxColumns {
		return damagedPDF("a stream declares impossibly wide rows")
	}
	return nil
}

var errStreamTooLarge = fmt.Errorf("stream decodes past its limit")

// decodeStream undoes a stream's FlateDecode filter (or none) and its PNG
// predictor, reading at most limit bytes. Other filters are errors.
func decodeStream(dict, body []byte, limit int) ([]byte, error) {
	filter := dictValue(dict, "Filter")
	var out []byte
	switch {
	case filter == nil:
		if len(body) > limit {
			return nil, errStreamTooLarge
		}
		out = body
	case bytes.HasPrefix(filter, []byte("/FlateDecode")), bytes.HasPrefix(filter, []byte("[/FlateDecode]")), bytes.HasPrefix(filter, []byte("[ /FlateDecode ]")):
		zr, err := zlib.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		out, err = io.ReadAll(io.LimitReader(zr, int64(limit)+1))
		if len(out) > limit {
			return nil, errStreamTooLarge
		}
		if err != nil && len(out) == 0 {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("filter %q not checked", filter)
	}
	if pred := dictInt(dict, "Predictor", 1); pred >= 10 {
		return unpredictPNG(out, dictInt(dict, "Columns", 1)), nil
	}
	return out, nil
}

// unpredictPNG undoes PNG row filters (a filter byte before each row).
func unpredictPNG(data []byte, columns int) []byte {
	if columns <= 0 {
		return nil
	}
	prev := make([]byte, columns)
	var out []byte
	for len(data) >= columns+1 {
		ft, row := data[0], data[1:columns+1]
		data = data[columns+1:]
		cur := make([]byte, columns)
		for i := range cur {
			var left, upleft byte
			if i > 0 {
				left, upleft = cur[i-1], prev[i-1]
			}
			up := prev[i]
			switch ft {
			case 0:
				cur[i] = row[i]
			case 1:
				cur[i] = row[i] + left
			case 2:
				cur[i] = row[i] + up
			case 3:
				cur[i] = row[i] + byte((int(left)+int(up))/2)
			case 4:
				cur[i] = row[i] + paeth(left, up, upleft)
			default:
				cur[i] = row[i]
			}
		}
		out = append(out, cur...)
		prev = cur
	}
	return out
}

func paeth(a, b, c byte) byte {
	p := int(a) + int(b) - int(c)
	pa, pb, pc := abs(p-int(a)), abs(p-int(b)), abs(p-int(c))
	switch {
	case pa <= pb && pa <= pc:
		return a
	case pb <= pc:
		return b
	}
	return c
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

func beInt(b []byte) int {
	n := 0
	for _, c := range b {
		n = n<<8 | int(c)
	}
	return n
}

// objectAt reads "N G obj << dict >> [stream ... endstream]" at p. A stream's
// /Length may be a reference to an object found in offsets; without a usable
// length the data runs to "endstream".
func objectAt(d []byte, p int, offsets map[int]int) (dict, body []byte, ok bool) {
	for range 2 {
		if _, q, ok := readInt(d, skipWS(d, p)); ok {
			p = q
		} else {
			return nil, nil, false
		}
	}
	p = skipWS(d, p)
	if !bytes.HasPrefix(d[p:], []byte("obj")) {
		return nil, nil, false
	}
	dict, end, ok := dictAt(d, p+len("obj"))
	if !ok {
		return nil, nil, false
	}
	p = skipWS(d, end)
	if !bytes.HasPrefix(d[p:], []byte("stream")) {
		return dict, nil, true
	}
	p += len("stream")
	if p < len(d) && d[p] == '\r' {
		p++
	}
	if p < len(d) && d[p] == '\n' {
		p++
	}
	n := dictInt(dict, "Length", -1)
	if ref := dictRef(dict, "Length"); ref >= 0 {
		n = -1
		if off, ok := offsets[ref]; ok {
			if _, q, ok := readInt(d, skipWS(d, off)); ok {
				if _, q, ok := readInt(d, skipWS(d, q)); ok {
					q = skipWS(d, q)
					if bytes.HasPrefix(d[q:], []byte("obj")) {
						n, _, _ = readInt(d, skipWS(d, q+len("obj")))
					}
				}
			}
		}
	}
	if n < 0 || n > len(d)-p {
		i := bytes.Index(d[p:], []byte("endstream"))
		if i < 0 {
			return dict, nil, false
		}
		n = i
	}
	return dict, d[p : p+n], true
}

// dictAt returns the dictionary starting (after blanks) at p and where it ends.
func dictAt(d []byte, p int) ([]byte, int, bool) {
	p = skipWS(d, p)
	if !bytes.HasPrefix(d[p:], []byte("<<")) {
		return nil, 0, false
	}
	depth := 0
	for i := p; i < len(d) && i-p < maxDict; {
		switch c := d[i]; {
		case c == '<' && i+1 < len(d) && d[i+1] == '<':
			depth++
			i += 2
		case c == '>' && i+1 < len(d) && d[i+1] == '>':
			depth--
			i += 2
			if depth == 0 {
				return d[p:i], i, true
			}
		case c == '<':
			j := bytes.IndexByte(d[i:], '>')
			if j < 0 {
				return nil, 0, false
			}
			i += j + 1
		case c == '(':
			i = skipLiteral(d, i)
		case c == '%':
			for i < len(d) && d[i] != '\n' && d[i] != '\r' {
				i++
			}
		default:
			i++
		}
	}
	return nil, 0, false
}

// skipLiteral returns the index after the literal string starting at p.
func skipLiteral(d []byte, p int) int {
	depth := 0
	for i := p; i < len(d); i++ {
		switch d[i] {
		case '\\':
			i++
		case '(':
			depth++
		case ')':
			depth--
			if depth == 0 {
				return i + 1
			}
		}
	}
	return len(d)
}

// dictValue returns the bytes after "/key" in a dictionary (the value and
// whatever follows it), or nil when the key is absent. Keys of nested
// dictionaries count too, which is what the checks above want.
func dictValue(dict []byte, key string) []byte {
	k := []byte("/" + key)
	for i := 0; ; {
		j := bytes.Index(dict[i:], k)
		if j < 0 {
			return nil
		}
		end := i + j + len(k)
		if end >= len(dict) || isPDFSeparator(dict[end]) {
			return dict[skipWS(dict, end):]
		}
		i = end
	}
}

// dictInt returns an integer value, or def when absent or not an integer.
func dictInt(dict []byte, key string, def int) int {
	v := dictValue(dict, key)
	if v == nil {
		return def
	}
	n, _, ok := readInt(v, 0)
	if !ok {
		return def
	}
	return n
}

// dictRef returns the object number of a "N G R" value, or -1.
func dictRef(dict []byte, key string) int {
	v := dictValue(dict, key)
	if v == nil {
		return -1
	}
	n, p, ok := readInt(v, 0)
	if !ok {
		return -1
	}
	if _, p, ok = readInt(v, skipWS(v, p)); !ok {
		return -1
	}
	p = skipWS(v, p)
	if p < len(v) && v[p] == 'R' && (p+1 == len(v) || isPDFSeparator(v[p+1])) {
		return n
	}
	return -1
}

// dictInts returns an array of integers, or nil.
func dictInts(dict []byte, key string) []int {
	v := dictValue(dict, key)
	if len(v) == 0 || v[0] != '[' {
		return nil
	}
	out := []int{}
	for p := 1; p < len(v) && len(out) < 1<<16; {
		p = skipWS(v, p)
		if p >= len(v) || v[p] == ']' {
			return out
		}
		n, q, ok := readInt(v, p)
		if !ok {
			return nil
		}
		out = append(out, n)
		p = q
	}
	return nil
}

// readInt reads an optionally signed decimal integer at p.
func readInt(d []byte, p int) (int, int, bool) {
	i, neg := p, false
	if i < len(d) && (d[i] == '-' || d[i] == '+') {
		neg = d[i] == '-'
		i++
	}
	start, n := i, 0
	for i < len(d) && isDigit(d[i]) {
		if i-start >= 15 {
			return 0, i, false
		}
		n = n*10 + int(d[i]-'0')
		i++
	}
	if i == start || i < len(d) && d[i] == '.' {
		return 0, i, false
	}
	if neg {
		n = -n
	}
	return n, i, true
}

func isPDFSpace(c byte) bool {
	return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '
}

func isPDFSeparator(c byte) bool {
	return isPDFSpace(c) || bytes.IndexByte([]byte("()<>[]{}/%"), c) >= 0
}

// skipWS skips blanks and comments.
func skipWS(d []byte, p int) int {
	for p < len(d) {
		switch {
		case isPDFSpace(d[p]):
			p++
		case d[p] == '%':
			for p < len(d) && d[p] != '\n' && d[p] != '\r' {
				p++
			}
		default:
			return p
		}
	}
	return p
}

// tokenEnd returns the end of the regular token at p.
func tokenEnd(d []byte, p int) int {
	for p < len(d) && !isPDFSeparator(d[p]) {
		p++
	}
	return p
}
