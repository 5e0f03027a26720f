package server

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"golang.org/x/time/rate"

	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/viewer"
)

// rateLimitedCode is the extensions.code of a request refused by the rate
// limiter. API.md fixes the list of codes, and none says "too many
// requests", so it is FORBIDDEN (not allowed right now) with a message that
// says so; the HTTP status is 429 with Retry-After, which is what clients
// should act on.
var rateLimitedCode = apperr.PermissionDenied.Code()

// rateLimiter is a token bucket per API token: each token may make rate
// GraphQL operations per second on average, and burst at once. Buckets of
// tokens idle for idleAfter are forgotten, so memory follows the tokens in
// use, not every token ever seen. One process counts its own requests:
// behind a load balancer, N replicas allow N times the rate.
type rateLimiter struct {
	rate  rate.Limit
	burst int
	now   func() time.Time

	mu        sync.Mutex
	buckets   map[int]*bucket // by API token id
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// idleAfter is how long a token's bucket is kept after its last request;
// by then it has refilled completely at any sane rate.
const idleAfter = 10 * time.Minute

// newRateLimiter returns a limiter, or nil (no limit) when perSecond is 0.
func newRateLimiter(perSecond float64, burst int, now func() time.Time) *rateLimiter {
	if perSecond <= 0 {
		return nil
	}
	return &rateLimiter{rate: rate.Limit(perSecond), burst: max(burst, 1), now: now, buckets: map[int]*bucket{}}
}

// allow takes one request from tokenID's bucket. When the bucket is empty
// it takes nothing and returns how long until a request would be allowed.
func (l *rateLimiter) allow(tokenID int) (bool, time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.lastSweep) > time.Minute {
		for id, b := range l.buckets {
			if now.Sub(b.seen) > idleAfter {
				delete(l.buckets, id)
			}
		}
		l.lastSweep = now
	}
	b, ok := l.buckets[tokenID]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[tokenID] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now) // a refused request costs nothing
		return false, d
	}
	return true, 0
}

// retryAfterSeconds rounds a wait up to whole seconds, at least 1, as the
// Retry-After header counts.
func retryAfterSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

func rateLimitedMessage(secs int) string {
	return fmt.Sprintf("rate limit: too many requests with this API token; slow down, and retry in %d s", secs)
}

// writeRateLimited answers 429 with Retry-After, in the GraphQL response
// shape so clients can read extensions.code.
func writeRateLimited(w http.ResponseWriter, wait time.Duration) {
	secs := retryAfterSeconds(wait)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	writeError(w, http.StatusTooManyRequests, rateLimitedMessage(secs),
		map[string]any{"code": rateLimitedCode, "retryAfterSeconds": secs})
}

// websocketKey marks the context of a websocket connection, whose
// operations the HTTP middleware never sees one by one.
type websocketKey struct{}

// limitWebsocketOperations applies the limiter to each operation started
// over a websocket (HTTP requests were counted before reaching gqlgen). A
// refused operation gets one error response; the connection stays open.
func (l *rateLimiter) limitWebsocketOperations(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	if l == nil || ctx.Value(websocketKey{}) == nil {
		return next(ctx)
	}
	v, ok := viewer.FromContext(ctx)
	if !ok {
		return next(ctx)
	}
	if allowed, wait := l.allow(v.TokenID); !allowed {
		secs := retryAfterSeconds(wait)
		return graphql.OneShot(&graphql.Response{Errors: gqlerror.List{{
			Message:    rateLimitedMessage(secs),
			Extensions: map[string]any{"code": rateLimitedCode, "retryAfterSeconds": secs},
		}}})
	}
	return next(ctx)
}
