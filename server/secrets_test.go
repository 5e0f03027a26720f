package server_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/messenger/messengertest"
	"github.com/seachat/seachat/internal/secret"
	"github.com/seachat/seachat/internal/store/storetest"
)

// TestSecretsNeverLogged runs a full flow at debug level with known
// secrets — the admin, OWNER and AGENT tokens, a revoked and a made-up
// token, the page access token, a page token Meta rejects, the app secret
// and its appsecret_proof, the webhook key and verify token, the
// encryption key — through success and failure paths, and scans every log
// line for them.
func TestSecretsNeverLogged(t *testing.T) {
	st := storetest.Open(t, "sqlite")
	graph := messengertest.New(t, messengertest.Page{ID: pageID, Name: "Harbor Bikes", Token: pageToken})
	e := newEnv(t, st, "SEACHAT_GRAPH_API_URL", graph.URL)
	ws := e.newWorkspace("Harbor")
	_, ch := connectedAgent(t, e, ws.owner)

	// Answered: an inbound message and its reply.
	require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent("m_s1", "When are you open on Saturday?", time.Now())))
	graph.WaitSent(t, 1, 10*time.Second)

	// Refused webhooks: a forged signature, a body signed with the wrong secret.
	body := textEvent("m_s2", "hi", time.Now())
	req, _ := http.NewRequest(http.MethodPost, e.webhookURL(ch), strings.NewReader(body))
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(bytes.Repeat([]byte{7}, 32)))
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusForbidden, res.StatusCode)

	// Bad tokens: made up, and revoked.
	const madeUp = "sct_made_up_token_that_must_not_be_logged"
	status, _ := e.do(madeUp, `{agents{id}}`, nil)
	require.Equal(t, http.StatusUnauthorized, status)
	var created struct {
		Token    string
		APIToken struct{ ID string }
	}
	e.ok(ws.owner, `mutation{createAPIToken(name:"Temp",role:AGENT){token apiToken{id}}}`, nil, "createAPIToken", &created)
	e.ok(ws.owner, `mutation($id:ID!){revokeAPIToken(id:$id)}`, map[string]any{"id": created.APIToken.ID}, "revokeAPIToken", new(string))
	_, revoked := e.do(created.Token, `{agents{id}}`, nil)
	require.Equal(t, "UNAUTHENTICATED", revoked.code())

	// A page token Meta rejects, on a second channel.
	const rejectedPageToken = "EAAGrejected_page_token_must_not_be_logged"
	agent2 := e.createAgent(ws.owner, "Second")
	var ch2 channelView
	e.ok(ws.owner, `mutation($a:ID!){setupMessengerChannel(agentId:$a){`+channelFields+`}}`, map[string]any{"a": agent2}, "setupMessengerChannel", &ch2)
	_, bad := e.do(ws.owner, `mutation($c:ID!,$t:String!){connectMessengerPage(channelId:$c,input:{pageAccessToken:$t,appSecret:"another_app_secret_value"}){id}}`,
		map[string]any{"c": ch2.ID, "t": rejectedPageToken})
	require.NotEmpty(t, bad.Errors, "Meta's rejection must reach the caller")

	// Send failures: transient, then the token dies (the channel goes ERROR).
	graph.FailNext(messengertest.FailTemporary, messengertest.FailTokenInvalid)
	require.Equal(t, http.StatusOK, e.postEvent(ch, textEvent("m_s3", "Do you rent city bikes?", time.Now())))
	require.Eventually(t, func() bool {
		var c channelView
		e.ok(ws.owner, `query($id:ID!){node(id:$id){... on MessengerChannel{`+channelFields+`}}}`, map[string]any{"id": ch.ID}, "node", &c)
		return c.Status == "ERROR"
	}, 15*time.Second, 50*time.Millisecond, "the dead page token did not put the channel in ERROR")

	key := bytes.Repeat([]byte{1}, secret.KeySize) // newEnv's encryption key
	mac := hmac.New(sha256.New, []byte(appSecret))
	mac.Write([]byte(pageToken))
	secrets := map[string]string{
		"admin token":       adminToken,
		"OWNER token":       ws.owner,
		"AGENT token":       ws.agent,
		"revoked token":     created.Token,
		"made-up token":     madeUp,
		"page access token": pageToken,
		"rejected token":    rejectedPageToken,
		"app secret":        appSecret,
		"other app secret":  "another_app_secret_value",
		"appsecret_proof":   hex.EncodeToString(mac.Sum(nil)),
		"webhook key":       ch.CallbackURL[strings.LastIndex(ch.CallbackURL, "/")+1:],
		"verify token":      ch.VerifyToken,
		"second verify":     ch2.VerifyToken,
		"key (hex)":         hex.EncodeToString(key),
		"key (base64)":      base64.StdEncoding.EncodeToString(key),
	}
	logs := e.log.String()
	// The scan means something only if the failures above were logged.
	require.Contains(t, logs, "rejecting webhook signature")
	require.Contains(t, logs, "sending message")
	require.Greater(t, strings.Count(logs, "\n"), 25, "too few log lines to be a real scan")
	for what, s := range secrets {
		require.NotEmpty(t, s, what)
		require.NotContains(t, logs, s, "the %s appears in the logs", what)
	}
}
