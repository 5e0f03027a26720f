package conversation

import (
	"strings"
	"unicode"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/seachat/seachat/ent/contact"
	entconv "github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/ent/predicate"
	"github.com/seachat/seachat/internal/store"
)

// Limits of a search.
const (
	// MaxSearchTerms is how many words of a search are used; the rest are
	// ignored.
	MaxSearchTerms = 16
	// MaxSearchTermLength is how many characters of one word are used.
	MaxSearchTermLength = 100
)

// Matching matches conversations in which every word of search appears,
// each in one of their messages or in the contact's name (different words
// may match different messages). A word matches whole words that start with
// it, ignoring case but not accents: "bike" finds "Bikes" and "bike-friendly"
// but not "ebike". Words are separated by spaces; punctuation inside one is
// matched as the database's tokenizer reads it ("e-bikes" finds the phrase
// "e-bikes"). Search syntax is never interpreted: quotes, operators (AND,
// OR, NOT, NEAR, -, *, :, &, |, !) and brackets are plain text, so any input
// is a valid search. A search without letters or digits matches every
// conversation.
//
// It uses the full-text indexes of store.Migrate: GIN indexes on
// to_tsvector('simple', …) on PostgreSQL, FTS5 tables on SQLite.
func Matching(search string) predicate.Conversation {
	terms := SearchTerms(search)
	return func(s *sql.Selector) {
		for _, term := range terms {
			s.Where(sql.Or(
				sql.In(s.C(entconv.FieldID), messagesMatching(s.Dialect(), term)),
				sql.In(s.C(entconv.FieldContactID), contactsMatching(s.Dialect(), term)),
			))
		}
	}
}

// SearchTerms splits a search into the words Matching looks for: separated
// by white space, each holding at least one letter or digit, with invalid
// UTF-8 and NUL bytes removed, at most MaxSearchTerms of them, each cut to
// MaxSearchTermLength characters.
func SearchTerms(search string) []string {
	var terms []string
	for _, w := range strings.Fields(cleanText(search)) {
		if !strings.ContainsFunc(w, isWordRune) {
			continue
		}
		if r := []rune(w); len(r) > MaxSearchTermLength {
			w = string(r[:MaxSearchTermLength])
		}
		terms = append(terms, w)
		if len(terms) == MaxSearchTerms {
			break
		}
	}
	return terms
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }

// messagesMatching selects the conversation IDs of messages containing term.
func messagesMatching(d, term string) *sql.Selector {
	if d == dialect.Postgres {
		return sql.Dialect(d).Select(message.FieldConversationID).From(sql.Table(message.Table)).
			Where(tsMatch("to_tsvector('simple', "+message.FieldText+")", term))
	}
	return sql.Dialect(d).Select(message.FieldConversationID).From(sql.Table(message.Table)).
		Where(sql.In(message.FieldID, ftsMatch(store.MessagesFTS, term)))
}

// contactsMatching selects the IDs of contacts whose name contains term.
func contactsMatching(d, term string) *sql.Selector {
	if d == dialect.Postgres {
		return sql.Dialect(d).Select(contact.FieldID).From(sql.Table(contact.Table)).
			Where(tsMatch("to_tsvector('simple', coalesce("+contact.FieldName+", ''))", term))
	}
	return ftsMatch(store.ContactsFTS, term)
}

// tsMatch is `vector @@ to_tsquery('simple', 'term':*)`. The vector
// expression is the one the GIN index was built on, so the index serves it.
// Quoted, the term is one lexeme or phrase whatever it contains; its last
// word matches as a prefix.
func tsMatch(vector, term string) *sql.Predicate {
	quoted := "'" + strings.NewReplacer(`\`, `\\`, `'`, `''`).Replace(term) + "':*"
	return sql.P(func(b *sql.Builder) {
		b.WriteString(vector).WriteString(" @@ to_tsquery('simple', ").Arg(quoted).WriteString(")")
	})
}

// ftsMatch selects the rowids of the FTS5 table fts matching term as a
// quoted phrase whose last word is a prefix.
func ftsMatch(fts, term string) *sql.Selector {
	quoted := `"` + strings.ReplaceAll(term, `"`, `""`) + `"*`
	return sql.Dialect(dialect.SQLite).Select("rowid").From(sql.Table(fts)).
		Where(sql.P(func(b *sql.Builder) { b.WriteString(fts).WriteString(" MATCH ").Arg(quoted) }))
}
