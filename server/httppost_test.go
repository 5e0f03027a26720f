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
