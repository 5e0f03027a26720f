package channel

import (
	"context"
	"time"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/messengerchannel"
	"github.com/seachat/seachat/ent/predicate"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/store"
)

// DefaultRecheckEvery is how often RecheckTokens looks at each token when
// given no interval.
const DefaultRecheckEvery = 6 * time.Hour

// recheckBatch bounds the channels one pass looks at; the rest wait for the
// next pass.
const recheckBatch = 200

// RecheckTokens re-checks the page tokens of CONNECTED and ERROR channels
// with GET /me until ctx is done, each at most once per every
// (DefaultRecheckEvery when every <= 0), so that a token revoked on
// Facebook shows up as ERROR before a user's message goes unanswered, and a
// token that works again brings its channel back. Replicas sharing a
// database may all run it: a channel is claimed through token_checked_at
// before it is checked, so only one of them calls Meta for it.
func (s *Service) RecheckTokens(ctx context.Context, every time.Duration) {
	if every <= 0 {
		every = DefaultRecheckEvery
	}
	tick := min(max(every/4, 10*time.Millisecond), time.Minute)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		s.recheckDue(ctx, every)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// recheckDue checks the tokens not checked within every.
func (s *Service) recheckDue(ctx context.Context, every time.Duration) {
	sys := auth.SystemContext(ctx)
	cutoff := s.now().UTC().Add(-every)
	due := messengerchannel.Or(messengerchannel.TokenCheckedAtIsNil(), messengerchannel.TokenCheckedAtLT(cutoff))
	chans, err := s.client.MessengerChannel.Query().
		Where(
			messengerchannel.StatusIn(messengerchannel.StatusCONNECTED, messengerchannel.StatusERROR),
			messengerchannel.PageTokenEncNotNil(),
			due,
		).
		Order(messengerchannel.ByTokenCheckedAt(), messengerchannel.ByID()).
		Limit(recheckBatch).
		All(sys)
	if err != nil {
		if ctx.Err() == nil {
			s.logger.ErrorContext(ctx, "listing channels whose page token is due for a check", "error", err)
		}
		return
	}
	for _, ch := range chans {
		if ctx.Err() != nil {
			return
		}
		s.recheck(ctx, ch, due)
	}
}

// recheck claims ch by moving its token_checked_at to now, then checks its
// token. A replica that lost the claim leaves the channel alone.
func (s *Service) recheck(ctx context.Context, ch *ent.MessengerChannel, due predicate.MessengerChannel) {
	sys := auth.SystemContext(ctx)
	client := store.Client(ctx, s.client)
	now := s.now().UTC()
	n, err := client.MessengerChannel.Update().
		Where(
			messengerchannel.ID(ch.ID),
			messengerchannel.StatusIn(messengerchannel.StatusCONNECTED, messengerchannel.StatusERROR),
			due,
		).
		SetTokenCheckedAt(now).
		Save(sys)
	if err != nil {
		s.logger.ErrorContext(ctx, "claiming a page token check", "channel_id", ch.ID, "error", err)
		return
	}
	if n == 0 {
		return // another replica checks it, or it changed
	}
	ch.TokenCheckedAt = &now
	graph, token, err := s.credentials(ch)
	if err != nil {
		s.logger.ErrorContext(ctx, "reading a channel's credentials", "channel_id", ch.ID, "error", err)
		return
	}
	mctx, cancel := context.WithTimeout(ctx, metaBudget)
	page, meErr := graph.Me(mctx, token)
	cancel()
	next := *ch
	if !s.observeToken(&next, page, meErr) {
		if ctx.Err() == nil {
			s.logger.WarnContext(ctx, "could not reach Meta to check a page token", "channel_id", ch.ID, "error", meErr)
		}
		return
	}
	if _, err := s.saveDiagnosis(sys, client, ch, &next); err != nil {
		s.logger.ErrorContext(ctx, "storing a page token check", "channel_id", ch.ID, "error", err)
	}
}
