package llm

import (
	"cmp"
	"context"
	"maps"
	"math"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/seachat/seachat/internal/text"
)

// Offline is a Responder that needs no model or API key. It answers with
// whole sentences of the passage that best matches the question (or one
// FAQ answer), so it is deterministic and never says anything the
// knowledge base does not. Headings are never part of a reply, and a table
// row is said as a sentence ("Moretti Duo: Preis 1.390 €.") rather than
// glued to its header. Words are read with internal/text, each passage in
// its own language. The zero value is ready to use.
type Offline struct {
	MaxSentences int // sentences in a reply; 0 means 3
	MaxChars     int // reply length in characters; 0 means 600
}

// Weights of a question term found next to a unit rather than in it: in
// the passage title, the heading above it or a table's header (context),
// or in the answer of an FAQ pair whose question is what is matched.
const (
	contextWeight   = 0.5
	faqAnswerWeight = 0.25
)

// Respond picks the unit (a sentence, a table row, an FAQ answer) that
// shares the most distinctive terms with the question, and adds up to
// MaxSentences-1 sentences of the same passage that say something about a
// question term it leaves out. An FAQ pair is matched on its question (its
// answer counts a little) and answered with its answer alone. The reply
// is not Answered when no unit holds a question term itself. Respond does
// not use ctx: it is a short, bounded computation, and it must still work
// when the caller's deadline has passed.
func (o Offline) Respond(_ context.Context, p Prompt) (Reply, error) {
	maxSentences := cmp.Or(o.MaxSentences, 3)
	maxChars := cmp.Or(o.MaxChars, 600)
	if len(p.Passages) == 0 {
		return Reply{}, nil
	}

	// Each passage is read in its own language, and the question, for
	// each passage, in that passage's language (a question that says
	// nothing of its language is read like the knowledge).
	langs := make([]text.Language, len(p.Passages))
	for i, ps := range p.Passages {
		langs[i] = text.Detect(ps.Title + "\n" + ps.Text)
	}
	qlang := text.Detect(p.Question)
	if len(text.Words(p.Question)) <= 2 || !slices.Contains(langs, qlang) {
		qlang = dominant(langs)
	}
	questions := map[text.Language][]string{}
	var vocab map[string]int // the passages' terms and how many units hold each; nil until read
	questionIn := func(l text.Language) []string {
		if q, ok := questions[l]; ok {
			return q
		}
		set := termSet(l, p.Question)
		if vocab != nil {
			// A term no passage holds may be a typo of, or a shorter or
			// longer form of, one they hold ("rent" for "rental"), as the
			// index matched it (text.Near).
			for t := range set {
				if _, ok := vocab[t]; ok {
					continue
				}
				// Two of their words written as one ("paddleboard"), else
				// the most frequent near word.
				if head, tail, ok := text.SplitCompound(l, t, func(w string) bool { _, ok := vocab[w]; return ok }); ok {
					delete(set, t)
					set[head], set[tail] = true, true
					continue
				}
				best, bestN := "", -1
				for v, n := range vocab {
					if n > bestN || n == bestN && v < best {
						if text.Near(t, v) {
							best, bestN = v, n
						}
					}
				}
				if best != "" {
					delete(set, t)
					set[best] = true
				}
			}
		}
		q := slices.Sorted(maps.Keys(set)) // sorted: scores add up in one order
		questions[l] = q
		return q
	}
	for i := range langs {
		if langs[i] == text.Unknown {
			langs[i] = qlang
		}
	}
	if len(questionIn(qlang)) == 0 {
		return Reply{}, nil
	}

	// Document frequency of each term over the units of all passages, for
	// IDF weights: a term many sentences share says less about which one
	// answers (within one long passage as much as across passages).
	df := map[string]int{}
	var units []unit
	passageTerms := make([]map[string]bool, len(p.Passages))
	scores := false
	for i, ps := range p.Passages {
		passageTerms[i] = termSet(langs[i], ps.Title+"\n"+ps.Text)
		units = append(units, splitUnits(i, langs[i], ps.Title, ps.Text)...)
		scores = scores || ps.Score > 0
	}
	vocab = map[string]int{}
	for _, u := range units {
		for t := range u.terms {
			df[t]++
			vocab[t]++
		}
	}
	for _, pt := range passageTerms {
		for t := range pt {
			vocab[t] += 0
		}
	}
	clear(questions) // read the question again, now that the passages' words are known
	n := float64(len(units))
	idf := func(t string) float64 { return 1 + math.Log((n+1)/float64(df[t]+1)) }

	// How well each passage answers: its retrieval score (a share of the
	// question, from 0 to 1), or without one the IDF-weighted share of the
	// question's terms it holds.
	relevance := make([]float64, len(p.Passages))
	for i, ps := range p.Passages {
		if scores {
			relevance[i] = ps.Score
			continue
		}
		var got, total float64
		for _, t := range questionIn(langs[i]) {
			total += idf(t)
			if passageTerms[i][t] {
				got += idf(t)
			}
		}
		relevance[i] = got / total
	}

	// A unit scores its passage's relevance plus the share of the
	// question it holds itself (a term next to it, in a heading or an FAQ
	// answer, counts for less).
	var scored []unit
	seen := map[string]bool{} // overlapping chunks repeat sentences
	for _, u := range units {
		var got, total float64
		for _, t := range questionIn(langs[u.passage]) {
			total += idf(t)
			switch {
			case u.terms[t] || langs[u.passage] == text.German && endsOne(u.terms, t):
				got += idf(t)
				u.own++
			case u.context[t]:
				got += u.contextWeight * idf(t)
			}
		}
		u.score = relevance[u.passage] + got/total
		key := text.Fold(u.text)
		if got > 0 && !seen[key] {
			seen[key] = true
			scored = append(scored, u)
		}
	}
	if len(scored) == 0 {
		return Reply{}, nil
	}

	// Best first; ties keep passage order, which is retrieval order.
	slices.SortStableFunc(scored, func(a, b unit) int { return cmp.Compare(b.score, a.score) })
	best := scored[0]
	best.text = truncate(best.text, maxChars)
	picked := []unit{best}
	chars := utf8.RuneCountInString(best.text)
	if best.kind == unitSentence {
		// A short paragraph is said whole: its other sentences finish
		// what the best one starts ("El Brisa es … En medida 90 x 190
		// cuesta 349 €."). From a longer one, sentences are added that
		// hold a question term the reply lacks.
		var para []unit
		for _, u := range units {
			if u.passage == best.passage && u.para == best.para && u.kind == unitSentence {
				para = append(para, u)
			}
		}
		paraChars := -1
		for _, u := range para {
			paraChars += 1 + utf8.RuneCountInString(u.text)
		}
		if len(para) > 1 && len(para) <= maxSentences && paraChars <= maxChars {
			picked = para
		} else {
			covered := maps.Clone(best.terms)
			for _, u := range scored[1:] {
				if len(picked) == maxSentences {
					break
				}
				if u.passage != best.passage || u.kind == unitFAQ || u.own == 0 {
					continue
				}
				adds := false
				for _, t := range questionIn(langs[u.passage]) {
					if u.terms[t] && !covered[t] {
						adds = true
					}
				}
				l := utf8.RuneCountInString(u.text)
				if !adds || chars+1+l > maxChars {
					continue
				}
				picked = append(picked, u)
				chars += 1 + l
				maps.Copy(covered, u.terms)
			}
		}
	}
	slices.SortFunc(picked, func(a, b unit) int { return cmp.Compare(a.pos, b.pos) })

	texts := make([]string, len(picked))
	for i, u := range picked {
		texts[i] = u.text
	}
	return Reply{Text: strings.Join(texts, " "), Answered: true, Used: []int{best.passage}}, nil
}

// endsOne reports whether a German compound among terms ends with t
// ("espressomaschin" for "maschin"), t of five letters or more.
func endsOne(terms map[string]bool, t string) bool {
	if len(t) < 5 {
		return false
	}
	for w := range terms {
		if len(w) >= len(t)+4 && strings.HasSuffix(w, t) {
			return true
		}
	}
	return false
}

// dominant returns the language most of langs are, Unknown when none is
// known; ties go to the earliest passage.
func dominant(langs []text.Language) text.Language {
	count := map[text.Language]int{}
	best := text.Unknown
	for _, l := range langs {
		if l == text.Unknown {
			continue
		}
		count[l]++
		if count[l] > count[best] {
			best = l
		}
	}
	return best
}

// The kinds of unit.
const (
	unitSentence = iota
	unitRow      // a table row said as a sentence
	unitFAQ      // an FAQ answer
)

// unit is a candidate piece of a reply: a sentence, a table row or an FAQ
// answer.
type unit struct {
	passage, pos  int
	para          int // paragraph of the passage
	kind          int
	text          string          // what the reply says
	terms         map[string]bool // what the question is matched against
	context       map[string]bool // terms next to it: title, heading, table header, FAQ answer
	contextWeight float64
	score         float64
	own           int // question terms in terms
}

// splitUnits cuts a passage into units: question/answer pairs when it is
// an FAQ, else sentences and table rows, without its headings.
func splitUnits(passage int, lang text.Language, title, body string) []unit {
	var units []unit
	if pairs := faqPairs(body); len(pairs) > 0 {
		for i, qa := range pairs {
			answer := strings.Join(strings.Fields(qa[1]), " ")
			if answer == "" {
				continue
			}
			units = append(units, unit{
				passage: passage, pos: i, kind: unitFAQ, text: answer,
				terms: termSet(lang, qa[0]), context: termSet(lang, qa[1]), contextWeight: faqAnswerWeight,
			})
		}
		return units
	}
	for i, b := range blocks(body) {
		ctx := termSet(lang, title+"\n"+b.heading+"\n"+b.header)
		// A row is about its table's columns: the header's words are its own.
		units = append(units, unit{
			passage: passage, pos: i, para: b.para, kind: b.kind, text: b.text,
			terms: termSet(lang, b.text+"\n"+b.header), context: ctx, contextWeight: contextWeight,
		})
	}
	return units
}

// block is a sentence or a table row of a passage, with the heading it
// stands under and, for a row, its table's header.
type block struct {
	kind, para      int
	text            string
	heading, header string
}

// blocks reads a passage as paragraphs. A paragraph of one short line
// that does not end like a sentence ("Opening hours", "UNSERE
// KAFFEESORTEN") is a heading: it is no part of a reply, but it says what
// the text under it is about. Lines with cells (" | ") are table rows; the
// first row of a table is its header, and every other row is said as a
// sentence, "first cell: header value, header value." Everything else is
// cut into sentences, a list under a line that ends in ':' staying with it.
func blocks(body string) []block {
	var out []block
	heading := ""
	for n, para := range strings.Split(strings.ReplaceAll(body, "\r\n", "\n"), "\n\n") {
		var lines []string
		for l := range strings.SplitSeq(para, "\n") {
			if l = strings.Join(strings.Fields(l), " "); l != "" {
				lines = append(lines, l)
			}
		}
		if len(lines) == 0 {
			continue
		}
		if len(lines) == 1 && isHeading(lines[0]) {
			heading = lines[0]
			continue
		}
		var prose []string
		flush := func() {
			for _, s := range sentences(strings.Join(prose, "\n")) {
				if !strings.HasSuffix(s, "?") { // a question in the text is not an answer
					out = append(out, block{kind: unitSentence, para: n, text: s, heading: heading})
				}
			}
			prose = nil
		}
		for i := 0; i < len(lines); {
			if !isRow(lines[i]) {
				prose = append(prose, lines[i])
				i++
				continue
			}
			flush()
			j := i
			for j < len(lines) && isRow(lines[j]) {
				j++
			}
			for _, b := range tableBlocks(lines[i:j], heading) {
				b.para = n
				out = append(out, b)
			}
			i = j
		}
		flush()
	}
	return out
}

// isHeading reports whether a paragraph of one line is a heading.
func isHeading(line string) bool {
	if utf8.RuneCountInString(line) > 80 || isRow(line) || bullet.MatchString(line) {
		return false
	}
	last, _ := utf8.DecodeLastRuneInString(line)
	return !strings.ContainsRune(".!:;)…\"”»", last) || line == strings.ToUpper(line) && line != strings.ToLower(line)
}

// isRow reports whether line is a table row: cells separated by " | ".
func isRow(line string) bool {
	return strings.Contains(line, " | ") || strings.HasPrefix(line, "|") && strings.HasSuffix(line, "|")
}

// cells splits a table row.
func cells(line string) []string {
	line = strings.TrimSpace(strings.Trim(strings.TrimSpace(line), "|"))
	parts := strings.Split(line, "|")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// isEmptyCell reports whether a cell says nothing: empty or a dash.
func isEmptyCell(c string) bool {
	return c == "" || c == "-" || c == "–" || c == "—"
}

// tableBlocks says each row of a table as a sentence. With two rows or
// more the first is the header; a Markdown separator row (---) is skipped.
func tableBlocks(rows []string, heading string) []block {
	var header []string
	if len(rows) > 1 {
		header, rows = cells(rows[0]), rows[1:]
	}
	var out []block
	for _, r := range rows {
		c := cells(r)
		if strings.Trim(strings.Join(c, ""), "-: ") == "" {
			continue
		}
		var parts []string
		for i, v := range c[1:] {
			if isEmptyCell(v) {
				continue
			}
			if h := field(header, i+1); h != "" {
				v = h + " " + v
			}
			parts = append(parts, v)
		}
		s := c[0]
		switch {
		case len(parts) == 0:
		case isEmptyCell(s):
			s = strings.Join(parts, ", ")
		default:
			s += ": " + strings.Join(parts, ", ")
		}
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if last, _ := utf8.DecodeLastRuneInString(s); !strings.ContainsRune(".!?", last) {
			s += "."
		}
		out = append(out, block{kind: unitRow, text: s, heading: heading, header: strings.Join(header, " ")})
	}
	return out
}

// field returns s[i], or "" past its end.
func field(s []string, i int) string {
	if i < len(s) {
		return s[i]
	}
	return ""
}

// faqMarker marks the question and the answer of an FAQ pair, in the
// languages SeaChat reads: "Q:", "A:", and "Frage:", "respuesta:" … as a
// spreadsheet of pairs is written out.
var faqMarker = regexp.MustCompile(`(?i)(?:^|\s)(q|question|frage|pregunta|domanda|pergunta|a|answer|antwort|respuesta|r[ée]ponse|risposta|resposta)\s*:`)

// faqAnswerMarkers are the markers of an answer, lower case.
var faqAnswerMarkers = map[string]bool{
	"a": true, "answer": true, "antwort": true, "respuesta": true, "réponse": true, "reponse": true,
	"risposta": true, "resposta": true,
}

// faqPairs splits "Q: … A: … Q: … A: …" into question/answer pairs. It
// returns nil unless the text starts with a question marker and has at least
// one answer. A marker repeating the previous kind ("Plan A:" inside an
// answer) is treated as text.
func faqPairs(body string) [][2]string {
	body = strings.TrimSpace(body)
	matches := faqMarker.FindAllStringSubmatchIndex(body, -1)
	if len(matches) == 0 || matches[0][0] != 0 {
		return nil
	}
	var (
		pairs    [][2]string
		cur      [2]string
		kind     = -1 // 0 question, 1 answer
		segStart int
	)
	closeSeg := func(end int) {
		if kind >= 0 {
			cur[kind] = strings.TrimSpace(body[segStart:end])
		}
		if kind == 1 {
			pairs = append(pairs, cur)
			cur = [2]string{}
		}
	}
	for _, m := range matches {
		k := 0
		if faqAnswerMarkers[strings.ToLower(body[m[2]:m[3]])] {
			k = 1
		}
		if k == kind || kind == -1 && k == 1 {
			continue
		}
		closeSeg(m[0])
		kind, segStart = k, m[1]
	}
	closeSeg(len(body))
	return pairs
}

var bullet = regexp.MustCompile(`^(?:[-*•·–]|\d{1,2}[.)])\s+`)

// sentences splits text into sentences. Lines wrapped mid-sentence (as from
// PDFs) are joined; a heading that ends in ':' keeps its bulleted list, so
// "Hours:" stays with the hours.
func sentences(text string) []string {
	var (
		out    []string
		cur    strings.Builder
		inList bool
	)
	flush := func(split bool) {
		s := strings.TrimSpace(cur.String())
		cur.Reset()
		inList = false
		if s == "" {
			return
		}
		if split {
			out = append(out, splitSentences(s)...)
		} else {
			out = append(out, s)
		}
	}
	for raw := range strings.SplitSeq(text, "\n") {
		line := strings.Join(strings.Fields(raw), " ")
		if line == "" {
			flush(!inList)
			continue
		}
		if loc := bullet.FindStringIndex(line); loc != nil {
			switch {
			case inList:
				cur.WriteString("; ")
			case strings.HasSuffix(cur.String(), ":"): // a heading introduces the list
				cur.WriteByte(' ')
				inList = true
			default: // a bullet of its own
				flush(true)
			}
			cur.WriteString(line[loc[1]:])
			continue
		}
		if inList {
			flush(false)
		}
		if cur.Len() > 0 {
			cur.WriteByte(' ')
		}
		cur.WriteString(line)
		if strings.ContainsAny(line[len(line)-1:], ".!?") {
			flush(true)
		}
	}
	flush(!inList)
	return out
}

var abbreviations = map[string]bool{
	"e.g": true, "i.e": true, "mr": true, "mrs": true, "ms": true, "dr": true,
	"st": true, "vs": true, "approx": true, "incl": true,
}

// splitSentences cuts s after '.', '!' or '?' followed by a space and a
// character that is not lower case, except after abbreviations ("e.g.",
// "9 a.m."). So "6 p.m. See you" stays one sentence: keeping opening hours
// whole matters more than the rare split it misses.
func splitSentences(s string) []string {
	rs := []rune(s)
	var out []string
	start := 0
	for i := 0; i < len(rs); i++ {
		if !strings.ContainsRune(".!?", rs[i]) {
			continue
		}
		j := i + 1
		for j < len(rs) && strings.ContainsRune(`"')]”’»`, rs[j]) {
			j++
		}
		if j < len(rs) && !unicode.IsSpace(rs[j]) {
			continue // "3.5", "example.com"
		}
		k := j
		for k < len(rs) && unicode.IsSpace(rs[k]) {
			k++
		}
		if k < len(rs) && unicode.IsLower(rs[k]) {
			continue
		}
		if rs[i] == '.' {
			word := strings.ToLower(string(rs[start:i]))
			word = word[strings.LastIndexAny(word, " (")+1:]
			if abbreviations[word] || initialism(word) {
				continue
			}
		}
		if sent := strings.TrimSpace(string(rs[start:j])); sent != "" {
			out = append(out, sent)
		}
		start = k
		i = k - 1
	}
	if sent := strings.TrimSpace(string(rs[start:])); sent != "" {
		out = append(out, sent)
	}
	return out
}

// initialism reports whether word, without its final dot, is like "a", "p.m"
// or "u.s": parts of one or two letters.
func initialism(word string) bool {
	for part := range strings.SplitSeq(word, ".") {
		if n := utf8.RuneCountInString(part); n == 0 || n > 2 || !unicode.IsLetter([]rune(part)[0]) {
			return false
		}
	}
	return true
}

// truncate shortens s to at most n characters, cutting at a word boundary
// and marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	cut := string([]rune(s)[:n-1])
	if i := strings.LastIndexFunc(cut, unicode.IsSpace); i > len(cut)/2 {
		cut = cut[:i]
	}
	return strings.TrimRightFunc(cut, unicode.IsPunct) + "…"
}

// termSet returns the distinct terms of s read in lang (text.Terms).
func termSet(lang text.Language, s string) map[string]bool {
	set := map[string]bool{}
	for _, t := range text.Keys(lang, s) {
		set[t] = true
	}
	return set
}
