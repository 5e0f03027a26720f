package server

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/seachat/seachat/internal/apperr"
)

// depthLimit bounds how deeply one GraphQL operation may nest fields. The
// schema has cycles (Conversation.messages → Message.conversation → …), so
// without it a small query can ask for an enormous tree; the complexity
// limit counts fields, this counts levels. Introspection (__schema,
// __type) is not counted: its depth is bounded by the schema's, and
// GraphiQL's introspection query nests type references 13 to 15 levels
// deep.
const depthLimit = 15

// maxDepth is a gqlgen extension that refuses operations nested deeper
// than limit, before any resolver runs.
type maxDepth struct{ limit int }

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = maxDepth{}

// ExtensionName implements graphql.HandlerExtension.
func (maxDepth) ExtensionName() string { return "DepthLimit" }

// Validate implements graphql.HandlerExtension.
func (maxDepth) Validate(graphql.ExecutableSchema) error { return nil }

// MutateOperationContext implements graphql.OperationContextMutator. It
// runs after validation, so fragments exist and do not form cycles; the
// walk still guards against cycles so it can never loop.
func (d maxDepth) MutateOperationContext(_ context.Context, oc *graphql.OperationContext) *gqlerror.Error {
	op := oc.Operation
	if op == nil && oc.Doc != nil {
		op = oc.Doc.Operations.ForName(oc.OperationName)
	}
	if op == nil {
		return nil
	}
	w := depthWalker{fragments: oc.Doc.Fragments, memo: map[string]int{}, visiting: map[string]bool{}, stop: d.limit + 1}
	var data ast.SelectionSet
	for _, sel := range op.SelectionSet {
		if f, ok := sel.(*ast.Field); ok && strings.HasPrefix(f.Name, "__") {
			continue // introspection, see depthLimit
		}
		data = append(data, sel)
	}
	depth := w.selections(data, w.stop)
	if depth <= d.limit {
		return nil
	}
	err := gqlerror.Errorf("the operation nests fields more than %d levels deep, the limit: ask for fewer nested fields, "+
		"or fetch the deeper objects in a second query with node(id:)", d.limit)
	err.Extensions = map[string]any{"code": apperr.InvalidArgument.Code()}
	return err
}

// depthWalker measures how deep a selection set nests fields, counting
// fields only (fragments and inline fragments add no level). It stops
// counting at stop levels, and measures each fragment once, so a hostile
// document costs time linear in its size.
type depthWalker struct {
	fragments ast.FragmentDefinitionList
	memo      map[string]int  // fragment → its depth, at most stop
	visiting  map[string]bool // fragments being measured: cycles count 0
	stop      int
}

// selections returns the depth of set, or at least left when it is deeper
// than left levels.
func (w depthWalker) selections(set ast.SelectionSet, left int) int {
	if left <= 0 {
		return 0
	}
	deepest := 0
	for _, sel := range set {
		var d int
		switch s := sel.(type) {
		case *ast.Field:
			d = 1 + w.selections(s.SelectionSet, left-1)
		case *ast.InlineFragment:
			d = w.selections(s.SelectionSet, left)
		case *ast.FragmentSpread:
			d = min(w.fragment(s), left)
		}
		if deepest = max(deepest, d); deepest >= left {
			return deepest
		}
	}
	return deepest
}

func (w depthWalker) fragment(s *ast.FragmentSpread) int {
	if d, ok := w.memo[s.Name]; ok {
		return d
	}
	def := s.Definition
	if def == nil {
		def = w.fragments.ForName(s.Name)
	}
	if def == nil || w.visiting[s.Name] {
		return 0
	}
	w.visiting[s.Name] = true
	d := w.selections(def.SelectionSet, w.stop)
	delete(w.visiting, s.Name)
	w.memo[s.Name] = d
	return d
}
