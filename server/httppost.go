package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/seachat/seachat/internal/apperr"
)

// maxBatch is how many operations one batched request may hold.
const maxBatch = 20

// graphQLResponseJSON is the media type of GraphQL over HTTP responses
// whose status code tells request errors apart.
const graphQLResponseJSON = "application/graphql-response+json"

// postJSON is GraphQL over HTTP POST with a JSON body, as the GraphQL over
// HTTP spec has it (gqlgen's POST transport answers request errors with
// 422, which Apollo Client 3 does not read as GraphQL errors):
//   - with Accept: application/json, or none, request errors (parse,
//     validation, variables) are 200 with errors;
//   - with Accept: application/graphql-response+json they are 400;
//   - a body that is not a JSON object is 400 with code BAD_REQUEST;
//   - a JSON array of at most maxBatch operations (batching, as Apollo's
//     BatchHttpLink and others send it) gets an array of results.
//
// A response to a request error has no "data" key at all.
type postJSON struct{}

var _ graphql.Transport = postJSON{}

// Supports implements graphql.Transport.
func (postJSON) Supports(r *http.Request) bool {
	if r.Method != http.MethodPost || r.Header.Get("Upgrade") != "" {
		return false
	}
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

// Do implements graphql.Transport.
func (t postJSON) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	strict := acceptsGraphQLResponse(r)
	if strict {
		w.Header().Set("Content-Type", graphQLResponseJSON)
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		status := http.StatusBadRequest
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			status = http.StatusRequestEntityTooLarge
		}
		writeResponse(w, status, badRequest(exec, r, "could not read the request body: %v", err))
		return
	}
	if b := bytes.TrimLeft(body, " \t\r\n"); len(b) > 0 && b[0] == '[' {
		t.batch(w, r, exec, b)
		return
	}
	status, resp := t.one(r, exec, body, strict)
	writeResponse(w, status, resp)
}

// batch runs a JSON array of operations one after the other and answers
// their results in order. A batch is one HTTP request, so its status is
// 200 unless the array itself is unusable.
func (t postJSON) batch(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor, body []byte) {
	var ops []json.RawMessage
	if err := json.Unmarshal(body, &ops); err != nil {
		writeResponse(w, http.StatusBadRequest, badRequest(exec, r, "json request body could not be decoded: %v", err))
		return
	}
	if len(ops) == 0 || len(ops) > maxBatch {
		writeResponse(w, http.StatusBadRequest, badRequest(exec, r,
			"a batch holds 1 to %d operations, this one %d: send several requests", maxBatch, len(ops)))
		return
	}
	results := make([]json.RawMessage, len(ops))
	for i, op := range ops {
		_, resp := t.one(r, exec, op, false)
		results[i] = marshalResponse(resp)
	}
	w.WriteHeader(http.StatusOK)
	b, _ := json.Marshal(results)
	w.Write(b)
}

// one runs one operation and returns the HTTP status it would get alone.
func (postJSON) one(r *http.Request, exec graphql.GraphExecutor, body []byte, strict bool) (int, *graphql.Response) {
	ctx := r.Context()
	start := graphql.Now()
	var params graphql.RawParams
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		return http.StatusBadRequest, badRequest(exec, r, "json request body could not be decoded: %v", err)
	}
	params.Headers = r.Header
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	oc, errs := exec.CreateOperationContext(ctx, &params)
	if errs != nil {
		status := http.StatusOK
		if strict {
			status = http.StatusBadRequest
		}
		return status, exec.DispatchError(graphql.WithOperationContext(ctx, oc), errs)
	}
	responses, ctx := exec.DispatchOperation(ctx, oc)
	return http.StatusOK, responses(ctx)
}

// badRequest is the response to a request the transport cannot read. It
// goes through the error presenter without an operation, which gives it
// the code BAD_REQUEST.
func badRequest(exec graphql.GraphExecutor, r *http.Request, format string, args ...any) *graphql.Response {
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": apperr.BadRequest.Code()}
	return exec.DispatchError(r.Context(), gqlerror.List{err})
}

// acceptsGraphQLResponse reports whether the client asked for
// application/graphql-response+json before application/json.
func acceptsGraphQLResponse(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mt {
		case graphQLResponseJSON:
			return true
		case "application/json":
			return false
		}
	}
	return false
}

func writeResponse(w http.ResponseWriter, status int, resp *graphql.Response) {
	w.WriteHeader(status)
	w.Write(marshalResponse(resp))
}

// wireResponse is graphql.Response as sent: without "data" when the
// request failed before execution (GraphQL over HTTP), with "data": null
// when execution nulled it.
type wireResponse struct {
	Errors     gqlerror.List   `json:"errors,omitempty"`
	Data       json.RawMessage `json:"data,omitempty"`
	Label      string          `json:"label,omitempty"`
	Path       any             `json:"path,omitempty"`
	HasNext    *bool           `json:"hasNext,omitempty"`
	Extensions map[string]any  `json:"extensions,omitempty"`
}

func marshalResponse(resp *graphql.Response) json.RawMessage {
	if resp == nil {
		resp = &graphql.Response{Errors: gqlerror.List{gqlerror.Errorf("no response")}}
	}
	w := wireResponse{Errors: resp.Errors, Data: resp.Data, Label: resp.Label, HasNext: resp.HasNext, Extensions: resp.Extensions}
	if len(resp.Path) > 0 {
		w.Path = resp.Path
	}
	b, err := json.Marshal(w)
	if err != nil {
		b, _ = json.Marshal(wireResponse{Errors: gqlerror.List{gqlerror.Errorf("%s", fmt.Sprint("encoding the response: ", err))}})
	}
	return b
}
