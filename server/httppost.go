package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
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
	strict := setContentType(w, r)
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

// one decodes one operation of a JSON body and runs it, returning the
// HTTP status it would get alone.
func (postJSON) one(r *http.Request, exec graphql.GraphExecutor, body []byte, strict bool) (int, *graphql.Response) {
	start := graphql.Now()
	var params graphql.RawParams
	if err := decodeJSON(body, &params); err != nil {
		return http.StatusBadRequest, badRequest(exec, r, "json request body could not be decoded: %v", err)
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	return run(r, exec, &params, strict, false)
}

// run runs an operation read from r and returns its HTTP status and
// response: request errors (parse, validation, variables) are 200, or 400
// when strict (the client accepts application/graphql-response+json); with
// queriesOnly (GET), a mutation is 405.
func run(r *http.Request, exec graphql.GraphExecutor, params *graphql.RawParams, strict, queriesOnly bool) (int, *graphql.Response) {
	ctx := r.Context()
	params.Headers = r.Header
	if strings.TrimSpace(params.Query) == "" && params.Extensions["persistedQuery"] == nil {
		return http.StatusBadRequest, badRequest(exec, r, `the request has no query: send {"query": "{ agents { id } }"}`)
	}
	oc, errs := exec.CreateOperationContext(ctx, params)
	if errs != nil {
		status := http.StatusOK
		if strict {
			status = http.StatusBadRequest
		}
		return status, exec.DispatchError(graphql.WithOperationContext(ctx, oc), errs)
	}
	switch {
	case oc.Operation.Operation == ast.Subscription:
		return http.StatusBadRequest, badRequest(exec, r, "a subscription needs a stream: open a websocket "+
			"(graphql-transport-ws), or POST with Accept: text/event-stream (graphql-sse)")
	case queriesOnly && oc.Operation.Operation != ast.Query:
		return http.StatusMethodNotAllowed, badRequest(exec, r,
			"a %s cannot be sent with GET, which only reads: send it with POST", oc.Operation.Operation)
	}
	responses, ctx := exec.DispatchOperation(ctx, oc)
	return http.StatusOK, wholeResponse(ctx, responses)
}

// wholeResponse reads every response of an operation and merges the
// deferred parts (@defer) into the first, so a client that asked for JSON
// gets the whole result at once. (Clients that accept multipart/mixed get
// the parts as they come, from gqlgen's MultipartMixed transport.)
func wholeResponse(ctx context.Context, responses graphql.ResponseHandler) *graphql.Response {
	first := responses(ctx)
	if first == nil || first.HasNext == nil || !*first.HasNext {
		return first
	}
	var data any
	if err := json.Unmarshal(first.Data, &data); err != nil {
		return first
	}
	for next := responses(ctx); next != nil; next = responses(ctx) {
		first.Errors = append(first.Errors, next.Errors...)
		var part map[string]any
		if json.Unmarshal(next.Data, &part) == nil {
			mergeAt(data, next.Path, part)
		}
		if next.HasNext != nil && !*next.HasNext {
			break
		}
	}
	first.Data, _ = json.Marshal(data)
	first.HasNext, first.Label, first.Path = nil, "", nil
	return first
}

// mergeAt copies part's fields into the object at path within data.
func mergeAt(data any, path ast.Path, part map[string]any) {
	for _, el := range path {
		switch el := el.(type) {
		case ast.PathName:
			m, ok := data.(map[string]any)
			if !ok {
				return
			}
			data = m[string(el)]
		case ast.PathIndex:
			l, ok := data.([]any)
			if !ok || int(el) >= len(l) {
				return
			}
			data = l[el]
		}
	}
	if m, ok := data.(map[string]any); ok {
		for k, v := range part {
			m[k] = v
		}
	}
}

// getQuery is GraphQL over HTTP GET: a query in the URL (query,
// operationName, and variables and extensions as JSON), answered as
// postJSON answers. Mutations need POST (405).
type getQuery struct{}

var _ graphql.Transport = getQuery{}

// Supports implements graphql.Transport.
func (getQuery) Supports(r *http.Request) bool {
	return r.Method == http.MethodGet && r.Header.Get("Upgrade") == ""
}

// Do implements graphql.Transport.
func (getQuery) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	strict := setContentType(w, r)
	start := graphql.Now()
	q := r.URL.Query()
	params := graphql.RawParams{Query: q.Get("query"), OperationName: q.Get("operationName")}
	for name, dst := range map[string]any{"variables": &params.Variables, "extensions": &params.Extensions} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		if err := decodeJSON([]byte(v), dst); err != nil {
			writeResponse(w, http.StatusBadRequest, badRequest(exec, r, "%s: not a JSON object: %v", name, err))
			return
		}
	}
	params.ReadTime = graphql.TraceTiming{Start: start, End: graphql.Now()}
	status, resp := run(r, exec, &params, strict, true)
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "POST")
	}
	writeResponse(w, status, resp)
}

// decodeJSON decodes data into dst as gqlgen does: numbers stay
// json.Number, so large integers in variables are not rounded.
func decodeJSON(data []byte, dst any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return dec.Decode(dst)
}

// setContentType sets the response's media type from the Accept header
// and reports whether it is application/graphql-response+json.
func setContentType(w http.ResponseWriter, r *http.Request) bool {
	strict := acceptsGraphQLResponse(r)
	if strict {
		w.Header().Set("Content-Type", graphQLResponseJSON)
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	return strict
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

// withErrorCodes gives the errors that gqlgen's other transports write
// themselves, past the error presenter (a bad multipart request, a content
// type no transport reads), the code BAD_REQUEST and the status 400, and
// drops their "data": null. Responses below 400 pass untouched.
func withErrorCodes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cw := &codeWriter{ResponseWriter: w}
		next.ServeHTTP(cw, r)
		if cw.status == 0 {
			return
		}
		var resp graphql.Response
		if err := json.Unmarshal(cw.body.Bytes(), &resp); err != nil || len(resp.Errors) == 0 {
			resp = graphql.Response{Errors: gqlerror.List{gqlerror.Errorf("%s", strings.TrimSpace(cw.body.String()))}}
		}
		resp.Data = nil // a request error has no data
		for _, e := range resp.Errors {
			if _, ok := e.Extensions["code"]; !ok {
				if e.Extensions == nil {
					e.Extensions = map[string]any{}
				}
				e.Extensions["code"] = apperr.BadRequest.Code()
			}
		}
		status := cw.status
		switch {
		case status == http.StatusUnprocessableEntity:
			status = http.StatusBadRequest
		case len(resp.Errors) == 1 && resp.Errors[0].Message == "transport not supported":
			status = http.StatusUnsupportedMediaType
			resp.Errors[0].Message = "unsupported request: send POST with Content-Type application/json " +
				"(multipart/form-data for uploads), or GET with the query in the URL"
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.Header().Del("Content-Length")
		writeResponse(w, status, &resp)
	})
}

// codeWriter holds back the body of a response with status 400 or more.
type codeWriter struct {
	http.ResponseWriter
	status int // the held-back status; 0: passed through
	body   bytes.Buffer
	passed bool
}

func (w *codeWriter) WriteHeader(code int) {
	if code >= 400 && !w.passed {
		w.status = code
		return
	}
	w.passed = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *codeWriter) Write(b []byte) (int, error) {
	if w.status != 0 {
		return w.body.Write(b)
	}
	w.passed = true
	return w.ResponseWriter.Write(b)
}

func (w *codeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush implements http.Flusher for the streaming transports; a held-back
// error response is not flushed.
func (w *codeWriter) Flush() {
	if w.status == 0 {
		http.NewResponseController(w.ResponseWriter).Flush()
	}
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
