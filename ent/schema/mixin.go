package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
	"entgo.io/ent/schema/mixin"

	"github.com/seachat/seachat/ent/privacy"
)

// TimeMixin adds created_at and updated_at.
type TimeMixin struct{ mixin.Schema }

// Fields of the TimeMixin.
func (TimeMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("created_at").Default(time.Now).Immutable().
			Annotations(entgql.OrderField("CREATED_AT"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now).
			Annotations(entgql.OrderField("UPDATED_AT"), entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)),
	}
}

// WorkspaceMixin puts a row inside a workspace. Its privacy policy is the one
// place where tenant isolation is enforced: queries see only the viewer's
// workspace, updates and deletes touch only its rows, and creates are stamped
// with it. Rows of other workspaces simply do not exist for a viewer.
type WorkspaceMixin struct{ mixin.Schema }

// Fields of the WorkspaceMixin.
func (WorkspaceMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Int("workspace_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Edges of the WorkspaceMixin.
func (WorkspaceMixin) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("workspace", Workspace.Type).Field("workspace_id").Unique().Required().Immutable().
			Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the WorkspaceMixin.
func (WorkspaceMixin) Indexes() []ent.Index {
	return []ent.Index{index.Fields("workspace_id")}
}

// Policy of the WorkspaceMixin.
func (WorkspaceMixin) Policy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{stampWorkspace(), filterWorkspace()},
		Query:    privacy.QueryPolicy{filterWorkspace()},
	}
}
