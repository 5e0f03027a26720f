package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// ConversationRead is how far one API token has read one conversation:
// the person's messages after last_read_message_id are its unread ones. A
// token that never read a conversation has no row.
type ConversationRead struct{ ent.Schema }

// Mixin of the ConversationRead.
func (ConversationRead) Mixin() []ent.Mixin { return []ent.Mixin{WorkspaceMixin{}} }

// Fields of the ConversationRead.
func (ConversationRead) Fields() []ent.Field {
	return []ent.Field{
		field.Int("token_id").Immutable(),
		field.Int("conversation_id").Immutable(),
		field.Int("last_read_message_id").Default(0).
			Comment("The newest message of the conversation when the token last read it; 0: none."),
		field.Time("read_at").Default(time.Now),
	}
}

// Edges of the ConversationRead.
func (ConversationRead) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("token", APIToken.Type).Field("token_id").Unique().Required().Immutable(),
		edge.To("conversation", Conversation.Type).Field("conversation_id").Unique().Required().Immutable(),
	}
}

// Indexes of the ConversationRead.
func (ConversationRead) Indexes() []ent.Index {
	return []ent.Index{index.Fields("token_id", "conversation_id").Unique()}
}

// Annotations of the ConversationRead.
func (ConversationRead) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
