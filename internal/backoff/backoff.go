// Package backoff computes retry delays: exponential, capped and jittered.
// The inbox (events) and package conversation (Send API calls) retry by
// attempt count, often across processes, so a delay is a function of the
// attempt number rather than a stateful object.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Delay returns the wait after the attempt-th failed attempt (attempt ≥ 1):
// base doubled per earlier attempt, at most max, with "equal jitter" (half
// fixed, half random) so that the retries of many callers spread out.
func Delay(attempt int, base, max time.Duration) time.Duration {
	d := base
	for i := 1; i < attempt && d < max; i++ {
		d *= 2
	}
	d = min(d, max)
	half := d / 2
	return half + rand.N(d-half+1)
}
