package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
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
		// No where-input filter: an AGENT token could test guesses of this
		// OWNER-only secret through conversations(where: {hasChannelWith: …}).
		field.String("verify_token").Immutable().Annotations(entgql.Skip(entgql.SkipWhereInput)),
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

		// Diagnostics that internal/channel stores so that the health field
		// is computed from the row alone, without calling Meta.
		field.String("app_id").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("The Meta app subscribed to the page at Step 2, when it could be told apart from other apps."),
		field.JSON("subscribed_fields", []string{}).Optional().Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("The page's webhook fields for the app, as Meta last reported them; null: never read."),
		field.String("token_error").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("Why the page access token failed its last check, with the fix; null: it passed."),
		field.String("last_send_error").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("The fix for the last Send API failure caused by the app's setup; null after a send succeeds."),
		field.Time("bad_signature_at").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("When a webhook body signed with another secret than the channel's last arrived (at most once a minute)."),
		field.Time("profile_set_at").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("When the Page's Messenger profile (Get Started, greeting, menu) was last set; null: never."),
		field.String("profile_error").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("Why setting the Messenger profile last failed, with the fix; null: it succeeded."),
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
	return []ent.Index{
		index.Fields("page_id"),
		// A Page feeds at most one live channel, across all workspaces: two
		// would both answer every message.
		index.Fields("page_id").Unique().StorageKey("messengerchannel_live_page_id").
			Annotations(entsql.IndexWhere("status <> 'REMOVED'")),
	}
}

// Policy of the MessengerChannel.
func (MessengerChannel) Policy() ent.Policy { return ownerOnly() }
