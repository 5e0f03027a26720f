package pubsub_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/seachat/seachat/internal/pubsub"
)

// TestMain fails the run if any test leaves a goroutine behind, ours or pq's.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const wait = 5 * time.Second

// next returns the next event of sub, failing if none comes or the
// subscription ends.
func next(t *testing.T, sub *pubsub.Subscription) pubsub.Event {
	t.Helper()
	select {
	case ev, ok := <-sub.Events():
		require.True(t, ok, "subscription ended: %v", sub.Err())
		return ev
	case <-time.After(wait):
		t.Fatal("no event within", wait)
		return pubsub.Event{}
	}
}

// ended drains sub until its channel closes and returns the events it still
// held and the reason it ended.
func ended(t *testing.T, sub *pubsub.Subscription) ([]pubsub.Event, error) {
	t.Helper()
	var got []pubsub.Event
	timeout := time.After(wait)
	for {
		select {
		case ev, ok := <-sub.Events():
			if !ok {
				return got, sub.Err()
			}
			got = append(got, ev)
		case <-timeout:
			t.Fatal("subscription still open after", wait)
		}
	}
}
