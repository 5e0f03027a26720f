package conversation

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/cannedresponse"
	"github.com/seachat/seachat/ent/schema"
	"github.com/seachat/seachat/internal/apperr"
)

// NormalizeShortcut returns shortcut as canned responses store it: trimmed,
// without one leading "/", lowercase. It is InvalidArgument unless the
// result matches schema.ShortcutPattern.
func NormalizeShortcut(shortcut string) (string, error) {
	s := strings.ToLower(strings.TrimPrefix(strings.TrimSpace(shortcut), "/"))
	if !schema.ShortcutPattern.MatchString(s) {
		return "", apperr.Errorf(apperr.InvalidArgument,
			`shortcut: %q is not a shortcut: use 1 to 32 lowercase letters, digits, "_" or "-", without spaces (e.g. "/hours")`,
			truncate(shortcut, 40))
	}
	return s, nil
}

// CreateCannedResponse adds a canned response to the viewer's workspace.
// A shortcut the workspace already uses is a Conflict; text is trimmed and
// must be non-blank and at most MaxAgentMessageLength characters.
func (s *Service) CreateCannedResponse(ctx context.Context, shortcut, text string) (cr *ent.CannedResponse, err error) {
	defer apperr.Wrap(&err, "conversation.CreateCannedResponse(%q)", shortcut)
	sc, err := NormalizeShortcut(shortcut)
	if err != nil {
		return nil, err
	}
	text = strings.TrimSpace(cleanText(text))
	switch n := utf8.RuneCountInString(text); {
	case n == 0:
		return nil, apperr.Errorf(apperr.InvalidArgument, "text: write the response")
	case n > MaxAgentMessageLength:
		return nil, apperr.Errorf(apperr.InvalidArgument,
			"text: a canned response can have at most %d characters and this one has %d", MaxAgentMessageLength, n)
	}
	db := s.db(ctx)
	exists, err := db.CannedResponse.Query().Where(cannedresponse.Shortcut(sc)).Exist(ctx)
	if err != nil {
		return nil, err
	}
	if !exists {
		cr, err = db.CannedResponse.Create().SetShortcut(sc).SetText(text).Save(ctx)
	}
	if exists || ent.IsConstraintError(err) {
		return nil, apperr.Errorf(apperr.Conflict, "shortcut: /%s is already used in this workspace: delete it first or pick another", sc)
	}
	return cr, err
}

// DeleteCannedResponse deletes a canned response of the viewer's
// workspace; another's, or none, is NotFound.
func (s *Service) DeleteCannedResponse(ctx context.Context, id int) (err error) {
	defer apperr.Wrap(&err, "conversation.DeleteCannedResponse(%d)", id)
	n, err := s.db(ctx).CannedResponse.Delete().Where(cannedresponse.ID(id)).Exec(ctx)
	if err != nil {
		return err
	}
	if n == 0 {
		return apperr.Errorf(apperr.NotFound, "canned response %d not found", id)
	}
	return nil
}

// CannedResponses lists the viewer's workspace's canned responses by
// shortcut.
func (s *Service) CannedResponses(ctx context.Context) ([]*ent.CannedResponse, error) {
	return s.db(ctx).CannedResponse.Query().Order(cannedresponse.ByShortcut()).All(ctx)
}
