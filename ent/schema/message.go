package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"

	"github.com/seachat/seachat/ent/schema/schematype"
)

// Message is one message of a conversation, in either direction. A reply is
// one Message however many send attempts it took.
type Message struct{ ent.Schema }

// Mixin of the Message.
func (Message) Mixin() []ent.Mixin { return []ent.Mixin{WorkspaceMixin{}, TimeMixin{}} }

// Fields of the Message.
func (Message) Fields() []ent.Field {
	return []ent.Field{
		field.Int("conversation_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Int("channel_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("Denormalised from the conversation so that mid is unique per channel."),
		field.Enum("direction").Values("INBOUND", "OUTBOUND").Immutable().Annotations(entgql.Type("Direction")),
		// NOTE messages are staff's internal notes: OUTBOUND and RECEIVED
		// (stored, nothing to deliver), never sent to Meta.
		field.Enum("author").Values("USER", "BOT", "AGENT", "SYSTEM", "NOTE").Immutable().Annotations(entgql.Type("Author")),
		field.Text("text").Default(""),
		field.JSON("attachments", []schematype.Attachment{}).Default([]schematype.Attachment{}).
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("mid").Optional().Nillable().Comment("Meta's message id."),
		field.Enum("delivery_status").Values("RECEIVED", "PENDING", "SENT", "FAILED").Default("RECEIVED").
			Annotations(entgql.Type("DeliveryStatus")),
		field.String("error").Optional().Nillable(),
		field.JSON("citations", []schematype.Citation{}).Default([]schematype.Citation{}).
			Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bool("answered").Optional().Nillable().
			Comment("On BOT replies: whether the knowledge base had the answer."),
		field.String("sent_by").Optional().Nillable(),
		field.Int("attempts").Default(0),
		field.Time("event_time").Optional().Nillable().Comment("Messenger's timestamp of the event."),
		// Bookkeeping of the bot engine and the outbound pipeline; internal.
		field.Int("in_reply_to_id").Optional().Nillable().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("On BOT and SYSTEM replies: the inbound message they answer."),
		field.Time("bot_handled_at").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("On inbound USER messages: when the bot decided on them (replies stored, or none due)."),
		field.Bool("offer_handoff").Default(false).Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment(`The message carries the quick reply "Talk to a human".`),
		field.Time("last_attempt_at").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("When the last send attempt started."),
		field.String("claimed_by").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("The Process sending this PENDING reply now; a claim of a dead process is taken over."),
		field.Time("send_after").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("A PENDING reply is not sent before (backoff after a transient failure)."),
	}
}

// Edges of the Message.
func (Message) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("conversation", Conversation.Type).Ref("messages").Field("conversation_id").
			Unique().Required().Immutable(),
	}
}

// Indexes of the Message.
func (Message) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("channel_id", "mid").Unique(),
		index.Fields("conversation_id", "created_at"),
		index.Fields("in_reply_to_id"),
		// The outbox looks for PENDING replies.
		index.Fields("delivery_status", "conversation_id"),
	}
}

// Annotations of the Message.
func (Message) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}
