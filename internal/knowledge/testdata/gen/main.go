//go:build ignore

// Gen writes the binary test files of package knowledge: PDFs and DOCX
// files about the fictional bike shop Harbor Bikes. The PDFs are built by
// hand with internal/docfixture: Helvetica, WinAnsi text, Flate-compressed
// content streams and, for encrypted.pdf, the standard RC4 security
// handler (128-bit) with a user password, which this file implements.
//
// Run it from internal/knowledge:
//
//	go run testdata/gen/main.go
package main

import (
	"crypto/md5"
	"crypto/rc4"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/seachat/seachat/internal/docfixture"
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
		"empty.docx":        docfixture.DOCX("", `<w:p/>`, ""),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(*dir, name), data, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// h and p are a heading and a paragraph of the PDF.
func h(s string) docfixture.Block { return docfixture.Block{Heading: true, Text: s} }
func p(s string) docfixture.Block { return docfixture.Block{Text: s} }

var pdfPages = [][]docfixture.Block{
	{
		h("Opening hours"),
		p("Harbor Bikes is open Monday to Friday from 9am to 6pm and Saturday from 10am to 4pm. We are closed on Sundays and public holidays."),
		p("During the summer season, from June to August, the workshop stays open until 8pm on Thursdays for evening repairs."),
		h("Returns policy"),
		p("Unused items can be returned within 30 days of purchase with the original receipt for a full refund. Bikes that have been ridden outdoors can be exchanged within 14 days but not refunded."),
		p("Refunds go back to the original payment method within five business days."),
	},
	{
		h("Shipping"),
		p("We ship parts and accessories anywhere in the country. Standard shipping costs $6.95 and takes three to five business days; orders over $75 ship free."),
		p("Complete bikes are shipped 90% assembled in a reinforced box for a flat fee of $49."),
		h("Repairs"),
		p("A basic tune-up costs $65 and includes brake and gear adjustment. Flat tire repair is $15 plus the cost of the tube. Most repairs are ready within two days."),
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

// harborPDF is a two-page guide with 18 pt headings over 11 pt text,
// encrypted if crypt is not nil.
func harborPDF(crypt *pdfCrypt) []byte {
	d := &docfixture.PDF{ID: pdfID}
	if crypt != nil {
		crypt.setup()
		d.Encrypt = crypt.encrypt
	}
	catalog := d.TextPages(pdfPages, 126)
	info, encrypt := 0, 0
	if crypt == nil {
		info = d.Add("<< /Title (Harbor Bikes Customer Guide) /Producer (knowledge testdata gen) >>")
	} else {
		encrypt = d.Add(fmt.Sprintf("<< /Filter /Standard /V 2 /R 3 /Length 128 /P %d /O <%s> /U <%s> >>",
			pdfPerms, hex.EncodeToString(crypt.o), hex.EncodeToString(crypt.u)))
	}
	return d.Bytes(catalog, info, encrypt)
}

// scannedPDF is a page with only graphics on it, as a scan without OCR has.
func scannedPDF() []byte {
	d := &docfixture.PDF{ID: pdfID}
	catalog := d.Add("")
	pages := d.Add("")
	content := d.AddStream([]byte("0.8 g 72 72 468 648 re f 0 g 100 600 200 100 re f\n"))
	page := d.Add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << >> /Contents %d 0 R >>", pages, content))
	d.Set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pages))
	d.Set(pages, fmt.Sprintf("<< /Type /Pages /Kids [%d 0 R] /Count 1 >>", page))
	return d.Bytes(catalog, 0, 0)
}

// harborDOCX is a service guide: a Title paragraph, Heading1 sections, a
// heading in a localised style (German "Überschrift 2" has the id
// "berschrift2"), a bulleted list, a table, a split run and a tracked
// deletion that must not appear.
func harborDOCX() []byte {
	body := strings.Join([]string{
		docfixture.Para("Title", "Harbor Bikes Service Guide"),
		docfixture.Para("Heading1", "Repairs"),
		// One sentence split over runs, as Word does after edits.
		`<w:p><w:r><w:t xml:space="preserve">Bring your bike to the workshop at </w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>12 Quay Street</w:t></w:r><w:r><w:t xml:space="preserve">; no appointment is needed for a flat tire.</w:t></w:r><w:del w:id="1" w:author="x"><w:r><w:delText>Appointments are mandatory.</w:delText></w:r></w:del></w:p>`,
		docfixture.Para("", "Our mechanics offer these services:"),
		docfixture.ListItem("Basic tune-up, ready the same day"),
		docfixture.ListItem("Wheel truing and spoke replacement"),
		docfixture.ListItem("Hydraulic brake bleeding"),
		docfixture.Para("Heading1", "Warranty"),
		docfixture.Para("", "Every new bike comes with a lifetime warranty on the frame and two years on components. Keep your receipt as proof of purchase."),
		docfixture.Para("berschrift2", "Warranty claims"),
		docfixture.Para("", "To make a claim, email warranty@harborbikes.example with a photo of the damage and your order number."),
		docfixture.Para("Heading1", "Pricing"),
		`<w:tbl><w:tr><w:tc><w:p><w:r><w:t>Service</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>Price</w:t></w:r></w:p></w:tc></w:tr>` +
			`<w:tr><w:tc><w:p><w:r><w:t>Basic tune-up</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>$65</w:t></w:r></w:p></w:tc></w:tr>` +
			`<w:tr><w:tc><w:p><w:r><w:t>Full overhaul</w:t></w:r></w:p></w:tc><w:tc><w:p><w:r><w:t>$180</w:t></w:r></w:p></w:tc></w:tr></w:tbl>`,
	}, "")
	styles := `<w:style w:type="paragraph" w:styleId="berschrift2"><w:name w:val="heading 2"/><w:pPr><w:outlineLvl w:val="1"/></w:pPr></w:style>`
	return docfixture.DOCX("Harbor Bikes Service Guide", body, styles)
}
