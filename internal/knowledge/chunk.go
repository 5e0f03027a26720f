package knowledge

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Chunk sizes, in characters (runes). About 1200 characters is a few
// paragraphs: enough context for the model, small enough that a retrieved
// chunk is mostly about one thing.
const (
	DefaultMaxChars = 1200
	DefaultOverlap  = 150
)

// ChunkOptions sets how ChunkDocument cuts text. The zero value means the
// defaults.
type ChunkOptions struct {
	// MaxChars is the most characters in a chunk; 0 means DefaultMaxChars.
	MaxChars int
	// Overlap is how many characters of a chunk's end are repeated at the
	// start of the next chunk of the same section, so that a sentence cut
	// at the border is still found whole. 0 means DefaultOverlap, a
	// negative value none. It is capped at a quarter of MaxChars.
	Overlap int
}

// Chunk is a passage of a document that is embedded, indexed and cited on
// its own.
type Chunk struct {
	// Position is the chunk's index in the document, from 0.
	Position int
	// Heading is the heading of the section the chunk comes from, or the
	// question for an FAQ chunk.
	Heading string
	// Text is the passage. It never includes Heading; index the two
	// together so that a question naming the heading finds the chunk.
	Text string
}

// ChunkDocument cuts doc into chunks of at most opts.MaxChars characters.
// A chunk never spans two sections and carries its section's heading.
// Sections are split at paragraph breaks first, then at line breaks,
// sentence ends and spaces, and a word longer than a chunk is cut. No text
// is lost and no chunk is empty. The document's FAQ pairs follow, one
// chunk per pair as in ChunkFAQ.
func ChunkDocument(doc Document, opts ChunkOptions) []Chunk {
	maxChars, overlap := opts.MaxChars, opts.Overlap
	if maxChars <= 0 {
		maxChars = DefaultMaxChars
	}
	switch {
	case overlap == 0:
		overlap = DefaultOverlap
	case overlap < 0:
		overlap = 0
	}
	overlap = min(overlap, maxChars/4)

	var chunks []Chunk
	for _, s := range doc.Sections {
		for _, text := range splitSection(s.Text, maxChars, overlap) {
			chunks = append(chunks, Chunk{Position: len(chunks), Heading: s.Heading, Text: text})
		}
	}
	for _, p := range doc.FAQ {
		for _, text := range splitFAQ(p, maxChars) {
			chunks = append(chunks, Chunk{Position: len(chunks), Heading: strings.TrimSpace(p.Question), Text: text})
		}
	}
	return chunks
}

// ChunkFAQ makes one chunk per pair, "Q: question\nA: answer", so that the
// answer is always retrieved with its question. A pair too long for one
// chunk (over DefaultMaxChars) is split, every part repeating the
// question.
func ChunkFAQ(pairs []FAQPair) []Chunk {
	return ChunkDocument(Document{FAQ: pairs}, ChunkOptions{})
}

// splitFAQ renders one pair as one or more chunk texts.
func splitFAQ(p FAQPair, maxChars int) []string {
	q, a := strings.TrimSpace(p.Question), strings.TrimSpace(p.Answer)
	if q == "" && a == "" {
		return nil
	}
	prefix := "Q: " + q + "\nA: "
	if runeLen(prefix)+runeLen(a) <= maxChars {
		return []string{prefix + a}
	}
	if runeLen(prefix) > maxChars/2 {
		// A question too long to repeat: cut the pair like any text.
		return splitSection(prefix+a, maxChars, 0)
	}
	var out []string
	for _, part := range splitSection(a, maxChars-runeLen(prefix), 0) {
		out = append(out, prefix+part)
	}
	return out
}

// piece is a span of text and the separator that stood before it, so that
// joining every sep+text gives back the original.
type piece struct {
	sep, text string
}

// splitSection cuts one section's text into chunk texts.
func splitSection(text string, maxChars, overlap int) []string {
	text = strings.TrimSpace(text)
	if text == "" {
		return nil
	}
	if runeLen(text) <= maxChars {
		return []string{text}
	}
	// Leave room for the overlap and the separator that follows it.
	limit := max(maxChars-overlap-2, 1)
	var out []string
	var cur strings.Builder
	curLen := 0
	for _, p := range splitPieces("", text, limit, 0) {
		if strings.TrimSpace(p.text) == "" {
			continue
		}
		n := runeLen(p.sep) + runeLen(p.text)
		if cur.Len() > 0 && curLen+n <= maxChars {
			cur.WriteString(p.sep)
			cur.WriteString(p.text)
			curLen += n
			continue
		}
		var tail string
		if cur.Len() > 0 {
			prev := strings.TrimSpace(cur.String())
			out = append(out, prev)
			tail = overlapTail(prev, min(overlap, runeLen(prev)/2))
		}
		cur.Reset()
		if tail != "" {
			cur.WriteString(tail)
			cur.WriteString(p.sep)
		}
		cur.WriteString(p.text)
		curLen = runeLen(cur.String())
	}
	if s := strings.TrimSpace(cur.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// splitPieces splits text into pieces of at most limit runes, trying
// paragraph breaks, then line breaks, then sentence ends, then spaces, and
// cutting inside a word only as a last resort.
func splitPieces(sep, text string, limit, level int) []piece {
	if runeLen(text) <= limit {
		return []piece{{sep, text}}
	}
	var parts []piece
	switch level {
	case 0:
		parts = splitOn(text, "\n\n")
	case 1:
		parts = splitOn(text, "\n")
	case 2:
		parts = splitSentences(text)
	case 3:
		parts = splitOn(text, " ")
	default:
		return cutRunes(sep, text, limit)
	}
	parts[0].sep = sep
	var out []piece
	for _, p := range parts {
		out = append(out, splitPieces(p.sep, p.text, limit, level+1)...)
	}
	return out
}

// splitOn splits text at every sep.
func splitOn(text, sep string) []piece {
	fields := strings.Split(text, sep)
	out := make([]piece, len(fields))
	for i, f := range fields {
		out[i] = piece{sep, f}
	}
	out[0].sep = ""
	return out
}

// splitSentences splits text after '.', '!' or '?' (and any closing quote
// or bracket) followed by a space.
func splitSentences(text string) []piece {
	var out []piece
	start := 0
	for i := 0; i < len(text); i++ {
		if text[i] != ' ' || i == 0 {
			continue
		}
		end := strings.TrimRight(text[start:i], `"')]”’`)
		if end == "" {
			continue
		}
		if last := end[len(end)-1]; last != '.' && last != '!' && last != '?' {
			continue
		}
		sep := " "
		if start == 0 {
			sep = ""
		}
		out = append(out, piece{sep, text[start:i]})
		start = i + 1
	}
	sep := " "
	if start == 0 {
		sep = ""
	}
	return append(out, piece{sep, text[start:]})
}

// cutRunes cuts a word longer than limit into limit-rune parts.
func cutRunes(sep, text string, limit int) []piece {
	var out []piece
	for text != "" {
		n, i := 0, 0
		for i < len(text) && n < limit {
			_, size := utf8.DecodeRuneInString(text[i:])
			i += size
			n++
		}
		out = append(out, piece{sep, text[:i]})
		text, sep = text[i:], ""
	}
	return out
}

// overlapTail returns at most n runes from the end of s, starting at a
// word boundary, and at a line or sentence start when one is near.
func overlapTail(s string, n int) string {
	if n <= 0 {
		return ""
	}
	start := len(s)
	for k := 0; k < n && start > 0; k++ {
		_, size := utf8.DecodeLastRuneInString(s[:start])
		start -= size
	}
	if start == 0 {
		return strings.TrimSpace(s)
	}
	// Move forward to the start of a word.
	if r, _ := utf8.DecodeLastRuneInString(s[:start]); !unicode.IsSpace(r) {
		i := strings.IndexFunc(s[start:], unicode.IsSpace)
		if i < 0 {
			return ""
		}
		start += i
	}
	tail := strings.TrimSpace(s[start:])
	// Prefer to start at a line or a sentence, if that keeps a quarter of
	// the overlap.
	for i := 0; i < len(tail)-len(tail)/4; i++ {
		c := tail[i]
		if c == '\n' || (c == '.' || c == '!' || c == '?') && i+1 < len(tail) && tail[i+1] == ' ' {
			return strings.TrimSpace(tail[i+1:])
		}
	}
	return tail
}

// runeLen is the length of s in characters.
func runeLen(s string) int { return utf8.RuneCountInString(s) }
