package auth_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/agent"
	"github.com/seachat/seachat/ent/apitoken"
	"github.com/seachat/seachat/ent/privacy"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/pubsub"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
	"github.com/seachat/seachat/internal/viewer"
)

func newService(st *store.Store) *auth.Service {
	return auth.New(st.Client, slog.New(slog.NewTextHandler(io.Discard, nil)), time.Now)
}

func TestEnsureAdmin(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		svc := newService(st)

		generated, err := svc.EnsureAdmin(ctx, "")
		require.NoError(t, err)
		require.NotEmpty(t, generated, "first start generates a token")
		again, err := svc.EnsureAdmin(ctx, "")
		require.NoError(t, err)
		require.Empty(t, again, "a later start must not print a new token")
		v, err := svc.Authenticate(ctx, generated)
		require.NoError(t, err)
		require.True(t, v.Admin)
		require.Equal(t, viewer.RoleOwner, v.Role)

		// Setting SEACHAT_ADMIN_TOKEN replaces the generated token.
		none, err := svc.EnsureAdmin(ctx, "sct_configured")
		require.NoError(t, err)
		require.Empty(t, none)
		_, err = svc.Authenticate(ctx, generated)
		require.True(t, errors.Is(err, apperr.Unauthenticated), "the old admin token still works: %v", err)
		v2, err := svc.Authenticate(ctx, "sct_configured")
		require.NoError(t, err)
		require.Equal(t, v.WorkspaceID, v2.WorkspaceID, "the admin moved workspace")

		// Only hashes are stored.
		tokens, err := st.Client.APIToken.Query().All(auth.SystemContext(ctx))
		require.NoError(t, err)
		for _, tk := range tokens {
			require.NotEqual(t, "sct_configured", tk.TokenHash)
			require.NotEqual(t, generated, tk.TokenHash)
		}
	})
}

// TestAdminCannotBeLockedOut: an OWNER of the default workspace cannot
// revoke the built-in admin, and a start with SEACHAT_ADMIN_TOKEN always
// succeeds, also with a token that an earlier switch revoked (it used to
// fail with a UNIQUE constraint on the token hash).
func TestAdminCannotBeLockedOut(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		svc := newService(st)
		_, err := svc.EnsureAdmin(ctx, "sct_first")
		require.NoError(t, err)
		admin, err := svc.Authenticate(ctx, "sct_first")
		require.NoError(t, err)
		ownerCtx := viewer.NewContext(ctx, admin)

		err = svc.RevokeToken(ownerCtx, admin.TokenID)
		require.True(t, errors.Is(err, apperr.PermissionDenied), "revoking the admin: %v", err)
		require.Contains(t, apperr.Message(err), "SEACHAT_ADMIN_TOKEN")
		_, err = svc.Authenticate(ctx, "sct_first")
		require.NoError(t, err, "the admin token must still work")

		// Switch to another token and back: the first one was revoked by
		// the switch and must come back.
		for _, configured := range []string{"sct_second", "sct_first", "sct_first"} {
			_, err = svc.EnsureAdmin(ctx, configured)
			require.NoError(t, err, "start with SEACHAT_ADMIN_TOKEN=%s", configured)
		}
		v, err := svc.Authenticate(ctx, "sct_first")
		require.NoError(t, err)
		require.True(t, v.Admin)
		require.Equal(t, admin.TokenID, v.TokenID, "the same token row is re-enabled")
		_, err = svc.Authenticate(ctx, "sct_second")
		require.True(t, errors.Is(err, apperr.Unauthenticated), "the replaced admin token still works: %v", err)
		n, err := st.Client.APIToken.Query().Where(apitoken.Admin(true), apitoken.RevokedAtIsNil()).Count(auth.SystemContext(ctx))
		require.NoError(t, err)
		require.Equal(t, 1, n, "one active admin token")

		// A member's token cannot become the admin token.
		_, member, err := svc.CreateToken(ownerCtx, "member", apitoken.RoleOWNER)
		require.NoError(t, err)
		_, err = svc.EnsureAdmin(ctx, member)
		require.ErrorContains(t, err, "choose a new random one")
	})
}

// TestPrivacy checks tenant isolation at the data layer, where it is
// enforced, for reads, updates, deletes and creates.
func TestPrivacy(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		svc := newService(st)
		_, err := svc.EnsureAdmin(ctx, "sct_admin")
		require.NoError(t, err)
		admin, err := svc.Authenticate(ctx, "sct_admin")
		require.NoError(t, err)
		adminCtx := viewer.NewContext(ctx, admin)

		_, tokA, err := svc.CreateWorkspace(adminCtx, "A")
		require.NoError(t, err)
		_, tokB, err := svc.CreateWorkspace(adminCtx, "B")
		require.NoError(t, err)
		va, err := svc.Authenticate(ctx, tokA)
		require.NoError(t, err)
		vb, err := svc.Authenticate(ctx, tokB)
		require.NoError(t, err)
		ctxA, ctxB := viewer.NewContext(ctx, va), viewer.NewContext(ctx, vb)
		c := st.Client

		agentA, err := c.Agent.Create().SetName("A bot").Save(ctxA)
		require.NoError(t, err)
		require.Equal(t, va.WorkspaceID, agentA.WorkspaceID, "create was not stamped with the viewer's workspace")
		_, err = c.Agent.Create().SetName("B bot").Save(ctxB)
		require.NoError(t, err)

		n, err := c.Agent.Query().Count(ctxB)
		require.NoError(t, err)
		require.Equal(t, 1, n, "B counts A's agents")
		_, err = c.Agent.Get(ctxB, agentA.ID)
		require.True(t, ent.IsNotFound(err), "B reads A's agent: %v", err)
		err = c.Agent.UpdateOneID(agentA.ID).SetName("x").Exec(ctxB)
		require.True(t, ent.IsNotFound(err), "B updates A's agent: %v", err)
		err = c.Agent.DeleteOneID(agentA.ID).Exec(ctxB)
		require.True(t, ent.IsNotFound(err), "B deletes A's agent: %v", err)
		deleted, err := c.Agent.Delete().Where(agent.NameContains("bot")).Exec(ctxB)
		require.NoError(t, err)
		require.Equal(t, 1, deleted, "a bulk delete reached across workspaces")
		_, err = c.Agent.Get(ctxA, agentA.ID)
		require.NoError(t, err, "A's agent is gone")

		err = c.Agent.Create().SetName("planted").SetWorkspaceID(va.WorkspaceID).Exec(ctxB)
		require.True(t, errors.Is(err, privacy.Deny), "B created a row in A: %v", err)
		_, err = c.Agent.Query().All(ctx)
		require.True(t, errors.Is(err, privacy.Deny), "a query without a viewer was allowed: %v", err)
		_, err = c.APIToken.Query().Where(apitoken.Name("owner")).Only(ctxB)
		require.NoError(t, err, "B sees one owner token, its own")

		ws, err := c.Workspace.Query().All(ctxB)
		require.NoError(t, err)
		require.Len(t, ws, 1)
		require.Equal(t, "B", ws[0].Name)

		agentCtx := viewer.NewContext(ctx, viewer.Viewer{WorkspaceID: va.WorkspaceID, Role: viewer.RoleAgent})
		err = c.Agent.UpdateOneID(agentA.ID).SetName("renamed").Exec(agentCtx)
		require.True(t, errors.Is(err, privacy.Deny), "an AGENT token changed setup: %v", err)
		_, _, err = svc.CreateWorkspace(ctxA, "C")
		require.True(t, errors.Is(err, apperr.PermissionDenied), "a workspace owner created a workspace: %v", err)
	})
}

func TestRevoke(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		svc := newService(st)
		_, err := svc.EnsureAdmin(ctx, "sct_admin")
		require.NoError(t, err)
		admin, err := svc.Authenticate(ctx, "sct_admin")
		require.NoError(t, err)
		ownerCtx := viewer.NewContext(ctx, admin)

		tk, secret, err := svc.CreateToken(ownerCtx, "dashboard", apitoken.RoleAGENT)
		require.NoError(t, err)
		v, err := svc.Authenticate(ctx, secret)
		require.NoError(t, err)
		require.Equal(t, viewer.RoleAgent, v.Role)
		require.Equal(t, "dashboard", v.TokenName)

		require.NoError(t, svc.RevokeToken(ownerCtx, tk.ID))
		require.NoError(t, svc.RevokeToken(ownerCtx, tk.ID), "revoking twice")
		_, err = svc.Authenticate(ctx, secret)
		require.True(t, errors.Is(err, apperr.Unauthenticated))

		_, _, err = svc.CreateToken(ownerCtx, " ", apitoken.RoleAGENT)
		require.True(t, errors.Is(err, apperr.InvalidArgument))
	})
}

// TestRevokeAnnounces: a revocation is announced on TopicTokenRevoked once
// its transaction commits, never when it rolls back; Active follows it.
func TestRevokeAnnounces(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		bus := pubsub.NewMemory()
		t.Cleanup(func() { bus.Close() })
		svc := auth.New(st.Client, nil, time.Now, auth.WithPublisher(bus))
		_, err := svc.EnsureAdmin(ctx, "sct_admin")
		require.NoError(t, err)
		admin, err := svc.Authenticate(ctx, "sct_admin")
		require.NoError(t, err)
		ownerCtx := viewer.NewContext(ctx, admin)
		sub, err := bus.Subscribe(ctx, auth.TopicTokenRevoked, nil)
		require.NoError(t, err)
		tk, _, err := svc.CreateToken(ownerCtx, "laptop", apitoken.RoleAGENT)
		require.NoError(t, err)

		tx, err := st.Client.Tx(ownerCtx)
		require.NoError(t, err)
		txCtx := ent.NewTxContext(ent.NewContext(ownerCtx, tx.Client()), tx)
		require.NoError(t, svc.RevokeToken(txCtx, tk.ID))
		require.NoError(t, tx.Rollback())
		active, err := svc.Active(ctx, tk.ID)
		require.NoError(t, err)
		require.True(t, active, "a rolled-back revocation took effect")

		tx, err = st.Client.Tx(ownerCtx)
		require.NoError(t, err)
		txCtx = ent.NewTxContext(ent.NewContext(ownerCtx, tx.Client()), tx)
		require.NoError(t, svc.RevokeToken(txCtx, tk.ID))
		select {
		case ev := <-sub.Events():
			t.Fatalf("announced before the commit: %+v", ev)
		default:
		}
		require.NoError(t, tx.Commit())
		select {
		case ev := <-sub.Events():
			require.Equal(t, tk.ID, ev.ID)
			require.Equal(t, admin.WorkspaceID, ev.WorkspaceID)
		case <-time.After(5 * time.Second):
			t.Fatal("no announcement after the commit")
		}
		active, err = svc.Active(ctx, tk.ID)
		require.NoError(t, err)
		require.False(t, active)
	})
}
