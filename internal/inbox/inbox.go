// Package inbox is SeaChat's durable intake of Messenger webhook events.
//
// The Handler checks a webhook POST (size, channel, signature), stores every
// event of the body as an InboxEvent row in one transaction, and only then
// answers 200: an acknowledged event is never lost, and Meta's redeliveries
// are stored once (the rows are unique per channel and dedup key).
//
// Run processes the stored events at least once. Events of one user (one
// channel and PSID) are handed to the Processor one at a time, oldest
// event_time first; events of different users run concurrently on several
// workers. A claim names the process that holds it (Options.Process, a
// heartbeat): on PostgreSQL it is taken with SELECT … FOR UPDATE SKIP
// LOCKED, so several replicas share the queue, and a claim whose process
// died is taken over as soon as its heartbeat is stale (seconds, not a
// lease). On SQLite the single writer serializes claims, and a starting
// process owns every claim. A failed event is retried with exponential
// backoff and jitter, then marked FAILED.
//
// The Processor is expected to be quick: it records what the event says
// (the person's message, the bot's decided reply) and leaves slow,
// failure-prone work such as sending replies to an outbox of its own, so
// that no event waits behind a reply.
package inbox

import (
	"context"
	"log/slog"
	"net/url"
	"time"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/wake"
)

// Channels is what the inbox needs from the channel service.
type Channels interface {
	// ByWebhookKey returns the channel whose callback URL ends in key. It
	// fails with apperr.NotFound when the key is unknown or the channel was
	// removed.
	ByWebhookKey(ctx context.Context, key string) (*ent.MessengerChannel, error)
	// Verify answers Meta's verification GET (hub.mode, hub.verify_token,
	// hub.challenge in q) and returns the challenge to echo. It fails with
	// apperr.NotFound for an unknown or removed key and
	// apperr.PermissionDenied when the mode or token is wrong.
	Verify(ctx context.Context, key string, q url.Values) (challenge string, err error)
	// ByPageID returns the live channel of the Facebook Page, or fails with
	// apperr.NotFound. It may be a few seconds stale.
	ByPageID(ctx context.Context, pageID string) (*ent.MessengerChannel, error)
	// Get returns the channel with the ID, which the worker hands to the
	// Processor with each of its events. A missing channel is
	// apperr.NotFound. It may be a few seconds stale.
	Get(ctx context.Context, id int) (*ent.MessengerChannel, error)
	// AppSecret returns the channel's app secret, which signs its webhooks.
	// It fails with apperr.Conflict when the page is not connected yet.
	AppSecret(ctx context.Context, ch *ent.MessengerChannel) ([]byte, error)
	// RefusedSignature records that a body signed with another secret than
	// the channel's arrived, so health can say the App Secret is wrong. It
	// is best effort and cheap to call for every refused body.
	RefusedSignature(ctx context.Context, ch *ent.MessengerChannel)
}

// Processor handles one stored event: the bot engine. It may be called
// again for the same event (after a crash, a lost lease or a retry), so it
// must be idempotent, for example by the message mid. The ctx passed to it
// carries auth.SystemContext.
type Processor interface {
	Process(ctx context.Context, ch *ent.MessengerChannel, ev messenger.Event) error
}

// Liveness is this process's heartbeat (package heartbeat): it names the
// process in its claims, and tells when a claiming process is dead.
type Liveness interface {
	// ID names this process in its claims.
	ID() string
	// LiveSince returns the oldest heartbeat of a live process at now.
	LiveSince(now time.Time) time.Time
}

// MaxBodyBytes is the largest webhook body accepted; larger bodies get 413.
const MaxBodyBytes = 1 << 20

// Options tune an Inbox. Zero values take the defaults given on each field.
type Options struct {
	// Logger receives the inbox's logs. Default: discard.
	Logger *slog.Logger
	// Metrics counts what the inbox does. Default: nothing is counted.
	Metrics *Metrics
	// Workers is how many events (of different users) are processed at once
	// by this process. Most of an event's time is spent waiting for the
	// Graph API (and Gemini), not the database, so even on SQLite, with its
	// one writer, several workers answer several people at once.
	// Default: 4.
	Workers int
	// Process names this process in its claims: a claim of a process whose
	// heartbeat is stale is taken over at once. nil: claims are held by
	// their lease alone.
	Process Liveness
	// Lease is how long a claim keeps an event from other workers. Workers
	// extend it while Process runs. With Options.Process set, it matters
	// only while the claiming process is alive. Default: 1 minute.
	Lease time.Duration
	// PollInterval is how often an idle Run looks for events stored by
	// other replicas or due for a retry; events stored by this process's
	// Handler wake it at once. Default: 1 second.
	PollInterval time.Duration
	// MaxAttempts is how many times an event is tried before it is marked
	// FAILED. Default: 8 (with the default backoff, about 8.5 minutes).
	MaxAttempts int
	// BaseBackoff is the delay before the first retry; it doubles with each
	// attempt, up to MaxBackoff, and is jittered. Defaults: 2 seconds and 5
	// minutes.
	BaseBackoff time.Duration
	// MaxBackoff caps the retry delay. See BaseBackoff.
	MaxBackoff time.Duration
	// ProcessTimeout bounds one call of Processor.Process. Default: 2 minutes.
	ProcessTimeout time.Duration
	// DrainTimeout is how long Run waits, after its context is done, for the
	// events in flight; then their Process contexts are cancelled and the
	// events are released for another worker. Default: 10 seconds.
	DrainTimeout time.Duration
	// StoreTimeout bounds storing a webhook body; past it the Handler
	// answers 503 and Meta retries. Meta allows 5 seconds. Default: 4
	// seconds.
	StoreTimeout time.Duration
	// DepthInterval is how often Run refreshes Metrics.QueueDepth. Default:
	// 15 seconds.
	DepthInterval time.Duration
	// KeepDone is how long processed events are kept (redelivery dedup
	// needs them while Meta may redeliver: 36 hours at most). Default: 7
	// days.
	KeepDone time.Duration
	// KeepFailed is how long events that failed for good are kept, for
	// whoever looks into why. Default: 30 days.
	KeepFailed time.Duration
	// PurgeInterval is how often Run deletes events past KeepDone and
	// KeepFailed. Default: 1 hour.
	PurgeInterval time.Duration
	// Now is the clock. Default: time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.Lease, time.Minute)
	def(&o.PollInterval, time.Second)
	def(&o.BaseBackoff, 2*time.Second)
	def(&o.MaxBackoff, 5*time.Minute)
	def(&o.ProcessTimeout, 2*time.Minute)
	def(&o.DrainTimeout, 10*time.Second)
	def(&o.StoreTimeout, 4*time.Second)
	def(&o.DepthInterval, 15*time.Second)
	def(&o.KeepDone, 7*24*time.Hour)
	def(&o.KeepFailed, 30*24*time.Hour)
	def(&o.PurgeInterval, time.Hour)
	if o.MaxBackoff < o.BaseBackoff {
		o.MaxBackoff = o.BaseBackoff
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 8
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o
}

// Inbox stores webhook events (Handler) and processes them (Run). One Inbox
// serves one process; replicas each have their own, sharing the database.
type Inbox struct {
	st       *store.Store
	channels Channels
	proc     Processor
	opts     Options
	log      *slog.Logger
	m        *Metrics
	wake     wake.Signal
	commits  *committer
}

// New returns an inbox that stores into st, finds channels through
// channels and hands events to proc.
func New(st *store.Store, channels Channels, proc Processor, opts Options) *Inbox {
	opts = opts.withDefaults()
	in := &Inbox{st: st, channels: channels, proc: proc, opts: opts, log: opts.Logger, m: opts.Metrics}
	in.commits = &committer{in: in, eventMarks: map[int]time.Time{}}
	return in
}

// Handler returns the webhook handler, to mount at
// "GET /webhooks/messenger/{key}" and "POST /webhooks/messenger/{key}".
func (in *Inbox) Handler() *Handler { return &Handler{in: in} }

// Notify wakes this process's idle workers, to look for events now rather
// than at the next poll. The Handler calls it after storing events; call it
// when another replica is known to have stored some.
func (in *Inbox) Notify() { in.wake.Notify() }

// now returns the clock's time in UTC. Times are always written in UTC:
// SQLite compares them as text.
func (in *Inbox) now() time.Time { return in.opts.Now().UTC() }
