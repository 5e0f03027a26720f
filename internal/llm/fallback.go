package llm

import (
	"context"
	"errors"
	"log/slog"
)

// Fallback is a Responder that asks Primary and, when Primary returns an
// error, answers with Secondary instead, so that a Gemini outage degrades
// replies rather than stopping them. A Primary reply that is not Answered is
// not an error and is returned as is.
type Fallback struct {
	Primary   Responder    // usually *Gemini
	Secondary Responder    // usually Offline; it gets the same, possibly expired, ctx
	Logger    *slog.Logger // nil discards

	// OnFallback, if set, is called with Primary's error each time Secondary
	// is used; the server hooks a metrics counter to it.
	OnFallback func(err error)
}

// Respond returns Primary's reply, or Secondary's if Primary fails. It
// returns an error only when both fail.
func (f *Fallback) Respond(ctx context.Context, p Prompt) (Reply, error) {
	r, err := f.Primary.Respond(ctx, p)
	if err == nil {
		return r, nil
	}
	if f.Logger != nil {
		f.Logger.WarnContext(ctx, "primary responder failed, using secondary", "error", err)
	}
	if f.OnFallback != nil {
		f.OnFallback(err)
	}
	r, err2 := f.Secondary.Respond(ctx, p)
	if err2 != nil {
		return Reply{}, errors.Join(err, err2)
	}
	return r, nil
}
