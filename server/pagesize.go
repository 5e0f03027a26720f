package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"

	"entgo.io/contrib/entgql"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/seachat/seachat/graph"
	"github.com/seachat/seachat/internal/apperr"
)

// pageSize is a gqlgen extension that bounds how many objects one field
// can load. It refuses operations whose connections ask for more than
// graph.MaxPageSize items (first/last) or whose nodes(ids:) asks for more
// than graph.MaxNodes, before any resolver runs; and it gives connections
// asked for without first or last a page of graph.DefaultPageSize instead
// of every row.
type pageSize struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
	graphql.FieldInterceptor
} = pageSize{}

// ExtensionName implements graphql.HandlerExtension.
func (pageSize) ExtensionName() string { return "PageSize" }

// Validate implements graphql.HandlerExtension.
func (pageSize) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext implements graphql.OperationContextMutator. It
// runs after validation, so every field has its definition and variables
// are coerced; each fragment is checked once.
func (p pageSize) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	op := oc.Operation
	if op == nil && oc.Doc != nil {
		op = oc.Doc.Operations.ForName(oc.OperationName)
	}
	if op == nil {
		return nil
	}
	w := pageWalker{vars: oc.Variables, seen: map[string]bool{}}
	if msg := w.selections(op.SelectionSet); msg != "" {
		err := gqlerror.Errorf("%s", msg)
		err.Extensions = map[string]any{"code": apperr.InvalidArgument.Code()}
		return err
	}
	return nil
}

// InterceptField implements graphql.FieldInterceptor: a connection asked
// for without first or last gets a default page, the last one when the
// operation pages backwards with before alone.
func (pageSize) InterceptField(ctx context.Context, next graphql.Resolver) (any, error) {
	fc := graphql.GetFieldContext(ctx)
	if fc == nil || fc.Args == nil {
		return next(ctx)
	}
	first, okFirst := fc.Args["first"].(*int)
	last, okLast := fc.Args["last"].(*int)
	if okFirst && okLast && first == nil && last == nil {
		after, _ := fc.Args["after"].(*entgql.Cursor[int])
		before, _ := fc.Args["before"].(*entgql.Cursor[int])
		n := graph.DefaultPageSize
		if before != nil && after == nil {
			fc.Args["last"] = &n
		} else {
			fc.Args["first"] = &n
		}
	}
	return next(ctx)
}

// pageWalker finds the first argument of an operation over its limit.
type pageWalker struct {
	vars map[string]any
	seen map[string]bool // fragments already checked
}

// selections returns why set asks for too much, or "".
func (w pageWalker) selections(set ast.SelectionSet) string {
	for _, sel := range set {
		var msg string
		switch s := sel.(type) {
		case *ast.Field:
			if msg = w.field(s); msg == "" {
				msg = w.selections(s.SelectionSet)
			}
		case *ast.InlineFragment:
			msg = w.selections(s.SelectionSet)
		case *ast.FragmentSpread:
			if !w.seen[s.Name] && s.Definition != nil {
				w.seen[s.Name] = true
				msg = w.selections(s.Definition.SelectionSet)
			}
		}
		if msg != "" {
			return msg
		}
	}
	return ""
}

func (w pageWalker) field(f *ast.Field) string {
	if f.Definition == nil || len(f.Arguments) == 0 {
		return ""
	}
	isConnection := f.Definition.Arguments.ForName("first") != nil && f.Definition.Arguments.ForName("last") != nil
	isNodes := f.ObjectDefinition != nil && f.ObjectDefinition.Name == "Query" && f.Name == "nodes"
	if !isConnection && !isNodes {
		return ""
	}
	args := f.ArgumentMap(w.vars)
	if isNodes {
		if ids, _ := args["ids"].([]any); len(ids) > graph.MaxNodes {
			return fmt.Sprintf("ids: at most %d per nodes query, got %d; split them over several queries", graph.MaxNodes, len(ids))
		}
		return ""
	}
	for _, name := range []string{"first", "last"} {
		if n, ok := intArg(args[name]); ok && n > graph.MaxPageSize {
			return fmt.Sprintf("%s: at most %d per page; page with after/before", name, graph.MaxPageSize)
		}
	}
	return ""
}

// intArg reads an Int argument as literals and coerced variables hold it.
func intArg(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		return int64(min(max(n, math.MinInt32), math.MaxInt32)), true
	case json.Number:
		f, err := n.Float64()
		if err != nil {
			return 0, false
		}
		return intArg(f)
	}
	return 0, false
}

// costLimit is gqlgen's complexity limit with an error that says what to
// do about it.
type costLimit struct{ *extension.ComplexityLimit }

// MutateOperationContext implements graphql.OperationContextMutator.
func (c costLimit) MutateOperationContext(ctx context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	err := c.ComplexityLimit.MutateOperationContext(ctx, oc)
	if err == nil {
		return nil
	}
	if s, ok := oc.Stats.GetExtension(c.ExtensionName()).(*extension.ComplexityStats); ok {
		err.Message = fmt.Sprintf("the operation costs %d, more than the limit of %d: ask for fewer fields, "+
			"smaller pages (first/last) or fewer transcripts and answers per request", s.Complexity, s.ComplexityLimit)
	}
	err.Extensions = map[string]any{"code": apperr.InvalidArgument.Code()}
	return err
}
