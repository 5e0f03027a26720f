package server

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/budget"
)

// responseSize is a gqlgen extension that gives every response a budget
// of limit bytes (config.MaxResponseBytes). Memory is the server's to
// protect: without it a 7 KB query asking for 150 transcripts answered
// with 1.48 GB and took the server to 8.65 GB.
//
// Each field's value is charged as it is resolved (strings by their
// length, other values and names by a few bytes), and resolvers that build
// large values charge them while they build (package budget). Once the
// budget is spent no further resolver runs, and the response is one error
// instead of gigabytes. The JSON, once built, is checked too: the fields'
// estimate leaves out braces and escapes.
type responseSize struct{ limit int64 }

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
	graphql.FieldInterceptor
} = responseSize{}

// ExtensionName implements graphql.HandlerExtension.
func (responseSize) ExtensionName() string { return "ResponseSize" }

// Validate implements graphql.HandlerExtension.
func (responseSize) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse implements graphql.ResponseInterceptor.
func (r responseSize) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	b := budget.New(r.limit)
	resp := next(budget.NewContext(ctx, b))
	if resp == nil {
		return nil
	}
	if !b.Exceeded() && int64(len(resp.Data)) <= r.limit {
		return resp
	}
	// One error, not one per field that found the budget spent, and no
	// partial data.
	var err *gqlerror.Error
	for _, e := range resp.Errors {
		if b.Is(e) {
			err = e
			break
		}
	}
	if err == nil {
		// The fields' estimate stayed under the limit, the JSON did not.
		err = gqlerror.Errorf("%s", apperr.Message(b.Err()))
		err.Extensions = map[string]any{"code": apperr.InvalidArgument.Code()}
	}
	return &graphql.Response{Errors: gqlerror.List{err}, Extensions: resp.Extensions}
}

// InterceptField implements graphql.FieldInterceptor.
func (responseSize) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	b := budget.FromContext(ctx)
	if b == nil {
		return next(ctx)
	}
	if err := b.Spend(0); err != nil {
		return nil, err
	}
	fc := graphql.GetFieldContext(ctx)
	var m *budget.Meter
	if fc.IsResolver {
		ctx, m = budget.WithMeter(ctx)
	}
	res, err := next(ctx)
	if err != nil {
		return res, err
	}
	n := int64(len(fc.Field.Alias)+4) + valueSize(res) // "alias": value,
	if m != nil {
		n = max(0, n-m.Spent())
	}
	if err := b.Spend(int(n)); err != nil {
		return nil, err
	}
	return res, nil
}

// valueSize estimates the JSON bytes of a resolved value that its own
// fields will not be charged for: strings by their length, anything else
// by a few bytes.
func valueSize(v any) int64 {
	switch s := v.(type) {
	case string:
		return int64(len(s)) + 2
	case *string:
		if s != nil {
			return int64(len(*s)) + 2
		}
	case []string:
		var n int64
		for _, e := range s {
			n += int64(len(e)) + 3
		}
		return n + 2
	}
	return 8
}
