// Package text is SeaChat's one way of reading words: splitting text into
// words, folding case and accents, stop words and Snowball stemming per
// language, and telling which language a text is in. Retrieval, the offline
// responder, intent matching and analytics all use it, so a question and a
// passage are always compared with the same terms.
package text

import (
	"strings"
	"sync"
	"sync/atomic"
	"unicode"
	"unicode/utf8"

	"github.com/blevesearch/snowballstem"
	"github.com/blevesearch/snowballstem/english"
	"github.com/blevesearch/snowballstem/french"
	"github.com/blevesearch/snowballstem/german"
	"github.com/blevesearch/snowballstem/italian"
	"github.com/blevesearch/snowballstem/portuguese"
	"github.com/blevesearch/snowballstem/spanish"
	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"
)

// Language is an ISO 639-1 code of a language SeaChat reads, or "" when it
// is not known.
type Language string

// The languages with stop words and a stemmer.
const (
	Unknown    Language = ""
	English    Language = "en"
	German     Language = "de"
	Spanish    Language = "es"
	French     Language = "fr"
	Italian    Language = "it"
	Portuguese Language = "pt"
)

// Languages are the languages SeaChat reads, in the order Detect prefers
// on a tie.
var Languages = []Language{English, German, Spanish, French, Italian, Portuguese}

var stemmers = map[Language]func(*snowballstem.Env) bool{
	English:    english.Stem,
	German:     german.Stem,
	Spanish:    spanish.Stem,
	French:     french.Stem,
	Italian:    italian.Stem,
	Portuguese: portuguese.Stem,
}

var envs = sync.Pool{New: func() any { return snowballstem.NewEnv("") }}

// Words splits s into lowercased words: runs of letters and digits. An
// apostrophe or hyphen inside a word splits it ("don't" → "don", "t").
func Words(s string) []string {
	var out []string
	for w := range strings.FieldsFuncSeq(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		out = append(out, strings.ToLower(w))
	}
	return out
}

var folder = sync.Pool{New: func() any {
	return transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC)
}}

// Fold lowercases s and removes its accents ("Größe" → "grosse",
// "¿Dónde?" → "¿donde?"), so that words typed without accents match.
func Fold(s string) string {
	s = strings.ToLower(s)
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return s
	}
	t := folder.Get().(transform.Transformer)
	defer folder.Put(t)
	t.Reset()
	out, _, err := transform.String(t, s)
	if err != nil {
		out = s
	}
	return strings.ReplaceAll(out, "ß", "ss")
}

// Stem returns the stem of a lowercased word in lang, folded ("returns",
// "returned" → "return"; "Rückgabe" → "ruckgab"). A word of an unknown
// language is only folded.
func Stem(lang Language, word string) string {
	stem := stemmers[lang]
	if stem == nil || len(word) < 3 || !isLetters(word) {
		return Fold(word)
	}
	return snowball(lang, stem, word)
}

// The terms of words are cached: stemming is the most of what indexing a
// text costs, and a knowledge base uses the same few thousand words over
// and over. The cache stops growing at maxTermCache words (a few MB).
const maxTermCache = 1 << 17

var (
	termCache  [7]sync.Map // by langIndex: word → term, "" for none
	termCached atomic.Int64
)

func langIndex(lang Language) int {
	for i, l := range Languages {
		if l == lang {
			return i + 1
		}
	}
	return 0
}

// snowball stems word with Snowball's stemmer for lang.
func snowball(lang Language, stem func(*snowballstem.Env) bool, word string) string {
	env := envs.Get().(*snowballstem.Env)
	defer envs.Put(env)
	env.SetCurrent(restoreAccents(lang, word))
	stem(env)
	out := Fold(env.Current())
	if lang == German {
		out = germanVerb(out)
	}
	return out
}

// germanVerb strips the -t and -et that German Snowball leaves on verbs
// ("kostet", "liefert", "verkauft", "geröstet"), so that the "ihr" and
// "er" forms people ask with meet the infinitives and nouns of the
// knowledge base ("kosten", "Lieferung", "verkaufen", "rösten"). Both
// sides go through it, so a noun it shortens ("Kraft") still meets itself.
func germanVerb(s string) string {
	if strings.HasPrefix(s, "ge") && len(s) >= 8 && strings.HasSuffix(s, "t") {
		s = s[2:] // a participle: "gerostet" → "rostet"
	}
	switch {
	case len(s) >= 6 && strings.HasSuffix(s, "et"):
		return s[:len(s)-2]
	case len(s) >= 5 && strings.HasSuffix(s, "t") && strings.ContainsRune("bfklmnpr", rune(s[len(s)-2])):
		return s[:len(s)-1]
	}
	return s
}

// IsStopword reports whether the lowercased word is a stop word of lang, or
// of any language SeaChat reads when lang is Unknown.
func IsStopword(lang Language, word string) bool {
	w := Fold(word)
	if lang != Unknown {
		return stopwords[lang][w]
	}
	for _, l := range Languages {
		if stopwords[l][w] {
			return true
		}
	}
	return false
}

// Terms returns the terms of s that say what it is about: its words
// without stop words and single letters, stemmed in lang (a stem that is
// a stop word is dropped too: "fürs" → "fur"). Numbers are
// kept ("30 days" → "30", "day").
func Terms(lang Language, s string) []string {
	words := Words(s)
	out := words[:0]
	for _, w := range words {
		if t := term(lang, w); t != "" {
			out = append(out, t)
		}
	}
	return out
}

// term returns the term a lowercased word stands for in lang, "" for a
// single letter or a stop word (also when its stem is one: "fürs" →
// "fur").
func term(lang Language, w string) string {
	cache := &termCache[langIndex(lang)]
	if v, ok := cache.Load(w); ok {
		return v.(string)
	}
	t := ""
	if !(utf8.RuneCountInString(w) == 1 && !unicode.IsDigit(rune(w[0])) || IsStopword(lang, w)) {
		if st := Stem(lang, w); !IsStopword(lang, st) {
			t = st
		}
	}
	if termCached.Add(1) <= maxTermCache {
		cache.Store(strings.Clone(w), t)
	}
	return t
}

// stopLangs has, for every stop word, a bit per language it is a stop
// word of: bit langIndex(l).
var stopLangs = func() map[string]uint8 {
	m := map[string]uint8{}
	for _, l := range Languages {
		for w := range stopwords[l] {
			m[w] |= 1 << langIndex(l)
		}
	}
	return m
}()

// detectBytes is how much of a text Detect reads: a few hundred words
// tell its language as well as the whole.
const detectBytes = 4000

// Detect returns the language s is most likely written in, judged by its
// stop words and by letters that only some languages use; Unknown when
// nothing tells (a single product name, a number).
func Detect(s string) Language {
	if len(s) > detectBytes {
		cut := detectBytes
		for cut < len(s) && !utf8.RuneStart(s[cut]) {
			cut++
		}
		s = s[:cut]
	}
	var score [8]float64 // by langIndex
	for w := range strings.FieldsFuncSeq(s, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		mask := stopLangs[Fold(w)]
		for i := 1; mask != 0; i++ {
			if mask&2 != 0 {
				score[i]++
			}
			mask >>= 1
		}
	}
	for _, r := range s {
		switch r {
		case 'ß', 'ä', 'ö', 'ü', 'Ä', 'Ö', 'Ü':
			score[langIndex(German)] += 1.5
		case 'ñ', '¿', '¡', 'Ñ':
			score[langIndex(Spanish)] += 1.5
		case 'ç', 'œ', 'è', 'ê', 'ë', 'î', 'ï', 'û', 'ù':
			score[langIndex(French)] += 0.5
		case 'ã', 'õ':
			score[langIndex(Portuguese)] += 1.5
		case 'ò':
			score[langIndex(Italian)] += 0.5
		}
	}
	best, top, tie := Unknown, 0.0, false
	for _, l := range Languages {
		switch {
		case score[langIndex(l)] > top:
			best, top, tie = l, score[langIndex(l)], false
		case score[langIndex(l)] == top && top > 0:
			tie = true
		}
	}
	if tie {
		return Unknown
	}
	return best
}

// accentedSuffixes are endings that people typing on a phone write without
// their accent, and that the Snowball stemmers only strip with it
// ("devolucion" must stem like "devolución").
var accentedSuffixes = map[Language][][2]string{
	Spanish:    {{"cion", "ción"}, {"sion", "sión"}, {"ais", "áis"}, {"eis", "éis"}},
	Portuguese: {{"coes", "ções"}, {"cao", "ção"}, {"soes", "sões"}, {"sao", "são"}},
}

func restoreAccents(lang Language, word string) string {
	for _, s := range accentedSuffixes[lang] {
		if base, ok := strings.CutSuffix(word, s[0]); ok && len(base) >= 3 {
			return base + s[1]
		}
	}
	return word
}

func isLetters(w string) bool {
	for _, r := range w {
		if !unicode.IsLetter(r) {
			return false
		}
	}
	return true
}

// EditDistance returns the Levenshtein distance between a and b (in
// runes), or limit+1 when it is more than limit: it stops early then.
func EditDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d > limit || -d > limit {
		return limit + 1
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin > limit {
			return limit + 1
		}
		prev, cur = cur, prev
	}
	return min(prev[len(rb)], limit+1)
}

// Near reports whether a term of a question that a text does not hold may
// still mean one the text holds: one typo away (two for terms of eight
// letters or more, five letters at least, same first letter), or one
// starting the other ("rent" and "rental", "paddleboard" and "paddl"), the
// shorter of four letters or more. Numbers never are near one another.
func Near(q, known string) bool {
	if q == "" || known == "" || q[0] != known[0] || !isLetters(q) || !isLetters(known) {
		return false
	}
	n := utf8.RuneCountInString(q)
	if n >= 5 {
		limit := 1
		if n >= 8 {
			limit = 2
		}
		if EditDistance(q, known, limit) <= limit {
			return true
		}
	}
	short, long := q, known
	if len(short) > len(long) {
		short, long = long, short
	}
	return utf8.RuneCountInString(short) >= 4 && utf8.RuneCountInString(long)-utf8.RuneCountInString(short) <= 7 &&
		strings.HasPrefix(long, short)
}

// SplitCompound splits a term that two known words make ("paddleboard",
// "lifejacket") into their terms in lang, each of four letters or more
// before stemming, the first split that has reports known; false when
// there is none.
func SplitCompound(lang Language, t string, has func(string) bool) (head, tail string, ok bool) {
	if len(t) < 8 || !isLetters(t) {
		return "", "", false
	}
	for i := 4; i+4 <= len(t); i++ {
		if !utf8.RuneStart(t[i]) {
			continue
		}
		h, tl := Stem(lang, t[:i]), Stem(lang, t[i:])
		if has(h) && has(tl) {
			return h, tl, true
		}
	}
	return "", "", false
}
