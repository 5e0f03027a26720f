// Package viewer carries who is acting — an API token of a workspace, or the
// system itself — through a context.Context. The ent privacy rules read it to
// keep every query and mutation inside the viewer's workspace.
package viewer

import "context"

// Role is what a token may do inside its workspace.
type Role string

// The roles of API.md: owners set things up, agents handle conversations.
const (
	RoleOwner Role = "OWNER"
	RoleAgent Role = "AGENT"
)

// Viewer is the identity behind a request.
type Viewer struct {
	WorkspaceID int
	TokenID     int
	TokenName   string
	Role        Role
	// Admin marks the built-in admin token, which may also create workspaces.
	Admin bool
}

// IsOwner reports whether the viewer has setup rights in its workspace.
func (v Viewer) IsOwner() bool { return v.Role == RoleOwner }

type ctxKey struct{}

// NewContext returns a copy of ctx that carries v.
func NewContext(ctx context.Context, v Viewer) context.Context {
	return context.WithValue(ctx, ctxKey{}, v)
}

// FromContext returns the viewer in ctx, if any.
func FromContext(ctx context.Context) (Viewer, bool) {
	v, ok := ctx.Value(ctxKey{}).(Viewer)
	return v, ok
}
