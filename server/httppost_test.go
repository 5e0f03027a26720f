package server_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/store/storetest"
)

// TestGraphQLOverHTTP: request errors are 200 with application/json and
// 400 with application/graphql-response+json, carry their codes, and have
// no "data"; batches of up to 20 operations get an array of results
// (API.md, "Browsers and GraphQL clients").
func TestGraphQLOverHTTP(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	post := func(accept, body string) (int, string, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.url+"/graphql", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+adminToken)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, res.Header.Get("Content-Type"), b
	}

	for _, tt := range []struct {
		name, body, code string
	}{
		{"parse", `{"query":"{agents{"}`, "GRAPHQL_PARSE_FAILED"},
		{"validation", `{"query":"{agents{nope}}"}`, "GRAPHQL_VALIDATION_FAILED"},
		{"variables", `{"query":"query($id:ID!){node(id:$id){id}}","variables":{}}`, "BAD_USER_INPUT"},
	} {
		for _, accept := range []string{"", "application/json", "application/graphql-response+json", "application/graphql-response+json, application/json;q=0.9"} {
			status, ctype, body := post(accept, tt.body)
			want, wantType := http.StatusOK, "application/json"
			if strings.HasPrefix(accept, "application/graphql-response+json") {
				want, wantType = http.StatusBadRequest, "application/graphql-response+json"
			}
			require.Equal(t, want, status, "%s with Accept %q", tt.name, accept)
			require.Equal(t, wantType, ctype)
			var res map[string]any
			require.NoError(t, json.Unmarshal(body, &res))
			require.NotContains(t, res, "data", "%s: a request error has no data", tt.name)
			require.Equal(t, tt.code, res["errors"].([]any)[0].(map[string]any)["extensions"].(map[string]any)["code"], tt.name)
		}
	}

	// Batching: results in order, each with its own errors.
	status, _, body := post("", `[{"query":"{agents{id}}"},{"query":"{agents{nope}}"},{"query":"{viewer{tokenName}}"}]`)
	require.Equal(t, http.StatusOK, status)
	var batch []map[string]any
	require.NoError(t, json.Unmarshal(body, &batch), "%s", body)
	require.Len(t, batch, 3)
	require.Contains(t, batch[0], "data")
	require.NotContains(t, batch[0], "errors")
	require.Contains(t, batch[1], "errors")
	require.Equal(t, "admin", batch[2]["data"].(map[string]any)["viewer"].(map[string]any)["tokenName"])

	for _, bad := range []string{`[]`, `[` + strings.Repeat(`{"query":"{agents{id}}"},`, 20) + `{"query":"{agents{id}}"}]`, `[1`} {
		status, _, body := post("", bad)
		require.Equal(t, http.StatusBadRequest, status, "%.60s", bad)
		require.Contains(t, string(body), `"code":"BAD_REQUEST"`)
	}
	status, _, body = post("", `[1]`)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(body), `"code":"BAD_REQUEST"`, "a batch entry that is no object")
}

// TestTransportErrors: errors of the request itself carry BAD_REQUEST and
// a status that says what is wrong: a mutation over GET (405), a content
// type nothing reads (415), a broken multipart upload (400).
func TestTransportErrors(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	do := func(method, path, contentType, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		req.Header.Set("Authorization", "Bearer "+adminToken)
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(res.Body)
		require.NoError(t, json.Unmarshal(b, &out), "%s", b)
		return res.StatusCode, out
	}
	code := func(out map[string]any) any {
		return out["errors"].([]any)[0].(map[string]any)["extensions"].(map[string]any)["code"]
	}
	for _, tt := range []struct {
		name, method, path, contentType, body string
		status                                int
	}{
		{"mutation over GET", http.MethodGet, `/graphql?query=mutation{createAgent(input:{name:"x"}){id}}`, "", "", http.StatusMethodNotAllowed},
		{"variables not JSON", http.MethodGet, `/graphql?query={agents{id}}&variables=x`, "", "", http.StatusBadRequest},
		{"subscription without a stream", http.MethodPost, "/graphql", "application/json", `{"query":"subscription{messageAdded{id}}"}`, http.StatusBadRequest},
		{"text body", http.MethodPost, "/graphql", "text/plain", `{"query":"{agents{id}}"}`, http.StatusUnsupportedMediaType},
		{"broken multipart", http.MethodPost, "/graphql", "multipart/form-data; boundary=x",
			"--x\r\nContent-Disposition: form-data; name=\"operations\"\r\n\r\n{}\r\n--x--\r\n", http.StatusBadRequest},
	} {
		status, out := do(tt.method, strings.ReplaceAll(tt.path, " ", "%20"), tt.contentType, tt.body)
		require.Equal(t, tt.status, status, tt.name)
		require.Equal(t, "BAD_REQUEST", code(out), tt.name)
		require.NotContains(t, out, "data", tt.name)
	}
	status, out := do(http.MethodGet, "/graphql?query={agents{id}}", "", "")
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, out, "data")
}

// TestDefer: @defer is advertised, so it works: a JSON client gets the
// deferred fields merged into one result.
func TestDefer(t *testing.T) {
	e := newEnv(t, storetest.Open(t, "sqlite"))
	e.createAgent(adminToken, "Harbor Bikes")
	// welcomeMessage has a resolver: gqlgen defers only fields that do.
	_, res := e.do(adminToken, `{ agents { id name ... @defer(label: "more") { welcomeMessage } } viewer { tokenName } }`, nil)
	require.Empty(t, res.Errors)
	var got struct {
		Agents []struct{ ID, Name, WelcomeMessage string }
		Viewer struct{ TokenName string }
	}
	raw, _ := json.Marshal(res.Data)
	require.NoError(t, json.Unmarshal(raw, &got))
	require.Len(t, got.Agents, 1)
	require.Equal(t, "Harbor Bikes", got.Agents[0].Name)
	require.Contains(t, got.Agents[0].WelcomeMessage, "assistant of Harbor Bikes")
	require.Equal(t, "admin", got.Viewer.TokenName)
}
