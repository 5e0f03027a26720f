// Package auth manages workspaces and API tokens and turns a bearer token into
// the viewer of a request.
//
// Tokens are 256-bit random strings shown once at creation; only their
// SHA-256 hash is stored, so a database leak reveals no usable token. (A slow
// password hash buys nothing for tokens of that entropy and would cost a hash
// per request.)
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/apitoken"
	"github.com/seachat/seachat/ent/privacy"
	"github.com/seachat/seachat/ent/workspace"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/pubsub"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/viewer"
)

// tokenPrefix makes SeaChat tokens recognisable (to people and to secret
// scanners).
const tokenPrefix = "sct_"

// DefaultWorkspace is the name of the built-in admin's workspace.
const DefaultWorkspace = "default"

// lastUsedGranularity bounds how often a token's last use is written.
const lastUsedGranularity = time.Minute

// TopicTokenRevoked is the pubsub topic on which RevokeToken announces a
// revocation, once committed. The event's ID is the token's: every replica's
// server closes the websockets that token authenticated, which would
// otherwise keep their access (a token is checked in connection_init).
const TopicTokenRevoked = "token_revoked"

// Publisher announces events to every replica; pubsub.Bus implements it.
type Publisher interface {
	Publish(ctx context.Context, ev pubsub.Event) error
}

// Service is the workspace and token service.
type Service struct {
	client    *ent.Client
	logger    *slog.Logger
	now       func() time.Time
	publisher Publisher
}

// Option configures the service.
type Option func(*Service)

// WithPublisher makes RevokeToken announce revocations on p
// (TopicTokenRevoked).
func WithPublisher(p Publisher) Option {
	return func(s *Service) { s.publisher = p }
}

// New returns the service. A nil logger discards logs.
func New(client *ent.Client, logger *slog.Logger, now func() time.Time, opts ...Option) *Service {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{client: client, logger: logger, now: now}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// SystemContext returns ctx with every privacy rule bypassed, for work that
// no API token does: bootstrap, token lookup, webhook intake, workers.
func SystemContext(ctx context.Context) context.Context {
	return privacy.DecisionContext(ctx, privacy.Allow)
}

// NewToken returns a new random token.
func NewToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return tokenPrefix + base64.RawURLEncoding.EncodeToString(b)
}

// HashToken returns the stored form of a token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Authenticate returns the viewer of a bearer token.
func (s *Service) Authenticate(ctx context.Context, token string) (viewer.Viewer, error) {
	token = strings.TrimSpace(token)
	if token == "" {
		return viewer.Viewer{}, apperr.Errorf(apperr.Unauthenticated,
			"missing API token: send the header Authorization: Bearer <token>")
	}
	sys := SystemContext(ctx)
	t, err := s.client.APIToken.Query().Where(apitoken.TokenHash(HashToken(token))).Only(sys)
	if ent.IsNotFound(err) {
		return viewer.Viewer{}, apperr.Errorf(apperr.Unauthenticated, "unknown API token: check it, or ask a workspace owner for a new one")
	}
	if err != nil {
		return viewer.Viewer{}, fmt.Errorf("looking up token: %w", err)
	}
	if t.RevokedAt != nil {
		return viewer.Viewer{}, apperr.Errorf(apperr.Unauthenticated, "this API token was revoked: ask a workspace owner for a new one")
	}
	now := s.now()
	if t.LastUsedAt == nil || now.Sub(*t.LastUsedAt) > lastUsedGranularity {
		if err := s.client.APIToken.UpdateOneID(t.ID).SetLastUsedAt(now).Exec(sys); err != nil {
			s.logger.Warn("recording token use", "token_id", t.ID, "error", err)
		}
	}
	return viewer.Viewer{
		WorkspaceID: t.WorkspaceID,
		TokenID:     t.ID,
		TokenName:   t.Name,
		Role:        viewer.Role(t.Role),
		Admin:       t.Admin,
	}, nil
}

// EnsureAdmin makes sure the built-in admin token of the default workspace
// exists. With configured set (SEACHAT_ADMIN_TOKEN), that token is the admin
// token and earlier admin tokens are revoked; a start with it always
// succeeds, re-enabling it if it was revoked (by an earlier switch of
// SEACHAT_ADMIN_TOKEN). Without it, a token is generated on the first start
// and returned (for printing once); on later starts the stored one stays
// valid and generated is "".
func (s *Service) EnsureAdmin(ctx context.Context, configured string) (generated string, err error) {
	defer apperr.Wrap(&err, "ensuring the admin token")
	ctx = SystemContext(ctx)
	tx, err := s.client.Tx(ctx)
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	ws, err := tx.Workspace.Query().Where(workspace.Name(DefaultWorkspace)).Order(workspace.ByID()).First(ctx)
	if ent.IsNotFound(err) {
		ws, err = tx.Workspace.Create().SetName(DefaultWorkspace).Save(ctx)
	}
	if err != nil {
		return "", err
	}
	if configured == "" {
		n, err := tx.APIToken.Query().Where(apitoken.Admin(true), apitoken.RevokedAtIsNil()).Count(ctx)
		if err != nil || n > 0 {
			return "", err
		}
		generated = NewToken()
		configured = generated
	}
	hash := HashToken(configured)
	if _, err := tx.APIToken.Update().
		Where(apitoken.Admin(true), apitoken.RevokedAtIsNil(), apitoken.TokenHashNEQ(hash)).
		SetRevokedAt(s.now()).Save(ctx); err != nil {
		return "", err
	}
	// The hash is unique: a token used before is brought back rather than
	// created a second time.
	t, err := tx.APIToken.Query().Where(apitoken.TokenHash(hash)).Only(ctx)
	switch {
	case ent.IsNotFound(err):
		err = tx.APIToken.Create().SetWorkspaceID(ws.ID).SetName("admin").SetRole(apitoken.RoleOWNER).
			SetAdmin(true).SetTokenHash(hash).Exec(ctx)
	case err != nil:
	case !t.Admin:
		err = errors.New("SEACHAT_ADMIN_TOKEN is already the token of a workspace member: choose a new random one")
	case t.RevokedAt != nil:
		err = tx.APIToken.UpdateOne(t).ClearRevokedAt().Exec(ctx)
	}
	if err != nil {
		return "", err
	}
	return generated, tx.Commit()
}

// CreateWorkspace creates a workspace and its first OWNER token. Only the
// built-in admin may.
func (s *Service) CreateWorkspace(ctx context.Context, name string) (*ent.Workspace, string, error) {
	if v, ok := viewer.FromContext(ctx); !ok || !v.Admin {
		return nil, "", apperr.Errorf(apperr.PermissionDenied, "only the built-in admin token (SEACHAT_ADMIN_TOKEN) can create workspaces")
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, "", apperr.Errorf(apperr.InvalidArgument, "name: a workspace needs a name")
	}
	client := store.Client(ctx, s.client)
	sys := SystemContext(ctx)
	ws, err := client.Workspace.Create().SetName(name).Save(sys)
	if err != nil {
		return nil, "", fmt.Errorf("creating workspace: %w", err)
	}
	token := NewToken()
	err = client.APIToken.Create().SetWorkspaceID(ws.ID).SetName("owner").SetRole(apitoken.RoleOWNER).
		SetTokenHash(HashToken(token)).Exec(sys)
	if err != nil {
		return nil, "", fmt.Errorf("creating the workspace's owner token: %w", err)
	}
	return ws, token, nil
}

// CreateToken creates a token in the viewer's workspace. The privacy policy
// keeps it to OWNER tokens.
func (s *Service) CreateToken(ctx context.Context, name string, role apitoken.Role) (*ent.APIToken, string, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, "", apperr.Errorf(apperr.InvalidArgument, "name: give the token a name, e.g. the person or app that will use it")
	}
	token := NewToken()
	t, err := store.Client(ctx, s.client).APIToken.Create().
		SetName(name).SetRole(role).SetTokenHash(HashToken(token)).Save(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("creating token: %w", err)
	}
	return t, token, nil
}

// Active reports whether the token with id exists and is not revoked.
// Long-lived connections call it to notice a revocation they were not told
// about.
func (s *Service) Active(ctx context.Context, id int) (bool, error) {
	ok, err := s.client.APIToken.Query().Where(apitoken.ID(id), apitoken.RevokedAtIsNil()).Exist(SystemContext(ctx))
	if err != nil {
		return false, fmt.Errorf("checking token %d: %w", id, err)
	}
	return ok, nil
}

// RevokeToken revokes a token of the viewer's workspace and, once that is
// committed, announces it on TopicTokenRevoked. Revoking twice is not an
// error, and announces it again (in case the first announcement was lost).
// The built-in admin token cannot be revoked here: it belongs to the
// process's configuration (SEACHAT_ADMIN_TOKEN), and a revoked one would
// lock the operator out.
func (s *Service) RevokeToken(ctx context.Context, id int) error {
	client := store.Client(ctx, s.client)
	t, err := client.APIToken.Get(ctx, id)
	if err != nil {
		return fmt.Errorf("finding token: %w", err)
	}
	if t.Admin {
		return apperr.Errorf(apperr.PermissionDenied,
			"the built-in admin token cannot be revoked through the API: change SEACHAT_ADMIN_TOKEN and restart SeaChat to replace it")
	}
	if t.RevokedAt == nil {
		if err := client.APIToken.UpdateOne(t).SetRevokedAt(s.now()).Exec(ctx); err != nil {
			return fmt.Errorf("revoking token: %w", err)
		}
	}
	store.AfterCommit(ctx, func() { s.announceRevoked(ctx, t) })
	return nil
}

// announceRevoked publishes the revocation of t. The revocation is already
// committed, so a failure costs only the prompt closing of t's websockets
// (their operations still check the token): it is logged, not returned.
func (s *Service) announceRevoked(ctx context.Context, t *ent.APIToken) {
	if s.publisher == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	ev := pubsub.Event{Topic: TopicTokenRevoked, WorkspaceID: t.WorkspaceID, Kind: "revoked", ID: t.ID}
	if err := s.publisher.Publish(ctx, ev); err != nil {
		s.logger.WarnContext(ctx, "announcing token revocation", "token_id", t.ID, "error", err)
	}
}
