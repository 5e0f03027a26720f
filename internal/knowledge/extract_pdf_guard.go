package knowledge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/ledongthuc/pdf"
)

// github.com/ledongthuc/pdf trusts the numbers in a file: a 150-byte PDF
// can make it allocate terabytes (a fatal error no recover catches) or
// loop forever. The checks here run before the parser sees the file or a
// stream and reject what it cannot survive. They are deliberately narrow:
// each one guards a place in the parser that sizes an allocation or a loop
// from the file.
const (
	maxPDFObjects     = 1 << 21 // cross-reference entries: 2M objects, ~80 MB of table
	maxPDFXrefs       = 64      // cross-reference sections in a /Prev chain
	maxPDFColumns     = 1 << 20 // PNG predictor row width
	maxPDFCMap        = 2 << 20 // decompressed ToUnicode CMap
	maxPDFCMapEntries = 1 << 16 // entries in a CMap
	maxPDFDifferences = 1024    // entries in a font's /Differences
)

// pdfPrecheck scans the raw file: every dictionary key whose number the
// parser uses as a size (/Size, /Index, /W, /Columns) and the whole chain
// of cross-reference sections, which the parser follows without noticing
// a cycle.
func pdfPrecheck(data []byte) error {
	lx := &pdfLexer{data: data}
	for {
		tok, ok := lx.next()
		if !ok {
			break
		}
		switch {
		case tok.kind == pdfKeyword && tok.text == "stream":
			// Stream data is binary; skip it. Stream dictionaries, where
			// the keys below live, are always outside streams.
			i := bytes.Index(data[lx.pos:], []byte("endstream"))
			if i < 0 {
				return nil
			}
			lx.pos += i + len("endstream")
		case tok.kind == pdfName:
			if err := checkPDFKey(lx, tok.text); err != nil {
				return err
			}
		}
	}
	return checkPDFXrefChain(data)
}

// checkPDFKey checks the value after the name key.
func checkPDFKey(lx *pdfLexer, key string) error {
	switch key {
	case "Size", "Columns":
		save := lx.pos
		v, _ := lx.next()
		if v.kind == pdfInt && (v.num < 0 || key == "Size" && v.num > maxPDFObjects || key == "Columns" && v.num > maxPDFColumns) {
			return fmt.Errorf("/%s %d out of range", key, v.num)
		}
		if key == "Columns" && v.kind == pdfInt && lx.isRef() {
			// Read through a reference, the parser would see a number we
			// cannot.
			return errors.New("/Columns is an indirect reference")
		}
		lx.pos = save
	case "DecodeParms":
		save := lx.pos
		v, _ := lx.next()
		if v.kind == pdfInt && lx.isRef() {
			return errors.New("/DecodeParms is an indirect reference")
		}
		lx.pos = save
	case "Index", "W":
		save := lx.pos
		if v, _ := lx.next(); v.kind != pdfKeyword || v.text != "[" {
			lx.pos = save
			return nil
		}
		var nums []int64
		for range 4096 {
			v, ok := lx.next()
			if !ok || v.kind != pdfInt {
				break
			}
			nums = append(nums, v.num)
		}
		lx.pos = save
		for i, n := range nums {
			if n < 0 || n > maxPDFObjects {
				return fmt.Errorf("/%s value %d out of range", key, n)
			}
			if key == "Index" && i%2 == 1 && nums[i-1]+n > maxPDFObjects {
				return fmt.Errorf("/Index range %d+%d out of range", nums[i-1], n)
			}
		}
	}
	return nil
}

// checkPDFXrefChain follows startxref and each /Prev as the parser will,
// rejecting a cycle, an overlong chain and cross-reference tables whose
// object numbers would size a huge table.
func checkPDFXrefChain(data []byte) error {
	i := bytes.LastIndex(data, []byte("startxref"))
	if i < 0 {
		return nil // the parser reports it
	}
	lx := &pdfLexer{data: data, pos: i + len("startxref")}
	tok, _ := lx.next()
	seen := map[int64]bool{}
	for off := tok.num; tok.kind == pdfInt; off = tok.num {
		if off < 0 || off >= int64(len(data)) {
			return nil
		}
		if seen[off] {
			return errors.New("cross-reference sections form a cycle")
		}
		if len(seen) >= maxPDFXrefs {
			return errors.New("too many cross-reference sections")
		}
		seen[off] = true
		lx.pos = int(off)
		first, _ := lx.next()
		if first.kind == pdfKeyword && first.text == "xref" {
			if err := checkPDFXrefTable(lx); err != nil {
				return err
			}
		}
		// The trailer, or the xref stream's dictionary, follows: find its
		// /Prev at the top level.
		tok = pdfToken{}
		depth := 0
		for range 1 << 16 {
			t, ok := lx.next()
			if !ok {
				return nil
			}
			switch {
			case t.kind == pdfKeyword && t.text == "<<":
				depth++
			case t.kind == pdfKeyword && t.text == ">>":
				depth--
			case t.kind == pdfName && t.text == "Prev" && depth == 1:
				tok, _ = lx.next()
			}
			if depth == 0 && t.kind == pdfKeyword && t.text == ">>" {
				break
			}
		}
	}
	return nil
}

// checkPDFXrefTable reads the subsection headers of an xref table up to
// its trailer and bounds their object numbers.
func checkPDFXrefTable(lx *pdfLexer) error {
	for {
		start, ok := lx.next()
		if !ok || start.kind != pdfInt {
			return nil // "trailer", or something the parser rejects
		}
		count, _ := lx.next()
		if count.kind != pdfInt {
			return nil
		}
		if start.num < 0 || count.num < 0 || start.num+count.num > maxPDFObjects {
			return fmt.Errorf("xref subsection %d+%d out of range", start.num, count.num)
		}
		for range 3 * count.num {
			if _, ok := lx.next(); !ok {
				return nil
			}
		}
	}
}

// checkPDFFonts checks the fonts of a page before the parser decodes text
// with them: a ToUnicode CMap block whose declared count the parser would
// loop over, and /Differences arrays it scans once per character.
func checkPDFFonts(p pdf.Page) error {
	fonts := p.Resources().Key("Font")
	for _, name := range fonts.Keys() {
		f := fonts.Key(name)
		if d := f.Key("Encoding").Key("Differences"); d.Len() > maxPDFDifferences {
			return fmt.Errorf("font %s: %d differences", name, d.Len())
		}
		cm := f.Key("ToUnicode")
		if cm.Kind() != pdf.Stream {
			continue
		}
		rc := cm.Reader()
		data, err := io.ReadAll(io.LimitReader(rc, maxPDFCMap+1))
		rc.Close()
		if err != nil {
			return fmt.Errorf("font %s: %w", name, err)
		}
		if len(data) > maxPDFCMap {
			return fmt.Errorf("font %s: cmap too large", name)
		}
		// The parser loops over each block's declared count, and then
		// over all entries for every character it decodes.
		lx := &pdfLexer{data: data}
		var last pdfToken
		total := int64(0)
		for {
			t, ok := lx.next()
			if !ok {
				break
			}
			if t.kind == pdfKeyword && (t.text == "begincodespacerange" || t.text == "beginbfchar" || t.text == "beginbfrange") {
				if last.kind == pdfInt && last.num > 0 {
					total += last.num
				}
				if last.kind == pdfInt && last.num < 0 || total > maxPDFCMapEntries {
					return fmt.Errorf("font %s: cmap of more than %d entries", name, maxPDFCMapEntries)
				}
			}
			last = t
		}
	}
	return nil
}

// pdfToken is a token of PDF syntax.
type pdfToken struct {
	kind pdfKind
	text string // keyword or name
	num  int64  // integer value
}

// pdfKind is the kind of a pdfToken.
type pdfKind int

const (
	pdfOther   pdfKind = iota // strings, reals
	pdfInt                    // integer; num holds it
	pdfName                   // /Name, #xx escapes decoded; text holds it without the slash
	pdfKeyword                // keywords and the delimiters [ ] { } << >>
)

// pdfLexer splits PDF syntax into tokens the way the parser does, so that
// names written with #xx escapes and numbers hidden behind comments are
// seen as the parser sees them.
type pdfLexer struct {
	data []byte
	pos  int
}

func isPDFSpace(c byte) bool {
	return c == 0 || c == '\t' || c == '\n' || c == '\f' || c == '\r' || c == ' '
}

func isPDFDelim(c byte) bool {
	return bytes.IndexByte([]byte("()<>[]{}/%"), c) >= 0
}

// next returns the next token, or false at the end of the data.
func (lx *pdfLexer) next() (pdfToken, bool) {
	d := lx.data
	for lx.pos < len(d) {
		switch c := d[lx.pos]; {
		case isPDFSpace(c):
			lx.pos++
			continue
		case c == '%':
			for lx.pos < len(d) && d[lx.pos] != '\n' && d[lx.pos] != '\r' {
				lx.pos++
			}
			continue
		}
		break
	}
	if lx.pos >= len(d) {
		return pdfToken{}, false
	}
	c := d[lx.pos]
	lx.pos++
	switch c {
	case '(':
		for depth := 1; lx.pos < len(d) && depth > 0; lx.pos++ {
			switch d[lx.pos] {
			case '\\':
				lx.pos++
			case '(':
				depth++
			case ')':
				depth--
			}
		}
		return pdfToken{kind: pdfOther}, true
	case '<':
		if lx.pos < len(d) && d[lx.pos] == '<' {
			lx.pos++
			return pdfToken{kind: pdfKeyword, text: "<<"}, true
		}
		if i := bytes.IndexByte(d[lx.pos:], '>'); i >= 0 {
			lx.pos += i + 1
		} else {
			lx.pos = len(d)
		}
		return pdfToken{kind: pdfOther}, true
	case '>':
		if lx.pos < len(d) && d[lx.pos] == '>' {
			lx.pos++
			return pdfToken{kind: pdfKeyword, text: ">>"}, true
		}
		return pdfToken{kind: pdfOther}, true
	case '[', ']', '{', '}':
		return pdfToken{kind: pdfKeyword, text: string(c)}, true
	case '/':
		var name []byte
		for lx.pos < len(d) && !isPDFDelim(d[lx.pos]) && !isPDFSpace(d[lx.pos]) {
			if d[lx.pos] == '#' && lx.pos+2 < len(d) {
				if x, err := strconv.ParseUint(string(d[lx.pos+1:lx.pos+3]), 16, 8); err == nil {
					name = append(name, byte(x))
					lx.pos += 3
					continue
				}
			}
			name = append(name, d[lx.pos])
			lx.pos++
		}
		return pdfToken{kind: pdfName, text: string(name)}, true
	}
	start := lx.pos - 1
	for lx.pos < len(d) && !isPDFDelim(d[lx.pos]) && !isPDFSpace(d[lx.pos]) {
		lx.pos++
	}
	word := string(d[start:lx.pos])
	if n, err := strconv.ParseInt(word, 10, 64); err == nil {
		return pdfToken{kind: pdfInt, num: n}, true
	} else if errors.Is(err, strconv.ErrRange) {
		return pdfToken{kind: pdfInt, num: -1}, true // out of range: never acceptable
	}
	if isPDFNumber(word) {
		return pdfToken{kind: pdfOther}, true
	}
	return pdfToken{kind: pdfKeyword, text: word}, true
}

// isRef reports whether the tokens after an integer are "G R", making it
// an indirect reference. It does not move the lexer.
func (lx *pdfLexer) isRef() bool {
	save := lx.pos
	defer func() { lx.pos = save }()
	gen, _ := lx.next()
	r, _ := lx.next()
	return gen.kind == pdfInt && r.kind == pdfKeyword && r.text == "R"
}

// isPDFNumber reports whether word is a real number.
func isPDFNumber(word string) bool {
	_, err := strconv.ParseFloat(word, 64)
	return err == nil
}
