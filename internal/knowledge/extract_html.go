package knowledge

import (
	"strings"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
)

// skippedHTML holds elements whose content is not text for a reader:
// code, styling, navigation menus and embedded objects.
var skippedHTML = map[atom.Atom]bool{
	atom.Script: true, atom.Style: true, atom.Nav: true, atom.Noscript: true,
	atom.Template: true, atom.Svg: true, atom.Math: true, atom.Iframe: true,
	atom.Object: true, atom.Embed: true, atom.Canvas: true, atom.Select: true,
	atom.Button: true,
}

// blockHTML holds elements that start and end a paragraph.
var blockHTML = map[atom.Atom]bool{
	atom.P: true, atom.Div: true, atom.Section: true, atom.Article: true,
	atom.Main: true, atom.Header: true, atom.Footer: true, atom.Aside: true,
	atom.Blockquote: true, atom.Pre: true, atom.Ul: true, atom.Ol: true,
	atom.Dl: true, atom.Table: true, atom.Form: true, atom.Fieldset: true,
	atom.Figure: true, atom.Figcaption: true, atom.Address: true,
	atom.Details: true, atom.Summary: true, atom.Hr: true, atom.Body: true,
}

// lineHTML holds elements that take a line of their own inside a paragraph.
var lineHTML = map[atom.Atom]bool{
	atom.Li: true, atom.Dt: true, atom.Dd: true, atom.Tr: true,
	atom.Caption: true,
}

// extractHTML reads an HTML page: h1–h6 start sections, paragraphs and
// lists become paragraphs and lines, table rows become "a | b" lines.
// Scripts, styles and navigation are dropped.
func extractHTML(name, s string) (Document, error) {
	root, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return Document{}, corrupt(name, err)
	}
	var b builder
	var firstH1 string
	var walk func(n *html.Node, pre bool)
	walk = func(n *html.Node, pre bool) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			switch c.Type {
			case html.TextNode:
				if pre {
					lines := strings.Split(c.Data, "\n")
					for i, l := range lines {
						if i > 0 {
							b.endLine()
						}
						b.text(l)
					}
				} else {
					b.text(collapseHTMLSpace(c.Data))
				}
				continue
			case html.ElementNode:
			default:
				walk(c, pre)
				continue
			}
			switch a := c.DataAtom; {
			case a == atom.Head:
				if t := findElement(c, atom.Title); t != nil {
					b.doc.Title = cleanLine(nodeText(t))
				}
			case skippedHTML[a]:
			case a == atom.H1 || a == atom.H2 || a == atom.H3 || a == atom.H4 || a == atom.H5 || a == atom.H6:
				h := nodeText(c)
				if a == atom.H1 && firstH1 == "" {
					firstH1 = cleanLine(h)
				}
				b.startSection(h)
			case a == atom.Br:
				b.endLine()
			case a == atom.Img:
				if alt := attr(c, "alt"); alt != "" {
					b.text(" " + alt + " ")
				}
			case a == atom.Td || a == atom.Th:
				if hasCellBefore(c) {
					b.text(" | ")
				}
				walk(c, pre)
			case lineHTML[a]:
				b.endLine()
				if a == atom.Li {
					b.text("- ")
				}
				walk(c, pre)
				b.endLine()
			case blockHTML[a]:
				b.endPara()
				walk(c, pre || a == atom.Pre)
				b.endPara()
			default:
				walk(c, pre)
			}
		}
	}
	walk(root, false)
	doc := b.finish()
	if doc.Title == "" {
		doc.Title = firstH1
	}
	return doc, nil
}

// collapseHTMLSpace turns runs of HTML whitespace into single spaces, as a
// browser does outside <pre>.
func collapseHTMLSpace(s string) string {
	f := strings.Fields(s)
	if len(f) == 0 {
		if s != "" {
			return " "
		}
		return ""
	}
	out := strings.Join(f, " ")
	if strings.TrimLeft(s, " \t\n\r\f") != s {
		out = " " + out
	}
	if strings.TrimRight(s, " \t\n\r\f") != s {
		out += " "
	}
	return out
}

// nodeText is all the text inside n, skipping scripts and styles.
func nodeText(n *html.Node) string {
	var sb strings.Builder
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			switch {
			case c.Type == html.TextNode:
				sb.WriteString(c.Data)
			case c.Type == html.ElementNode && (c.DataAtom == atom.Script || c.DataAtom == atom.Style):
			case c.Type == html.ElementNode && c.DataAtom == atom.Br:
				sb.WriteByte(' ')
			case c.Type == html.ElementNode && c.DataAtom == atom.Img:
				sb.WriteString(attr(c, "alt"))
			default:
				walk(c)
			}
		}
	}
	walk(n)
	return sb.String()
}

// hasCellBefore reports whether a table cell precedes n in its row.
func hasCellBefore(n *html.Node) bool {
	for p := n.PrevSibling; p != nil; p = p.PrevSibling {
		if p.Type == html.ElementNode && (p.DataAtom == atom.Td || p.DataAtom == atom.Th) {
			return true
		}
	}
	return false
}

// findElement returns the first element a inside n.
func findElement(n *html.Node, a atom.Atom) *html.Node {
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if c.Type == html.ElementNode && c.DataAtom == a {
			return c
		}
		if f := findElement(c, a); f != nil {
			return f
		}
	}
	return nil
}

// attr returns the value of n's attribute key.
func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}
