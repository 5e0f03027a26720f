package conversation

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxTextLength is the longest text of one Messenger message. It is counted
// in UTF-16 code units, as Meta's limit most likely is; that is never fewer
// than the characters (runes), so a part also has at most this many runes.
const MaxTextLength = 2000

// MaxAgentMessageLength is the longest text SendAgentMessage accepts, in
// characters (runes) after trimming: 20,000, ten full Messenger messages
// (a few more when Split cuts at sentence ends, or when characters outside
// the Basic Multilingual Plane count twice). That is far more than a person writes in a chat reply, and it bounds the
// Send API calls one mutation can make (an 896 KB paste once became 450).
// Longer text is a mistake (a pasted file or log), better sent as an
// attachment or a link.
const MaxAgentMessageLength = 10 * MaxTextLength

// Split cuts text into messages of at most limit UTF-16 code units each
// (limit < 1 means MaxTextLength). It cuts after a sentence where it can,
// else between words, else between characters, never inside a character
// or before a combining mark. The parts add nothing and lose nothing: joined
// with the whitespace that was dropped at the cuts, they are text without its
// leading and trailing whitespace. Text that is blank gives no parts.
func Split(text string, limit int) []string {
	if limit < 1 {
		limit = MaxTextLength
	}
	text = strings.TrimSpace(text)
	var parts []string
	for text != "" {
		end, fits := prefixWithin(text, limit)
		if fits {
			parts = append(parts, text)
			break
		}
		cut := cutPoint(text, end)
		parts = append(parts, strings.TrimRightFunc(text[:cut], unicode.IsSpace))
		text = strings.TrimLeftFunc(text[cut:], unicode.IsSpace)
	}
	return parts
}

// prefixWithin returns the byte length of the longest prefix of s of at most
// limit UTF-16 code units, and whether that is all of s.
func prefixWithin(s string, limit int) (int, bool) {
	units := 0
	for i, r := range s {
		n := 1
		if r > 0xFFFF {
			n = 2
		}
		if units+n > limit {
			return i, false
		}
		units += n
	}
	return len(s), true
}

// cutPoint picks where to cut s, whose first end bytes fit: the last
// sentence end if it leaves the part at least half full, else the last space,
// else the last sentence end, else a character boundary. s starts with a
// non-space, so every candidate is > 0 and the part is not blank.
func cutPoint(s string, end int) int {
	sentence, word := 0, 0
	for i, r := range s[:end] {
		if i == 0 {
			continue
		}
		prev, _ := utf8.DecodeLastRuneInString(s[:i])
		switch {
		case unicode.IsSpace(r):
			word = i
			if r == '\n' || endsSentence(s[:i]) {
				sentence = i
			}
		case isCJKStop(prev):
			// CJK sentences end without a space after the stop.
			sentence = i
		}
	}
	// A space right after the fitting prefix is a boundary too.
	if r, _ := utf8.DecodeRuneInString(s[end:]); unicode.IsSpace(r) {
		word = end
		if r == '\n' || endsSentence(s[:end]) {
			sentence = end
		}
	}
	switch {
	case sentence >= end/2:
		return sentence
	case word > 0:
		return word
	case sentence > 0:
		return sentence
	}
	return graphemeSafe(s, end)
}

// endsSentence reports whether s ends with sentence punctuation, possibly
// followed by closing quotes or brackets.
func endsSentence(s string) bool {
	s = strings.TrimRight(s, "\"')]}’”»」』")
	r, _ := utf8.DecodeLastRuneInString(s)
	switch r {
	case '.', '!', '?', '…', ';', ':':
		return true
	}
	return isCJKStop(r)
}

func isCJKStop(r rune) bool {
	switch r {
	case '。', '！', '？', '｡':
		return true
	}
	return false
}

// graphemeSafe moves a hard cut at i back so that it does not separate a
// character from the marks, joiners, variation selectors or skin tones that
// belong to it, nor split a flag. If the whole prefix is one such cluster it cuts at i anyway.
func graphemeSafe(s string, i int) int {
	for j := i; j > 0; {
		next, _ := utf8.DecodeRuneInString(s[j:])
		prev, size := utf8.DecodeLastRuneInString(s[:j])
		if !extends(next) && prev != '\u200D' && !(isRegionalIndicator(prev) && isRegionalIndicator(next)) {
			return j
		}
		j -= size
	}
	return i
}

// isRegionalIndicator reports whether r is half of a flag emoji. A run of
// them is kept whole, which never splits a flag.
func isRegionalIndicator(r rune) bool { return r >= 0x1F1E6 && r <= 0x1F1FF }

// extends reports whether r attaches to the character before it.
func extends(r rune) bool {
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Mc) ||
		r == '\u200D' || // zero width joiner
		r >= '\uFE00' && r <= '\uFE0F' || // variation selectors
		r >= 0x1F3FB && r <= 0x1F3FF || // emoji skin tones
		r >= 0xE0020 && r <= 0xE007F || // tag characters (flags)
		r >= 0xE0100 && r <= 0xE01EF
}
