package channel

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/messengerchannel"
	"github.com/seachat/seachat/ent/predicate"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/store"
)

// cacheTTL is how long a channel read from the database is reused. Every
// webhook POST and every Graph API call of the bot needs its channel, and
// that read was a database round trip on the hot paths of a busy Page.
// Changes made through this Service are seen at once (it forgets what it
// writes); changes made by another replica are seen within cacheTTL: at
// worst a removed channel's webhook is stored, or a dead token is tried
// once more, for that long.
const cacheTTL = 2 * time.Second

// cache holds recently read channels that are connected: only those carry
// the secrets the hot paths need, and a channel being set up changes every
// few seconds. Entries expire by the monotonic clock, not Service.now, which
// tests may freeze.
type cache struct {
	mu     sync.Mutex
	byID   map[int]cacheEntry
	byKey  map[string]cacheEntry // webhook key
	byPage map[string]cacheEntry // Facebook Page ID
}

type cacheEntry struct {
	ch      *ent.MessengerChannel
	expires time.Time
}

func newCache() *cache {
	return &cache{byID: map[int]cacheEntry{}, byKey: map[string]cacheEntry{}, byPage: map[string]cacheEntry{}}
}

func (c *cache) byIDOf(id int) *ent.MessengerChannel {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byID[id].fresh()
}

func (c *cache) byKeyOf(key string) *ent.MessengerChannel {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byKey[key].fresh()
}

func (c *cache) byPageOf(pageID string) *ent.MessengerChannel {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.byPage[pageID].fresh()
}

// fresh returns a copy of the entry's channel, or nil when there is none or
// it expired. Callers may change their copy's fields without touching the
// cache.
func (e cacheEntry) fresh() *ent.MessengerChannel {
	if e.ch == nil || time.Now().After(e.expires) {
		return nil
	}
	ch := *e.ch
	return &ch
}

func (c *cache) put(ch *ent.MessengerChannel) {
	if !cacheable(ch) {
		c.forget(ch.ID)
		return
	}
	cp := *ch
	e := cacheEntry{ch: &cp, expires: time.Now().Add(cacheTTL)}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byID[ch.ID] = e
	c.byKey[ch.WebhookKey] = e
	c.byPage[*ch.PageID] = e
}

// forget drops the channel, after this Service changed it.
func (c *cache) forget(id int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[id]; ok {
		delete(c.byKey, e.ch.WebhookKey)
		delete(c.byPage, *e.ch.PageID)
		delete(c.byID, id)
	}
}

func cacheable(ch *ent.MessengerChannel) bool {
	switch ch.Status {
	case messengerchannel.StatusCONNECTED, messengerchannel.StatusERROR:
		return hasToken(ch) && ch.PageID != nil
	}
	return false
}

// Get returns the channel with the ID, from the cache when it was read less
// than cacheTTL ago (see cacheTTL for what that means across replicas). It
// needs no viewer: callers pass IDs they read under the viewer's privacy
// rules, or got from the inbox. Inside a GraphQL mutation's transaction it
// reads through the transaction. A missing channel is NotFound.
func (s *Service) Get(ctx context.Context, id int) (*ent.MessengerChannel, error) {
	inTx := ent.TxFromContext(ctx) != nil
	if !inTx {
		if ch := s.cache.byIDOf(id); ch != nil {
			return ch, nil
		}
	}
	ch, err := store.Client(ctx, s.client).MessengerChannel.Get(auth.SystemContext(ctx), id)
	if ent.IsNotFound(err) {
		return nil, apperr.Wrapf(err, apperr.NotFound, "messenger channel %d not found", id)
	}
	if err != nil {
		return nil, err
	}
	if !inTx {
		s.cache.put(ch)
	}
	return ch, nil
}

// ByPageID returns the live channel of the Facebook Page, from the cache
// like Get, for the webhook handler: a Meta app sends the events of all its
// Pages to one callback URL. A Page without a live channel is NotFound. It
// needs no viewer.
func (s *Service) ByPageID(ctx context.Context, pageID string) (*ent.MessengerChannel, error) {
	if ch := s.cache.byPageOf(pageID); ch != nil {
		return ch, nil
	}
	ch, err := s.live(ctx, messengerchannel.PageID(pageID))
	if ent.IsNotFound(err) {
		return nil, apperr.Errorf(apperr.NotFound, "no live channel of page %s", pageID)
	}
	if err != nil {
		return nil, fmt.Errorf("channel.ByPageID: %w", err)
	}
	return ch, nil
}

// live reads the one channel that is not REMOVED and matches where, and
// caches it.
func (s *Service) live(ctx context.Context, where predicate.MessengerChannel) (*ent.MessengerChannel, error) {
	ch, err := store.Client(ctx, s.client).MessengerChannel.Query().
		Where(where, messengerchannel.StatusNEQ(messengerchannel.StatusREMOVED)).
		Only(auth.SystemContext(ctx))
	if err != nil {
		return nil, err
	}
	s.cache.put(ch)
	return ch, nil
}
