package channel

import (
	"context"
	"fmt"

	"github.com/seachat/seachat/ent/messengerchannel"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/store"
)

// errTokenDead is what sending through an ERROR channel returns.
var errTokenDead = apperr.Errorf(apperr.Conflict,
	"the page access token of this channel stopped working, so sending is paused: "+fixDeadTokenSuffix)

// Send sends a text message through the channel's Page. It refuses, without
// calling Meta, when the channel is not CONNECTED (Conflict with the fix).
// A dead token (Meta code 190) sets the channel ERROR, so sending stops
// until the page is connected again; an app that is not Live or lacks
// permission is recorded for the SEND_API_OK health check. It does not
// retry: the error's kind and messenger.IsTransient tell the caller whether
// to. It runs with system rights and needs no viewer, so callers pass a
// channel ID they read under the viewer's privacy rules (a conversation's).
func (s *Service) Send(ctx context.Context, channelID int, req messenger.SendRequest) (_ messenger.SendResult, err error) {
	defer apperr.Wrap(&err, "channel.Send(%d)", channelID)
	var res messenger.SendResult
	err = s.withPage(ctx, channelID, true, func(g *messenger.Client, token string) error {
		var err error
		res, err = g.SendText(ctx, token, req)
		return err
	})
	return res, err
}

// SenderAction shows a typing indicator or marks the person's messages seen,
// with the same refusals and bookkeeping as Send.
func (s *Service) SenderAction(ctx context.Context, channelID int, psid string, a messenger.Action) (err error) {
	defer apperr.Wrap(&err, "channel.SenderAction(%d)", channelID)
	return s.withPage(ctx, channelID, true, func(g *messenger.Client, token string) error {
		return g.SenderAction(ctx, token, psid, a)
	})
}

// Profile fetches a person's Messenger profile through the channel's Page.
// It refuses like Send and marks the channel ERROR on a dead token; other
// failures (Meta withholds profiles from apps without Business Asset User
// Profile Access) are the caller's to ignore.
func (s *Service) Profile(ctx context.Context, channelID int, psid string) (_ messenger.Profile, err error) {
	defer apperr.Wrap(&err, "channel.Profile(%d)", channelID)
	var p messenger.Profile
	err = s.withPage(ctx, channelID, false, func(g *messenger.Client, token string) error {
		var err error
		p, err = g.UserProfile(ctx, token, psid)
		return err
	})
	return p, err
}

// withPage loads the channel, refuses unless it is CONNECTED, calls f with
// the channel's credentials and records what the call said about the
// channel. isSend marks Send API calls, whose setup errors feed SEND_API_OK.
func (s *Service) withPage(ctx context.Context, channelID int, isSend bool, f func(*messenger.Client, string) error) error {
	ch, err := s.Get(ctx, channelID)
	if err != nil {
		return err
	}
	switch ch.Status {
	case messengerchannel.StatusCONNECTED:
	case messengerchannel.StatusERROR:
		return errTokenDead
	case messengerchannel.StatusREMOVED:
		return apperr.Errorf(apperr.Conflict, "this Messenger channel was removed: it can no longer send")
	default:
		return errNotConnected
	}
	graph, token, err := s.credentials(ch)
	if err != nil {
		return err
	}
	callErr := f(graph, token)

	next := *ch
	if isSend || messenger.IsTokenInvalid(callErr) {
		observeSend(&next, callErr)
	}
	if _, err := s.saveDiagnosis(auth.SystemContext(ctx), store.Client(ctx, s.client), ch, &next); err != nil {
		// The call's outcome matters more to the caller than our bookkeeping.
		s.logger.ErrorContext(ctx, "recording a send outcome", "channel_id", ch.ID, "error", err)
	}
	if callErr != nil {
		return fmt.Errorf("calling the Graph API: %w", callErr)
	}
	return nil
}
