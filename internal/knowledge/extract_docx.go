package knowledge

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Caps on the uncompressed bytes read from the parts of a DOCX. Zip can
// compress repetitive XML a thousandfold, so these, not the upload limit,
// are what stop a zip bomb. document.xml is streamed, so its cap bounds
// time rather than memory; the small parts are read whole.
const (
	maxDOCXBody = 64 << 20
	maxDOCXPart = 8 << 20
)

// errPartTooLarge reports a DOCX part over its cap.
var errPartTooLarge = errors.New("docx part too large")

// isDOCX reports whether the zip archive in data is a Word document.
func isDOCX(data []byte) bool {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return false
	}
	return docxPart(zr, "word/document.xml") != nil
}

// docxPart returns the archive member called name, matched without regard
// to case as Word does.
func docxPart(zr *zip.Reader, name string) *zip.File {
	for _, f := range zr.File {
		if strings.EqualFold(f.Name, name) {
			return f
		}
	}
	return nil
}

// openDOCXPart opens the member name, failing with errPartTooLarge once
// more than limit bytes come out of it, whatever its header claims. A
// missing member gives a nil reader and no error.
func openDOCXPart(zr *zip.Reader, name string, limit int64) (io.ReadCloser, error) {
	f := docxPart(zr, name)
	if f == nil {
		return nil, nil
	}
	if f.UncompressedSize64 > uint64(limit) {
		return nil, errPartTooLarge
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	return &cappedReader{rc: rc, left: limit}, nil
}

// cappedReader fails with errPartTooLarge after left bytes.
type cappedReader struct {
	rc   io.ReadCloser
	left int64
}

func (r *cappedReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		// Probe for one more byte to tell "exactly at the cap" from "over".
		var one [1]byte
		n, err := r.rc.Read(one[:])
		if n > 0 {
			return 0, errPartTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > r.left {
		p = p[:r.left]
	}
	n, err := r.rc.Read(p)
	r.left -= int64(n)
	return n, err
}

func (r *cappedReader) Close() error { return r.rc.Close() }

// extractDOCX reads a Word document with archive/zip and encoding/xml:
// paragraphs (w:p) and their runs (w:t), heading styles, list items and
// table rows. The title comes from the document properties or a paragraph
// in Word's Title style.
func extractDOCX(name string, data []byte) (Document, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return Document{}, corrupt(name, err)
	}
	fail := func(part string, err error) error {
		if errors.Is(err, errPartTooLarge) {
			return tooLarge(name)
		}
		return corrupt(name, fmt.Errorf("%s: %w", part, err))
	}
	read := func(part string) ([]byte, error) {
		rc, err := openDOCXPart(zr, part, maxDOCXPart)
		if err != nil || rc == nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	styles, err := read("word/styles.xml")
	if err != nil {
		return Document{}, fail("word/styles.xml", err)
	}
	core, err := read("docProps/core.xml")
	if err != nil {
		return Document{}, fail("docProps/core.xml", err)
	}
	body, err := openDOCXPart(zr, "word/document.xml", maxDOCXBody)
	if err != nil {
		return Document{}, fail("word/document.xml", err)
	}
	if body == nil {
		return Document{}, corrupt(name, errors.New("no word/document.xml"))
	}
	defer body.Close()

	levels := docxHeadingStyles(styles)
	doc, err := docxBody(body, levels)
	if err != nil {
		return Document{}, fail("word/document.xml", err)
	}
	if t := docxTitle(core); t != "" {
		doc.Title = t
	}
	return doc, nil
}

// docxHeadingStyles maps the style ids in styles.xml that are headings to
// their level (0 for Title). Style ids are localised ("berschrift1" in a
// German Word), but style names and outline levels are not.
func docxHeadingStyles(styles []byte) map[string]int {
	levels := map[string]int{"Title": 0}
	for i := 1; i <= 9; i++ {
		levels["Heading"+strconv.Itoa(i)] = i
	}
	var parsed struct {
		Styles []struct {
			ID   string `xml:"styleId,attr"`
			Name struct {
				Val string `xml:"val,attr"`
			} `xml:"name"`
			Outline *struct {
				Val int `xml:"val,attr"`
			} `xml:"pPr>outlineLvl"`
		} `xml:"style"`
	}
	if len(styles) == 0 || xml.Unmarshal(styles, &parsed) != nil {
		return levels
	}
	for _, s := range parsed.Styles {
		name := strings.ToLower(s.Name.Val)
		switch {
		case name == "title":
			levels[s.ID] = 0
		case strings.HasPrefix(name, "heading "):
			if n, err := strconv.Atoi(strings.TrimPrefix(name, "heading ")); err == nil && n >= 1 && n <= 9 {
				levels[s.ID] = n
			}
		case s.Outline != nil && s.Outline.Val >= 0 && s.Outline.Val < 9:
			levels[s.ID] = s.Outline.Val + 1
		}
	}
	return levels
}

// docxTitle is dc:title from docProps/core.xml.
func docxTitle(core []byte) string {
	var parsed struct {
		Title string `xml:"title"`
	}
	if len(core) == 0 || xml.Unmarshal(core, &parsed) != nil {
		return ""
	}
	return cleanLine(parsed.Title)
}

// docxBody walks word/document.xml token by token, so memory stays
// proportional to the text and not to the XML tree.
func docxBody(body io.Reader, levels map[string]int) (Document, error) {
	var b builder
	dec := xml.NewDecoder(body)
	dec.Strict = false

	var (
		para      strings.Builder // text of the current w:p
		style     string          // its style id
		outline   = -1            // its own outline level, if any
		listItem  bool            // it is numbered or bulleted
		inText    bool            // inside w:t
		tblDepth  int
		cell      []string // paragraphs of the current table cell
		row       []string // cells of the current table row
		title     string
		skipDepth int // inside deleted text or a field code
	)
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Document{}, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if skipDepth > 0 {
				skipDepth++
				continue
			}
			switch t.Name.Local {
			case "p":
				para.Reset()
				style, outline, listItem = "", -1, false
			case "pStyle":
				style = xmlAttr(t, "val")
			case "outlineLvl":
				if n, err := strconv.Atoi(xmlAttr(t, "val")); err == nil {
					outline = n
				}
			case "numPr":
				listItem = true
			case "t":
				inText = true
			case "tab":
				para.WriteByte(' ')
			case "br", "cr":
				para.WriteByte('\n')
			case "del", "instrText", "delText":
				skipDepth = 1
			case "tbl":
				tblDepth++
				if tblDepth == 1 {
					b.endPara()
				}
			}
		case xml.EndElement:
			if skipDepth > 0 {
				skipDepth--
				continue
			}
			switch t.Name.Local {
			case "t":
				inText = false
			case "p":
				text := strings.TrimSpace(para.String())
				if text == "" {
					continue
				}
				level, isHeading := levels[style]
				if !isHeading && outline >= 0 && outline < 9 {
					level, isHeading = outline+1, true
				}
				switch {
				case tblDepth > 0:
					cell = append(cell, text)
				case isHeading && level == 0:
					if title == "" {
						title = text
					}
					b.startSection(text)
				case isHeading:
					b.startSection(text)
				case listItem:
					b.text("- " + text)
					b.endLine()
				default:
					b.endPara()
					b.text(text)
					b.endPara()
				}
			case "tc":
				if tblDepth == 1 {
					row = append(row, strings.Join(cell, " "))
					cell = cell[:0]
				}
			case "tr":
				if tblDepth == 1 {
					b.text(strings.Join(row, " | "))
					b.endLine()
					row = row[:0]
				}
			case "tbl":
				if tblDepth > 0 {
					tblDepth--
				}
				if tblDepth == 0 {
					b.endPara()
				}
			}
		case xml.CharData:
			if inText && skipDepth == 0 {
				para.Write(t)
			}
		}
	}
	doc := b.finish()
	doc.Title = cleanLine(title)
	return doc, nil
}

// xmlAttr returns the value of the attribute with local name key.
func xmlAttr(t xml.StartElement, key string) string {
	for _, a := range t.Attr {
		if a.Name.Local == key {
			return a.Value
		}
	}
	return ""
}
