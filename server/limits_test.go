package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket/wsjson"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/store/storetest"
)

// nested returns a query whose deepest field is depth levels down:
// agents → messengerChannels → agent → messengerChannels → … → id.
func nested(depth int) string {
	var b strings.Builder
	b.WriteString("{")
	open := 0
	for level := 1; level < depth; level++ {
		switch {
		case level == 1:
			b.WriteString("agents{")
		case level%2 == 0:
			b.WriteString("messengerChannels{")
		default:
			b.WriteString("agent{")
		}
		open++
	}
	b.WriteString("id")
	b.WriteString(strings.Repeat("}", open+1))
	return b.String()
}

func TestDepthLimit(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	ws := e.newWorkspace("Deep")
	e.createAgent(ws.owner, "Harbor Bikes")

	for _, tt := range []struct {
		name    string
		query   string
		refused bool
	}{
		{"at the limit", nested(15), false},
		{"one level over", nested(16), true},
		{"far over", nested(200), true},
		{"over through fragments", `query{agents{...A}} fragment A on Agent{messengerChannels{...C}}
			fragment C on MessengerChannel{agent{messengerChannels{agent{messengerChannels{agent{messengerChannels{
			agent{messengerChannels{agent{messengerChannels{agent{messengerChannels{agent{id}}}}}}}}}}}}}}`, true},
		{"fragments at the limit", `query{agents{...A}} fragment A on Agent{messengerChannels{...C}}
			fragment C on MessengerChannel{agent{messengerChannels{agent{messengerChannels{agent{messengerChannels{
			agent{messengerChannels{agent{messengerChannels{agent{messengerChannels{id}}}}}}}}}}}}}`, false},
		{"inline fragments add no level", `{agents{... on Agent{messengerChannels{... on MessengerChannel{id}}}}}`, false},
		{"GraphiQL's introspection query", introspectionQuery, false},
		{"introspection is exempt", deepIntrospection, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, res := e.do(ws.owner, tt.query, nil)
			if !tt.refused {
				require.Empty(t, res.Errors)
				require.Equal(t, http.StatusOK, status)
				return
			}
			require.Len(t, res.Errors, 1)
			require.Equal(t, "BAD_USER_INPUT", res.code())
			require.Contains(t, res.Errors[0].Message, "more than 15 levels deep")
			require.Nil(t, res.Data, "a refused operation ran")
		})
	}
}

func TestRateLimit(t *testing.T) {
	// A burst of 4 and (almost) no refill, so the test does not race the clock.
	e := newEnv(t, storetest.Open(t, "sqlite"), "SEACHAT_RATE_LIMIT", "0.001", "SEACHAT_RATE_BURST", "4")
	ws := e.newWorkspace("Busy") // the owner token's first operation: createAPIToken

	for range 3 {
		status, res := e.do(ws.owner, `{agents{id}}`, nil)
		require.Equal(t, http.StatusOK, status)
		require.Empty(t, res.Errors)
	}
	status, res := e.do(ws.owner, `{agents{id}}`, nil)
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Equal(t, "FORBIDDEN", res.code())
	require.Contains(t, res.Errors[0].Message, "slow down")

	// The header and the body agree on when to retry.
	req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", strings.NewReader(`{"query":"{agents{id}}"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+ws.owner)
	raw, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	raw.Body.Close()
	require.Equal(t, http.StatusTooManyRequests, raw.StatusCode)
	secs, err := strconv.Atoi(raw.Header.Get("Retry-After"))
	require.NoError(t, err)
	require.Greater(t, secs, 100, "at 0.001/s the next request is far off")
	require.InDelta(t, res.Errors[0].Extensions["retryAfterSeconds"], float64(secs), 1)

	// Buckets are per token: the AGENT token of the same workspace is untouched.
	status, res = e.do(ws.agent, `{agents{id}}`, nil)
	require.Equal(t, http.StatusOK, status)
	require.Empty(t, res.Errors)

	// Websocket operations draw from the same bucket.
	c := dialGraphQL(t, e, "graphql-transport-ws")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, wsjson.Write(ctx, c, wsMessage{Type: "connection_init",
		Payload: json.RawMessage(`{"authorization":"Bearer ` + ws.owner + `"}`)}))
	var m wsMessage
	require.NoError(t, wsjson.Read(ctx, c, &m))
	require.Equal(t, "connection_ack", m.Type)
	require.NoError(t, wsjson.Write(ctx, c, wsMessage{ID: "1", Type: "subscribe",
		Payload: json.RawMessage(`{"query":"{agents{id}}"}`)}))
	for m.Type != "next" && m.Type != "error" {
		require.NoError(t, wsjson.Read(ctx, c, &m))
	}
	require.Contains(t, string(m.Payload), "FORBIDDEN")
	require.Contains(t, string(m.Payload), "rate limit")
}

// introspectionQuery is graphql-js 16's getIntrospectionQuery with every
// option on, as GraphiQL sends it.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    description
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) { name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue isDeprecated deprecationReason }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}`

// deepIntrospection nests type references 20 levels: introspection is
// exempt from the depth limit.
var deepIntrospection = `{__type(name:"Agent"){fields{type{` + strings.Repeat("ofType{", 20) + "name" + strings.Repeat("}", 20) + `}}}}`
