package channel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/messengerchannel"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/store"
)

// Health is a channel's diagnosis: OK when every check passed.
type Health struct {
	OK     bool          `json:"ok"`
	Checks []HealthCheck `json:"checks"`
}

// HealthCheck is one diagnostic. Detail says what was found and, when the
// check failed, how to fix it.
type HealthCheck struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
}

// The names of the checks, in the order Health reports them: the order in
// which a new channel's setup gets them right.
const (
	CheckWebhookVerified = "WEBHOOK_VERIFIED"
	CheckPageTokenValid  = "PAGE_TOKEN_VALID"
	CheckPageSubscribed  = "PAGE_SUBSCRIBED_TO_MESSAGES"
	CheckEventsReceived  = "EVENTS_RECEIVED"
	CheckSendAPIOK       = "SEND_API_OK"
)

// The fixes the checks and lastError name. Failures are classified by Meta's
// code and subcode (the messenger.Is* functions), never by message text.
const (
	fixDeadTokenSuffix     = "paste a new Page Access Token (Meta app, Messenger settings, Access Tokens) in Step 2 (connectMessengerPage)"
	fixConnect             = "connect the page first (Step 2): paste its Page Access Token and the app's App Secret"
	fixTokenPermission     = "the page access token lacks permissions: generate a new Page Access Token with pages_messaging and pages_manage_metadata, as someone who can manage the Page's messages, and paste it in Step 2"
	fixNotSubscribed       = "the Page is not subscribed to the messages webhook field (Meta unsubscribes an app after an hour of failed deliveries): connect the page again (Step 2), or subscribe the Page to messages in the Meta app's Messenger settings under Webhooks"
	fixAppNotLive          = "Meta lets the app message only people with a role on it: switch the app to Live and get Advanced Access to pages_messaging through App Review"
	fixSendPermission      = "Meta refused to send for lack of permission: check that the token has pages_messaging and that messaging is turned on in the Page's settings, then connect again (Step 2)"
	fixUnreachableForCheck = "Meta could not be reached to run this check: try again in a minute"
)

const timeLayout = "2006-01-02 15:04 MST"

// Health diagnoses the channel from its stored state alone, without calling
// Meta: what the last Check, token re-check, webhook and send found. It is
// what the GraphQL health field shows; Check refreshes it.
func (s *Service) Health(ch *ent.MessengerChannel) Health {
	checks := []HealthCheck{
		s.webhookCheck(ch),
		tokenCheck(ch),
		subscriptionCheck(ch),
		eventsCheck(ch),
		sendCheck(ch),
		profileCheck(ch),
	}
	ok := true
	for _, c := range checks {
		ok = ok && c.OK
	}
	return Health{OK: ok, Checks: checks}
}

func (s *Service) webhookCheck(ch *ent.MessengerChannel) HealthCheck {
	c := HealthCheck{Name: CheckWebhookVerified}
	if ch.VerifiedAt != nil {
		c.OK, c.Detail = true, "Meta verified the callback URL on "+stamp(*ch.VerifiedAt)
		return c
	}
	if ch.LastEventAt != nil {
		// Another Page of the same Meta app: its app has one callback URL,
		// another channel's, and the events arrive through it.
		c.OK, c.Detail = true, "the Page's events arrive through the Meta app's callback URL, which belongs to "+
			"another channel connected with the same app: nothing to do"
		return c
	}
	// The callback URL is a setup secret (SetupCallbackURL): AGENT tokens
	// read health too, so it is named, not spelled out.
	if warning := PublicURLWarning(s.publicURL); warning != "" {
		c.Detail = warning + ". "
	}
	c.Detail += "Meta has not verified the webhook yet: in the Meta app's Messenger settings, under Webhooks, paste this " +
		"channel's Callback URL and Verify token (shown to OWNER tokens in the setup), choose Verify and save, then " +
		"subscribe the messages field"
	return c
}

// PublicURLWarning says why Meta cannot call back a SEACHAT_PUBLIC_URL: a
// loopback or private address it cannot reach, or plain http, which Meta
// refuses for callback URLs; "" when neither.
func PublicURLWarning(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil {
		return ""
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	switch {
	case host == "localhost" || strings.HasSuffix(host, ".localhost") || ip != nil && (ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified()):
		return "SEACHAT_PUBLIC_URL is " + publicURL + ", an address Meta cannot reach: set it to the public https address of this server (or of a tunnel to it)"
	case u.Scheme != "https":
		return "SEACHAT_PUBLIC_URL is " + publicURL + ": Meta accepts only https callback URLs: serve SeaChat behind TLS and set SEACHAT_PUBLIC_URL to its https address"
	}
	return ""
}

func tokenCheck(ch *ent.MessengerChannel) HealthCheck {
	c := HealthCheck{Name: CheckPageTokenValid}
	switch {
	case ch.Status == messengerchannel.StatusREMOVED:
		c.Detail = "the channel was removed and its token erased: set up a new channel (Step 1)"
	case !hasToken(ch):
		c.Detail = fixConnect
	case ch.TokenError != nil:
		c.Detail = *ch.TokenError
	case ch.Status == messengerchannel.StatusERROR:
		c.Detail = deadToken("")
	default:
		c.OK = true
		c.Detail = fmt.Sprintf("the page access token works for the Page %q (%s)", pageLabel(ch), deref(ch.PageID))
		if ch.TokenCheckedAt != nil {
			c.Detail += ", checked " + stamp(*ch.TokenCheckedAt)
		}
	}
	return c
}

func subscriptionCheck(ch *ent.MessengerChannel) HealthCheck {
	c := HealthCheck{Name: CheckPageSubscribed}
	switch {
	case ch.Status == messengerchannel.StatusREMOVED:
		c.Detail = "the channel was removed and the Page unsubscribed"
	case !hasToken(ch) || ch.SubscribedFields == nil:
		c.Detail = fixConnect
	case !slices.Contains(ch.SubscribedFields, "messages"):
		c.Detail = fixNotSubscribed
	default:
		c.OK = true
		c.Detail = "the Page sends these webhook fields to the app: " + strings.Join(ch.SubscribedFields, ", ")
	}
	return c
}

func eventsCheck(ch *ent.MessengerChannel) HealthCheck {
	c := HealthCheck{Name: CheckEventsReceived}
	if ch.BadSignatureAt != nil && (ch.LastEventAt == nil || ch.BadSignatureAt.After(*ch.LastEventAt)) {
		c.Detail = "events arrive at the callback URL, but their signature does not match this channel's App Secret " +
			"(last refused " + stamp(*ch.BadSignatureAt) + "), so SeaChat refuses them: the App Secret does not match. " +
			"Paste the App Secret of the Meta app whose webhooks point here (App settings, Basic) in Step 2"
		return c
	}
	if ch.LastEventAt != nil {
		c.OK, c.Detail = true, "the last webhook event arrived on "+stamp(*ch.LastEventAt)
		return c
	}
	c.Detail = "no webhook event has arrived yet: message the Page on Messenger. " +
		"If nothing arrives, check that the app's Webhooks subscription for Page includes messages; " +
		"an app in Development mode only delivers events from people with a role on the app " +
		"(admins, developers, testers): switch it to Live and get pages_messaging through App Review"
	return c
}

func sendCheck(ch *ent.MessengerChannel) HealthCheck {
	c := HealthCheck{Name: CheckSendAPIOK}
	switch {
	case ch.Status == messengerchannel.StatusREMOVED:
		c.Detail = "the channel was removed: it sends nothing"
	case !hasToken(ch):
		c.Detail = fixConnect
	case ch.Status == messengerchannel.StatusERROR:
		c.Detail = "sending is paused until the page access token is replaced: " + fixDeadTokenSuffix
	case ch.LastSendError != nil:
		c.Detail = *ch.LastSendError
	default:
		c.OK, c.Detail = true, "no send has failed because of the app's setup"
	}
	return c
}

// Check runs the diagnostics against Meta now — the page token (GET /me) and
// the Page's webhook subscription (GET subscribed_apps), and sets the Page's
// Messenger profile if it is not set yet — stores what it
// learns and returns the channel's Health. A dead token sets the channel
// ERROR with the fix in lastError; a working one brings an ERROR channel
// back to CONNECTED. A Page that lost its messages subscription (Meta drops
// it after an hour of failed deliveries) is subscribed again. Only OWNER
// tokens may run it.
func (s *Service) Check(ctx context.Context, channelID int) (_ Health, err error) {
	defer apperr.Wrap(&err, "channel.Check(%d)", channelID)
	if err := requireOwner(ctx); err != nil {
		return Health{}, err
	}
	client := store.Client(ctx, s.client)
	ch, err := client.MessengerChannel.Get(ctx, channelID)
	if err != nil {
		return Health{}, entError(err, "messenger channel")
	}
	if ch.Status == messengerchannel.StatusREMOVED {
		return Health{}, errRemoved
	}
	if !hasToken(ch) {
		return s.Health(ch), nil
	}
	graph, token, err := s.credentials(ch)
	if err != nil {
		return Health{}, err
	}
	mctx, cancel := context.WithTimeout(ctx, metaBudget)
	defer cancel()

	next := *ch
	var unreachable []string // checks Meta could not answer now
	page, meErr := graph.Me(mctx, token)
	if !s.observeToken(&next, page, meErr) {
		unreachable = append(unreachable, CheckPageTokenValid)
	}
	if next.Status != messengerchannel.StatusERROR {
		fields, err := s.readSubscription(mctx, graph, token, ch)
		switch {
		case err == nil:
			next.SubscribedFields = fields
		case messenger.IsTokenInvalid(err):
			s.observeToken(&next, messenger.Page{}, err)
		case messenger.IsPermission(err):
			next.TokenError = ptr(fixTokenPermission)
		default:
			unreachable = append(unreachable, CheckPageSubscribed)
			s.logger.WarnContext(ctx, "reading the page's webhook subscription", "channel_id", ch.ID, "error", err)
		}
	}
	if next.Status != messengerchannel.StatusERROR && (ch.ProfileSetAt == nil || ch.ProfileError != nil) {
		s.setProfile(mctx, client, graph, token, &next)
	}
	saved, err := s.saveDiagnosis(ctx, client, ch, &next)
	if err != nil {
		return Health{}, err
	}
	if !saved {
		// The channel changed under us (reconnected or removed): report
		// what it is now.
		if ch, err = client.MessengerChannel.Get(ctx, channelID); err != nil {
			return Health{}, entError(err, "messenger channel")
		}
		return s.Health(ch), nil
	}
	h := s.Health(&next)
	for i, c := range h.Checks {
		if slices.Contains(unreachable, c.Name) {
			h.Checks[i] = HealthCheck{Name: c.Name, Detail: fixUnreachableForCheck}
			h.OK = false
		}
	}
	return h, nil
}

// readSubscription returns the webhook fields the Page sends to SeaChat's
// app, subscribing it again when messages is missing.
func (s *Service) readSubscription(ctx context.Context, graph *messenger.Client, token string, ch *ent.MessengerChannel) ([]string, error) {
	pageID := deref(ch.PageID)
	apps, err := graph.SubscribedApps(ctx, token, pageID)
	if err != nil {
		return nil, err
	}
	app, _ := ourApp(apps, deref(ch.AppID), nil)
	if slices.Contains(app.SubscribedFields, "messages") {
		return app.SubscribedFields, nil
	}
	s.logger.WarnContext(ctx, "the page lost its messages webhook subscription; subscribing again",
		"channel_id", ch.ID, "page_id", pageID)
	fields, err := s.subscribe(ctx, graph, token, pageID)
	if err != nil {
		s.logger.WarnContext(ctx, "subscribing the page again", "channel_id", ch.ID, "page_id", pageID, "error", err)
		return app.SubscribedFields, nil
	}
	if apps, err = graph.SubscribedApps(ctx, token, pageID); err != nil {
		return nil, err
	}
	app, _ = ourApp(apps, deref(ch.AppID), fields)
	return app.SubscribedFields, nil
}

// observeToken records in next what GET /me said about the page token. It
// returns false when Meta could not be asked (a network error or a Meta
// outage), which says nothing about the token.
func (s *Service) observeToken(next *ent.MessengerChannel, page messenger.Page, err error) bool {
	now := s.now().UTC()
	var ge *messenger.GraphError
	switch {
	case err == nil:
		next.TokenError = nil
		if next.Status == messengerchannel.StatusERROR {
			next.Status = messengerchannel.StatusCONNECTED
		}
		if page.Name != "" {
			next.PageName = ptr(page.Name)
		}
	case !errors.As(err, &ge) || messenger.IsTransient(err):
		return false
	case messenger.IsTokenInvalid(err):
		next.TokenError = ptr(deadToken(ge.Message))
		if next.Status == messengerchannel.StatusCONNECTED {
			next.Status = messengerchannel.StatusERROR
		}
	case messenger.IsPermission(err):
		next.TokenError = ptr(fixTokenPermission)
	default:
		next.TokenError = ptr(fmt.Sprintf("Meta rejected the page access token (code %d: %s): %s",
			ge.Code, strings.TrimSpace(ge.Message), fixDeadTokenSuffix))
	}
	next.TokenCheckedAt = &now
	return true
}

// observeSend records in next what a Send API call said about the channel's
// setup: a dead token stops sending; an app that is not Live, or lacks
// permission, is remembered for SEND_API_OK until a send succeeds. Errors
// about one person (outside the window, blocked the Page) or passing ones
// (rate limits, outages) say nothing about the channel.
func observeSend(next *ent.MessengerChannel, err error) {
	var ge *messenger.GraphError
	switch {
	case err == nil:
		next.LastSendError = nil
	case !errors.As(err, &ge):
	case messenger.IsTokenInvalid(err):
		next.TokenError = ptr(deadToken(ge.Message))
		if next.Status == messengerchannel.StatusCONNECTED {
			next.Status = messengerchannel.StatusERROR
		}
	case messenger.IsAppNotLive(err):
		next.LastSendError = ptr(fmt.Sprintf("the last send failed (Meta code %d/%d): %s", ge.Code, ge.Subcode, fixAppNotLive))
	case messenger.IsPermission(err):
		next.LastSendError = ptr(fmt.Sprintf("the last send failed (Meta code %d/%d): %s", ge.Code, ge.Subcode, fixSendPermission))
	}
}

// saveDiagnosis writes the diagnostic fields of next, and lastError derived
// from them, when they differ from ch. The write applies only while the row
// still holds the token ch was loaded with, so a stale result never marks a
// freshly reconnected (or removed) channel. saved reports whether the row
// matched.
func (s *Service) saveDiagnosis(ctx context.Context, client *ent.Client, ch, next *ent.MessengerChannel) (saved bool, err error) {
	next.LastError = lastError(next)
	if !diagnosisChanged(ch, next) {
		return true, nil
	}
	q := client.MessengerChannel.Update().
		Where(messengerchannel.ID(ch.ID), messengerchannel.StatusNEQ(messengerchannel.StatusREMOVED)).
		SetStatus(next.Status).
		SetNillableTokenCheckedAt(next.TokenCheckedAt).
		SetNillablePageName(next.PageName)
	if enc, ok := sealed(ch.PageTokenEnc); ok {
		q.Where(messengerchannel.PageTokenEncEQ(enc))
	}
	if next.SubscribedFields != nil {
		q.SetSubscribedFields(next.SubscribedFields)
	}
	setOrClear(next.TokenError, q.SetTokenError, q.ClearTokenError)
	setOrClear(next.LastSendError, q.SetLastSendError, q.ClearLastSendError)
	setOrClear(next.LastError, q.SetLastError, q.ClearLastError)
	setOrClear(next.ProfileError, q.SetProfileError, q.ClearProfileError)
	q.SetNillableProfileSetAt(next.ProfileSetAt)
	n, err := q.Save(ctx)
	s.cache.forget(ch.ID)
	if err != nil {
		return false, fmt.Errorf("storing the diagnosis of channel %d: %w", ch.ID, err)
	}
	if n == 1 && ch.Status != next.Status {
		s.logger.InfoContext(ctx, "messenger channel status changed", "channel_id", ch.ID,
			"from", ch.Status, "to", next.Status, "reason", deref(next.LastError))
	}
	return n == 1, nil
}

func diagnosisChanged(a, b *ent.MessengerChannel) bool {
	return a.Status != b.Status ||
		!equalPtr(a.TokenError, b.TokenError) ||
		!equalPtr(a.LastSendError, b.LastSendError) ||
		!equalPtr(a.LastError, b.LastError) ||
		!equalPtr(a.PageName, b.PageName) ||
		!equalPtr(a.TokenCheckedAt, b.TokenCheckedAt) ||
		!equalPtr(a.ProfileSetAt, b.ProfileSetAt) ||
		!equalPtr(a.ProfileError, b.ProfileError) ||
		b.SubscribedFields != nil && !slices.Equal(a.SubscribedFields, b.SubscribedFields)
}

// lastError is the channel's most pressing problem with its fix, or nil:
// the token first (nothing works without it), then the subscription
// (nothing arrives without it), then sending.
func lastError(ch *ent.MessengerChannel) *string {
	switch {
	case ch.Status == messengerchannel.StatusREMOVED:
		return nil
	case ch.TokenError != nil:
		return ch.TokenError
	case ch.Status == messengerchannel.StatusERROR:
		return ptr(deadToken(""))
	case ch.SubscribedFields != nil && !slices.Contains(ch.SubscribedFields, "messages"):
		return ptr(fixNotSubscribed)
	case ch.LastSendError != nil:
		return ch.LastSendError
	}
	return nil
}

func deadToken(metaMessage string) string {
	s := "the page access token has expired or was revoked (a password change, a removed Page admin or a removed app does that)"
	if m := strings.TrimSpace(metaMessage); m != "" {
		s += "; Meta said: " + m
	}
	return s + ": " + fixDeadTokenSuffix
}

func setOrClear[T any, U any](v *T, set func(T) U, clear func() U) {
	if v != nil {
		set(*v)
	} else {
		clear()
	}
}

func equalPtr[T comparable](a, b *T) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

func ptr[T any](v T) *T { return &v }

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func stamp(t time.Time) string { return t.UTC().Format(timeLayout) }
