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

// Conversation is the one thread between a contact and a page's agent.
type Conversation struct{ ent.Schema }

// Mixin of the Conversation.
func (Conversation) Mixin() []ent.Mixin { return []ent.Mixin{WorkspaceMixin{}, TimeMixin{}} }

// Fields of the Conversation.
func (Conversation) Fields() []ent.Field {
	return []ent.Field{
		field.Int("agent_id").Immutable().Annotations(entgql.Skip(entgql.SkipType)),
		field.Int("channel_id").Immutable().Annotations(entgql.Skip(entgql.SkipType)),
		field.Int("contact_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("status").Values("BOT", "HANDOFF_REQUESTED", "HUMAN", "CLOSED").Default("BOT").
			Annotations(entgql.Type("ConversationStatus"), entgql.OrderField("STATUS")),
		field.Strings("tags").Default([]string{}),
		field.Time("handoff_requested_at").Optional().Nillable(),
		field.Time("handoff_accepted_at").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("When a human last took the conversation over (acceptHandoff or a reply); before handoff_requested_at: the latest request is not accepted yet."),
		field.String("assigned_to").Optional().Nillable().
			Comment("Name of the API token of the human who took the conversation over."),
		field.Int("assignee_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("The API token that handles the conversation; unset: unassigned."),
		field.Time("last_message_at").Default(time.Now).Annotations(entgql.OrderField("LAST_MESSAGE_AT")),
		field.Time("last_user_message_at").Optional().Nillable().
			Comment("Messenger timestamp of the user's last event: the messaging window runs from it."),
	}
}

// Edges of the Conversation.
func (Conversation) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("agent", Agent.Type).Ref("conversations").Field("agent_id").Unique().Required().Immutable(),
		edge.To("channel", MessengerChannel.Type).Field("channel_id").Unique().Required().Immutable(),
		edge.To("contact", Contact.Type).Field("contact_id").Unique().Required().Immutable(),
		edge.To("messages", Message.Type).Annotations(entgql.RelayConnection()),
		// Filtered with ConversationWhereInput's assigneeId and unassigned.
		edge.To("assignee", APIToken.Type).Field("assignee_id").Unique().
			Annotations(entgql.Skip(entgql.SkipWhereInput)),
	}
}

// Indexes of the Conversation.
func (Conversation) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("channel_id", "contact_id").Unique(),
		index.Fields("workspace_id", "last_message_at"),
		index.Fields("agent_id", "status"),
		index.Fields("assignee_id"),
	}
}

// Annotations of the Conversation.
func (Conversation) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.RelayConnection()}
}
