package server

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"

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
// than graph.MaxNodes, before any resolver runs. With pageDefaults it gives
// connections asked for without first or last a page of
// graph.DefaultPageSize instead of every row.
type pageSize struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = pageSize{}

// ExtensionName implements graphql.HandlerExtension.
func (pageSize) ExtensionName() string { return "PageSize" }

// Validate implements graphql.HandlerExtension.
func (pageSize) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext implements graphql.OperationContextMutator. It
// runs after validation, so every field has its definition and variables
// are coerced; each fragment is checked once. A connection whose first and
// last are variables that are both null gets the default page through the
// variable (the request's own copy of the variables).
func (pageSize) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	op := oc.Operation
	if op == nil && oc.Doc != nil {
		op = oc.Doc.Operations.ForName(oc.OperationName)
	}
	if op == nil {
		return nil
	}
	if oc.Variables == nil {
		oc.Variables = map[string]any{}
	}
	w := pageWalker{vars: oc.Variables, seen: map[string]bool{}}
	if msg := w.selections(op.SelectionSet); msg != "" {
		err := gqlerror.Errorf("%s", msg)
		err.Extensions = map[string]any{"code": apperr.InvalidArgument.Code()}
		return err
	}
	return nil
}

// pageDefaults is the query cache, which sees every document once, parsed
// and validated, before anything runs it: it gives each connection written
// without first or last (or with null literals) a first (or, paging back
// with before alone, a last) of graph.DefaultPageSize. It must be done in
// the document because entgql preloads nested connections from the
// document's arguments, not from the resolver's.
type pageDefaults struct {
	graphql.Cache[*ast.QueryDocument]
}

// Add implements graphql.Cache.
func (c pageDefaults) Add(ctx context.Context, key string, doc *ast.QueryDocument) {
	for _, op := range doc.Operations {
		defaultPages(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		defaultPages(f.SelectionSet)
	}
	c.Cache.Add(ctx, key, doc)
}

func defaultPages(set ast.SelectionSet) {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if isConnection(s) {
				first, last := s.Arguments.ForName("first"), s.Arguments.ForName("last")
				if isNull(first) && isNull(last) {
					name := "first"
					if !isNull(s.Arguments.ForName("before")) && isNull(s.Arguments.ForName("after")) {
						name = "last"
					}
					setDefaultPage(s, name)
				}
			}
			defaultPages(s.SelectionSet)
		case *ast.InlineFragment:
			defaultPages(s.SelectionSet)
		}
	}
}

func isConnection(f *ast.Field) bool {
	return f.Definition != nil && f.Definition.Arguments.ForName("first") != nil &&
		f.Definition.Arguments.ForName("last") != nil
}

// isNull reports whether a is missing or a null literal.
func isNull(a *ast.Argument) bool { return a == nil || a.Value == nil || a.Value.Kind == ast.NullValue }

func setDefaultPage(f *ast.Field, name string) {
	v := &ast.Value{Kind: ast.IntValue, Raw: strconv.Itoa(graph.DefaultPageSize), Position: f.Position,
		ExpectedType: f.Definition.Arguments.ForName(name).Type}
	if a := f.Arguments.ForName(name); a != nil {
		a.Value = v
		return
	}
	f.Arguments = append(f.Arguments, &ast.Argument{Name: name, Value: v, Position: f.Position})
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
	isConnection := isConnection(f)
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
	if args["first"] == nil && args["last"] == nil {
		w.defaultPage(f, args)
	}
	return ""
}

// defaultPage sets to graph.DefaultPageSize the null variable that is the
// first (or, paging back with before alone, the last) of f.
func (w pageWalker) defaultPage(f *ast.Field, args map[string]any) {
	names := []string{"first", "last"}
	if args["before"] != nil && args["after"] == nil {
		names = []string{"last", "first"}
	}
	for _, name := range names {
		if a := f.Arguments.ForName(name); a != nil && a.Value != nil && a.Value.Kind == ast.Variable {
			w.vars[a.Value.Raw] = int64(graph.DefaultPageSize)
			return
		}
	}
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
