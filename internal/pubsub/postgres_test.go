package pubsub_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/pubsub"
)

func testDSN() string {
	if dsn := os.Getenv("TEST_DATABASE_URL"); dsn != "" {
		return dsn
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// openDB connects to the test database. Where it is unreachable the test
// fails in CI and is skipped elsewhere.
func openDB(t *testing.T) (dsn string, db *sql.DB) {
	t.Helper()
	dsn = testDSN()
	db, err := sql.Open("postgres", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		shown := "(unparsable TEST_DATABASE_URL)"
		if u, perr := url.Parse(dsn); perr == nil {
			shown = u.Redacted()
		}
		msg := "postgres unreachable at " + shown + ": " + err.Error() + "; set TEST_DATABASE_URL or start the local server"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return dsn, db
}

// newChannel returns a channel name no other test uses, so tests can run in
// parallel against one database.
func newChannel() string {
	return "pubsub_test_" + strings.ToLower(rand.Text())
}

func newPostgres(t *testing.T, dsn string, db *sql.DB, opts ...pubsub.Option) *pubsub.Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	bus, err := pubsub.NewPostgres(ctx, dsn, db, nil, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, bus.Close()) })
	return bus
}

// nothing asserts that sub receives no event for a moment.
func nothing(t *testing.T, sub *pubsub.Subscription) {
	t.Helper()
	select {
	case ev := <-sub.Events():
		t.Fatalf("unexpected event %+v (err %v)", ev, sub.Err())
	case <-time.After(200 * time.Millisecond):
	}
}

func TestPostgresAcrossReplicas(t *testing.T) {
	t.Parallel()
	dsn, db := openDB(t)
	ch := newChannel()
	a := newPostgres(t, dsn, db, pubsub.WithChannel(ch))
	b := newPostgres(t, dsn, db, pubsub.WithChannel(ch))
	ctx := t.Context()

	onA, err := a.Subscribe(ctx, "messages", nil)
	require.NoError(t, err)
	onB, err := b.Subscribe(ctx, "messages", func(ev pubsub.Event) bool { return ev.WorkspaceID == 1 })
	require.NoError(t, err)

	// Another sender on the channel must not break the bus.
	_, err = db.ExecContext(ctx, `SELECT pg_notify($1, 'not json')`, ch)
	require.NoError(t, err)

	want := pubsub.Event{Topic: "messages", WorkspaceID: 1, Kind: "created", ID: 42, Extra: map[string]string{"conversation": "7"}}
	require.NoError(t, a.Publish(ctx, pubsub.Event{Topic: "messages", WorkspaceID: 2, ID: 41}))
	require.NoError(t, a.Publish(ctx, want))
	for i := range 10 {
		require.NoError(t, b.Publish(ctx, pubsub.Event{Topic: "messages", WorkspaceID: 1, ID: 100 + i}))
	}

	assert.Equal(t, want, next(t, onB), "published on A, received on B")
	assert.Equal(t, 41, next(t, onA).ID, "A receives its own events, unfiltered")
	assert.Equal(t, want, next(t, onA))
	for i := range 10 {
		assert.Equal(t, 100+i, next(t, onA).ID)
		assert.Equal(t, 100+i, next(t, onB).ID)
	}
}

func TestPostgresPublishTx(t *testing.T) {
	t.Parallel()
	dsn, db := openDB(t)
	ch := newChannel()
	a := newPostgres(t, dsn, db, pubsub.WithChannel(ch))
	b := newPostgres(t, dsn, db, pubsub.WithChannel(ch))
	ctx := t.Context()
	sub, err := b.Subscribe(ctx, "handoffs", nil)
	require.NoError(t, err)

	tx, err := db.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, a.PublishTx(ctx, tx, pubsub.Event{Topic: "handoffs", ID: 1}))
	require.NoError(t, tx.Rollback())

	tx, err = db.BeginTx(ctx, nil)
	require.NoError(t, err)
	require.NoError(t, a.PublishTx(ctx, tx, pubsub.Event{Topic: "handoffs", ID: 2}))
	nothing(t, sub) // not before commit
	require.NoError(t, tx.Commit())

	// Notifications arrive in commit order, so the rolled-back one would
	// have come first.
	assert.Equal(t, 2, next(t, sub).ID)
	nothing(t, sub)
}

func TestPostgresPayloadLimit(t *testing.T) {
	t.Parallel()
	dsn, db := openDB(t)
	bus := newPostgres(t, dsn, db, pubsub.WithChannel(newChannel()))
	ctx := t.Context()
	sub, err := bus.Subscribe(ctx, "t", nil)
	require.NoError(t, err)

	// sized returns an event whose JSON encoding is exactly n bytes.
	sized := func(n int) pubsub.Event {
		ev := pubsub.Event{Topic: "t", Extra: map[string]string{"x": ""}}
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		ev.Extra["x"] = strings.Repeat("a", n-len(b))
		return ev
	}

	largest := sized(pubsub.MaxPayload)
	require.NoError(t, bus.Publish(ctx, largest), "Postgres takes MaxPayload bytes")
	assert.Equal(t, largest, next(t, sub))

	err = bus.Publish(ctx, sized(pubsub.MaxPayload+1))
	require.ErrorIs(t, err, pubsub.ErrPayloadTooLarge)
	assert.EqualError(t, err, "pubsub: t event is 8000 bytes encoded, limit 7999: pubsub: event payload too large")
	nothing(t, sub)
}

func TestPostgresReconnectEndsSubscriptions(t *testing.T) {
	t.Parallel()
	dsn, db := openDB(t)
	ch := newChannel()
	m := pubsub.NewMetrics(prometheus.NewRegistry())
	bus := newPostgres(t, dsn, db, pubsub.WithChannel(ch), pubsub.WithMetrics(m))
	ctx := t.Context()
	sub, err := bus.Subscribe(ctx, "t", nil)
	require.NoError(t, err)

	var killed int
	require.NoError(t, db.QueryRowContext(ctx,
		`SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = 'LISTEN "' || $1 || '"'`, ch).Scan(&killed))
	require.Equal(t, 1, killed, "the listener's backend")

	_, err = ended(t, sub)
	require.ErrorIs(t, err, pubsub.ErrDisconnected)
	assert.Equal(t, 1.0, testutil.ToFloat64(m.Dropped.WithLabelValues("disconnected")))

	again, err := bus.Subscribe(ctx, "t", nil)
	require.NoError(t, err)
	require.NoError(t, bus.Publish(ctx, pubsub.Event{Topic: "t", ID: 1}))
	assert.Equal(t, 1, next(t, again).ID, "a new subscription works after reconnecting")
}

func TestPostgresClose(t *testing.T) {
	t.Parallel()
	dsn, db := openDB(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	bus, err := pubsub.NewPostgres(ctx, dsn, db, nil, pubsub.WithChannel(newChannel()), pubsub.WithPingInterval(10*time.Millisecond))
	require.NoError(t, err)
	sub, err := bus.Subscribe(ctx, "t", nil)
	require.NoError(t, err)
	time.Sleep(50 * time.Millisecond) // let a few pings run

	require.NoError(t, bus.Close())
	require.NoError(t, bus.Close(), "Close twice")
	_, err = ended(t, sub)
	require.ErrorIs(t, err, pubsub.ErrClosed)
	require.ErrorIs(t, bus.Publish(ctx, pubsub.Event{Topic: "t"}), pubsub.ErrClosed)
	_, err = bus.Subscribe(ctx, "t", nil)
	require.ErrorIs(t, err, pubsub.ErrClosed)
	require.NoError(t, db.PingContext(ctx), "Close leaves the *sql.DB open")
}

func TestNewPostgresUnreachable(t *testing.T) {
	t.Parallel()
	dsn := "postgres://postgres@127.0.0.1:1/test?sslmode=disable"
	db, err := sql.Open("postgres", dsn)
	require.NoError(t, err)
	defer db.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()

	start := time.Now()
	_, err = pubsub.NewPostgres(ctx, dsn, db, nil, pubsub.WithChannel(newChannel()))
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "last connection error")
	assert.Less(t, time.Since(start), 2*time.Second, "returns at the deadline")
}

func TestNewPostgresRejectsChannel(t *testing.T) {
	t.Parallel()
	db, err := sql.Open("postgres", testDSN()) // not used: the name is checked first
	require.NoError(t, err)
	defer db.Close()
	for _, tt := range []struct {
		name, channel string
	}{
		{"empty", ""},
		{"longer than 63 bytes", strings.Repeat("c", 64)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := pubsub.NewPostgres(t.Context(), testDSN(), db, nil, pubsub.WithChannel(tt.channel))
			require.ErrorContains(t, err, "must be 1 to 63 bytes")
		})
	}
}
