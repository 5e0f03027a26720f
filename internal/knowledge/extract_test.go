package knowledge

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/ledongthuc/pdf"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/apperr"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return data
}

// sectionText returns the text of the section under heading.
func sectionText(t *testing.T, doc Document, heading string) string {
	t.Helper()
	for _, s := range doc.Sections {
		if s.Heading == heading {
			return s.Text
		}
	}
	var got []string
	for _, s := range doc.Sections {
		got = append(got, s.Heading)
	}
	t.Fatalf("no section %q; headings are %q", heading, got)
	return ""
}

// allText is every string Extract returned, for checks that something was
// left out.
func allText(doc Document) string {
	var b strings.Builder
	b.WriteString(doc.Title + "\n")
	for _, s := range doc.Sections {
		b.WriteString(s.Heading + "\n" + s.Text + "\n")
	}
	for _, p := range doc.FAQ {
		b.WriteString(p.Question + "\n" + p.Answer + "\n")
	}
	return b.String()
}

func TestExtractFiles(t *testing.T) {
	for _, tt := range []struct {
		file        string
		contentType string
		wantFormat  Format
		wantTitle   string
		want        map[string][]string // heading → phrases in that section
		wantAbsent  []string
	}{
		{
			file:       "harbor-bikes.pdf",
			wantFormat: FormatPDF,
			wantTitle:  "Harbor Bikes Customer Guide",
			want: map[string][]string{
				"Opening hours":  {"open Monday to Friday from 9am to 6pm", "closed on Sundays and public holidays"},
				"Returns policy": {"returned within 30 days of purchase with the original receipt", "five business days"},
				"Shipping":       {"orders over $75 ship free", "flat fee of $49"},
				"Repairs":        {"basic tune-up costs $65", "ready within two days"},
			},
		},
		{
			file:       "harbor-bikes.docx",
			wantFormat: FormatDOCX,
			wantTitle:  "Harbor Bikes Service Guide",
			want: map[string][]string{
				"Repairs":         {"workshop at 12 Quay Street; no appointment", "- Wheel truing and spoke replacement"},
				"Warranty":        {"lifetime warranty on the frame"},
				"Warranty claims": {"email warranty@harborbikes.example"},
				"Pricing":         {"Service | Price", "Full overhaul | $180"},
			},
			wantAbsent: []string{"Appointments are mandatory"},
		},
		{
			file:        "harbor-bikes.html",
			contentType: "application/octet-stream",
			wantFormat:  FormatHTML,
			wantTitle:   "Harbor Bikes – Visit us",
			want: map[string][]string{
				"Harbor Bikes":         {"neighbourhood bike shop"},
				"Opening hours":        {"Day | Hours", "Saturday | 10am–4pm", "Sunday | Closed"},
				"Returns":              {"within 30 days with your receipt", "- Gift cards cannot be refunded."},
				"Shipping":             {"within 25 miles for free.\nParts ship nationwide"},
				"International orders": {"do not ship outside the country", "12 Quay Street · call (555) 010-4477"},
			},
			wantAbsent: []string{"TRACKING_SCRIPT_TEXT", "INLINE_SCRIPT_TEXT", "NAVIGATION_MENU_TEXT", "font-family"},
		},
		{
			file:       "harbor-bikes.md",
			wantFormat: FormatMarkdown,
			wantTitle:  "Harbor Bikes Rental Handbook",
			want: map[string][]string{
				"Harbor Bikes Rental Handbook": {"before renting a bike"},
				"Rental prices":                {"E-bike | $40 | $65", "Children's bikes are half price"},
				"Deposit and damage":           {"deposit of $100 on a credit card", "- Lost locks cost $25.\n- Lost keys cost $10."},
				"Winter hours":                 {"closes at 4pm", "Emergency line: (555) 010-9911", "book online to skip the queue"},
			},
			wantAbsent: []string{"**", "```", "|---"},
		},
	} {
		t.Run(tt.file, func(t *testing.T) {
			doc, err := Extract(tt.file, tt.contentType, bytes.NewReader(readTestdata(t, tt.file)), 0)
			require.NoError(t, err)
			require.Equal(t, tt.wantFormat, doc.Format)
			require.Equal(t, tt.wantTitle, doc.Title)
			require.Len(t, doc.Sections, len(tt.want))
			for heading, phrases := range tt.want {
				text := sectionText(t, doc, heading)
				for _, p := range phrases {
					require.Contains(t, text, p, "section %q", heading)
				}
			}
			all := allText(doc)
			for _, p := range tt.wantAbsent {
				require.NotContains(t, all, p)
			}
		})
	}
}

func TestFAQHeadersInEveryLanguage(t *testing.T) {
	for _, header := range []string{
		"question,answer", "Question;Answer", "Q,A", "Frage;Antwort", "Fragen,Antworten",
		"pregunta,respuesta", "¿Pregunta?;Respuesta", "Question;Réponse", "question,reponse",
		"Domanda;Risposta", "Pergunta,Resposta", "id;Frage;Antwort", "Antwort;Frage",
	} {
		t.Run(header, func(t *testing.T) {
			sep := ","
			if strings.Contains(header, ";") {
				sep = ";"
			}
			cols := strings.Split(header, sep)
			row := make([]string, len(cols))
			for i, c := range cols {
				switch {
				case answerHeaders[faqColumn(c)]:
					row[i] = `"Ja, ab 15 €."`
				case questionHeaders[faqColumn(c)]:
					row[i] = "Gibt es Gutscheine?"
				default:
					row[i] = "7"
				}
			}
			data := header + "\n" + strings.Join(row, sep) + "\n"
			doc, err := Extract("faq.csv", "text/csv", strings.NewReader(data), 0)
			require.NoError(t, err)
			require.Equal(t, []FAQPair{{"Gibt es Gutscheine?", "Ja, ab 15 €."}}, doc.FAQ)
			require.Empty(t, doc.Sections)
		})
	}
	doc, err := Extract("prices.csv", "text/csv", strings.NewReader("Produkt;Preis\nMühle;329 €\n"), 0)
	require.NoError(t, err)
	require.Empty(t, doc.FAQ, "not an FAQ")
}

func TestExtractFAQ(t *testing.T) {
	doc, err := Extract("harbor-bikes-faq.csv", "text/csv", bytes.NewReader(readTestdata(t, "harbor-bikes-faq.csv")), 0)
	require.NoError(t, err)
	require.Equal(t, FormatCSV, doc.Format)
	require.Empty(t, doc.Sections)
	require.Len(t, doc.FAQ, 5)
	require.Equal(t, FAQPair{
		Question: "Do you offer free shipping?",
		Answer:   "Orders over $75 ship free; standard shipping is $6.95.",
	}, doc.FAQ[2])
	require.Contains(t, doc.FAQ[4].Answer, `"excluding wear parts"`)
}

func TestExtractText(t *testing.T) {
	for _, tt := range []struct {
		name        string
		filename    string
		contentType string
		data        string
		wantFormat  Format
		want        []Section
		wantFAQ     []FAQPair
	}{
		{
			name:       "plain text paragraphs",
			filename:   "notes.txt",
			data:       "Harbor Bikes\r\n\r\nWe fix   bikes.\r\nFast.\n\n\n\nCall us.",
			wantFormat: FormatText,
			want:       []Section{{Text: "Harbor Bikes\n\nWe fix bikes.\nFast.\n\nCall us."}},
		},
		{
			name:       "latin-1 bytes become replacement characters",
			filename:   "menu.txt",
			data:       "Caf\xe9 au lait\x7f \xff",
			wantFormat: FormatText,
			want:       []Section{{Text: "Caf\uFFFD au lait \uFFFD"}},
		},
		{
			name:       "utf-16 with byte-order mark",
			filename:   "hours.txt",
			data:       "\xff\xfeO\x00p\x00e\x00n\x00 \x009\x00-\x006\x00",
			wantFormat: FormatText,
			want:       []Section{{Text: "Open 9-6"}},
		},
		{
			name:        "markdown by content type",
			filename:    "hours",
			contentType: "text/markdown; charset=utf-8",
			data:        "# Hours\n\nOpen *daily*.",
			wantFormat:  FormatMarkdown,
			want:        []Section{{Heading: "Hours", Text: "Open daily."}},
		},
		{
			name:        "html sniffed although the client says text",
			filename:    "page",
			contentType: "text/plain",
			data:        "<!DOCTYPE html><html><body><h2>Repairs</h2><p>Same day.</p></body></html>",
			wantFormat:  FormatHTML,
			want:        []Section{{Heading: "Repairs", Text: "Same day."}},
		},
		{
			name:       "a pdf signature inside text",
			filename:   "notes.txt",
			data:       "Files start with %PDF-1.4 there.",
			wantFormat: FormatText,
			want:       []Section{{Text: "Files start with %PDF-1.4 there."}},
		},
		{
			name:        "unknown extension the client calls plain text",
			filename:    "opening.log",
			contentType: "text/plain",
			data:        "Open 9-6",
			wantFormat:  FormatText,
			want:        []Section{{Text: "Open 9-6"}},
		},
		{
			name:       "markdown extension wins over the content",
			filename:   "a.md",
			data:       "<b>not html</b> but *markdown*",
			wantFormat: FormatMarkdown,
			want:       []Section{{Text: "not html but markdown"}},
		},
		{
			name:       "csv without faq columns",
			filename:   "prices.csv",
			data:       "Service,Price,Notes\nTune-up,$65,\nOverhaul,$180,parts extra\n",
			wantFormat: FormatCSV,
			want:       []Section{{Text: "Service: Tune-up\nPrice: $65\n\nService: Overhaul\nPrice: $180\nNotes: parts extra"}},
		},
		{
			name:       "semicolon csv with faq columns",
			filename:   "faq.csv",
			data:       "question;answer\nDo you rent e-bikes?;Yes, from $40.\nEmpty answer;\n",
			wantFormat: FormatCSV,
			wantFAQ:    []FAQPair{{"Do you rent e-bikes?", "Yes, from $40."}},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Extract(tt.filename, tt.contentType, strings.NewReader(tt.data), 0)
			require.NoError(t, err)
			require.Equal(t, tt.wantFormat, doc.Format)
			require.Equal(t, tt.want, doc.Sections)
			require.Equal(t, tt.wantFAQ, doc.FAQ)
		})
	}
}

func TestExtractErrors(t *testing.T) {
	const supported = " is not a supported file type; upload PDF, DOCX, HTML, Markdown, CSV or text"
	const damaged = " looks damaged and could not be read; open it, save or export it again, and upload the new file"
	xlsx := zipOf(t, map[string]string{"xl/workbook.xml": "<workbook/>"})
	for _, tt := range []struct {
		name     string
		filename string
		data     []byte
		limit    int64
		wantMsg  string
	}{
		{"image", "photo.png", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), 0, "photo.png" + supported},
		{"spreadsheet", "prices.xlsx", xlsx, 0, "prices.xlsx" + supported},
		{"legacy word", "old.doc", []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00\x00"), 0, "old.doc" + supported},
		{"text with unknown extension", "app.js", []byte("alert(1)"), 0, "app.js" + supported},
		{"truncated pdf", "corrupt.pdf", readTestdata(t, "corrupt.pdf"), 0, "corrupt.pdf" + damaged},
		{"pdf that is not", "fake.pdf", []byte("just some text"), 0, "fake.pdf" + damaged},
		{"docx that is a plain zip", "fake.docx", xlsx, 0, "fake.docx" + damaged},
		{"encrypted pdf", "encrypted.pdf", readTestdata(t, "encrypted.pdf"), 0,
			"encrypted.pdf is encrypted or password-protected; remove the protection (for example, print it to a new PDF) and upload it again"},
		{"encrypted docx", "secret.docx", []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00\x00"), 0,
			"secret.docx is password-protected; remove the password in Word and upload it again"},
		{"scanned pdf", "scanned.pdf", readTestdata(t, "scanned.pdf"), 0,
			"scanned.pdf has no text we can read; it may be a scanned image, so upload a PDF with selectable text or paste the text instead"},
		{"empty docx", "empty.docx", readTestdata(t, "empty.docx"), 0, "empty.docx has no text in it"},
		{"blank text", "blank.txt", []byte(" \n\t\n"), 0, "blank.txt has no text in it"},
		{"zero bytes", "nothing.md", nil, 0, "nothing.md is empty"},
		{"too large", "harbor-bikes.pdf", readTestdata(t, "harbor-bikes.pdf"), 1 << 10,
			"harbor-bikes.pdf is larger than the 1 KB limit; split it into smaller files"},
		{"too large default", "big.txt", bytes.Repeat([]byte("a"), DefaultMaxFileSize+1), 0,
			"big.txt is larger than the 10 MB limit; split it into smaller files"},
		{"zip bomb", "bomb.docx", docxBomb(t, 1<<30, false), 0, "bomb.docx holds too much text to process; split it into smaller files"},
		{"zip bomb lying about its size", "bomb.docx", docxBomb(t, 1<<30, true), 0, "bomb.docx" + damaged},
		{"path and control characters stripped from the name", "C:\\Users\\x\\evil\x07.png", []byte("\x89PNG\r\n\x1a\n"), 0, "evil.png" + supported},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Extract(tt.filename, "", bytes.NewReader(tt.data), tt.limit)
			require.Error(t, err)
			require.ErrorIs(t, err, apperr.InvalidArgument)
			require.Equal(t, tt.wantMsg, apperr.Message(err))
		})
	}
}

func TestExtractReadError(t *testing.T) {
	cause := errors.New("connection reset")
	_, err := Extract("a.txt", "", io.MultiReader(strings.NewReader("abc"), errReader{cause}), 0)
	require.ErrorIs(t, err, cause)
	require.Equal(t, apperr.Internal, apperr.KindOf(err))
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// TestEncryptedFixture proves encrypted.pdf is really encrypted, not just
// labelled so: with its password the text comes out.
func TestEncryptedFixture(t *testing.T) {
	data := readTestdata(t, "encrypted.pdf")
	tries := 0
	r, err := pdf.NewReaderEncrypted(bytes.NewReader(data), int64(len(data)), func() string {
		tries++
		if tries > 1 {
			return ""
		}
		return "harbor"
	})
	require.NoError(t, err)
	text, err := r.Page(1).GetPlainText(nil)
	require.NoError(t, err)
	require.Contains(t, text, "Opening hours")
}

// zipOf builds a zip archive of name → content.
func zipOf(t testing.TB, files map[string]string) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for name, content := range files {
		w, err := zw.Create(name)
		require.NoError(t, err)
		_, err = w.Write([]byte(content))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	return b.Bytes()
}

// docxBomb builds a DOCX whose document.xml inflates to size bytes of
// paragraphs from about size/1000 compressed bytes. It compresses one
// 1 MiB block and repeats it: a flushed deflate block that refers to
// nothing before it decodes the same wherever it sits. With lie set, the
// zip header claims the part is 1 KB.
func docxBomb(t testing.TB, size int, lie bool) []byte {
	t.Helper()
	const unit = 1 << 20
	para := []byte("<w:p><w:r><w:t>Harbor Bikes fixes bikes.</w:t></w:r></w:p>")
	block := bytes.Repeat(para, unit/len(para)+1)[:unit]
	var compressed bytes.Buffer
	fw, err := flate.NewWriter(&compressed, flate.BestCompression)
	require.NoError(t, err)
	_, err = fw.Write(block)
	require.NoError(t, err)
	require.NoError(t, fw.Flush())
	one := compressed.Bytes()

	var stream bytes.Buffer
	crc := crc32.NewIEEE()
	for range size / unit {
		stream.Write(one)
		crc.Write(block)
	}
	stream.Write([]byte{0x03, 0x00}) // final empty block

	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	declared := uint64(size / unit * unit)
	if lie {
		declared = 1 << 10
	}
	w, err := zw.CreateRaw(&zip.FileHeader{
		Name: "word/document.xml", Method: zip.Deflate, CRC32: crc.Sum32(),
		CompressedSize64: uint64(stream.Len()), UncompressedSize64: declared,
	})
	require.NoError(t, err)
	_, err = w.Write(stream.Bytes())
	require.NoError(t, err)
	require.NoError(t, zw.Close())
	require.Less(t, out.Len(), 4<<20)
	return out.Bytes()
}

func TestDocxBombStaysSmall(t *testing.T) {
	// The bomb must really be a bomb: small on disk, huge when inflated.
	data := docxBomb(t, 256<<20, false)
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	require.NoError(t, err)
	rc, err := zr.File[0].Open()
	require.NoError(t, err)
	n, err := io.Copy(io.Discard, rc)
	require.NoError(t, err)
	require.EqualValues(t, 256<<20, n)
	require.Less(t, len(data), 1<<20)
}

func FuzzExtract(f *testing.F) {
	for _, name := range []string{"harbor-bikes.pdf", "harbor-bikes.docx", "harbor-bikes.html", "harbor-bikes.md", "harbor-bikes-faq.csv", "encrypted.pdf", "scanned.pdf", "empty.docx"} {
		f.Add(name, readTestdata(f, name))
	}
	f.Add("a.pdf", buildPDF("", catalog, pages, pageWith, stream("", pageText), font))
	f.Add("a.txt", []byte("Hello\n\nworld"))
	f.Add("a.csv", []byte("q,a\n\"x,y\""))
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		// A hang would stall the fuzzer silently; crash instead, so that
		// the input is saved.
		watchdog := time.AfterFunc(10*time.Second, func() { panic(fmt.Sprintf("Extract(%q) ran for 10s", name)) })
		defer watchdog.Stop()
		doc, err := Extract(name, "", bytes.NewReader(data), 1<<20)
		if err != nil {
			if !errors.Is(err, apperr.InvalidArgument) {
				t.Fatalf("error of kind %v: %v", apperr.KindOf(err), err)
			}
			return
		}
		if len(doc.Sections) == 0 && len(doc.FAQ) == 0 {
			t.Fatal("no error and no text")
		}
		if !utf8.ValidString(allText(doc)) {
			t.Fatal("invalid UTF-8 in the result")
		}
		for _, c := range ChunkDocument(doc, ChunkOptions{MaxChars: 200, Overlap: 30}) {
			if strings.TrimSpace(c.Text) == "" || utf8.RuneCountInString(c.Text) > 200 {
				t.Fatalf("bad chunk %q", c.Text)
			}
		}
	})
}

// TestExtractHostileText feeds text formats whose parsers slow down or
// recurse with nesting depth.
func TestExtractHostileText(t *testing.T) {
	for _, tt := range []struct {
		name, filename, data, wantMsg string
	}{
		{"markdown quotes nested a million deep", "deep.md", strings.Repeat(">", 1<<20) + " Harbor Bikes", ""},
		{"markdown lists nested half a million deep", "deep.md", strings.Repeat("- ", 1<<19) + "Harbor Bikes", ""},
		{"html nested deeper than a browser allows", "deep.html", strings.Repeat("<div>", 100000) + "Harbor Bikes",
			"deep.html looks damaged and could not be read; open it, save or export it again, and upload the new file"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			doc, err := Extract(tt.filename, "", strings.NewReader(tt.data), 0)
			require.Less(t, time.Since(start), 5*time.Second)
			if tt.wantMsg != "" {
				require.ErrorIs(t, err, apperr.InvalidArgument)
				require.Equal(t, tt.wantMsg, apperr.Message(err))
				return
			}
			require.NoError(t, err)
			require.Contains(t, allText(doc), "Harbor Bikes")
		})
	}
}

// TestExtractConcurrent runs every parser at once, for the race detector:
// uploads are extracted in parallel.
func TestExtractConcurrent(t *testing.T) {
	files := []string{"harbor-bikes.pdf", "harbor-bikes.docx", "harbor-bikes.html", "harbor-bikes.md", "harbor-bikes-faq.csv"}
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(files))
	for range 4 {
		for _, name := range files {
			data := readTestdata(t, name)
			wg.Go(func() {
				_, err := Extract(name, "", bytes.NewReader(data), 0)
				errs <- err
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
}
