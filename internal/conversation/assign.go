package conversation

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/apitoken"
	"github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/predicate"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/viewer"
)

// Assign gives the conversation to the API token assigneeID of the
// viewer's workspace, or unassigns it (nil). An OWNER token may assign
// anyone; an AGENT token only itself, and may unassign only itself. The
// status does not change: assignment says who handles the conversation,
// the status whether the bot or a human answers. A token of another
// workspace is NotFound, a revoked one InvalidArgument. It publishes
// KindUpdated when the assignee changed.
func (s *Service) Assign(ctx context.Context, convID int, assigneeID *int) (c *ent.Conversation, err error) {
	defer apperr.Wrap(&err, "conversation.Assign(%d)", convID)
	v, ok := viewer.FromContext(ctx)
	if !ok || v.TokenID == 0 {
		return nil, apperr.Errorf(apperr.Unauthenticated, "assigning needs an API token")
	}
	now := s.now()
	err = s.inTx(ctx, func(t *txScope) error {
		cur, err := t.lock(ctx, convID)
		if err != nil {
			return err
		}
		var tok *ent.APIToken
		if assigneeID != nil {
			// The workspace's privacy filter makes another workspace's
			// token NotFound.
			tok, err = t.client.APIToken.Query().Where(apitoken.ID(*assigneeID)).Only(ctx)
			if ent.IsNotFound(err) {
				return apperr.Errorf(apperr.NotFound, "assigneeId: API token %d not found in your workspace", *assigneeID)
			}
			if err != nil {
				return err
			}
			if tok.RevokedAt != nil {
				return apperr.Errorf(apperr.InvalidArgument, "assigneeId: the token %q is revoked: assign someone else", tok.Name)
			}
		}
		if !v.IsOwner() {
			switch {
			case tok != nil && tok.ID != v.TokenID:
				return apperr.Errorf(apperr.PermissionDenied,
					"an AGENT token may assign a conversation only to itself: use an OWNER token to assign %s", tok.Name)
			case tok == nil && cur.AssigneeID != nil && *cur.AssigneeID != v.TokenID:
				return apperr.Errorf(apperr.PermissionDenied,
					"an AGENT token may unassign only itself, and %s has this conversation: use an OWNER token", t.assigneeName(ctx, cur))
			}
		}
		if sameAssignee(cur.AssigneeID, tok) {
			c = cur
			return nil
		}
		u := t.client.Conversation.UpdateOneID(convID).SetUpdatedAt(now)
		if tok != nil {
			u.SetAssigneeID(tok.ID).SetAssignedTo(tok.Name)
		} else {
			u.ClearAssigneeID().ClearAssignedTo()
		}
		if c, err = u.Save(ctx); err != nil {
			return err
		}
		t.publish(conversationEvent(c, KindUpdated))
		return nil
	})
	return detach(ctx, c), err
}

func sameAssignee(cur *int, tok *ent.APIToken) bool {
	if cur == nil || tok == nil {
		return cur == nil && tok == nil
	}
	return *cur == tok.ID
}

// claimForReply readies conversation c, locked by the caller's
// transaction, for a reply from the viewer: a CLOSED conversation is a
// Conflict, and so is one assigned to another token unless takeOver; a BOT
// or HANDOFF_REQUESTED one becomes HUMAN, so the bot and a human never both
// answer; and the conversation ends up assigned to the viewer. It returns
// the conversation as it is afterwards and publishes KindUpdated when that
// changed anything.
func (t *txScope) claimForReply(ctx context.Context, c *ent.Conversation, takeOver bool, now time.Time) (*ent.Conversation, error) {
	if c.Status == conversation.StatusCLOSED {
		return nil, conflict(c, "it reopens when the person writes again")
	}
	name, token := actorName(ctx), actorToken(ctx)
	mine := token != nil && c.AssigneeID != nil && *c.AssigneeID == *token
	if c.AssigneeID != nil && !mine && !takeOver {
		return nil, apperr.Errorf(apperr.Conflict,
			"conversation is assigned to %s; to reply anyway, pass takeOver: true and it becomes yours", t.assigneeName(ctx, c))
	}
	u := t.client.Conversation.UpdateOneID(c.ID)
	changed := false
	if c.Status != conversation.StatusHUMAN {
		u.SetStatus(conversation.StatusHUMAN).SetAssignedTo(name).SetHandoffAcceptedAt(now)
		changed = true
	}
	if token != nil && !mine {
		u.SetAssigneeID(*token).SetAssignedTo(name)
		changed = true
	}
	if !changed {
		return c, nil
	}
	c, err := u.SetUpdatedAt(now).Save(ctx)
	if err != nil {
		return nil, err
	}
	t.publish(conversationEvent(c, KindUpdated))
	return c, nil
}

// assigneeName names the token c is assigned to, for messages.
func (t *txScope) assigneeName(ctx context.Context, c *ent.Conversation) string {
	if c.AssigneeID == nil {
		return "nobody"
	}
	name, err := t.client.APIToken.Query().Where(apitoken.ID(*c.AssigneeID)).Select(apitoken.FieldName).String(ctx)
	if err != nil {
		return fmt.Sprintf("another token (%d)", *c.AssigneeID)
	}
	return name
}

// actorToken is the viewer's API token id, or nil for the system.
func actorToken(ctx context.Context) *int {
	if v, ok := viewer.FromContext(ctx); ok && v.TokenID != 0 {
		return &v.TokenID
	}
	return nil
}

// SendOption adjusts SendAgentMessage.
type SendOption func(*sendOptions)

type sendOptions struct {
	takeOver   bool
	attachment *Upload
}

// TakeOver lets SendAgentMessage reply in a conversation assigned to
// another token, which then becomes the sender's.
func TakeOver(yes bool) SendOption { return func(o *sendOptions) { o.takeOver = yes } }

// WithAttachment adds a file to send with the message (not supported
// yet: SendAgentMessage refuses it).
func WithAttachment(u *Upload) SendOption { return func(o *sendOptions) { o.attachment = u } }

// Upload is a file staff send.
type Upload struct {
	Filename    string
	ContentType string
	Size        int64
	File        io.Reader
}

func sendOpts(opts []SendOption) sendOptions {
	var o sendOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// errAttachments is SendAgentMessage's answer to an attachment.
var errAttachments = apperr.Errorf(apperr.InvalidArgument,
	"attachment: attachments are not supported yet; send the text alone")

// AssignedToToken matches conversations assigned to the API token tokenID.
func AssignedToToken(tokenID int) predicate.Conversation { return conversation.AssigneeID(tokenID) }

// Unassigned matches conversations nobody is assigned to (yes) or that
// someone is (no).
func Unassigned(yes bool) predicate.Conversation {
	if yes {
		return conversation.AssigneeIDIsNil()
	}
	return conversation.AssigneeIDNotNil()
}
