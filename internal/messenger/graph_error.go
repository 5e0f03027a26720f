package messenger

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/seachat/seachat/internal/apperr"
)

// GraphError is an error answer of the Graph API:
// {"error":{"message","type","code","error_subcode","is_transient","fbtrace_id"}}.
// Classify it with the Is* functions, which look at Code and Subcode only.
type GraphError struct {
	HTTPStatus int
	Message    string // Meta's text, with the access token redacted
	Type       string // e.g. OAuthException
	Code       int
	Subcode    int
	Transient  bool // Meta's is_transient
	FBTraceID  string
}

// Error describes the failure with Meta's codes and trace ID, for logs.
func (e *GraphError) Error() string {
	return fmt.Sprintf("graph error %d/%d (%s, HTTP %d, fbtrace_id %s): %s",
		e.Code, e.Subcode, e.Type, e.HTTPStatus, e.FBTraceID, e.Message)
}

// parseGraphError builds a GraphError from an error response. A body that is
// not Meta's JSON (a proxy's HTML page) still yields one, with the status.
func parseGraphError(status int, body []byte, token string) *GraphError {
	var v struct {
		Error struct {
			Message     string `json:"message"`
			Type        string `json:"type"`
			Code        int    `json:"code"`
			Subcode     int    `json:"error_subcode"`
			IsTransient bool   `json:"is_transient"`
			FBTraceID   string `json:"fbtrace_id"`
		} `json:"error"`
	}
	ge := &GraphError{HTTPStatus: status}
	if json.Unmarshal(body, &v) != nil || v.Error.Code == 0 && v.Error.Message == "" {
		ge.Message = "unexpected HTTP status " + http.StatusText(status)
		return ge
	}
	ge.Message, ge.Type, ge.Code, ge.Subcode = v.Error.Message, v.Error.Type, v.Error.Code, v.Error.Subcode
	ge.Transient, ge.FBTraceID = v.Error.IsTransient, v.Error.FBTraceID
	if token != "" {
		ge.Message = strings.ReplaceAll(ge.Message, token, "[redacted]")
	}
	return ge
}

// transportError is a failure to get an answer from the Graph API at all
// (refused, reset, timeout). Its text never contains the request's query.
type transportError struct{ err error }

func (e *transportError) Error() string { return "transport: " + e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// newTransportError strips the query from a *url.Error so that nothing
// derived from the token (appsecret_proof) reaches logs.
func newTransportError(err error) *transportError {
	var ue *url.Error
	if errors.As(err, &ue) {
		u := ue.URL
		if i := strings.IndexAny(u, "?#"); i >= 0 {
			u = u[:i]
		}
		err = &url.Error{Op: ue.Op, URL: u, Err: ue.Err}
	}
	return &transportError{err}
}

func graphErr(err error) (*GraphError, bool) {
	var ge *GraphError
	ok := errors.As(err, &ge)
	return ge, ok
}

func is(err error, match func(code, sub int) bool) bool {
	ge, ok := graphErr(err)
	return ok && match(ge.Code, ge.Subcode)
}

// IsOutsideWindow reports whether err is Meta refusing a send because the
// 24-hour window is closed (10/2018278, 10/2534022, 10/2018065).
func IsOutsideWindow(err error) bool {
	return is(err, func(c, s int) bool {
		return c == 10 && (s == 2018278 || s == 2534022 || s == 2018065)
	})
}

// IsUserUnavailable reports whether err means the person cannot receive
// messages from the Page (blocked it, deactivated): 551, 200/1545041,
// 10/2018108. Retrying does not help.
func IsUserUnavailable(err error) bool {
	return is(err, func(c, s int) bool {
		return c == 551 || c == 200 && s == 1545041 || c == 10 && s == 2018108
	})
}

// IsTokenInvalid reports whether err means the page access token is invalid,
// expired or revoked (190).
func IsTokenInvalid(err error) bool {
	return is(err, func(c, _ int) bool { return c == 190 })
}

// IsAppNotLive reports whether err means the app may message only its own
// admins, developers and testers: it is in development mode or lacks
// Advanced Access to pages_messaging (200/2018028).
func IsAppNotLive(err error) bool {
	return is(err, func(c, s int) bool { return c == 200 && s == 2018028 })
}

// IsPermission reports whether err is a permission error not covered by
// IsOutsideWindow, IsUserUnavailable or IsAppNotLive: codes 10, 200, 230
// and 10904 (messaging disabled in the Page settings).
func IsPermission(err error) bool {
	return is(err, func(c, _ int) bool {
		return c == 10 || c == 200 || c == 230 || c == 10904
	}) && !IsOutsideWindow(err) && !IsUserUnavailable(err) && !IsAppNotLive(err)
}

// IsRateLimited reports whether err is one of Meta's request limits
// (4 app, 17 user, 32 Page, 613 endpoint).
func IsRateLimited(err error) bool {
	return is(err, func(c, _ int) bool { return c == 4 || c == 17 || c == 32 || c == 613 })
}

// IsTransient reports whether retrying the same request later may succeed:
// Meta said is_transient, a temporary error (1, 2, 1200), a rate limit, an
// HTTP 5xx, or a network failure or timeout. A call canceled by its caller
// is not transient.
func IsTransient(err error) bool {
	if ge, ok := graphErr(err); ok {
		return ge.Transient || ge.Code == 1 || ge.Code == 2 || ge.Code == 1200 ||
			IsRateLimited(err) || ge.HTTPStatus >= 500
	}
	var te *transportError
	return errors.As(err, &te) && !errors.Is(err, context.Canceled)
}

// kindError gives an error from a Graph call its apperr kind and a message
// for the API user that names the fix. The cause stays reachable with
// errors.As, so the Is* functions keep working on the result.
func kindError(cause error) error {
	switch {
	case IsTokenInvalid(cause):
		return apperr.Wrapf(cause, apperr.InvalidPageToken,
			"the page access token is invalid or expired: paste a new one")
	case IsOutsideWindow(cause):
		return apperr.Wrapf(cause, apperr.OutsideWindow,
			"the 24-hour messaging window has closed: only a human agent can reply, within 7 days of the person's last message")
	case IsUserUnavailable(cause):
		return apperr.Wrapf(cause, apperr.Upstream,
			"this person can't receive messages from the Page right now: they may have blocked it or left Messenger")
	case IsAppNotLive(cause):
		return apperr.Wrapf(cause, apperr.Upstream,
			"the app is not Live or pages_messaging is not approved: switch the app to Live and get Advanced Access for pages_messaging in App Review")
	case IsPermission(cause):
		return apperr.Wrapf(cause, apperr.Upstream,
			"Meta refused for lack of permission: check that the token has pages_messaging and pages_manage_metadata and that messaging is turned on in the Page settings")
	case IsRateLimited(cause):
		return apperr.Wrapf(cause, apperr.Upstream,
			"Meta's rate limit was reached: try again in a few minutes")
	}
	if ge, ok := graphErr(cause); ok {
		if IsTransient(cause) {
			return apperr.Wrapf(cause, apperr.Upstream, "Meta's Graph API had a temporary problem: try again")
		}
		return apperr.Wrapf(cause, apperr.Upstream, "Meta rejected the request (code %d): %s", ge.Code, ge.Message)
	}
	var te *transportError
	if errors.As(cause, &te) {
		return apperr.Wrapf(cause, apperr.Upstream, "Meta's Graph API could not be reached: check the network and try again")
	}
	return apperr.Wrapf(cause, apperr.Upstream, "Meta sent an unexpected answer: try again later")
}
