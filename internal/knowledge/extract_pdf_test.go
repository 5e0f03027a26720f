package knowledge

import (
	"bytes"
	"compress/zlib"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/apperr"
)

// buildPDF writes objects 1..n with a correct cross-reference table. In
// trailer, %XREF% becomes the table's offset.
func buildPDF(trailer string, objects ...string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objects))
	for i, o := range objects {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objects)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	trailer = strings.ReplaceAll(trailer, "%XREF%", fmt.Sprint(xref))
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R %s >>\nstartxref\n%d\n%%%%EOF\n", len(objects)+1, trailer, xref)
	return b.Bytes()
}

// stream renders a stream object with an optional extra dictionary entry.
func stream(extra, data string) string {
	return fmt.Sprintf("<< /Length %d %s >>\nstream\n%s\nendstream", len(data), extra, data)
}

const (
	catalog  = "<< /Type /Catalog /Pages 2 0 R >>"
	pages    = "<< /Type /Pages /Kids [3 0 R] /Count 1 >>"
	font     = "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
	pageWith = "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>"
	pageText = "BT /F1 12 Tf 72 700 Td (Harbor Bikes is open daily.) Tj ET"
)

func TestExtractPDF20(t *testing.T) {
	data := bytes.Replace(readTestdata(t, "harbor-bikes.pdf"), []byte("%PDF-1.4"), []byte("%PDF-2.0"), 1)
	doc, err := Extract("guide.pdf", "", bytes.NewReader(data), 0)
	require.NoError(t, err)
	require.Contains(t, sectionText(t, doc, "Shipping"), "flat fee of $49")
}

func TestExtractHostilePDF(t *testing.T) {
	xrefStream := func(dict string) []byte {
		body := "%PDF-1.5\n1 0 obj\n" + stream("/Type /XRef "+dict, "\x01\x00\x00") + "\nendobj\n"
		return []byte(body + "startxref\n9\n%%EOF\n")
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write([]byte("\x02" + pageText))
	zw.Close()
	flated := z.String()
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"well-formed control", buildPDF("", catalog, pages, pageWith, stream("", pageText), font)},
		{"xref table numbering objects from 2^40", []byte("%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\nxref\n1099511627776 1\n0000000009 00000 n \ntrailer\n<< /Size 2 /Root 1 0 R >>\nstartxref\n44\n%%EOF\n")},
		{"xref stream of 4 billion objects", xrefStream("/Size 4000000000 /W [1 1 1]")},
		{"xref stream index from 2^40", xrefStream("/Size 2 /Index [1099511627776 1] /W [1 1 1]")},
		{"xref stream with a huge field width", xrefStream("/Size 2 /W [1 1099511627776 1]")},
		{"name written with escapes", xrefStream("/S#69ze 4000000000 /W [1 1 1]")},
		{"cross-reference sections in a cycle", buildPDF("/Prev %XREF%", catalog, pages, pageWith, stream("", pageText), font)},
		{"page tree that contains itself", buildPDF("", catalog, "<< /Type /Pages /Kids [2 0 R 2 0 R 2 0 R] /Count 3 >>")},
		{"page that is its own parent", buildPDF("", catalog, pages, strings.Replace(pageWith, "/Parent 2 0 R", "/Parent 3 0 R", 1), stream("", pageText), font)},
		{"predictor row of 1 TB", buildPDF("", catalog, pages, pageWith, stream("/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 1099511627776 >>", flated), font)},
		{"predictor row width behind a reference", buildPDF("", catalog, pages, pageWith, stream("/Filter /FlateDecode /DecodeParms << /Predictor 12 /Columns 6 0 R >>", flated), font, "1099511627776")},
		{"cmap promising a billion entries", buildPDF("", catalog, pages, pageWith, stream("", pageText),
			"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /ToUnicode 6 0 R >>",
			stream("", "/CIDInit /ProcSet findresource begin 12 dict begin begincmap 1 begincodespacerange <00> <FF> endcodespacerange 999999999 beginbfchar endbfchar endcmap"))},
		{"font with a huge differences array", buildPDF("", catalog, pages, pageWith, stream("", pageText),
			"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding << /Differences [32"+strings.Repeat(" /a", 5000)+"] >> >>")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan error, 1)
			go func() {
				_, err := Extract("hostile.pdf", "", bytes.NewReader(tt.data), 0)
				done <- err
			}()
			select {
			case err := <-done:
				if tt.name == "well-formed control" {
					require.NoError(t, err)
					return
				}
				require.ErrorIs(t, err, apperr.InvalidArgument)
				require.Contains(t, apperr.Message(err), "looks damaged")
			case <-time.After(10 * time.Second):
				t.Fatal("Extract did not return")
			}
		})
	}
}
