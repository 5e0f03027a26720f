package conversation

import (
	"entgo.io/ent/dialect/sql"
	"entgo.io/ent/dialect/sql/sqljson"

	entconv "github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/predicate"
)

// TaggedWith matches conversations whose tags include tag, on SQLite and
// PostgreSQL alike.
func TaggedWith(tag string) predicate.Conversation {
	return func(s *sql.Selector) {
		s.Where(sqljson.ValueContains(s.C(entconv.FieldTags), tag))
	}
}
