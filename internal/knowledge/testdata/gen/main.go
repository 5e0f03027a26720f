//go:build ignore

// Gen writes the binary test files of package knowledge: PDFs and DOCX
// files about the fictional bike shop Harbor Bikes. It uses only the
// standard library, so the PDFs are built by hand: Helvetica, WinAnsi text,
// Flate-compressed content streams and, for encrypted.pdf, the standard
// RC4 security handler (128-bit) with a user password.
//
// Run it from internal/knowledge:
//
//	go run testdata/gen/main.go
package main

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"crypto/md5"
	"crypto/rc4"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	dir := flag.String("o", "testdata", "output directory")
	flag.Parse()

	guide := harborPDF(nil)
	files := map[string][]byte{
		"harbor-bikes.pdf":  guide,
		"corrupt.pdf":       guide[:len(guide)*2/3],
		"encrypted.pdf":     harborPDF(&pdfCrypt{user: "harbor", owner: "harbor-owner"}),
		"scanned.pdf":       scannedPDF(),
		"harbor-bikes.docx": harborDOCX(),
		"empty.docx":        docx(`<w:p/>`, "", ""),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(*dir, name), data, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// block is a heading or a paragraph of the PDF.
type block struct {
	heading bool
	text    string
}

var pdfPages = [][]block{
	{
		{true, "Opening hours"},
		{false, "Harbor Bikes is open Monday to Friday from 9am to 6pm and Saturday from 10am to 4pm. We are closed on Sundays and public holidays."},
		{false, "During the summer season, from June to August, the workshop stays open until 8pm on Thursdays for evening repairs."},
		{true, "Returns policy"},
		{false, "Unused items can be returned within 30 days of purchase with the original receipt for a full refund. Bikes that have been ridden outdoors can be exchanged within 14 days but not refunded."},
		{false, "Refunds go back to the original payment method within five business days."},
	},
	{
		{true, "Shipping"},
		{false, "We ship parts and accessories anywhere in the country. Standard shipping costs $6.95 and takes three to five business days; orders over $75 ship free."},
		{false, "Complete bikes are shipped 90% assembled in a reinforced box for a flat fee of $49."},
		{true, "Repairs"},
		{false, "A basic tune-up costs $65 and includes brake and gear adjustment. Flat tire repair is $15 plus the cost of the tube. Most repairs are ready within two days."},
	},
}

// pdfCrypt holds the passwords of an encrypted PDF.
type pdfCrypt struct {
	user, owner string
	key         []byte // file key, set by setup
	o, u        []byte
}

// pdfPad is the password padding from the PDF specification.
var pdfPad = []byte("\x28\xBF\x4E\x5E\x4E\x75\x8A\x41\x64\x00\x4E\x56\xFF\xFA\x01\x08\x2E\x2E\x00\xB6\xD0\x68\x3E\x80\x2F\x0C\xA9\xFE\x64\x53\x69\x7A")

const pdfPerms = -44 // print and copy allowed

var pdfID = []byte("harborbikes-0001")

func padPassword(pw string) []byte {
	return append([]byte(pw), pdfPad...)[:32]
}

// setup computes O, U and the file key for revision 3, 128-bit RC4
// (PDF 32000-1 algorithms 2, 3 and 5).
func (c *pdfCrypt) setup() {
	const n = 16
	ok := md5.Sum(padPassword(c.owner))
	for range 50 {
		ok = md5.Sum(ok[:n])
	}
	c.o = padPassword(c.user)
	for i := range 20 {
		rc, _ := rc4.NewCipher(xorKey(ok[:n], byte(i)))
		rc.XORKeyStream(c.o, c.o)
	}

	h := md5.New()
	h.Write(padPassword(c.user))
	h.Write(c.o)
	perms := int32(pdfPerms)
	p := uint32(perms)
	h.Write([]byte{byte(p), byte(p >> 8), byte(p >> 16), byte(p >> 24)})
	h.Write(pdfID)
	key := h.Sum(nil)
	for range 50 {
		sum := md5.Sum(key[:n])
		key = sum[:]
	}
	c.key = key[:n]

	u := md5.Sum(append(append([]byte{}, pdfPad...), pdfID...))
	c.u = u[:]
	for i := range 20 {
		rc, _ := rc4.NewCipher(xorKey(c.key, byte(i)))
		rc.XORKeyStream(c.u, c.u)
	}
	c.u = append(c.u, make([]byte, 16)...) // arbitrary padding to 32 bytes
}

// xorKey returns key with every byte xored with i.
func xorKey(key []byte, i byte) []byte {
	out := make([]byte, len(key))
	for j := range key {
		out[j] = key[j] ^ i
	}
	return out
}

// encrypt encrypts data belonging to object id (algorithm 1).
func (c *pdfCrypt) encrypt(id int, data []byte) []byte {
	k := append(append([]byte{}, c.key...), byte(id), byte(id>>8), byte(id>>16), 0, 0)
	sum := md5.Sum(k)
	rc, _ := rc4.NewCipher(sum[:min(len(c.key)+5, 16)])
	out := make([]byte, len(data))
	rc.XORKeyStream(out, data)
	return out
}

// pdfDoc collects numbered objects.
type pdfDoc struct {
	objs  [][]byte
	crypt *pdfCrypt
}

func (d *pdfDoc) add(body string) int {
	d.objs = append(d.objs, []byte(body))
	return len(d.objs)
}

// addStream adds a Flate-compressed stream object.
func (d *pdfDoc) addStream(content string) int {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte(content))
	zw.Close()
	data := z.Bytes()
	id := len(d.objs) + 1
	if d.crypt != nil {
		data = d.crypt.encrypt(id, data)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<< /Length %d /Filter /FlateDecode >>\nstream\n", len(data))
	b.Write(data)
	b.WriteString("\nendstream")
	d.objs = append(d.objs, b.Bytes())
	return id
}

// set replaces the body of object id, for objects that refer forward.
func (d *pdfDoc) set(id int, body string) { d.objs[id-1] = []byte(body) }

// bytes writes the file with its cross-reference table.
func (d *pdfDoc) bytes(root, info int) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xE2\xE3\xCF\xD3\n")
	encrypt := 0
	if d.crypt != nil {
		encrypt = d.add(fmt.Sprintf("<< /Filter /Standard /V 2 /R 3 /Length 128 /P %d /O <%s> /U <%s> >>",
			pdfPerms, hex.EncodeToString(d.crypt.o), hex.EncodeToString(d.crypt.u)))
	}
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
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root %d 0 R /ID [<%x> <%x>]", len(d.objs)+1, root, pdfID, pdfID)
	if info > 0 {
		fmt.Fprintf(&b, " /Info %d 0 R", info)
	}
	if encrypt > 0 {
		fmt.Fprintf(&b, " /Encrypt %d 0 R", encrypt)
	}
	fmt.Fprintf(&b, " >>\nstartxref\n%d\n%%%%EOF\n", xref)
	return b.Bytes()
}

// fontObject is a standard Helvetica font with approximate widths, so
// that text positions advance as they do in real files.
func fontObject(base string) string {
	var w strings.Builder
	for c := 32; c <= 126; c++ {
		switch {
		case c == ' ':
			w.WriteString("278 ")
		case c >= 'A' && c <= 'Z':
			w.WriteString("667 ")
		default:
			w.WriteString("556 ")
		}
	}
	return fmt.Sprintf("<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding /FirstChar 32 /LastChar 126 /Widths [%s] >>",
		base, strings.TrimSpace(w.String()))
}

// pdfString escapes s for a PDF literal string.
func pdfString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `(`, `\(`, `)`, `\)`)
	return "(" + r.Replace(s) + ")"
}

// wrap breaks s into lines of at most n bytes.
func wrap(s string, n int) []string {
	var lines []string
	var cur string
	for _, w := range strings.Fields(s) {
		if cur != "" && len(cur)+1+len(w) > n {
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

// harborPDF is a two-page guide with 18 pt headings over 11 pt text.
func harborPDF(crypt *pdfCrypt) []byte {
	d := &pdfDoc{crypt: crypt}
	if crypt != nil {
		crypt.setup()
	}
	catalog := d.add("")
	pages := d.add("")
	regular := d.add(fontObject("Helvetica"))
	bold := d.add(fontObject("Helvetica-Bold"))
	var kids []string
	for _, blocks := range pdfPages {
		var c strings.Builder
		y := 740.0
		for _, bl := range blocks {
			if bl.heading {
				y -= 12
				fmt.Fprintf(&c, "BT /F2 18 Tf 72 %.0f Td %s Tj ET\n", y, pdfString(bl.text))
				y -= 26
				continue
			}
			for _, l := range wrap(bl.text, 88) {
				fmt.Fprintf(&c, "BT /F1 11 Tf 72 %.0f Td %s Tj ET\n", y, pdfString(l))
				y -= 14
			}
			y -= 10
		}
		content := d.addStream(c.String())
		page := d.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> /Contents %d 0 R >>",
			pages, regular, bold, content))
		kids = append(kids, fmt.Sprintf("%d 0 R", page))
	}
	d.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pages))
	d.set(pages, fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(kids)))
	info := 0
	if crypt == nil {
		info = d.add("<< /Title (Harbor Bikes Customer Guide) /Producer (knowledge testdata gen) >>")
	}
	return d.bytes(catalog, info)
}

// scannedPDF is a page with only graphics on it, as a scan without OCR has.
func scannedPDF() []byte {
	d := &pdfDoc{}
	catalog := d.add("")
	pages := d.add("")
	content := d.addStream("0.8 g 72 72 468 648 re f 0 g 100 600 200 100 re f\n")
	page := d.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << >> /Contents %d 0 R >>", pages, content))
	d.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pages))
	d.set(pages, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", page))
	return d.bytes(catalog, 0)
}

// para is a w:p with an optional style and runs of text.
func para(style, text string) string {
	var p strings.Builder
	p.WriteString("<w:p>")
	if style != "" {
		fmt.Fprintf(&p, `<w:pPr><w:pStyle w:val="%s"/></w:pPr>`, style)
	}
	fmt.Fprintf(&p, `<w:r><w:t xml:space="preserve">%s</w:t></w:r></w:p>`, xmlEscape(text))
	return p.String()
}

func listItem(text string) string {
	return fmt.Sprintf(`<w:p><w:pPr><w:pStyle w:val="ListParagraph"/><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>%s</w:t></w:r></w:p>`, xmlEscape(text))
}

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

// harborDOCX is a service guide: a Title paragraph, Heading1 sections, a
// heading in a localised style (German "Überschrift 2" has the id
// "berschrift2"), a bulleted list, a table, a split run and a tracked
// deletion that must not appear.
func harborDOCX() []byte {
	body := strings.Join([]string{
		para("Title", "Harbor Bikes Service Guide"),
		para("Heading1", "Repairs"),
		// One sentence split over runs, as Word does after edits.
		`<w:p><w:r><w:t xml:space="preserve">Bring your bike to the workshop at </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>12 Quay Street</w:t></w:r><w:r><w:t xml:space="preserve">; no appointment is needed for a flat tire.</w:t></w:r><w:del w:id="1" w:author="x"><w:r><w:delText>Appointments are mandatory.</w:delText></w:r></w:del></w:p>`,
		para("", "Our mechanics offer these services:"),
		listItem("Basic tune-up, ready the same day"),
		listItem("Wheel truing and spoke replacement"),
		listItem("Hydraulic brake bleeding"),
		para("Heading1", "Warranty"),
		para("", "Every new bike comes with a lifetime warranty on the frame and two years on components. Keep your receipt as proof of purchase."),
		para("berschrift2", "Warranty claims"),
		para("", "To make a claim, email warranty@harborbikes.example with a photo of the damage and your order number."),
		para("Heading1", "Pricing"),
		`<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Service</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Price</w:t></w:r></w:p></w:tc></w:tr>` +
			`<w:tr><w:tc><w:p><w:r><w:t>Basic tune-up</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>$65</w:t></w:r></w:p></w:tc></w:tr>` +
			`<w:tr><w:tc><w:p><w:r><w:t>Full overhaul</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>$180</w:t></w:r></w:p></w:tc></w:tr></w:tbl>`,
	}, "")
	styles := `<w:style w:type="paragraph" w:styleId="berschrift2"><w:name w:val="heading 2"/><w:pPr><w:outlineLvl w:val="1"/></w:pPr></w:style>`
	return docx(body, styles, "Harbor Bikes Service Guide")
}

// docx builds a minimal but complete Word file around body.
func docx(body, styles, title string) []byte {
	const ns = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"`
	parts := []struct{ name, data string }{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>`},
		{"word/_rels/document.xml.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>`},
		{"word/document.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document ` + ns + `><w:body>` + body + `<w:sectPr/></w:body></w:document>`},
		{"word/styles.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles ` + ns + `><w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/></w:style><w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/></w:style>` + styles + `</w:styles>`},
		{"docProps/core.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>` + xmlEscape(title) + `</dc:title></cp:coreProperties>`},
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, p := range parts {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: p.name, Method: zip.Deflate})
		if err != nil {
			log.Fatal(err)
		}
		w.Write([]byte(p.data))
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}
