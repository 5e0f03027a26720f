package schema

import (
	"context"

	"entgo.io/ent"
	"entgo.io/ent/entql"

	"github.com/seachat/seachat/ent/privacy"
	"github.com/seachat/seachat/internal/viewer"
)

// Privacy rules. Code that runs for no API token (webhook intake, workers,
// bootstrap) uses privacy.DecisionContext(ctx, privacy.Allow) and so skips
// them; everything else must carry a viewer, or it is denied.

// filterWorkspace narrows queries, updates and deletes to the viewer's
// workspace.
func filterWorkspace() privacy.QueryMutationRule {
	type workspaceFilter interface{ WhereWorkspaceID(entql.IntP) }
	return privacy.FilterFunc(func(ctx context.Context, f privacy.Filter) error {
		v, ok := viewer.FromContext(ctx)
		if !ok {
			return privacy.Denyf("no viewer in context")
		}
		wf, ok := f.(workspaceFilter)
		if !ok {
			return privacy.Denyf("unexpected filter type %T", f)
		}
		wf.WhereWorkspaceID(entql.IntEQ(v.WorkspaceID))
		return privacy.Skip
	})
}

// stampWorkspace sets the viewer's workspace on created rows and refuses rows
// created for another workspace.
func stampWorkspace() privacy.MutationRule {
	type workspaceMutation interface {
		WorkspaceID() (int, bool)
		SetWorkspaceID(int)
	}
	return privacy.MutationRuleFunc(func(ctx context.Context, m ent.Mutation) error {
		if !m.Op().Is(ent.OpCreate) {
			return privacy.Skip
		}
		v, ok := viewer.FromContext(ctx)
		if !ok {
			return privacy.Denyf("no viewer in context")
		}
		wm, ok := m.(workspaceMutation)
		if !ok {
			return privacy.Denyf("unexpected mutation type %T", m)
		}
		if id, set := wm.WorkspaceID(); set && id != v.WorkspaceID {
			return privacy.Denyf("row belongs to another workspace")
		}
		wm.SetWorkspaceID(v.WorkspaceID)
		return privacy.Skip
	})
}

// denyUnlessOwner keeps setup (agents, channels, knowledge, tokens) to OWNER
// tokens; AGENT tokens handle conversations only.
func denyUnlessOwner() privacy.MutationRule {
	return privacy.MutationRuleFunc(func(ctx context.Context, _ ent.Mutation) error {
		v, ok := viewer.FromContext(ctx)
		if !ok || !v.IsOwner() {
			return privacy.Denyf("an OWNER token is required")
		}
		return privacy.Skip
	})
}

// ownerOnly is the policy of setup entities: owner-only writes, workspace
// scoping from WorkspaceMixin.
func ownerOnly() ent.Policy {
	return privacy.Policy{Mutation: privacy.MutationPolicy{denyUnlessOwner()}}
}
