package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
)

// APIToken is a bearer token of a workspace. Only its SHA-256 hash is stored.
type APIToken struct{ ent.Schema }

// Mixin of the APIToken.
func (APIToken) Mixin() []ent.Mixin { return []ent.Mixin{WorkspaceMixin{}, TimeMixin{}} }

// Fields of the APIToken.
func (APIToken) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty(),
		field.Enum("role").Values("OWNER", "AGENT").Annotations(entgql.Type("Role")),
		field.String("token_hash").Unique().Immutable().Sensitive().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Bool("admin").Default(false).Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Time("last_used_at").Optional().Nillable(),
		field.Time("revoked_at").Optional().Nillable(),
	}
}

// Policy of the APIToken.
func (APIToken) Policy() ent.Policy { return ownerOnly() }
