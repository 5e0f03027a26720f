package knowledge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/seachat/seachat/internal/apperr"
)

// DefaultMaxFileSize is the upload limit Extract applies when it is given a
// limit of zero or less.
const DefaultMaxFileSize = 10 << 20

// Format names a kind of file Extract understands.
type Format string

// The formats Extract understands.
const (
	FormatText     Format = "text"
	FormatMarkdown Format = "markdown"
	FormatHTML     Format = "html"
	FormatCSV      Format = "csv"
	FormatPDF      Format = "pdf"
	FormatDOCX     Format = "docx"
)

// Document is the text of an uploaded file, in reading order.
type Document struct {
	// Format is the kind of file the text came from.
	Format Format
	// Title is the document's own title (HTML <title>, PDF or DOCX
	// metadata, a Markdown level-1 heading), or empty when it has none.
	Title string
	// Sections are the blocks of text under each heading. Text before the
	// first heading has an empty Heading.
	Sections []Section
	// FAQ holds question/answer pairs, read from a CSV file whose header
	// names question and answer columns.
	FAQ []FAQPair
}

// Section is the text under one heading. Paragraphs in Text are separated
// by a blank line and lines within a paragraph (list items, table rows) by
// a single newline, so chunking can split on them.
type Section struct {
	Heading string
	Text    string
}

// FAQPair is one question and its answer, kept together so that a search
// for the question finds the answer.
type FAQPair struct {
	Question string
	Answer   string
}

// supportedTypes ends every "unsupported" message so that people know what
// to do next.
const supportedTypes = "upload PDF, DOCX, HTML, Markdown, CSV or text"

// Extract reads the text of the uploaded file filename from r.
//
// The format is decided from the file's content and extension;
// contentType, the client's claim, only breaks ties for text files. At most
// limit bytes are read (DefaultMaxFileSize when limit <= 0). Errors about
// the file itself have kind apperr.InvalidArgument and a message for the
// person who uploaded it: unsupported type, damaged, password-protected,
// no text, or too large. An error reading r is returned as it is.
func Extract(filename, contentType string, r io.Reader, limit int64) (Document, error) {
	if limit <= 0 {
		limit = DefaultMaxFileSize
	}
	name := displayName(filename)
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return Document{}, fmt.Errorf("reading %s: %w", name, err)
	}
	if int64(len(data)) > limit {
		return Document{}, apperr.Errorf(apperr.InvalidArgument,
			"%s is larger than the %s limit; split it into smaller files", name, formatSize(limit))
	}

	if len(data) == 0 {
		return Document{}, apperr.Errorf(apperr.InvalidArgument, "%s is empty", name)
	}
	format, err := detectFormat(name, filename, contentType, data)
	if err != nil {
		return Document{}, err
	}
	doc, err := parse(format, name, data)
	if err != nil {
		return Document{}, err
	}
	doc = clean(doc)
	doc.Format = format
	if len(doc.Sections) == 0 && len(doc.FAQ) == 0 {
		if format == FormatPDF {
			return Document{}, apperr.Errorf(apperr.InvalidArgument,
				"%s has no text we can read; it may be a scanned image, so upload a PDF with selectable text or paste the text instead", name)
		}
		return Document{}, apperr.Errorf(apperr.InvalidArgument, "%s has no text in it", name)
	}
	return doc, nil
}

// parse runs the parser for format, turning a panic inside a parser (most
// of them third-party code fed hostile input) into a damaged-file error.
func parse(format Format, name string, data []byte) (doc Document, err error) {
	defer func() {
		if p := recover(); p != nil {
			doc, err = Document{}, corrupt(name, fmt.Errorf("panic: %v", p))
		}
	}()
	switch format {
	case FormatPDF:
		return extractPDF(name, data)
	case FormatDOCX:
		return extractDOCX(name, data)
	}
	text := decodeText(data)
	switch format {
	case FormatMarkdown:
		return extractMarkdown(text), nil
	case FormatHTML:
		return extractHTML(name, text)
	case FormatCSV:
		return extractCSV(name, text)
	default:
		return extractPlain(text), nil
	}
}

// detectFormat decides how to read data. Magic bytes win over the
// extension, and the extension wins over the client's content type.
func detectFormat(name, filename, contentType string, data []byte) (Format, error) {
	ext := strings.ToLower(path.Ext(strings.ReplaceAll(filename, `\`, "/")))
	mediaType, _, _ := mime.ParseMediaType(contentType)
	unsupported := apperr.Errorf(apperr.InvalidArgument, "%s is not a supported file type; %s", name, supportedTypes)

	switch {
	case bytes.HasPrefix(data, []byte("%PDF-")):
		return FormatPDF, nil
	case bytes.HasPrefix(data, []byte("PK\x03\x04")):
		if isDOCX(data) {
			return FormatDOCX, nil
		}
		if ext == ".docx" {
			return "", corrupt(name, errors.New("zip without word/document.xml"))
		}
		return "", unsupported
	case bytes.HasPrefix(data, []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")):
		// Word wraps a password-protected .docx in the same compound file
		// format as the old binary .doc.
		if ext == ".docx" {
			return "", apperr.Errorf(apperr.InvalidArgument,
				"%s is password-protected; remove the password in Word and upload it again", name)
		}
		return "", unsupported
	}
	// Some PDF writers put a few bytes of junk before the header.
	if ext == ".pdf" && bytes.Contains(data[:min(len(data), 1024)], []byte("%PDF-")) {
		return FormatPDF, nil
	}

	if !looksLikeText(data) {
		if ext == ".pdf" || ext == ".docx" {
			return "", corrupt(name, errors.New("no "+ext+" signature"))
		}
		return "", unsupported
	}
	switch ext {
	case ".pdf", ".docx":
		return "", corrupt(name, errors.New("text file named "+ext))
	case ".md", ".markdown", ".mdown", ".mkd":
		return FormatMarkdown, nil
	case ".html", ".htm", ".xhtml":
		return FormatHTML, nil
	case ".csv":
		return FormatCSV, nil
	case ".txt", ".text", "":
	default:
		// A text file with an extension we don't know (say .json or .js)
		// is accepted only when the client says it is one of ours.
		switch mediaType {
		case "text/plain", "text/markdown", "text/x-markdown", "text/html", "application/xhtml+xml", "text/csv":
		default:
			return "", unsupported
		}
	}
	switch mediaType {
	case "text/markdown", "text/x-markdown":
		return FormatMarkdown, nil
	case "text/html", "application/xhtml+xml":
		return FormatHTML, nil
	case "text/csv":
		return FormatCSV, nil
	}
	if strings.HasPrefix(http.DetectContentType(data), "text/html") {
		return FormatHTML, nil
	}
	return FormatText, nil
}

// looksLikeText reports whether data is text rather than a binary format:
// http.DetectContentType's rule, which also accepts UTF-16 with a
// byte-order mark.
func looksLikeText(data []byte) bool {
	return strings.HasPrefix(http.DetectContentType(data), "text/")
}

// decodeText returns data as valid UTF-8: a UTF-16 byte-order mark is
// honoured, a UTF-8 one dropped, and invalid bytes become U+FFFD.
func decodeText(data []byte) string {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		data = data[3:]
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}), bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		big := data[0] == 0xFE
		data = data[2:]
		u := make([]uint16, len(data)/2)
		for i := range u {
			if big {
				u[i] = uint16(data[2*i])<<8 | uint16(data[2*i+1])
			} else {
				u[i] = uint16(data[2*i+1])<<8 | uint16(data[2*i])
			}
		}
		return string(utf16.Decode(u))
	}
	return strings.ToValidUTF8(string(data), "\uFFFD")
}

// corrupt is the error for a file that its parser rejects; cause is kept
// for the logs.
func corrupt(name string, cause error) error {
	return apperr.Wrapf(cause, apperr.InvalidArgument,
		"%s looks damaged and could not be read; open it, save or export it again, and upload the new file", name)
}

// tooLarge is the error for a file whose content expands past what we are
// willing to hold in memory.
func tooLarge(name string) error {
	return apperr.Errorf(apperr.InvalidArgument,
		"%s holds too much text to process; split it into smaller files", name)
}

// displayName is the file's base name, safe to put in a message.
func displayName(filename string) string {
	name := path.Base(strings.ReplaceAll(filename, `\`, "/"))
	name = strings.ToValidUTF8(name, "")
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, name)
	if name == "" || name == "." || name == "/" {
		return "the file"
	}
	if utf8.RuneCountInString(name) > 80 {
		name = string([]rune(name)[:77]) + "..."
	}
	return name
}

// formatSize prints n bytes the way people read file sizes.
func formatSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%d KB", n>>10)
	default:
		return fmt.Sprintf("%d bytes", n)
	}
}

// clean makes every string in doc valid UTF-8 without control characters
// or stray whitespace, and drops sections and pairs left with no text.
func clean(doc Document) Document {
	out := Document{Title: cleanLine(doc.Title)}
	for _, s := range doc.Sections {
		s.Heading = cleanLine(s.Heading)
		s.Text = cleanText(s.Text)
		if s.Text == "" {
			continue
		}
		out.Sections = append(out.Sections, s)
	}
	for _, p := range doc.FAQ {
		p.Question = cleanText(p.Question)
		p.Answer = cleanText(p.Answer)
		if p.Question == "" || p.Answer == "" {
			continue
		}
		out.FAQ = append(out.FAQ, p)
	}
	return out
}

// cleanLine returns s as one trimmed line with single spaces.
func cleanLine(s string) string {
	return strings.Join(strings.Fields(cleanText(s)), " ")
}

// cleanText normalises line endings and spaces, keeps at most one blank
// line between paragraphs and drops control characters.
func cleanText(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	var b strings.Builder
	blank := 0
	for _, line := range strings.Split(s, "\n") {
		line = strings.Map(func(r rune) rune {
			switch {
			case r == '\t' || r == '\u00a0' || r == '\u2028' || r == '\u2029':
				return ' '
			case unicode.IsControl(r) || r == '\ufeff' || r == '\u200b':
				return -1
			}
			return r
		}, line)
		line = strings.TrimSpace(line)
		if line == "" {
			blank++
			continue
		}
		if b.Len() > 0 {
			if blank > 0 {
				b.WriteString("\n\n")
			} else {
				b.WriteByte('\n')
			}
		}
		blank = 0
		b.WriteString(collapseSpaces(line))
	}
	return b.String()
}

// collapseSpaces turns runs of spaces into one.
func collapseSpaces(s string) string {
	if !strings.Contains(s, "  ") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}

// builder collects text into sections as a parser walks a document: lines
// make paragraphs, paragraphs make sections, and a heading starts a new
// section.
type builder struct {
	doc     Document
	heading string
	paras   []string
	lines   []string
	line    strings.Builder
}

// text appends inline text to the current line.
func (b *builder) text(s string) { b.line.WriteString(s) }

// endLine finishes the current line.
func (b *builder) endLine() {
	if l := strings.TrimSpace(b.line.String()); l != "" {
		b.lines = append(b.lines, l)
	}
	b.line.Reset()
}

// endPara finishes the current paragraph.
func (b *builder) endPara() {
	b.endLine()
	if len(b.lines) > 0 {
		b.paras = append(b.paras, strings.Join(b.lines, "\n"))
	}
	b.lines = b.lines[:0]
}

// startSection finishes the current section and starts one under heading.
func (b *builder) startSection(heading string) {
	b.endPara()
	b.flush()
	b.heading = cleanLine(heading)
}

// flush adds the current section to the document if it has text.
func (b *builder) flush() {
	if len(b.paras) > 0 {
		b.doc.Sections = append(b.doc.Sections, Section{Heading: b.heading, Text: strings.Join(b.paras, "\n\n")})
	}
	b.paras = nil
}

// finish returns the document built so far.
func (b *builder) finish() Document {
	b.endPara()
	b.flush()
	return b.doc
}
