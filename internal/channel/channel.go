// Package channel runs the lifecycle of a Messenger channel: the link between
// one agent and one Facebook Page.
//
// A channel goes through the two setup steps of API.md:
//
//	Setup    → AWAITING_VERIFICATION  (Step 1: callback URL and verify token)
//	Verify   → AWAITING_PAGE_TOKEN    (Meta's webhook GET succeeded)
//	Connect  → CONNECTED              (Step 2: page access token and app secret)
//	           ERROR                  (the page token died; Connect again to recover)
//	Remove   → REMOVED                (secrets erased, callback answers 404, transcripts kept)
//
// The Service also hands the rest of SeaChat what it needs from a channel
// without exposing its secrets: the app secret for webhook signatures, and
// Send, SenderAction and Profile, which decrypt the page token, refuse to
// call Meta for a channel that cannot send, and mark the channel ERROR when
// Meta says its token is dead. Diagnostics found along the way are stored on
// the channel, so Health is computed from the row alone.
//
// Page access tokens and app secrets are stored encrypted (internal/secret)
// and never appear in logs, errors or return values.
package channel

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/agent"
	"github.com/seachat/seachat/ent/messengerchannel"
	"github.com/seachat/seachat/ent/privacy"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/secret"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/viewer"
)

// WebhookPath is the route prefix of the per-channel webhook; the channel's
// key follows it.
const WebhookPath = "/webhooks/messenger/"

// The webhook fields a channel subscribes the Page to. Meta may refuse the
// optional ones (a field the app is not set up for); the required ones are
// what answering and human takeover need.
var (
	requiredFields = []string{"messages", "messaging_postbacks", "message_echoes"}
	wantedFields   = append(slices.Clone(requiredFields),
		"messaging_handovers", "standby", "message_reads", "message_deliveries", "message_reactions")
)

// metaBudget bounds the Graph API calls of one setup operation. Those run
// inside the GraphQL mutation's transaction, which on SQLite holds the write
// lock, so they must not hang for long.
const metaBudget = 20 * time.Second

// Service manages Messenger channels.
type Service struct {
	client    *ent.Client
	graph     *messenger.Client
	box       *secret.Box
	publicURL string
	logger    *slog.Logger
	now       func() time.Time
	cache     *cache

	badSigMu sync.Mutex
	badSig   map[int]time.Time // channel → when RefusedSignature last wrote
}

// New returns a Service. publicURL is SEACHAT_PUBLIC_URL, the base of the
// callback URLs; graph calls Meta; box encrypts page tokens and app secrets.
func New(client *ent.Client, graph *messenger.Client, box *secret.Box, publicURL string, logger *slog.Logger, now func() time.Time) *Service {
	return &Service{
		client:    client,
		graph:     graph,
		box:       box,
		publicURL: strings.TrimRight(publicURL, "/"),
		logger:    logger,
		now:       now,
		cache:     newCache(),
		badSig:    map[int]time.Time{},
	}
}

// CallbackURL is the URL to paste into the Callback URL field of the Meta
// app's webhook settings (Step 1). It does not check the viewer: API
// readers go through SetupCallbackURL.
func (s *Service) CallbackURL(ch *ent.MessengerChannel) string {
	return s.publicURL + WebhookPath + ch.WebhookKey
}

// SetupCallbackURL returns the channel's callback URL to an OWNER viewer.
// Other viewers get PermissionDenied: the URL and the verify token are
// setup secrets, and AGENT tokens have no setup rights.
func (s *Service) SetupCallbackURL(ctx context.Context, ch *ent.MessengerChannel) (string, error) {
	if err := requireSetupReader(ctx, "callbackUrl"); err != nil {
		return "", err
	}
	return s.CallbackURL(ch), nil
}

// SetupVerifyToken returns the channel's verify token to an OWNER viewer;
// other viewers get PermissionDenied, as with SetupCallbackURL.
func (s *Service) SetupVerifyToken(ctx context.Context, ch *ent.MessengerChannel) (string, error) {
	if err := requireSetupReader(ctx, "verifyToken"); err != nil {
		return "", err
	}
	return ch.VerifyToken, nil
}

// requireSetupReader refuses viewers other than OWNER tokens the setup
// secret named field.
func requireSetupReader(ctx context.Context, field string) error {
	if v, ok := viewer.FromContext(ctx); !ok || !v.IsOwner() {
		return apperr.Errorf(apperr.PermissionDenied,
			"%s: only OWNER tokens may read a channel's setup secrets; leave the field out, or ask an owner of the workspace", field)
	}
	return nil
}

// Setup creates a channel for an agent of the viewer's workspace (Step 1):
// an unguessable webhook key for the callback URL and a random verify
// token. The channel waits for Meta's verification request. While the
// agent has a channel whose setup is unfinished (AWAITING_VERIFICATION or
// AWAITING_PAGE_TOKEN), Setup returns that one instead of a second. Only OWNER
// tokens may set up channels; an agent of another workspace is NotFound.
func (s *Service) Setup(ctx context.Context, agentID int) (_ *ent.MessengerChannel, err error) {
	defer apperr.Wrap(&err, "channel.Setup(agent %d)", agentID)
	if err := requireOwner(ctx); err != nil {
		return nil, err
	}
	client := store.Client(ctx, s.client)
	// The agent's row lock serialises two Step 1s of one agent (a double
	// click): the second finds the first's channel.
	if _, err := client.Agent.Query().Where(agent.ID(agentID), lockRow).Only(ctx); err != nil {
		return nil, entError(err, "agent")
	}
	unfinished, err := client.MessengerChannel.Query().
		Where(messengerchannel.AgentID(agentID), messengerchannel.StatusIn(
			messengerchannel.StatusAWAITING_VERIFICATION, messengerchannel.StatusAWAITING_PAGE_TOKEN)).
		Order(ent.Desc(messengerchannel.FieldID)).First(ctx)
	switch {
	case err == nil:
		return unfinished, nil
	case !ent.IsNotFound(err):
		return nil, err
	}
	ch, err := client.MessengerChannel.Create().
		SetAgentID(agentID).
		SetWebhookKey(randomKey()).
		SetVerifyToken(rand.Text()).
		SetStatus(messengerchannel.StatusAWAITING_VERIFICATION).
		Save(ctx)
	if err != nil {
		return nil, entError(err, "agent")
	}
	return ch, nil
}

// Verify answers Meta's webhook verification GET for the channel with the
// webhook key: it returns hub.challenge when hub.mode is "subscribe" and
// hub.verify_token is the channel's, records the verification and moves an
// AWAITING_VERIFICATION channel to AWAITING_PAGE_TOKEN. An unknown or
// removed key is NotFound; a wrong mode or token is PermissionDenied. It
// needs no viewer.
func (s *Service) Verify(ctx context.Context, key string, q url.Values) (challenge string, err error) {
	ch, err := s.ByWebhookKey(ctx, key)
	if err != nil {
		return "", err
	}
	challenge, ok := messenger.VerifyChallenge(q, ch.VerifyToken)
	if !ok {
		return "", apperr.Errorf(apperr.PermissionDenied,
			"webhook verification refused: hub.mode must be subscribe and hub.verify_token must be the channel's verify token")
	}
	sys := auth.SystemContext(ctx)
	client := store.Client(ctx, s.client)
	now := s.now().UTC()
	s.cache.forget(ch.ID)
	if err := client.MessengerChannel.UpdateOneID(ch.ID).SetVerifiedAt(now).Exec(sys); err != nil {
		return "", fmt.Errorf("channel.Verify(%d): recording verification: %w", ch.ID, err)
	}
	// Conditional, so a verification arriving after Step 2 (Meta re-verifies
	// when the app's webhook settings are saved) leaves the status alone.
	_, err = client.MessengerChannel.Update().
		Where(messengerchannel.ID(ch.ID), messengerchannel.StatusEQ(messengerchannel.StatusAWAITING_VERIFICATION)).
		SetStatus(messengerchannel.StatusAWAITING_PAGE_TOKEN).
		Save(sys)
	if err != nil {
		return "", fmt.Errorf("channel.Verify(%d): updating status: %w", ch.ID, err)
	}
	s.logger.InfoContext(ctx, "messenger webhook verified", "channel_id", ch.ID)
	return challenge, nil
}

// Connect links the channel to a Facebook Page (Step 2). It asks Meta which
// Page the token belongs to, subscribes the Page to the app's webhooks,
// confirms that the messages field took, then stores the token and app
// secret encrypted and sets the channel CONNECTED.
//
// A token Meta rejects is InvalidPageToken with Meta's message, and nothing
// is stored. A removed channel, a Page another live channel (of any
// workspace) already uses, or a Page other than the one the channel was
// connected to before is a Conflict. Only OWNER tokens may connect.
func (s *Service) Connect(ctx context.Context, channelID int, pageAccessToken, appSecret string) (_ *ent.MessengerChannel, err error) {
	defer apperr.Wrap(&err, "channel.Connect(%d)", channelID)
	token, appSecret := strings.TrimSpace(pageAccessToken), strings.TrimSpace(appSecret)
	switch {
	case token == "":
		return nil, apperr.Errorf(apperr.InvalidArgument,
			"pageAccessToken: paste the Page Access Token from the Meta app's Messenger settings (Access Tokens)")
	case appSecret == "":
		return nil, apperr.Errorf(apperr.InvalidArgument,
			"appSecret: paste the App Secret from the Meta app's App settings, Basic")
	}
	if err := requireOwner(ctx); err != nil {
		return nil, err
	}
	client := store.Client(ctx, s.client)
	ch, err := client.MessengerChannel.Get(ctx, channelID)
	if err != nil {
		return nil, entError(err, "messenger channel")
	}
	if ch.Status == messengerchannel.StatusREMOVED {
		return nil, errRemoved
	}

	mctx, cancel := context.WithTimeout(ctx, metaBudget)
	defer cancel()
	graph := s.graph.WithAppSecret([]byte(appSecret))
	page, err := graph.Me(mctx, token)
	if err != nil {
		return nil, rejectedToken(err)
	}
	if ch.PageID != nil && *ch.PageID != page.ID {
		return nil, apperr.Errorf(apperr.Conflict,
			"this channel belongs to the Page %q: to connect another Page, set up a new channel (Step 1)", pageLabel(ch))
	}
	if err := s.checkPageFree(ctx, client, ch.ID, page.ID); err != nil {
		return nil, err
	}
	fields, err := s.subscribe(mctx, graph, token, page.ID)
	if err != nil {
		return nil, err
	}
	apps, err := graph.SubscribedApps(mctx, token, page.ID)
	if err != nil {
		return nil, err
	}
	app, appKnown := ourApp(apps, "", fields)
	if !slices.Contains(app.SubscribedFields, "messages") {
		return nil, apperr.Errorf(apperr.Upstream,
			"Meta accepted the webhook subscription but the Page does not list the messages field: "+
				"in the Meta app's Messenger settings, under Webhooks, add the Page and subscribe it to messages, then connect again")
	}

	profiled := *ch
	s.setProfile(mctx, client, graph, token, &profiled)

	upd := client.MessengerChannel.UpdateOneID(ch.ID).
		Where(messengerchannel.StatusNEQ(messengerchannel.StatusREMOVED)).
		SetPageID(page.ID).
		SetPageName(page.Name).
		SetPageTokenEnc(s.box.Seal([]byte(token))).
		SetAppSecretEnc(s.box.Seal([]byte(appSecret))).
		SetStatus(messengerchannel.StatusCONNECTED).
		SetTokenCheckedAt(s.now().UTC()).
		SetSubscribedFields(app.SubscribedFields).
		ClearTokenError().
		ClearLastSendError().
		ClearLastError().
		SetNillableProfileSetAt(profiled.ProfileSetAt)
	setOrClear(profiled.ProfileError, upd.SetProfileError, upd.ClearProfileError)
	if appKnown {
		upd.SetAppID(app.ID)
	} else {
		upd.ClearAppID()
	}
	ch, err = upd.Save(ctx)
	s.cache.forget(channelID)
	if ent.IsConstraintError(err) {
		return nil, errPageTaken
	}
	if err != nil {
		return nil, entError(err, "messenger channel")
	}
	s.logger.InfoContext(ctx, "messenger page connected", "channel_id", ch.ID, "page_id", page.ID, "fields", strings.Join(fields, ","))
	return ch, nil
}

// Remove disconnects the channel: it unsubscribes the Page from the app's
// webhooks (best effort: a failure is logged), erases the page token and app
// secret, and sets the channel REMOVED, so its callback URL answers 404.
// Conversations and messages are kept. Removing twice is not an error. Only
// OWNER tokens may remove.
func (s *Service) Remove(ctx context.Context, channelID int) (_ *ent.MessengerChannel, err error) {
	defer apperr.Wrap(&err, "channel.Remove(%d)", channelID)
	if err := requireOwner(ctx); err != nil {
		return nil, err
	}
	client := store.Client(ctx, s.client)
	ch, err := client.MessengerChannel.Get(ctx, channelID)
	if err != nil {
		return nil, entError(err, "messenger channel")
	}
	if ch.Status == messengerchannel.StatusREMOVED {
		return ch, nil
	}
	if hasToken(ch) && ch.PageID != nil {
		s.unsubscribe(ctx, ch)
	}
	ch, err = client.MessengerChannel.UpdateOneID(ch.ID).
		SetStatus(messengerchannel.StatusREMOVED).
		SetRemovedAt(s.now().UTC()).
		ClearPageTokenEnc().
		ClearAppSecretEnc().
		ClearTokenError().
		ClearLastSendError().
		ClearLastError().
		ClearProfileError().
		Save(ctx)
	s.cache.forget(channelID)
	if err != nil {
		return nil, entError(err, "messenger channel")
	}
	s.logger.InfoContext(ctx, "messenger channel removed", "channel_id", ch.ID)
	return ch, nil
}

// unsubscribe removes the app from the Page's webhooks and the Messenger
// profile SeaChat set, logging failure: the channel is removed either way,
// and its callback answers 404.
func (s *Service) unsubscribe(ctx context.Context, ch *ent.MessengerChannel) {
	graph, token, err := s.credentials(ch)
	if err == nil {
		mctx, cancel := context.WithTimeout(ctx, metaBudget)
		s.deleteProfile(mctx, graph, token, ch)
		err = graph.Unsubscribe(mctx, token, *ch.PageID)
		cancel()
	}
	if err != nil {
		s.logger.WarnContext(ctx, "unsubscribing the page from webhooks; removing the channel anyway",
			"channel_id", ch.ID, "page_id", *ch.PageID, "error", err)
	}
}

// ByWebhookKey returns the live channel with the webhook key, for the
// webhook handler, from the cache like Get. An unknown key, or one of a
// removed channel, is NotFound. It needs no viewer.
func (s *Service) ByWebhookKey(ctx context.Context, key string) (*ent.MessengerChannel, error) {
	if key == "" || len(key) > 200 {
		return nil, errUnknownKey
	}
	if ch := s.cache.byKeyOf(key); ch != nil {
		return ch, nil
	}
	ch, err := s.live(ctx, messengerchannel.WebhookKey(key))
	if ent.IsNotFound(err) {
		return nil, errUnknownKey
	}
	if err != nil {
		return nil, fmt.Errorf("channel.ByWebhookKey: %w", err)
	}
	return ch, nil
}

// AppSecret returns the channel's decrypted app secret, which signs its
// webhook POSTs. A channel without one (not connected yet, or removed) is a
// Conflict.
func (s *Service) AppSecret(_ context.Context, ch *ent.MessengerChannel) ([]byte, error) {
	enc, ok := sealed(ch.AppSecretEnc)
	if !ok {
		return nil, errNotConnected
	}
	sec, err := s.box.Open(enc)
	if err != nil {
		return nil, undecryptable(ch.ID, err)
	}
	return sec, nil
}

// credentials decrypts the channel's page token and returns it with a Graph
// client that signs calls with the channel's app secret (appsecret_proof).
func (s *Service) credentials(ch *ent.MessengerChannel) (*messenger.Client, string, error) {
	enc, ok := sealed(ch.PageTokenEnc)
	if !ok {
		return nil, "", errNotConnected
	}
	token, err := s.box.Open(enc)
	if err != nil {
		return nil, "", undecryptable(ch.ID, err)
	}
	graph := s.graph
	if enc, ok := sealed(ch.AppSecretEnc); ok {
		sec, err := s.box.Open(enc)
		if err != nil {
			return nil, "", undecryptable(ch.ID, err)
		}
		graph = graph.WithAppSecret(sec)
	}
	return graph, string(token), nil
}

// sealed returns an encrypted column's value. ent loads a NULL bytes
// column as a pointer to a nil slice, so the pointer alone says nothing.
func sealed(p *[]byte) ([]byte, bool) {
	if p == nil || len(*p) == 0 {
		return nil, false
	}
	return *p, true
}

// hasToken reports whether the channel holds a page access token.
func hasToken(ch *ent.MessengerChannel) bool {
	_, ok := sealed(ch.PageTokenEnc)
	return ok
}

// checkPageFree refuses a Page that another live channel uses, in any
// workspace (hence the system context). The message does not say where.
// The partial unique index on page_id settles races.
func (s *Service) checkPageFree(ctx context.Context, client *ent.Client, channelID int, pageID string) error {
	taken, err := client.MessengerChannel.Query().
		Where(
			messengerchannel.PageID(pageID),
			messengerchannel.IDNEQ(channelID),
			messengerchannel.StatusNEQ(messengerchannel.StatusREMOVED),
		).
		Exist(auth.SystemContext(ctx))
	if err != nil {
		return fmt.Errorf("looking for other channels of the page: %w", err)
	}
	if taken {
		return errPageTaken
	}
	return nil
}

// subscribe subscribes the Page to the webhook fields SeaChat wants. When
// Meta refuses them (a field the app is not configured for), it falls back
// to the required fields. It returns the fields it subscribed.
func (s *Service) subscribe(ctx context.Context, graph *messenger.Client, token, pageID string) ([]string, error) {
	err := graph.Subscribe(ctx, token, pageID, wantedFields)
	if err == nil {
		return wantedFields, nil
	}
	var ge *messenger.GraphError
	if !errors.As(err, &ge) || messenger.IsTransient(err) || messenger.IsTokenInvalid(err) {
		return nil, err
	}
	if err2 := graph.Subscribe(ctx, token, pageID, requiredFields); err2 != nil {
		return nil, err2
	}
	s.logger.InfoContext(ctx, "meta refused the optional webhook fields; subscribed the required ones",
		"page_id", pageID, "error", err)
	return requiredFields, nil
}

// ourApp picks SeaChat's app among the apps subscribed to a Page: the one
// with appID when it is known; else the only one that has every field just
// subscribed; else (known is false) the first that has messages. Meta lists
// every app of the Page, and a page token does not say which app it is for.
func ourApp(apps []messenger.SubscribedApp, appID string, fields []string) (app messenger.SubscribedApp, known bool) {
	defer func() {
		if app.SubscribedFields == nil {
			app.SubscribedFields = []string{} // read, and empty: not "never read"
		}
	}()
	if appID != "" {
		for _, a := range apps {
			if a.ID == appID {
				return a, true
			}
		}
		return messenger.SubscribedApp{ID: appID}, true
	}
	var match []messenger.SubscribedApp
	for _, a := range apps {
		if len(fields) > 0 && containsAll(a.SubscribedFields, fields) {
			match = append(match, a)
		}
	}
	if len(match) == 1 {
		return match[0], true
	}
	for _, a := range apps {
		if slices.Contains(a.SubscribedFields, "messages") {
			return a, false
		}
	}
	return messenger.SubscribedApp{}, false
}

func containsAll(have, want []string) bool {
	for _, w := range want {
		if !slices.Contains(have, w) {
			return false
		}
	}
	return true
}

// rejectedToken turns a failed GET /me at Step 2 into InvalidPageToken with
// Meta's message when Meta answered, and leaves network trouble and
// Meta-side outages (Upstream) as they are.
func rejectedToken(err error) error {
	var ge *messenger.GraphError
	if !errors.As(err, &ge) || messenger.IsTransient(err) {
		return err
	}
	return apperr.Wrapf(err, apperr.InvalidPageToken,
		"Meta rejected the page access token (%s): paste a Page Access Token of the Page and the App Secret of the same Meta app",
		strings.TrimSpace(ge.Message))
}

func pageLabel(ch *ent.MessengerChannel) string {
	if ch.PageName != nil && *ch.PageName != "" {
		return *ch.PageName
	}
	if ch.PageID != nil {
		return *ch.PageID
	}
	return ""
}

// requireOwner refuses non-OWNER viewers before any call to Meta; the
// privacy policy would refuse their writes anyway, but only afterwards.
func requireOwner(ctx context.Context) error {
	if v, ok := viewer.FromContext(ctx); !ok || !v.IsOwner() {
		return apperr.Errorf(apperr.PermissionDenied, "setting up Messenger channels needs an OWNER token of the workspace")
	}
	return nil
}

// entError gives ent's not-found and privacy errors their apperr kinds.
func entError(err error, what string) error {
	switch {
	case ent.IsNotFound(err):
		return apperr.Wrapf(err, apperr.NotFound, "%s not found in your workspace", what)
	case errors.Is(err, privacy.Deny):
		return apperr.Wrapf(err, apperr.PermissionDenied, "setting up Messenger channels needs an OWNER token of the workspace")
	}
	return err
}

func undecryptable(channelID int, err error) error {
	return apperr.Wrapf(err, apperr.Internal,
		"the secrets of channel %d cannot be decrypted (was SEACHAT_SECRET_KEY changed?): connect the page again (Step 2)", channelID)
}

// randomKey returns a webhook key: 256 random bits, URL-safe.
func randomKey() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// Errors shared by several methods.
var (
	errUnknownKey   = apperr.Errorf(apperr.NotFound, "no Messenger channel has this callback URL: it is wrong, or the channel was removed")
	errRemoved      = apperr.Errorf(apperr.Conflict, "this Messenger channel was removed: set up a new one (Step 1)")
	errNotConnected = apperr.Errorf(apperr.Conflict, "connect the page first (Step 2)")
	errPageTaken    = apperr.Errorf(apperr.Conflict,
		"this Facebook Page is already connected to another SeaChat channel: remove that channel first, then connect again")
)

// lockRow is a predicate that locks the rows a query reads until the
// transaction ends, on PostgreSQL (SELECT … FOR UPDATE); SQLite's
// transactions hold the database's write lock from BEGIN and need none.
func lockRow(s *sql.Selector) {
	if s.Dialect() == dialect.Postgres {
		s.ForUpdate()
	}
}

// badSignatureMark is how often a channel's bad_signature_at is written:
// a flood of forged bodies costs at most one write a minute.
const badSignatureMark = time.Minute

// RefusedSignature records, at most once per badSignatureMark, that a
// webhook body signed with another secret than the channel's arrived, for
// the health check. Failures are logged: the refusal stands either way.
func (s *Service) RefusedSignature(ctx context.Context, ch *ent.MessengerChannel) {
	now := s.now().UTC()
	s.badSigMu.Lock()
	last, seen := s.badSig[ch.ID]
	if seen && now.Sub(last) < badSignatureMark {
		s.badSigMu.Unlock()
		return
	}
	s.badSig[ch.ID] = now
	s.badSigMu.Unlock()
	err := s.client.MessengerChannel.UpdateOneID(ch.ID).SetBadSignatureAt(now).Exec(auth.SystemContext(ctx))
	s.cache.forget(ch.ID)
	if err != nil {
		s.logger.WarnContext(ctx, "recording a refused webhook signature", "channel_id", ch.ID, "error", err)
	}
}
