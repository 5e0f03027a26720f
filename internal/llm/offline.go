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
)

// Offline is a Responder that needs no model or API key. It answers with the
// passage sentences that best match the question, in passage order, so it is
// deterministic and never says anything the knowledge base does not.
// The zero value is ready to use.
type Offline struct {
	MaxSentences int // sentences in a reply; 0 means 3
	MaxChars     int // reply length in characters; 0 means 600
}

// Respond picks up to MaxSentences sentences that share the most
// distinctive terms with the question. For FAQ passages ("Q: … A: …") it
// matches whole question/answer pairs and replies with the answer. The reply
// is not Answered when the question has no meaningful term in common with
// any passage. Respond does not use ctx: it is a short, bounded computation,
// and it must still work when the caller's deadline has passed.
func (o Offline) Respond(_ context.Context, p Prompt) (Reply, error) {
	maxSentences := cmp.Or(o.MaxSentences, 3)
	maxChars := cmp.Or(o.MaxChars, 600)

	// Sorted, so that scores add up in the same order on every run.
	question := slices.Sorted(maps.Keys(termSet(p.Question)))
	if len(question) == 0 || len(p.Passages) == 0 {
		return Reply{}, nil
	}

	// Document frequency of each term over the passages, for IDF weights:
	// a term every passage shares says less about which sentence answers.
	df := map[string]int{}
	titles := make([]map[string]bool, len(p.Passages))
	var units []unit
	for i, ps := range p.Passages {
		for t := range termSet(ps.Title + "\n" + ps.Text) {
			df[t]++
		}
		titles[i] = termSet(ps.Title)
		units = append(units, splitUnits(i, ps.Text)...)
	}
	n := float64(len(p.Passages))
	idf := func(t string) float64 { return 1 + math.Log((n+1)/float64(df[t]+1)) }

	var scored []unit
	seen := map[string]bool{} // overlapping chunks repeat sentences
	for _, u := range units {
		for _, t := range question {
			switch {
			case u.terms[t]:
				u.score += idf(t)
				if u.faqTerms[t] { // the FAQ's own question matches: a strong signal
					u.score += idf(t) / 2
				}
			case titles[u.passage][t]: // the sentence is about the passage's topic
				u.score += idf(t) / 2
			}
		}
		key := strings.ToLower(u.text)
		if u.score > 0 && !seen[key] {
			seen[key] = true
			scored = append(scored, u)
		}
	}
	if len(scored) == 0 {
		return Reply{}, nil
	}

	// Best first; ties keep passage order. Choose by rank, so the best
	// sentence always gets in, then say them in passage order.
	slices.SortStableFunc(scored, func(a, b unit) int { return cmp.Compare(b.score, a.score) })
	best := scored[0]
	best.text = truncate(best.text, maxChars)
	picked := []unit{best}
	chars := utf8.RuneCountInString(best.text)
	if !best.faq { // an FAQ answer is complete on its own
		for _, u := range scored[1:] {
			if len(picked) == maxSentences || u.score < best.score/2 {
				break
			}
			l := utf8.RuneCountInString(u.text)
			if u.faq || chars+1+l > maxChars {
				continue
			}
			picked = append(picked, u)
			chars += 1 + l
		}
	}
	slices.SortFunc(picked, func(a, b unit) int {
		return cmp.Or(cmp.Compare(a.passage, b.passage), cmp.Compare(a.pos, b.pos))
	})

	texts := make([]string, len(picked))
	var used []int
	for i, u := range picked {
		texts[i] = u.text
		used = append(used, u.passage)
	}
	return Reply{Text: strings.Join(texts, " "), Answered: true, Used: slices.Compact(used)}, nil
}

// unit is a candidate piece of a reply: a sentence, or an FAQ answer.
type unit struct {
	passage, pos int
	text         string          // what the reply says
	terms        map[string]bool // what the question is matched against
	faq          bool
	faqTerms     map[string]bool // terms of the FAQ's question
	score        float64
}

// splitUnits cuts a passage into sentences, or into question/answer pairs
// when the passage is an FAQ.
func splitUnits(passage int, text string) []unit {
	var units []unit
	if pairs := faqPairs(text); len(pairs) > 0 {
		for i, qa := range pairs {
			answer := strings.Join(strings.Fields(qa[1]), " ")
			units = append(units, unit{
				passage: passage, pos: i, text: answer, faq: true,
				terms: termSet(qa[0] + "\n" + qa[1]), faqTerms: termSet(qa[0]),
			})
		}
		return units
	}
	for i, s := range sentences(text) {
		units = append(units, unit{passage: passage, pos: i, text: s, terms: termSet(s)})
	}
	return units
}

var faqMarker = regexp.MustCompile(`(?i)(?:^|\s)(q|question|a|answer)\s*:`)

// faqPairs splits "Q: … A: … Q: … A: …" into question/answer pairs. It
// returns nil unless the text starts with a question marker and has at least
// one answer. A marker repeating the previous kind ("Plan A:" inside an
// answer) is treated as text.
func faqPairs(text string) [][2]string {
	text = strings.TrimSpace(text)
	matches := faqMarker.FindAllStringSubmatchIndex(text, -1)
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
			cur[kind] = strings.TrimSpace(text[segStart:end])
		}
		if kind == 1 {
			pairs = append(pairs, cur)
			cur = [2]string{}
		}
	}
	for _, m := range matches {
		k := 0
		if c := unicode.ToLower(rune(text[m[2]])); c == 'a' {
			k = 1
		}
		if k == kind {
			continue
		}
		closeSeg(m[0])
		kind, segStart = k, m[1]
	}
	closeSeg(len(text))
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

// termSet returns the distinct stemmed, non-stopword terms of s.
func termSet(s string) map[string]bool {
	set := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if stopwords[w] || (utf8.RuneCountInString(w) < 2 && !unicode.IsDigit(rune(w[0]))) {
			continue
		}
		set[stem(w)] = true
	}
	return set
}

// stem strips common English suffixes so that "shipping", "shipped" and
// "ships" all become "ship". It only needs to be consistent, not correct:
// questions and passages go through the same function.
func stem(w string) string {
	if len(w) <= 3 || strings.IndexFunc(w, func(r rune) bool { return r < 'a' || r > 'z' }) >= 0 {
		return w
	}
	switch {
	case strings.HasSuffix(w, "ies") && len(w) > 4:
		w = w[:len(w)-3] + "y"
	case strings.HasSuffix(w, "sses"), strings.HasSuffix(w, "xes"),
		strings.HasSuffix(w, "ches"), strings.HasSuffix(w, "shes"):
		w = w[:len(w)-2]
	case strings.HasSuffix(w, "s") && !strings.HasSuffix(w, "ss") &&
		!strings.HasSuffix(w, "us") && !strings.HasSuffix(w, "is"):
		w = w[:len(w)-1]
	}
	for _, suffix := range []string{"ing", "ed"} {
		if base, ok := strings.CutSuffix(w, suffix); ok && len(base) >= 3 && strings.ContainsAny(base, "aeiouy") {
			w = base
			if n := len(w); w[n-1] == w[n-2] && !strings.ContainsRune("aeiouylsz", rune(w[n-1])) {
				w = w[:n-1] // "shipp" -> "ship"
			}
			break
		}
	}
	if base, ok := strings.CutSuffix(w, "ly"); ok && len(base) >= 4 {
		w = base
	}
	if base, ok := strings.CutSuffix(w, "y"); ok && len(base) >= 4 && !strings.ContainsRune("aeiou", rune(base[len(base)-1])) {
		w = base // "delivery" -> "deliver"
	}
	if base, ok := strings.CutSuffix(w, "e"); ok && len(base) >= 4 {
		w = base // "close", "closed", "closing" -> "clos"
	}
	return w
}

// stopwords are words too common to say what a question is about, including
// the pieces that splitting contractions leaves ("don't" -> "don").
var stopwords = func() map[string]bool {
	m := map[string]bool{}
	for w := range strings.FieldsSeq(`
		a about above after again against all also am an and any are as at be because been before
		being below between both but by can could did do does doing done down during each few for
		from further had has have having he her here hers him his how i if in into is it its itself
		just me more most my myself no nor not now of off on once only or other our ours out over own
		same she should so some such than that the their theirs them then there these they this those
		through to too under until up very was we were what when where which while who whom why will
		with would you your yours yourself yourselves
		don doesn didn isn aren wasn weren won wouldn couldn shouldn haven hasn hadn ll re ve
		hi hello hey please pls plz thanks thank ok okay yes yeah want wanna need know tell like get
		got let may might must shall really much many anyone someone something thing things`) {
		m[w] = true
	}
	return m
}()
