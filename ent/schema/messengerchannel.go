package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// MessengerChannel connects an agent to one Facebook Page.
type MessengerChannel struct{ ent.Schema }

// Mixin of the MessengerChannel.
func (MessengerChannel) Mixin() []ent.Mixin { return []ent.Mixin{WorkspaceMixin{}, TimeMixin{}} }

// Fields of the MessengerChannel.
func (MessengerChannel) Fields() []ent.Field {
	return []ent.Field{
		field.Int("agent_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.String("webhook_key").Unique().Immutable().Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("The unguessable last segment of the callback URL."),
		field.String("verify_token").Immutable(),
		field.Enum("status").
			Values("AWAITING_VERIFICATION", "AWAITING_PAGE_TOKEN", "CONNECTED", "ERROR", "REMOVED").
			Default("AWAITING_VERIFICATION").Annotations(entgql.Type("ChannelStatus")),
		field.Time("verified_at").Optional().Nillable(),
		field.String("page_id").Optional().Nillable().
			Annotations(entgql.Skip(entgql.SkipType)), // exposed as pageId in schema/seachat.graphqls
		field.String("page_name").Optional().Nillable(),
		field.Bytes("page_token_enc").Optional().Nillable().Sensitive().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bytes("app_secret_enc").Optional().Nillable().Sensitive().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("last_event_at").Optional().Nillable(),
		field.String("last_error").Optional().Nillable(),
		field.Time("token_checked_at").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("removed_at").Optional().Nillable(),
	}
}

// Edges of the MessengerChannel.
func (MessengerChannel) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("agent", Agent.Type).Ref("messenger_channels").Field("agent_id").
			Unique().Required().Immutable(),
	}
}

// Indexes of the MessengerChannel.
func (MessengerChannel) Indexes() []ent.Index {
	return []ent.Index{index.Fields("page_id")}
}

// Policy of the MessengerChannel.
func (MessengerChannel) Policy() ent.Policy { return ownerOnly() }
