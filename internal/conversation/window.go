package conversation

import (
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/seachat/seachat/ent"
)

// The messaging windows of Meta's Send API (MESSENGER.md §5.2), measured
// from the timestamp of the person's last Messenger event.
const (
	// StandardWindow is how long after the person's last message anyone,
	// the bot included, may reply with messaging_type RESPONSE.
	StandardWindow = 24 * time.Hour
	// HumanAgentWindow is how long a human may reply with the HUMAN_AGENT
	// tag.
	HumanAgentWindow = 7 * 24 * time.Hour
)

// WindowState says what a human reply would be sent as. Its values are the
// GraphQL enum ReplyWindowState, and it marshals as one.
type WindowState string

// The window states.
const (
	// WindowStandard: less than 24 h since the person's last message; a
	// reply is a plain RESPONSE.
	WindowStandard WindowState = "STANDARD"
	// WindowHumanAgentTag: 24 h to 7 days; only a human may reply, tagged
	// HUMAN_AGENT.
	WindowHumanAgentTag WindowState = "HUMAN_AGENT_TAG"
	// WindowClosed: 7 days or more, or the person never wrote; nobody may
	// reply until they write again.
	WindowClosed WindowState = "CLOSED"
)

// Window is the reply window of a conversation at some instant. EndsAt is
// when the current state ends; nil when CLOSED.
type Window struct {
	State  WindowState
	EndsAt *time.Time
}

// ReplyWindow returns the window of c at now, from c's LastUserMessageAt
// (the Messenger timestamp of the person's last event, not when it
// arrived). The standard window ends 24 h after it, exactly; the human agent
// window 7 days after it.
func ReplyWindow(c *ent.Conversation, now time.Time) Window {
	if c == nil || c.LastUserMessageAt == nil {
		return Window{State: WindowClosed}
	}
	last := *c.LastUserMessageAt
	switch age := now.Sub(last); {
	case age < StandardWindow:
		end := last.Add(StandardWindow)
		return Window{State: WindowStandard, EndsAt: &end}
	case age < HumanAgentWindow:
		end := last.Add(HumanAgentWindow)
		return Window{State: WindowHumanAgentTag, EndsAt: &end}
	default:
		return Window{State: WindowClosed}
	}
}

// MarshalGQL writes the state as a GraphQL enum value.
func (s WindowState) MarshalGQL(w io.Writer) { io.WriteString(w, strconv.Quote(string(s))) }

// UnmarshalGQL reads a GraphQL enum value.
func (s *WindowState) UnmarshalGQL(v any) error {
	str, ok := v.(string)
	if !ok {
		return fmt.Errorf("ReplyWindowState must be a string, got %T", v)
	}
	switch st := WindowState(str); st {
	case WindowStandard, WindowHumanAgentTag, WindowClosed:
		*s = st
		return nil
	}
	return fmt.Errorf("%q is not a valid ReplyWindowState", str)
}
