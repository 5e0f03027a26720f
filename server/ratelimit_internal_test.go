package server

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2/ast"
	gqlparse "github.com/vektah/gqlparser/v2/parser"
)

func TestRateLimiter(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := newRateLimiter(2, 3, func() time.Time { return now })

	for i := range 3 {
		ok, _ := l.allow(1)
		require.True(t, ok, "request %d of the burst", i+1)
	}
	ok, wait := l.allow(1)
	require.False(t, ok)
	require.Equal(t, 500*time.Millisecond, wait, "at 2/s the next token is half a second away")
	ok, _ = l.allow(2)
	require.True(t, ok, "another token has its own bucket")

	// A refused request costs nothing: after the wait, exactly one more.
	now = now.Add(500 * time.Millisecond)
	ok, _ = l.allow(1)
	require.True(t, ok)
	ok, _ = l.allow(1)
	require.False(t, ok)

	// Idle buckets are forgotten.
	now = now.Add(idleAfter + 2*time.Minute)
	l.allow(3)
	require.Len(t, l.buckets, 1)

	var off *rateLimiter = newRateLimiter(0, 10, time.Now)
	require.Nil(t, off)
	ok, _ = off.allow(1)
	require.True(t, ok, "a nil limiter allows everything")
	require.Equal(t, 1, retryAfterSeconds(time.Millisecond))
	require.Equal(t, 2, retryAfterSeconds(1001*time.Millisecond))
}

func TestDepthWalker(t *testing.T) {
	for _, tt := range []struct {
		query string
		want  int
	}{
		{`{a}`, 1},
		{`{a{b{c}} d}`, 3},
		{`{a{...F}} fragment F on T{b{c{d}}}`, 4},
		{`{a{... on T{b}}}`, 2},
		{`{a{...F ...F ...F}} fragment F on T{b{...G}} fragment G on T{c}`, 3},
		// Capped: the walk stops counting at the limit plus one.
		{"{" + strings.Repeat("a{", 19) + "b" + strings.Repeat("}", 20), 16},
	} {
		doc, err := parser(tt.query)
		require.NoError(t, err, tt.query)
		w := depthWalker{fragments: doc.Fragments, memo: map[string]int{}, visiting: map[string]bool{}, stop: depthLimit + 1}
		require.Equal(t, tt.want, w.selections(doc.Operations[0].SelectionSet, w.stop), tt.query)
	}
}

// parser parses without validating: the walker must not depend on it.
func parser(q string) (*ast.QueryDocument, error) {
	return gqlparse.ParseQuery(&ast.Source{Input: q})
}
