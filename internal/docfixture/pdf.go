// Package docfixture writes the small PDF and DOCX files that SeaChat's
// test-data generators commit (internal/knowledge/testdata/gen and
// bench/eval/gen). It uses only the standard library and writes the same
// bytes on every run, so regenerated fixtures show no diff unless their
// content changed. PDFs use the standard Helvetica fonts over WinAnsi
// text with Flate-compressed content streams; DOCX files are a minimal
// set of parts around a document body.
package docfixture

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"strings"
)

// PDF collects the numbered objects of a PDF file. The zero value is an
// empty, unencrypted file.
type PDF struct {
	// Encrypt, if set, encrypts the data of each stream added afterwards,
	// given the stream's object number.
	Encrypt func(id int, data []byte) []byte
	// ID, if set, is written as both halves of the trailer's /ID.
	ID []byte

	objs [][]byte
}

// Add adds an object with the given body and returns its number.
func (d *PDF) Add(body string) int {
	d.objs = append(d.objs, []byte(body))
	return len(d.objs)
}

// AddStream adds a Flate-compressed stream object holding content and
// returns its number.
func (d *PDF) AddStream(content []byte) int {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(content)
	zw.Close()
	data := z.Bytes()
	id := len(d.objs) + 1
	if d.Encrypt != nil {
		data = d.Encrypt(id, data)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<< /Length %d /Filter /FlateDecode >>\nstream\n", len(data))
	b.Write(data)
	b.WriteString("\nendstream")
	d.objs = append(d.objs, b.Bytes())
	return id
}

// Set replaces the body of object id, for objects that refer forward.
func (d *PDF) Set(id int, body string) { d.objs[id-1] = []byte(body) }

// Bytes writes the file with its cross-reference table. The trailer
// names root as /Root and, where non-zero, info as /Info and encrypt as
// /Encrypt.
func (d *PDF) Bytes(root, info, encrypt int) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xE2\xE3\xCF\xD3\n")
	offsets := make([]int, len(d.objs))
	for i, o := range d.objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n", i+1)
		b.Write(o)
		b.WriteString("\nendobj\n")
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(d.objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root %d 0 R", len(d.objs)+1, root)
	if d.ID != nil {
		fmt.Fprintf(&b, " /ID [<%x> <%x>]", d.ID, d.ID)
	}
	if info > 0 {
		fmt.Fprintf(&b, " /Info %d 0 R", info)
	}
	if encrypt > 0 {
		fmt.Fprintf(&b, " /Encrypt %d 0 R", encrypt)
	}
	fmt.Fprintf(&b, " >>\nstartxref\n%d\n%%%%EOF\n", xref)
	return b.Bytes()
}

// font is a standard Type 1 font (Helvetica, Helvetica-Bold) over
// WinAnsiEncoding with approximate widths for codes 32 to lastChar, so
// that text positions advance as they do in real files.
func font(base string, lastChar int) string {
	var w strings.Builder
	for c := 32; c <= lastChar; c++ {
		switch {
		case c == ' ':
			w.WriteString("278 ")
		case c >= 'A' && c <= 'Z':
			w.WriteString("667 ")
		default:
			w.WriteString("556 ")
		}
	}
	return fmt.Sprintf("<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding /FirstChar 32 /LastChar %d /Widths [%s] >>",
		base, lastChar, strings.TrimSpace(w.String()))
}

// Text encodes s as a PDF literal string in WinAnsiEncoding. It panics
// on a character WinAnsi lacks; Latin-1, € and – are supported.
func Text(s string) string {
	var b strings.Builder
	b.WriteByte('(')
	for _, r := range s {
		switch {
		case r == '\\' || r == '(' || r == ')':
			b.WriteByte('\\')
			b.WriteByte(byte(r))
		case r == '€':
			b.WriteByte(0x80)
		case r == '–':
			b.WriteByte(0x96)
		case r < 256:
			b.WriteByte(byte(r))
		default:
			panic(fmt.Sprintf("docfixture: no WinAnsi code for %q", r))
		}
	}
	b.WriteByte(')')
	return b.String()
}

// wrap breaks s into lines of at most n characters.
func wrap(s string, n int) []string {
	var lines []string
	var cur string
	for _, w := range strings.Fields(s) {
		if cur != "" && len([]rune(cur))+1+len([]rune(w)) > n {
			lines = append(lines, cur)
			cur = ""
		}
		if cur != "" {
			cur += " "
		}
		cur += w
	}
	return append(lines, cur)
}

// Block is a heading or a paragraph of a text page.
type Block struct {
	Heading bool
	Text    string
}

// TextPages adds a catalog, a page tree, Helvetica and Helvetica-Bold
// fonts with widths up to lastChar, and one US Letter page per element of
// pages: 18 pt bold headings over 11 pt text wrapped at 88 characters.
// It returns the catalog's object number.
func (d *PDF) TextPages(pages [][]Block, lastChar int) int {
	catalog := d.Add("")
	tree := d.Add("")
	regular := d.Add(font("Helvetica", lastChar))
	bold := d.Add(font("Helvetica-Bold", lastChar))
	var kids []string
	for _, blocks := range pages {
		var c bytes.Buffer
		y := 740.0
		for _, bl := range blocks {
			if bl.Heading {
				y -= 12
				fmt.Fprintf(&c, "BT /F2 18 Tf 72 %.0f Td %s Tj ET\n", y, Text(bl.Text))
				y -= 26
				continue
			}
			for _, l := range wrap(bl.Text, 88) {
				fmt.Fprintf(&c, "BT /F1 11 Tf 72 %.0f Td %s Tj ET\n", y, Text(l))
				y -= 14
			}
			y -= 10
		}
		content := d.AddStream(c.Bytes())
		page := d.Add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> /Contents %d 0 R >>",
			tree, regular, bold, content))
		kids = append(kids, fmt.Sprintf("%d 0 R", page))
	}
	d.Set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", tree))
	d.Set(tree, fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(kids)))
	return catalog
}
