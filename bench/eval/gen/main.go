//go:build ignore

// Gen writes the PDF and DOCX files of the answer-quality evaluation set
// (bench/eval/kb): the documents a small shop uploads as files. It uses
// only the standard library, like internal/knowledge/testdata/gen, whose
// PDF and DOCX builders it follows: Helvetica with WinAnsi text (so German
// and Spanish letters and € work), Flate-compressed content streams,
// 18 pt headings over 11 pt text; Word files with a Title, Heading1
// sections, list items and a table.
//
// Run it from bench/eval after changing the text below, and commit the
// files it writes:
//
//	go run gen/main.go
package main

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
)

func main() {
	dir := flag.String("o", "kb", "output directory")
	flag.Parse()
	files := map[string][]byte{
		"en-tidewater/kayak-lineup.pdf":   pdf("Tidewater Kayaks 2026 Kayak Lineup", kayakLineup),
		"en-tidewater/warranty-care.docx": docx("Warranty and Care", warrantyEN),
		"de-bohnenwerk/maschinen.docx":    docx("Espressomaschinen, Mühlen und Garantie", maschinenDE),
		"es-descanso/colchones.pdf":       pdf("Descanso Azul: nuestros colchones", colchonesES),
		"es-descanso/garantia.docx":       docx("Garantía y cuidados", garantiaES),
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(*dir, name), data, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}

// block is a heading, a paragraph, a list item or a table row.
type block struct {
	kind string // "h", "p", "li", "tr" (cells separated by " | ")
	text string
}

func h(s string) block  { return block{"h", s} }
func p(s string) block  { return block{"p", s} }
func li(s string) block { return block{"li", s} }
func tr(s string) block { return block{"tr", s} }

// A PDF page break is a nil block list between pages.
var kayakLineup = [][]block{
	{
		p("Every kayak below is in stock in Gull Harbor. Prices include a paddle leash and a spray-skirt fitting."),
		h("Osprey 10 recreational kayak"),
		p("The Osprey 10 is our most popular boat for lakes and calm bays. It is 10 feet long, weighs 41 lb and carries up to 300 lb of paddler and gear. It costs $649."),
		h("Heron 14 touring kayak"),
		p("The Heron 14 is built for day trips along the coast. It is 14 feet long, weighs 52 lb, and has two sealed bulkheads and a drop-down skeg. It costs $1,249."),
		p("The Heron 14 also comes in a carbon-fiber version that weighs only 38 lb and costs $2,890."),
	},
	{
		h("Puffin tandem kayak"),
		p("The Puffin is a two-seater for couples or a parent with a child. It is 12.5 feet long, weighs 68 lb and carries up to 500 lb. It costs $989."),
		h("Colors and materials"),
		p("Our polyethylene kayaks are rotomolded in Maine. Each model comes in sunrise orange, sea green or storm grey."),
		p("Special orders for other colors take 6 to 8 weeks."),
	},
}

var warrantyEN = []block{
	h("Hull warranty"),
	p("Every new kayak we sell has a 5-year warranty on the hull against manufacturing defects such as leaking seams or cracks that appear without an impact."),
	h("Paddles and accessories"),
	p("Paddles, seats, hatch covers and rudders are covered for 1 year from the date of purchase."),
	h("What the warranty does not cover"),
	li("Scratches and gouges from dragging the kayak over rocks or pavement"),
	li("Color fading from sunlight"),
	li("Boats used for rentals or by outfitters"),
	h("Making a claim"),
	p("Send photos of the problem and your order number to warranty@tidewaterkayaks.example. We answer every claim within 3 business days."),
	h("Caring for your kayak"),
	p("Rinse the kayak with fresh water after every trip in salt water, and store it out of direct sunlight, on its side or upside down."),
	h("Our paddles"),
	tr("Paddle | Length | Weight | Price"),
	tr("Breeze aluminum | 220 cm | 1,050 g | $79"),
	tr("Glide fiberglass | 230 cm | 850 g | $189"),
	tr("Feather carbon | 230 cm | 680 g | $349"),
}

var maschinenDE = []block{
	h("Unsere Maschinen"),
	p("Wir verkaufen Siebträgermaschinen und Mühlen des italienischen Herstellers Moretti, die wir selbst jeden Tag im Café benutzen."),
	tr("Modell | Bauart | Aufheizzeit | Preis"),
	tr("Moretti Uno | Einkreiser, 0,3 l Kessel | 4 Minuten | 649 €"),
	tr("Moretti Duo | Dualboiler | 12 Minuten | 1.390 €"),
	tr("Moretti Macina (Mühle) | 64-mm-Flachmahlscheiben | – | 329 €"),
	h("Garantie"),
	p("Auf alle Espressomaschinen und Mühlen geben wir 3 Jahre Garantie ab Kaufdatum. Bitte bewahren Sie die Rechnung auf."),
	h("Wartung und Reparatur"),
	p("Unser Wartungsservice kostet 69 € und umfasst Entkalken, neue Dichtungen und eine Reinigung der Brühgruppe. Die Maschine ist in der Regel nach einer Woche wieder bei Ihnen."),
	p("Während der Reparatur bekommen Sie eine Leihmaschine, ohne Aufpreis."),
	h("Einweisung"),
	p("Zu jeder Maschine gehört eine kostenlose Einweisung von 30 Minuten im Laden, in der wir Mahlgrad, Dosierung und Milchschaum zeigen."),
	li("Termin bei der Abholung vereinbaren"),
	li("Eigene Bohnen dürfen mitgebracht werden"),
}

var colchonesES = [][]block{
	{
		p("Todos nuestros colchones se fabrican en nuestro taller de Paterna, a 10 km de la tienda."),
		h("Colchón Brisa"),
		p("El Brisa es un colchón de muelles ensacados de 24 cm de altura y firmeza media, muy transpirable para el verano valenciano. En medida 90 x 190 cuesta 349 €."),
		h("Colchón Coral"),
		p("El Coral es de espuma viscoelástica, mide 28 cm de altura y tiene una firmeza media-alta. En medida 135 x 190 cuesta 489 €."),
	},
	{
		h("Colchón Marea"),
		p("El Marea es nuestro colchón híbrido con una capa de látex natural, de 30 cm de altura y firmeza alta. En medida 150 x 190 cuesta 799 €."),
		h("Medidas especiales"),
		p("Fabricamos cualquier modelo a medida, por ejemplo para camper o cama antigua, con un recargo del 20 % sobre el precio de la medida superior."),
	},
}

var garantiaES = []block{
	h("Garantía"),
	p("Todos nuestros colchones tienen una garantía de 10 años frente a defectos de fabricación, como muelles rotos o hundimientos de más de 2,5 cm."),
	tr("Producto | Garantía | Precio"),
	tr("Somier de láminas | 5 años | 149 €"),
	tr("Canapé abatible | 5 años | 329 €"),
	tr("Almohada viscoelástica | 3 años | 59 €"),
	h("Qué no cubre la garantía"),
	li("Manchas, quemaduras o roturas de la funda"),
	li("Colchones usados sobre una base en mal estado"),
	li("El desgaste normal de la espuma con el uso"),
	h("Cómo hacer una reclamación"),
	p("Escríbanos a garantia@descansoazul.example con el número de factura y dos fotos; un técnico visita su casa en un plazo de 7 días laborables."),
	h("Cuidados"),
	p("Dele la vuelta al colchón cada tres meses durante el primer año y después dos veces al año. Use siempre un protector lavable."),
}

// --- PDF ---

type pdfDoc struct{ objs [][]byte }

func (d *pdfDoc) add(body string) int {
	d.objs = append(d.objs, []byte(body))
	return len(d.objs)
}

func (d *pdfDoc) addStream(content []byte) int {
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(content)
	zw.Close()
	var b bytes.Buffer
	fmt.Fprintf(&b, "<< /Length %d /Filter /FlateDecode >>\nstream\n", z.Len())
	b.Write(z.Bytes())
	b.WriteString("\nendstream")
	d.objs = append(d.objs, b.Bytes())
	return len(d.objs)
}

func (d *pdfDoc) set(id int, body string) { d.objs[id-1] = []byte(body) }

func (d *pdfDoc) bytes(root, info int) []byte {
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
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root %d 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(d.objs)+1, root, info, xref)
	return b.Bytes()
}

// fontObject is a standard Helvetica font over WinAnsi with approximate
// widths.
func fontObject(base string) string {
	var w strings.Builder
	for c := 32; c <= 255; c++ {
		switch {
		case c == ' ':
			w.WriteString("278 ")
		case c >= 'A' && c <= 'Z':
			w.WriteString("667 ")
		default:
			w.WriteString("556 ")
		}
	}
	return fmt.Sprintf("<< /Type /Font /Subtype /Type1 /BaseFont /%s /Encoding /WinAnsiEncoding /FirstChar 32 /LastChar 255 /Widths [%s] >>",
		base, strings.TrimSpace(w.String()))
}

// winAnsi encodes s as a PDF literal string in WinAnsiEncoding.
func winAnsi(s string) []byte {
	var b bytes.Buffer
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
			log.Fatalf("no WinAnsi code for %q", r)
		}
	}
	b.WriteByte(')')
	return b.Bytes()
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

func pdf(title string, pages [][]block) []byte {
	d := &pdfDoc{}
	catalog := d.add("")
	pagesID := d.add("")
	regular := d.add(fontObject("Helvetica"))
	bold := d.add(fontObject("Helvetica-Bold"))
	var kids []string
	for _, blocks := range pages {
		var c bytes.Buffer
		y := 740.0
		for _, bl := range blocks {
			if bl.kind == "h" {
				y -= 12
				fmt.Fprintf(&c, "BT /F2 18 Tf 72 %.0f Td %s Tj ET\n", y, winAnsi(bl.text))
				y -= 26
				continue
			}
			for _, l := range wrap(bl.text, 88) {
				fmt.Fprintf(&c, "BT /F1 11 Tf 72 %.0f Td %s Tj ET\n", y, winAnsi(l))
				y -= 14
			}
			y -= 10
		}
		content := d.addStream(c.Bytes())
		page := d.add(fmt.Sprintf("<< /Type /Page /Parent %d 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 %d 0 R /F2 %d 0 R >> >> /Contents %d 0 R >>",
			pagesID, regular, bold, content))
		kids = append(kids, fmt.Sprintf("%d 0 R", page))
	}
	d.set(catalog, fmt.Sprintf("<< /Type /Catalog /Pages %d 0 R >>", pagesID))
	d.set(pagesID, fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(kids)))
	info := d.add("<< /Title " + string(winAnsi(title)) + " /Producer (bench/eval gen) >>")
	return d.bytes(catalog, info)
}

// --- DOCX ---

func xmlEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;").Replace(s)
}

func para(style, text string) string {
	var b strings.Builder
	b.WriteString("<w:p>")
	if style != "" {
		fmt.Fprintf(&b, `<w:pPr><w:pStyle w:val="%s"/></w:pPr>`, style)
	}
	fmt.Fprintf(&b, `<w:r><w:t xml:space="preserve">%s</w:t></w:r></w:p>`, xmlEscape(text))
	return b.String()
}

// body renders blocks; consecutive table rows make one table.
func body(title string, blocks []block) string {
	var b strings.Builder
	b.WriteString(para("Title", title))
	inTable := false
	for _, bl := range blocks {
		if bl.kind != "tr" && inTable {
			b.WriteString("</w:tbl>")
			inTable = false
		}
		switch bl.kind {
		case "h":
			b.WriteString(para("Heading1", bl.text))
		case "p":
			b.WriteString(para("", bl.text))
		case "li":
			fmt.Fprintf(&b, `<w:p><w:pPr><w:pStyle w:val="ListParagraph"/><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr><w:r><w:t>%s</w:t></w:r></w:p>`, xmlEscape(bl.text))
		case "tr":
			if !inTable {
				b.WriteString("<w:tbl>")
				inTable = true
			}
			b.WriteString("<w:tr>")
			for _, cell := range strings.Split(bl.text, " | ") {
				fmt.Fprintf(&b, `<w:tc><w:p><w:r><w:t xml:space="preserve">%s</w:t></w:r></w:p></w:tc>`, xmlEscape(cell))
			}
			b.WriteString("</w:tr>")
		}
	}
	if inTable {
		b.WriteString("</w:tbl>")
	}
	return b.String()
}

func docx(title string, blocks []block) []byte {
	const ns = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"`
	parts := []struct{ name, data string }{
		{"[Content_Types].xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/><Override PartName="/word/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.styles+xml"/><Override PartName="/docProps/core.xml" ContentType="application/vnd.openxmlformats-package.core-properties+xml"/></Types>`},
		{"_rels/.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/package/2006/relationships/metadata/core-properties" Target="docProps/core.xml"/></Relationships>`},
		{"word/_rels/document.xml.rels", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/></Relationships>`},
		{"word/document.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document ` + ns + `><w:body>` + body(title, blocks) + `<w:sectPr/></w:body></w:document>`},
		{"word/styles.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:styles ` + ns + `><w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/></w:style><w:style w:type="paragraph" w:styleId="Title"><w:name w:val="Title"/></w:style><w:style w:type="paragraph" w:styleId="ListParagraph"><w:name w:val="List Paragraph"/></w:style></w:styles>`},
		{"docProps/core.xml", `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>` + xmlEscape(title) + `</dc:title></cp:coreProperties>`},
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, part := range parts {
		w, err := zw.CreateHeader(&zip.FileHeader{Name: part.name, Method: zip.Deflate})
		if err != nil {
			log.Fatal(err)
		}
		w.Write([]byte(part.data))
	}
	if err := zw.Close(); err != nil {
		log.Fatal(err)
	}
	return b.Bytes()
}
