package knowledge

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/stretchr/testify/require"
)

// longDocument has sections that need every level of splitting: many
// paragraphs, a long list, one long paragraph of sentences, a line with no
// punctuation, a word longer than a chunk and non-ASCII text. Its words
// are numbered so that each one occurs once.
func longDocument() Document {
	var paras []string
	for p := range 12 {
		var sentences []string
		for s := range 4 {
			sentences = append(sentences, fmt.Sprintf("Paragraph%d sentence%d talks about bikes and repairs at the harbor shop.", p, s))
		}
		paras = append(paras, strings.Join(sentences, " "))
	}
	var items []string
	for i := range 60 {
		items = append(items, fmt.Sprintf("- item%d: spare part number %d", i, i*7))
	}
	var sentences []string
	for i := range 80 {
		sentences = append(sentences, fmt.Sprintf("Sentence%d ends here!", i))
	}
	var words []string
	for i := range 400 {
		words = append(words, fmt.Sprintf("word%d", i))
	}
	rng := rand.New(rand.NewPCG(1, 2))
	monster := make([]byte, 3000)
	for i := range monster {
		monster[i] = byte('a' + rng.IntN(26))
	}
	var unicodeText []string
	for i := range 60 {
		unicodeText = append(unicodeText, fmt.Sprintf("Fahrradgeschäft %d am Hafen — öffnet um 9 Uhr. 自転車の修理%d。", i, i))
	}
	return Document{Sections: []Section{
		{Heading: "", Text: "Intro before any heading."},
		{Heading: "Paragraphs", Text: strings.Join(paras, "\n\n")},
		{Heading: "List", Text: "Parts we stock:\n" + strings.Join(items, "\n")},
		{Heading: "Sentences", Text: strings.Join(sentences, " ")},
		{Heading: "Words", Text: strings.Join(words, " ")},
		{Heading: "Monster word", Text: "start " + string(monster) + " end"},
		{Heading: "Unicode", Text: strings.Join(unicodeText, " ")},
	}}
}

// harborDocuments extracts every Harbor Bikes test file.
func harborDocuments(t *testing.T) map[string]Document {
	t.Helper()
	docs := map[string]Document{}
	for _, name := range []string{"harbor-bikes.pdf", "harbor-bikes.docx", "harbor-bikes.html", "harbor-bikes.md", "harbor-bikes-faq.csv"} {
		doc, err := Extract(name, "", bytes.NewReader(readTestdata(t, name)), 0)
		require.NoError(t, err)
		docs[name] = doc
	}
	return docs
}

func TestChunkDocumentInvariants(t *testing.T) {
	docs := harborDocuments(t)
	docs["long"] = longDocument()
	for name, doc := range docs {
		for _, opts := range []ChunkOptions{
			{},
			{MaxChars: 300, Overlap: 60},
			{MaxChars: 80, Overlap: -1},
			{MaxChars: 25, Overlap: 10},
			{MaxChars: 1},
		} {
			t.Run(fmt.Sprintf("%s/%d/%d", name, opts.MaxChars, opts.Overlap), func(t *testing.T) {
				maxChars, overlap := opts.MaxChars, opts.Overlap
				if maxChars == 0 {
					maxChars = DefaultMaxChars
				}
				if overlap == 0 {
					overlap = DefaultOverlap
				}
				overlap = max(0, min(overlap, maxChars/4))

				chunks := ChunkDocument(doc, opts)
				require.NotEmpty(t, chunks)
				for i, c := range chunks {
					require.Equal(t, i, c.Position)
					require.NotEmpty(t, strings.TrimSpace(c.Text), "chunk %d is empty", i)
					require.LessOrEqual(t, utf8.RuneCountInString(c.Text), maxChars, "chunk %d: %q", i, c.Text)
				}

				// Section chunks come first, in section order; each is a
				// piece of its own section's text, and together they cover
				// all of it.
				rest := chunks
				for _, s := range doc.Sections {
					var mine []Chunk
					for len(rest) > 0 && rest[0].Heading == s.Heading && strings.Contains(s.Text, rest[0].Text) {
						mine, rest = append(mine, rest[0]), rest[1:]
					}
					require.NotEmpty(t, mine, "no chunks for section %q", s.Heading)
					requireCovers(t, s.Text, mine, overlap)
				}
				if maxChars < 300 {
					require.Equal(t, len(doc.FAQ) > 0, len(rest) > 0)
					return
				}
				require.Len(t, rest, len(doc.FAQ)) // short pairs: one chunk each
				for i, p := range doc.FAQ {
					require.Equal(t, "Q: "+p.Question+"\nA: "+p.Answer, rest[i].Text)
					require.Equal(t, p.Question, rest[i].Heading)
				}
			})
		}
	}
}

// requireCovers checks that the chunks, in order, are substrings of text
// that cover every non-space character, and that consecutive chunks
// overlap by at most overlap characters.
func requireCovers(t *testing.T, text string, chunks []Chunk, overlap int) {
	t.Helper()
	covered := make([]bool, len(text))
	prevStart, prevEnd := -1, 0
	for _, c := range chunks {
		i := strings.Index(text[prevStart+1:], c.Text)
		require.GreaterOrEqual(t, i, 0, "chunk %q is not in its section after the previous chunk", c.Text)
		start := prevStart + 1 + i
		end := start + len(c.Text)
		if prevStart >= 0 && start < prevEnd {
			require.LessOrEqual(t, utf8.RuneCountInString(text[start:prevEnd]), overlap, "overlap too long: %q", text[start:prevEnd])
		}
		for j := start; j < end; j++ {
			covered[j] = true
		}
		prevStart, prevEnd = start, end
	}
	for i, r := range text {
		if !unicode.IsSpace(r) && !covered[i] {
			t.Fatalf("text lost at byte %d: %q", i, text[i:min(len(text), i+40)])
		}
	}
}

func TestChunkDocumentKeepsEveryWord(t *testing.T) {
	for name, doc := range harborDocuments(t) {
		t.Run(name, func(t *testing.T) {
			chunks := ChunkDocument(doc, ChunkOptions{MaxChars: 120, Overlap: 30})
			var all strings.Builder
			for _, c := range chunks {
				all.WriteString(c.Heading + "\n" + c.Text + "\n")
			}
			for _, w := range strings.Fields(allText(Document{Sections: doc.Sections, FAQ: doc.FAQ})) {
				require.Contains(t, all.String(), w)
			}
		})
	}
}

func TestChunkDocumentOverlapAndHeadings(t *testing.T) {
	doc := longDocument()
	chunks := ChunkDocument(doc, ChunkOptions{})
	overlapping := 0
	for i := 1; i < len(chunks); i++ {
		prev, c := chunks[i-1], chunks[i]
		if prev.Heading != c.Heading {
			continue
		}
		// The next chunk starts with words from the end of the previous one.
		first := strings.Fields(c.Text)[0]
		if strings.Contains(prev.Text[len(prev.Text)*3/4:], first) {
			overlapping++
		}
	}
	require.Greater(t, overlapping, 3)

	// Paragraph boundaries are preferred: with room for two paragraphs, no
	// chunk of the "Paragraphs" section starts mid-paragraph except by
	// overlap, so every chunk contains a whole paragraph start.
	for _, c := range ChunkDocument(doc, ChunkOptions{MaxChars: 600, Overlap: -1}) {
		if c.Heading == "Paragraphs" {
			require.Regexp(t, `^Paragraph\d+ sentence0 `, c.Text)
		}
	}
}

func TestChunkFAQ(t *testing.T) {
	long := strings.Repeat("Keep the receipt. ", 150)
	chunks := ChunkFAQ([]FAQPair{
		{"Are you open on Sunday?", "No, we are closed on Sundays."},
		{"  ", "  "},
		{"What is the warranty?", long},
	})
	require.Equal(t, Chunk{Position: 0, Heading: "Are you open on Sunday?", Text: "Q: Are you open on Sunday?\nA: No, we are closed on Sundays."}, chunks[0])
	require.Greater(t, len(chunks), 2)
	var answer []string
	for i, c := range chunks[1:] {
		require.Equal(t, i+1, c.Position)
		require.True(t, strings.HasPrefix(c.Text, "Q: What is the warranty?\nA: "), c.Text)
		require.LessOrEqual(t, utf8.RuneCountInString(c.Text), DefaultMaxChars)
		answer = append(answer, strings.TrimPrefix(c.Text, "Q: What is the warranty?\nA: "))
	}
	require.Equal(t, strings.TrimSpace(long), strings.Join(answer, " "))
	require.Empty(t, ChunkFAQ(nil))
}

func TestChunkDocumentEmpty(t *testing.T) {
	require.Empty(t, ChunkDocument(Document{}, ChunkOptions{}))
	require.Empty(t, ChunkDocument(Document{Sections: []Section{{Heading: "x", Text: " \n\n "}}}, ChunkOptions{}))
}
