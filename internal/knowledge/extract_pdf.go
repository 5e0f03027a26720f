package knowledge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ledongthuc/pdf"
	"github.com/seachat/seachat/internal/apperr"
)

// Limits that keep a hostile PDF from using unbounded time or memory. The
// parser holds one record per glyph of a page, so a page whose content
// stream is larger than maxPDFPageLayout is read as plain text instead.
const (
	maxPDFPages      = 5000
	maxPDFTreeNodes  = 10000
	maxPDFTreeDepth  = 64
	maxPDFContent    = 256 << 20 // decompressed content streams, whole file
	maxPDFPageLayout = 2 << 20   // decompressed content of one page read with layout
)

// extractPDF reads a PDF's text with github.com/ledongthuc/pdf. Lines set
// in a font clearly larger than the body text are taken as headings; a
// wide vertical gap starts a new paragraph.
func extractPDF(name string, data []byte) (Document, error) {
	// The parser insists the header is at offset 0.
	if i := bytes.Index(data, []byte("%PDF-")); i > 0 {
		data = data[i:]
	}
	// It also knows only versions 1.0–1.7; 2.0 adds nothing it reads.
	if bytes.HasPrefix(data, []byte("%PDF-2.")) && len(data) > 8 {
		data = append([]byte("%PDF-1.7"), data[8:]...)
	}
	if err := pdfPrecheck(data); err != nil {
		return Document{}, corrupt(name, err)
	}
	encrypted := func(cause error) error {
		return apperr.Wrapf(cause, apperr.InvalidArgument,
			"%s is encrypted or password-protected; remove the protection (for example, print it to a new PDF) and upload it again", name)
	}
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		if errors.Is(err, pdf.ErrInvalidPassword) || strings.Contains(err.Error(), "encrypt") {
			return Document{}, encrypted(err)
		}
		return Document{}, corrupt(name, err)
	}
	lines, err := pdfLines(r)
	switch {
	case errors.Is(err, errPDFTooLarge):
		return Document{}, tooLarge(name)
	case err != nil && !r.Trailer().Key("Encrypt").IsNull():
		// The parser opens files that need no password to read but
		// decrypts some of them (40-bit RC4) wrongly; what it then reads
		// looks damaged.
		return Document{}, encrypted(err)
	case err != nil:
		return Document{}, corrupt(name, err)
	}
	doc := pdfDocument(lines)
	if t := r.Trailer().Key("Info").Key("Title"); t.Kind() == pdf.String {
		doc.Title = cleanLine(t.Text())
	}
	return doc, nil
}

// pdfLines reads the lines of text of every page.
func pdfLines(r *pdf.Reader) (lines []pdfLine, err error) {
	defer func() {
		if p := recover(); p != nil {
			lines, err = nil, fmt.Errorf("panic: %v", p)
		}
	}()
	pages, err := pdfPages(r.Trailer().Key("Root").Key("Pages"))
	if err != nil {
		return nil, err
	}
	budget := int64(maxPDFContent)
	for i, p := range pages {
		size, err := pdfContentSize(p, budget)
		if err != nil {
			return nil, err
		}
		budget -= size
		if err := checkPDFFonts(p); err != nil {
			return nil, err
		}
		if size <= maxPDFPageLayout {
			lines = append(lines, pdfPageLines(p, i)...)
			continue
		}
		text, err := p.GetPlainText(nil)
		if err != nil {
			return nil, err
		}
		for _, l := range strings.Split(text, "\n") {
			lines = append(lines, pdfLine{page: i, text: l})
		}
	}
	return lines, nil
}

// errPDFTooLarge reports content streams over maxPDFContent.
var errPDFTooLarge = errors.New("pdf content too large")

// pdfPages walks the page tree itself, rather than through the parser's
// Page(i), to bound its depth and size: a page tree that points back at
// itself would otherwise loop forever.
func pdfPages(root pdf.Value) ([]pdf.Page, error) {
	var pages []pdf.Page
	nodes := 0
	var walk func(n pdf.Value, depth int) error
	walk = func(n pdf.Value, depth int) error {
		if nodes++; nodes > maxPDFTreeNodes {
			return errors.New("page tree too large")
		}
		if depth > maxPDFTreeDepth {
			return errors.New("page tree too deep")
		}
		if len(pages) >= maxPDFPages {
			return nil
		}
		switch n.Key("Type").Name() {
		case "Page":
			// Resources are looked up through Parent links; refuse a
			// chain that never ends.
			v := n
			for range maxPDFTreeDepth {
				v = v.Key("Parent")
				if v.IsNull() {
					pages = append(pages, pdf.Page{V: n})
					return nil
				}
			}
			return errors.New("page parent chain too long")
		default: // "Pages", or a node missing its Type
			kids := n.Key("Kids")
			for i := range min(kids.Len(), maxPDFPages) {
				if err := walk(kids.Index(i), depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err := walk(root, 0)
	return pages, err
}

// pdfContentSize returns the decompressed size of the page's content
// streams, or errPDFTooLarge when it is over budget.
func pdfContentSize(p pdf.Page, budget int64) (int64, error) {
	c := p.V.Key("Contents")
	streams := []pdf.Value{c}
	if c.Kind() == pdf.Array {
		streams = streams[:0]
		for i := range min(c.Len(), 10000) {
			streams = append(streams, c.Index(i))
		}
	}
	var total int64
	for _, s := range streams {
		if s.Kind() != pdf.Stream {
			continue
		}
		rc := s.Reader()
		n, err := io.Copy(io.Discard, io.LimitReader(rc, budget-total+1))
		rc.Close()
		total += n
		if total > budget {
			return 0, errPDFTooLarge
		}
		if err != nil {
			return 0, err
		}
	}
	return total, nil
}

// pdfLine is one line of text on a page.
type pdfLine struct {
	page int
	y    float64 // baseline, from the bottom of the page
	size float64 // font size
	text string
}

// pdfPageLines rebuilds lines from the glyphs of a page, in content order
// (which is reading order for what word processors write). A glyph that
// starts well to the right of where the last one ended gets a space.
func pdfPageLines(p pdf.Page, page int) []pdfLine {
	var lines []pdfLine
	var cur strings.Builder
	var curY, curSize, lastEnd float64
	started := false
	flush := func() {
		if s := strings.TrimSpace(cur.String()); s != "" {
			lines = append(lines, pdfLine{page: page, y: curY, size: curSize, text: s})
		}
		cur.Reset()
		curSize = 0
	}
	for _, g := range p.Content().Text {
		if g.S == "\n" || g.S == "" {
			continue
		}
		size := math.Abs(g.FontSize)
		if size == 0 {
			size = 1
		}
		switch {
		case !started:
			started = true
		case math.Abs(g.Y-curY) > size/2:
			flush()
		case g.X > lastEnd+size*0.2 || g.X < lastEnd-size*2:
			if last, _ := utf8.DecodeLastRuneInString(cur.String()); !unicode.IsSpace(last) {
				cur.WriteByte(' ')
			}
		}
		if cur.Len() == 0 {
			curY = g.Y
		}
		curSize = max(curSize, size)
		cur.WriteString(g.S)
		lastEnd = g.X + g.W
	}
	flush()
	return lines
}

// pdfDocument groups lines into paragraphs and sections. The body size is
// the font size that covers the most text; a short line at least 15%
// larger is a heading.
func pdfDocument(lines []pdfLine) Document {
	weight := map[float64]int{}
	for _, l := range lines {
		weight[math.Round(l.size*2)/2] += utf8.RuneCountInString(l.text)
	}
	var body float64
	best := -1
	for size, n := range weight {
		if n > best || n == best && size < body {
			body, best = size, n
		}
	}

	var b builder
	var heading strings.Builder
	var headingSize float64
	endHeading := func() {
		if heading.Len() > 0 {
			b.startSection(heading.String())
			heading.Reset()
		}
	}
	for i, l := range lines {
		isHeading := body > 0 && l.size >= body*1.15 && utf8.RuneCountInString(l.text) <= 150
		if isHeading {
			// A heading wrapped over two lines continues at the same size.
			if heading.Len() > 0 && l.size != headingSize {
				endHeading()
			}
			if heading.Len() > 0 {
				heading.WriteByte(' ')
			}
			heading.WriteString(l.text)
			headingSize = l.size
			continue
		}
		endHeading()
		if i > 0 {
			prev := lines[i-1]
			gap := prev.y - l.y
			if prev.page != l.page || gap > 1.6*max(l.size, prev.size) || gap < 0 {
				b.endPara()
			}
		}
		text := l.text
		if prev := b.line.String(); prev != "" {
			if strings.HasSuffix(prev, "-") {
				b.text(text)
			} else {
				b.text(" " + text)
			}
			continue
		}
		b.text(text)
	}
	endHeading()
	return b.finish()
}
