package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// InboxEvent is one Messenger webhook event, stored before it is acknowledged
// and processed by the inbox workers at least once.
type InboxEvent struct{ ent.Schema }

// Mixin of the InboxEvent.
func (InboxEvent) Mixin() []ent.Mixin { return []ent.Mixin{WorkspaceMixin{}} }

// Fields of the InboxEvent.
func (InboxEvent) Fields() []ent.Field {
	return []ent.Field{
		field.Int("channel_id").Immutable(),
		field.String("dedup_key").Immutable().Comment("mid, or kind+psid+timestamp: Meta redelivers."),
		field.String("psid").Default("").Immutable().Comment("Events of one user are processed in order."),
		field.Bytes("payload").Immutable().
			Comment(`{"page_id","standby","event"}: the raw messaging object as Meta sent it, and its entry (see inbox.EncodeEvent).`),
		field.Enum("status").Values("PENDING", "DONE", "FAILED").Default("PENDING"),
		field.Int("attempts").Default(0).Comment("Claims so far; also fences a worker whose lease was lost."),
		field.Time("available_at").Default(time.Now).Comment("Not processed before; moves on retries and claims."),
		field.String("claimed_by").Optional().Nillable().
			Comment("The Process working on the event now; a claim of a dead process is taken over."),
		field.String("last_error").Optional().Nillable(),
		field.Time("event_time").Optional().Nillable().
			Comment("Meta's timestamp, or received_at when absent. Always set by the inbox: it orders a user's events."),
		field.Time("received_at").Default(time.Now).Immutable(),
		field.Time("processed_at").Optional().Nillable(),
	}
}

// Indexes of the InboxEvent.
func (InboxEvent) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("channel_id", "dedup_key").Unique(),
		index.Fields("status", "available_at"),
		// The claim walks pending events oldest first, and checks that no
		// other event of the same user is older or leased.
		index.Fields("status", "event_time"),
		index.Fields("channel_id", "psid", "status", "event_time"),
	}
}

// Annotations of the InboxEvent.
func (InboxEvent) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
