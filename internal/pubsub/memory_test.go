package pubsub_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/pubsub"
)

func TestMemoryFanOutInOrder(t *testing.T) {
	const subscribers, events = 20, 50
	bus := pubsub.NewMemory(pubsub.WithBuffer(events))
	defer bus.Close()
	ctx := t.Context()

	subs := make([]*pubsub.Subscription, subscribers)
	for i := range subs {
		var err error
		subs[i], err = bus.Subscribe(ctx, "messages", nil)
		require.NoError(t, err)
	}
	for i := range events {
		require.NoError(t, bus.Publish(ctx, pubsub.Event{Topic: "messages", WorkspaceID: 1, Kind: "created", ID: i}))
	}
	for _, sub := range subs {
		for i := range events {
			assert.Equal(t, i, next(t, sub).ID)
		}
	}
}

func TestMemoryConcurrentPublishersSameOrderForAll(t *testing.T) {
	const publishers, each = 4, 100
	bus := pubsub.NewMemory(pubsub.WithBuffer(publishers * each))
	defer bus.Close()
	ctx := t.Context()
	a, err := bus.Subscribe(ctx, "t", nil)
	require.NoError(t, err)
	b, err := bus.Subscribe(ctx, "t", nil)
	require.NoError(t, err)

	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range each {
				assert.NoError(t, bus.Publish(ctx, pubsub.Event{Topic: "t", ID: p*each + i}))
			}
		})
	}
	wg.Wait()
	for range publishers * each {
		assert.Equal(t, next(t, a).ID, next(t, b).ID)
	}
}

func TestMemoryFilterAndTopic(t *testing.T) {
	bus := pubsub.NewMemory()
	defer bus.Close()
	ctx := t.Context()

	ws2, err := bus.Subscribe(ctx, "messages", func(ev pubsub.Event) bool { return ev.WorkspaceID == 2 })
	require.NoError(t, err)
	conv7, err := bus.Subscribe(ctx, "messages", func(ev pubsub.Event) bool { return ev.Extra["conversation"] == "7" })
	require.NoError(t, err)
	handoffs, err := bus.Subscribe(ctx, "handoffs", nil)
	require.NoError(t, err)

	for _, ev := range []pubsub.Event{
		{Topic: "messages", WorkspaceID: 1, ID: 1, Extra: map[string]string{"conversation": "7"}},
		{Topic: "messages", WorkspaceID: 2, ID: 2},
		{Topic: "handoffs", WorkspaceID: 2, ID: 3},
		{Topic: "messages", WorkspaceID: 2, ID: 4, Extra: map[string]string{"conversation": "7"}},
	} {
		require.NoError(t, bus.Publish(ctx, ev))
	}
	require.NoError(t, bus.Close())

	for _, tt := range []struct {
		name string
		sub  *pubsub.Subscription
		want []int
	}{
		{"workspace filter", ws2, []int{2, 4}},
		{"extra filter", conv7, []int{1, 4}},
		{"other topic", handoffs, []int{3}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ended(t, tt.sub)
			require.ErrorIs(t, err, pubsub.ErrClosed)
			var ids []int
			for _, ev := range got {
				ids = append(ids, ev.ID)
			}
			assert.Equal(t, tt.want, ids)
		})
	}
}

func TestMemoryPublisherCannotChangeDeliveredExtra(t *testing.T) {
	bus := pubsub.NewMemory()
	defer bus.Close()
	sub, err := bus.Subscribe(t.Context(), "t", nil)
	require.NoError(t, err)
	extra := map[string]string{"k": "before"}
	require.NoError(t, bus.Publish(t.Context(), pubsub.Event{Topic: "t", Extra: extra}))
	extra["k"] = "after"
	assert.Equal(t, "before", next(t, sub).Extra["k"])
}

func TestMemoryUnsubscribeOnCancel(t *testing.T) {
	m := pubsub.NewMetrics(prometheus.NewRegistry())
	bus := pubsub.NewMemory(pubsub.WithMetrics(m))
	defer bus.Close()

	ctx, cancel := context.WithCancel(t.Context())
	sub, err := bus.Subscribe(ctx, "t", nil)
	require.NoError(t, err)
	stay, err := bus.Subscribe(t.Context(), "t", nil)
	require.NoError(t, err)
	assert.Equal(t, 2.0, testutil.ToFloat64(m.Subscribers))

	cancel()
	_, err = ended(t, sub)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Subscribers))

	require.NoError(t, bus.Publish(t.Context(), pubsub.Event{Topic: "t", ID: 1}))
	assert.Equal(t, 1, next(t, stay).ID)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Delivered))

	_, err = bus.Subscribe(ctx, "t", nil)
	require.ErrorIs(t, err, context.Canceled, "subscribing with a done context")
}

func TestMemorySlowSubscriberDropped(t *testing.T) {
	m := pubsub.NewMetrics(prometheus.NewRegistry())
	bus := pubsub.NewMemory(pubsub.WithBuffer(2), pubsub.WithMetrics(m))
	defer bus.Close()
	ctx := t.Context()

	slow, err := bus.Subscribe(ctx, "t", nil)
	require.NoError(t, err)
	fast, err := bus.Subscribe(ctx, "t", nil)
	require.NoError(t, err)

	for i := range 5 {
		require.NoError(t, bus.Publish(ctx, pubsub.Event{Topic: "t", ID: i}))
		assert.Equal(t, i, next(t, fast).ID)
	}

	got, err := ended(t, slow)
	require.ErrorIs(t, err, pubsub.ErrSlowSubscriber)
	require.Len(t, got, 2, "the slow subscriber keeps what fitted in its buffer")
	assert.Equal(t, []int{0, 1}, []int{got[0].ID, got[1].ID})

	assert.Equal(t, 1.0, testutil.ToFloat64(m.Dropped.WithLabelValues("slow")))
	assert.Equal(t, 7.0, testutil.ToFloat64(m.Delivered)) // 5 fast + 2 slow
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Subscribers))
}

func TestMemoryClose(t *testing.T) {
	m := pubsub.NewMetrics(prometheus.NewRegistry())
	bus := pubsub.NewMemory(pubsub.WithMetrics(m))
	ctx := t.Context()
	a, err := bus.Subscribe(ctx, "a", nil)
	require.NoError(t, err)
	b, err := bus.Subscribe(ctx, "b", nil)
	require.NoError(t, err)
	require.NoError(t, bus.Publish(ctx, pubsub.Event{Topic: "a", ID: 1}))

	require.NoError(t, bus.Close())
	require.NoError(t, bus.Close(), "Close twice")

	got, err := ended(t, a)
	require.ErrorIs(t, err, pubsub.ErrClosed)
	assert.Len(t, got, 1, "events already buffered are still readable")
	_, err = ended(t, b)
	require.ErrorIs(t, err, pubsub.ErrClosed)

	require.ErrorIs(t, bus.Publish(ctx, pubsub.Event{Topic: "a"}), pubsub.ErrClosed)
	_, err = bus.Subscribe(ctx, "a", nil)
	require.ErrorIs(t, err, pubsub.ErrClosed)
	assert.Equal(t, 0.0, testutil.ToFloat64(m.Subscribers))
	assert.Equal(t, 0.0, testutil.ToFloat64(m.Dropped.WithLabelValues("slow")), "closing is not dropping")
}

func TestMemoryPublishRejects(t *testing.T) {
	bus := pubsub.NewMemory()
	defer bus.Close()
	done, cancel := context.WithCancel(t.Context())
	cancel()

	for _, tt := range []struct {
		name    string
		ctx     context.Context
		ev      pubsub.Event
		wantErr error
		wantMsg string
	}{
		{"no topic", t.Context(), pubsub.Event{ID: 1}, nil, "no topic"},
		{"too large", t.Context(), pubsub.Event{Topic: "t", Extra: map[string]string{"x": strings.Repeat("a", pubsub.MaxPayload)}}, pubsub.ErrPayloadTooLarge, "limit 7999"},
		{"done context", done, pubsub.Event{Topic: "t"}, context.Canceled, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := bus.Publish(tt.ctx, tt.ev)
			require.Error(t, err)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr)
			}
			assert.Contains(t, err.Error(), tt.wantMsg)
		})
	}
	_, err := bus.Subscribe(t.Context(), "", nil)
	require.Error(t, err, "subscribing to no topic")
}
