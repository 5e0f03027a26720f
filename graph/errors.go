package graph

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/privacy"
	"github.com/seachat/seachat/internal/apperr"
)

// ErrorPresenter returns the one function that turns resolver errors into
// GraphQL errors: every error gets an extensions.code from API.md and a
// message that says what to do next; anything unexpected is logged and shown
// as "internal error", so SQL, stack traces and secrets never leave the
// process.
func ErrorPresenter(logger *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gerr := graphql.DefaultErrorPresenter(ctx, err)
		if !graphql.HasOperationContext(ctx) {
			// The transport refused the request before any operation
			// existed: malformed JSON, a body of the wrong shape.
			return transportError(gerr)
		}
		cause := gerr.Unwrap()
		if cause == nil {
			// gqlgen's own errors (syntax, validation, argument coercion), and
			// errors that already carry a code, such as entgql's node not found.
			code, _ := gerr.Extensions["code"].(string)
			if !contractCodes[code] || code == errcode.ValidationFailed && isVariable(gerr.Path) {
				// A variable's value, not the document, is wrong.
				setCode(gerr, apperr.InvalidArgument)
			}
			return gerr
		}
		kind, msg := classify(cause)
		if msg == internalMessage {
			logger.ErrorContext(ctx, "resolver failed", "path", gerr.Path.String(), "error", cause)
		}
		gerr.Message = msg
		setCode(gerr, kind)
		return gerr
	}
}

// transportError gives an error of the HTTP transport the code BAD_REQUEST
// unless it has one. gqlgen's message for an undecodable body quotes the
// body, which may be a megabyte long or hold a token: it is cut off.
func transportError(gerr *gqlerror.Error) *gqlerror.Error {
	msg, _, _ := strings.Cut(gerr.Message, " body:")
	if strings.HasPrefix(msg, "json request body could not be decoded") {
		msg += `: send a JSON object such as {"query": "{ agents { id } }"}`
	}
	code, _ := gerr.Extensions["code"].(string)
	if !contractCodes[code] {
		code = apperr.BadRequest.Code()
	}
	return &gqlerror.Error{Message: msg, Extensions: map[string]any{"code": code}}
}

// contractCodes are the extensions.code values of API.md: the kinds', and
// those gqlgen gives errors of the request itself.
var contractCodes = func() map[string]bool {
	m := map[string]bool{
		errcode.ParseFailed:         true,
		errcode.ValidationFailed:    true,
		"PERSISTED_QUERY_NOT_FOUND": true,
	}
	for _, k := range []*apperr.Kind{apperr.Unauthenticated, apperr.PermissionDenied, apperr.NotFound,
		apperr.InvalidArgument, apperr.Conflict, apperr.InvalidPageToken, apperr.OutsideWindow,
		apperr.Upstream, apperr.Internal, apperr.BadRequest} {
		m[k.Code()] = true
	}
	return m
}()

// isVariable reports whether path points into the operation's variables,
// where gqlgen reports values it could not coerce.
func isVariable(path ast.Path) bool {
	return len(path) > 0 && path[0] == ast.PathName("variable")
}

// RecoverFunc turns a resolver panic into an internal error, logged with its stack.
func RecoverFunc(logger *slog.Logger) graphql.RecoverFunc {
	return func(ctx context.Context, p any) error {
		logger.ErrorContext(ctx, "resolver panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		return errors.New(internalMessage)
	}
}

func classify(err error) (*apperr.Kind, string) {
	var validation *ent.ValidationError
	switch {
	case apperr.KindOf(err) != apperr.Internal:
		return apperr.KindOf(err), apperr.Message(err)
	case errors.Is(err, privacy.Deny):
		return apperr.PermissionDenied, "your token's role does not allow this: use an OWNER token of the workspace"
	case ent.IsNotFound(err):
		return apperr.NotFound, "not found: no such object in your workspace"
	case errors.As(err, &validation):
		reason := validation.Unwrap() // "ent: validator failed for field …: <reason>"
		if r := errors.Unwrap(reason); r != nil {
			reason = r
		}
		return apperr.InvalidArgument, fmt.Sprintf("%s: %v", lowerFirst(camel(validation.Name)), reason)
	case ent.IsConstraintError(err):
		return apperr.Conflict, "this conflicts with an existing object"
	case strings.HasPrefix(err.Error(), "cannot decode cursor"): // entgql.Cursor's UnmarshalGQL
		return apperr.InvalidArgument, "after/before: not a cursor this API returned"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return apperr.Internal, "the request was cancelled or took too long: try again"
	}
	return apperr.Internal, internalMessage
}

const internalMessage = "internal error"

func setCode(e *gqlerror.Error, k *apperr.Kind) {
	if e.Extensions == nil {
		e.Extensions = map[string]any{}
	}
	e.Extensions["code"] = k.Code()
}

// camel turns an ent field name (handoff_command) into its GraphQL name (handoffCommand).
func camel(s string) string {
	out := make([]byte, 0, len(s))
	up := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '_':
			up = true
		case up && c >= 'a' && c <= 'z':
			out = append(out, c-'a'+'A')
			up = false
		default:
			out = append(out, c)
			up = false
		}
	}
	return string(out)
}

func lowerFirst(s string) string {
	if s != "" && s[0] >= 'A' && s[0] <= 'Z' {
		return string(s[0]-'A'+'a') + s[1:]
	}
	return s
}
