package inbox

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
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

func TestRebind(t *testing.T) {
	require.Equal(t, "a = $1 AND b IN ($2, $3)", rebind("postgres", "a = ? AND b IN (?, ?)"))
	require.Equal(t, "a = ?", rebind("sqlite3", "a = ?"))
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
