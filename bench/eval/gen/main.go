//go:build ignore

// Gen writes the PDF and DOCX files of the answer-quality evaluation set
// (bench/eval/kb): the documents a small shop uploads as files. It uses
// internal/docfixture, like internal/knowledge/testdata/gen: Helvetica
// with WinAnsi text (so German and Spanish letters and € work),
// Flate-compressed content streams, 18 pt headings over 11 pt text; Word
// files with a Title, Heading1 sections, list items and a table.
//
// Run it from bench/eval after changing the text below, and commit the
// files it writes:
//
//	go run gen/main.go
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"

	"github.com/seachat/seachat/internal/docfixture"
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

// pdf lays out pages of headings and paragraphs.
func pdf(title string, pages [][]block) []byte {
	var text [][]docfixture.Block
	for _, blocks := range pages {
		var page []docfixture.Block
		for _, bl := range blocks {
			page = append(page, docfixture.Block{Heading: bl.kind == "h", Text: bl.text})
		}
		text = append(text, page)
	}
	d := &docfixture.PDF{}
	catalog := d.TextPages(text, 255)
	info := d.Add("<< /Title " + docfixture.Text(title) + " /Producer (bench/eval gen) >>")
	return d.Bytes(catalog, info, 0)
}

// docx renders blocks under a Title; consecutive table rows make one table.
func docx(title string, blocks []block) []byte {
	var b strings.Builder
	b.WriteString(docfixture.Para("Title", title))
	inTable := false
	for _, bl := range blocks {
		if bl.kind != "tr" && inTable {
			b.WriteString("</w:tbl>")
			inTable = false
		}
		switch bl.kind {
		case "h":
			b.WriteString(docfixture.Para("Heading1", bl.text))
		case "p":
			b.WriteString(docfixture.Para("", bl.text))
		case "li":
			b.WriteString(docfixture.ListItem(bl.text))
		case "tr":
			if !inTable {
				b.WriteString("<w:tbl>")
				inTable = true
			}
			b.WriteString("<w:tr>")
			for _, cell := range strings.Split(bl.text, " | ") {
				fmt.Fprintf(&b, `<w:tc><w:p><w:r><w:t xml:space="preserve">%s</w:t></w:r></w:p></w:tc>`, docfixture.XMLEscape(cell))
			}
			b.WriteString("</w:tr>")
		}
	}
	if inTable {
		b.WriteString("</w:tbl>")
	}
	return docfixture.DOCX(title, b.String(), docfixture.ListStyle)
}
