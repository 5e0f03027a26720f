package inbox

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/messenger"
)

func TestBackoff(t *testing.T) {
	in := &Inbox{opts: Options{BaseBackoff: time.Second, MaxBackoff: 10 * time.Second}}
	for _, tt := range []struct {
		attempt int
		nominal time.Duration
	}{
		{1, time.Second},
		{2, 2 * time.Second},
		{3, 4 * time.Second},
		{4, 8 * time.Second},
		{5, 10 * time.Second},
		{50, 10 * time.Second},
	} {
		for range 100 {
			d := in.backoff(tt.attempt)
			require.GreaterOrEqual(t, d, tt.nominal/2, "attempt %d", tt.attempt)
			require.LessOrEqual(t, d, tt.nominal, "attempt %d", tt.attempt)
		}
	}
}

func TestErrorText(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{`Post "https://graph.facebook.com/v25.0/me/messages?access_token=EAAGm0PX4ZCpsBA&x=1": EOF`,
			`Post "https://graph.facebook.com/v25.0/me/messages?access_token=REDACTED&x=1": EOF`},
		{"token EAAGm0PX4ZCpsBAabcdefghijklmnop leaked", "token REDACTED leaked"},
		{"Authorization: Bearer sct_abcdefghijklmnopqrstuvwxyz", "Authorization: Bearer REDACTED"},
		{"appsecret_proof=abc123&app_secret=s3cr3t", "appsecret_proof=REDACTED&app_secret=REDACTED"},
		{"plain failure", "plain failure"},
	} {
		require.Equal(t, tt.want, errorText(errors.New(tt.in)))
	}
	long := errorText(errors.New(strings.Repeat("é", maxErrorLen)))
	require.LessOrEqual(t, len(long), maxErrorLen+len("…"))
	require.True(t, strings.HasSuffix(long, "…"))
	require.NotContains(t, long, "\uFFFD")
}

func TestGivesUp(t *testing.T) {
	in := &Inbox{opts: Options{MaxAttempts: 3}}
	// A transient Meta error no longer reaches the inbox (the outbox sends
	// replies); if one did, it would be retried like any other failure.
	metaDown := fmt.Errorf("reply deferred: %w", &messenger.GraphError{HTTPStatus: 503, Code: 2, Transient: true})
	for _, tt := range []struct {
		name     string
		err      error
		attempts int
		want     bool
	}{
		{"permanent", fmt.Errorf("%w: channel 1 no longer exists", errPermanent), 1, true},
		{"below MaxAttempts", errors.New("database is locked"), 2, false},
		{"at MaxAttempts", errors.New("database is locked"), 3, true},
		{"transient at MaxAttempts", metaDown, 3, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, in.givesUp(&job{attempts: tt.attempts}, tt.err))
		})
	}
}
