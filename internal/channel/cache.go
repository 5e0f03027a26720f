package channel

import (
	"context"
	"sync"
	"time"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/messengerchannel"
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
	mu    sync.Mutex
	byKey map[string]cacheEntry
	byID  map[int]cacheEntry
}

type cacheEntry struct {
	ch      *ent.MessengerChannel
	expires time.Time
}

func newCache() *cache {
	return &cache{byKey: map[string]cacheEntry{}, byID: map[int]cacheEntry{}}
}

// get returns a copy of the cached channel, or nil. Callers may change
// their copy's fields without touching the cache.
func (c *cache) get(id int, key string) *ent.MessengerChannel {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byID[id]
	if key != "" {
		e, ok = c.byKey[key]
	}
	if !ok || time.Now().After(e.expires) {
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
}

// forget drops the channel, after this Service changed it.
func (c *cache) forget(id int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byID[id]; ok {
		delete(c.byKey, e.ch.WebhookKey)
		delete(c.byID, id)
	}
}

func cacheable(ch *ent.MessengerChannel) bool {
	switch ch.Status {
	case messengerchannel.StatusCONNECTED, messengerchannel.StatusERROR:
		return hasToken(ch)
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
		if ch := s.cache.get(id, ""); ch != nil {
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
