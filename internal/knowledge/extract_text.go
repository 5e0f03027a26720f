package knowledge

import (
	"strings"

	"github.com/yuin/goldmark"
	"github.com/yuin/goldmark/ast"
	"github.com/yuin/goldmark/extension"
	east "github.com/yuin/goldmark/extension/ast"
	"github.com/yuin/goldmark/text"
	"golang.org/x/net/html"
)

// extractPlain reads plain text: one section, paragraphs split on blank
// lines. Plain text has no reliable headings, so none are guessed.
func extractPlain(s string) Document {
	return Document{Sections: []Section{{Text: s}}}
}

// markdown parses CommonMark plus GitHub tables, which FAQ pages use a lot.
var markdown = goldmark.New(goldmark.WithExtensions(extension.Table, extension.Strikethrough))

// extractMarkdown reads Markdown through goldmark's AST: headings start
// sections, the first level-1 heading is the title, list items and table
// rows become lines, code blocks keep their lines.
func extractMarkdown(s string) Document {
	src := []byte(capMarkdownNesting(s))
	root := markdown.Parser().Parse(text.NewReader(src))
	var b builder
	var walk func(n ast.Node, inList bool)
	walk = func(n ast.Node, inList bool) {
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			switch c := c.(type) {
			case *ast.Heading:
				h := inlineText(c, src)
				if c.Level == 1 && b.doc.Title == "" {
					b.doc.Title = h
				}
				b.startSection(h)
			case *ast.Paragraph, *ast.TextBlock:
				b.text(inlineText(c, src))
				if inList {
					b.endLine()
				} else {
					b.endPara()
				}
			case *ast.List:
				if !inList {
					b.endPara()
				}
				walk(c, true)
				if !inList {
					b.endPara()
				}
			case *ast.ListItem:
				// The bullet goes before the item's first line only.
				b.endLine()
				b.text("- ")
				walk(c, true)
				b.endLine()
			case *ast.FencedCodeBlock, *ast.CodeBlock:
				b.endPara()
				lines := c.Lines()
				for i := range lines.Len() {
					seg := lines.At(i)
					b.text(string(seg.Value(src)))
					b.endLine()
				}
				b.endPara()
			case *ast.HTMLBlock:
				var raw strings.Builder
				lines := c.Lines()
				for i := range lines.Len() {
					seg := lines.At(i)
					raw.Write(seg.Value(src))
				}
				if c.HasClosure() {
					raw.Write(c.ClosureLine.Value(src))
				}
				b.text(htmlText(raw.String()))
				b.endPara()
			case *east.Table:
				b.endPara()
				for row := c.FirstChild(); row != nil; row = row.NextSibling() {
					var cells []string
					for cell := row.FirstChild(); cell != nil; cell = cell.NextSibling() {
						cells = append(cells, strings.TrimSpace(inlineText(cell, src)))
					}
					b.text(strings.Join(cells, " | "))
					b.endLine()
				}
				b.endPara()
			case *ast.ThematicBreak:
				b.endPara()
			default: // block quotes and anything else with block children
				walk(c, inList)
			}
		}
	}
	walk(root, false)
	return b.finish()
}

// maxMarkdownPrefix caps the run of container markers (quote marks, list
// bullets and numbers, indentation) at the start of a line. goldmark's
// time grows with the square of the nesting depth: 16,000 nested quotes
// take a second, a megabyte of them hours. Real documents nest a few
// levels deep.
const maxMarkdownPrefix = 64

// capMarkdownNesting shortens absurdly long container prefixes, keeping
// the text after them.
func capMarkdownNesting(s string) string {
	lines := strings.SplitAfter(s, "\n")
	changed := false
	for i, l := range lines {
		n := 0
		for n < len(l) && strings.IndexByte(" \t>*+-0123456789.)", l[n]) >= 0 {
			n++
		}
		if n > maxMarkdownPrefix {
			lines[i] = l[n-maxMarkdownPrefix:]
			changed = true
		}
	}
	if !changed {
		return s
	}
	return strings.Join(lines, "")
}

// inlineText is the plain text of n's inline children: emphasis and links
// reduced to their words, images to their alt text, line breaks kept.
func inlineText(n ast.Node, src []byte) string {
	var sb strings.Builder
	var walk func(n ast.Node)
	walk = func(n ast.Node) {
		for c := n.FirstChild(); c != nil; c = c.NextSibling() {
			switch c := c.(type) {
			case *ast.Text:
				sb.Write(c.Value(src))
				switch {
				case c.HardLineBreak():
					sb.WriteByte('\n')
				case c.SoftLineBreak():
					sb.WriteByte(' ')
				}
			case *ast.String:
				sb.Write(c.Value)
			case *ast.AutoLink:
				sb.Write(c.URL(src))
			case *ast.RawHTML:
				for i := range c.Segments.Len() {
					seg := c.Segments.At(i)
					sb.WriteString(htmlText(string(seg.Value(src))))
				}
			default:
				walk(c)
			}
		}
	}
	walk(n)
	return sb.String()
}

// htmlText is the text inside a fragment of HTML, tags removed.
func htmlText(s string) string {
	var sb strings.Builder
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		switch z.Next() {
		case html.ErrorToken:
			return sb.String()
		case html.TextToken:
			sb.Write(z.Text())
		case html.StartTagToken, html.EndTagToken, html.SelfClosingTagToken:
			sb.WriteByte(' ')
		}
	}
}
