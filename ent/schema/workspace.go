package schema

import (
	"context"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/entql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"

	"github.com/seachat/seachat/ent/privacy"
	"github.com/seachat/seachat/internal/viewer"
)

// Workspace is a tenant: a business and everything it owns.
type Workspace struct{ ent.Schema }

// Mixin of the Workspace.
func (Workspace) Mixin() []ent.Mixin { return []ent.Mixin{TimeMixin{}} }

// Fields of the Workspace.
func (Workspace) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").NotEmpty(),
	}
}

// Annotations of the Workspace.
func (Workspace) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}

// Policy of the Workspace: a viewer sees its own workspace only, and
// workspaces are created by the auth service alone.
func (Workspace) Policy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{privacy.AlwaysDenyRule()},
		Query: privacy.QueryPolicy{privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
			v, ok := viewer.FromContext(ctx)
			if !ok {
				return privacy.Denyf("no viewer in context")
			}
			wf, ok := f.(interface{ WhereID(entql.IntP) })
			if !ok {
				return privacy.Denyf("unexpected filter type %T", f)
			}
			wf.WhereID(entql.IntEQ(v.WorkspaceID))
			return privacy.Skip
		})},
	}
}
