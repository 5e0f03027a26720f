package inbox

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/messenger"
)

// Abandoner is implemented by a Processor that leaves work pending when an
// event fails, such as a reply stored but not sent yet. When the inbox marks
// an event FAILED for good it calls Abandon once, best effort, so that the
// Processor settles that work and staff see that the person got no answer.
// reason says so in plain words, for staff.
type Abandoner interface {
	Abandon(ctx context.Context, ch *ent.MessengerChannel, ev messenger.Event, reason string) error
}

// abandon tells the Processor, when it is an Abandoner, that the event of j
// failed for good with procErr. Failures are logged: the event is FAILED
// either way.
func (in *Inbox) abandon(hard context.Context, j *job, procErr error, now time.Time) {
	a, ok := in.proc.(Abandoner)
	// Without a channel (undecodable, or the channel is gone) the Processor
	// never saw the event: nothing of it is pending.
	if !ok || j.ch == nil {
		return
	}
	log := in.log.With("event_id", j.id, "channel_id", j.channelID)
	defer func() {
		if p := recover(); p != nil {
			log.Error("abandoning inbox event panicked", "panic", redact(fmt.Sprint(p)), "stack", string(debug.Stack()))
		}
	}()
	ctx, cancel := context.WithTimeout(auth.SystemContext(context.WithoutCancel(hard)), dbTimeout)
	defer cancel()
	if err := a.Abandon(ctx, j.ch, j.ev, abandonReason(j, procErr, now)); err != nil {
		log.Error("settling what a failed inbox event left pending", "error", errorText(err))
	}
}

// abandonReason is what staff read on a reply that was never sent.
func abandonReason(j *job, procErr error, now time.Time) string {
	if isTransient(procErr) { // Meta's, or a reply queued behind one Meta did not take
		return fmt.Sprintf("not sent: Meta's Send API was unavailable for %s after the person wrote; the person got no answer",
			roughly(now.Sub(j.eventTime)))
	}
	return fmt.Sprintf("not sent: SeaChat could not process the person's message (%d attempts); the person got no answer",
		j.attempts)
}

// roughly renders d in whole minutes, at least one: "24h5m", "9m".
func roughly(d time.Duration) string {
	d = max(d.Round(time.Minute), time.Minute)
	return strings.TrimSuffix(d.String(), "0s")
}
