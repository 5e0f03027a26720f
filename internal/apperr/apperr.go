// Package apperr defines the error kinds that SeaChat's services return and
// that the GraphQL error presenter turns into extensions.code values.
//
// A service wraps one of the sentinel kinds with context:
//
//	return apperr.Errorf(apperr.NotFound, "agent %d", id)
//
// and callers test the kind with errors.Is. The message of an apperr error
// is meant for the API user: it says what went wrong and what to do next.
package apperr

import (
	"errors"
	"fmt"
)

// Kind is a class of failure that maps one-to-one to a GraphQL error code.
type Kind struct{ code string }

// Error makes a Kind usable as a sentinel with errors.Is.
func (k *Kind) Error() string { return k.code }

// Code is the GraphQL extensions.code of the kind.
func (k *Kind) Code() string { return k.code }

// The kinds. Their codes are part of the public contract (API.md, "Errors").
var (
	Unauthenticated  = &Kind{"UNAUTHENTICATED"}
	PermissionDenied = &Kind{"FORBIDDEN"}
	NotFound         = &Kind{"NOT_FOUND"}
	InvalidArgument  = &Kind{"BAD_USER_INPUT"}
	Conflict         = &Kind{"CONFLICT"}
	InvalidPageToken = &Kind{"INVALID_PAGE_TOKEN"}
	OutsideWindow    = &Kind{"OUTSIDE_MESSAGING_WINDOW"}
	Upstream         = &Kind{"UPSTREAM_ERROR"}
	Internal         = &Kind{"INTERNAL"}
	// BadRequest is a request the GraphQL transport could not read:
	// malformed JSON, a body of the wrong shape (API.md, "Browsers and
	// GraphQL clients").
	BadRequest = &Kind{"BAD_REQUEST"}
)

// Error is an error of a known kind with a message for the API user.
type Error struct {
	Kind *Kind
	Msg  string
	Err  error // the underlying cause, kept for logs; never shown to users
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Msg + ": " + e.Err.Error()
	}
	return e.Msg
}

// Is reports whether target is the error's kind.
func (e *Error) Is(target error) bool { return target == e.Kind }

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an error of kind k whose message, shown to the API user,
// is the formatted string.
func Errorf(k *Kind, format string, args ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...)}
}

// Wrapf is Errorf with an underlying cause. The cause is kept for logs and
// errors.Is/As but never shown to the API user.
func Wrapf(cause error, k *Kind, format string, args ...any) error {
	return &Error{Kind: k, Msg: fmt.Sprintf(format, args...), Err: cause}
}

// KindOf returns the kind of err, or Internal if err carries none.
func KindOf(err error) *Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	var k *Kind
	if errors.As(err, &k) {
		return k
	}
	return Internal
}

// Message returns the user-facing message of err: the message of its apperr
// Error, or "internal error" for anything else.
func Message(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Msg
	}
	return "internal error"
}

// Wrap adds context to *errp when it is not nil, keeping its kind:
//
//	defer apperr.Wrap(&err, "Connect(%d)", id)
func Wrap(errp *error, format string, args ...any) {
	if *errp != nil {
		*errp = fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), *errp)
	}
}
