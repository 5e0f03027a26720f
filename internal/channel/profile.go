package channel

import (
	"context"
	"fmt"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/messengerchannel"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/conversation"
	"github.com/seachat/seachat/internal/messenger"
)

// CheckMessengerProfile is the health check of the Page's Messenger
// profile: the Get Started button, the greeting and the "Talk to a human"
// menu. The bot answers without them; people just see less.
const CheckMessengerProfile = "MESSENGER_PROFILE"

// messengerProfile is the profile SeaChat sets on an agent's Page: Get
// Started (answered with the agent's welcome), a greeting naming the
// agent, and a persistent menu that asks for a human.
func messengerProfile(agentName string) messenger.MessengerProfile {
	greeting := []rune(fmt.Sprintf("Hi {{user_first_name}}! I'm the assistant of %s. Tap Get Started to ask me anything.", agentName))
	if len(greeting) > messenger.MaxGreetingLength {
		greeting = []rune("Hi {{user_first_name}}! Tap Get Started to ask me anything, or to talk to a human.")
	}
	return messenger.MessengerProfile{
		GetStarted: &messenger.GetStarted{Payload: conversation.GetStartedPayload},
		Greeting:   []messenger.Greeting{{Locale: "default", Text: string(greeting)}},
		PersistentMenu: []messenger.PersistentMenu{{Locale: "default", CallToActions: []messenger.MenuItem{
			{Type: "postback", Title: conversation.HandoffTitle, Payload: conversation.HandoffPayload},
		}}},
	}
}

// setProfile sets the Page's Messenger profile and records the outcome in
// next (ProfileSetAt, or ProfileError with the fix). It never fails: the
// channel works without a profile.
func (s *Service) setProfile(ctx context.Context, client *ent.Client, graph *messenger.Client, token string, next *ent.MessengerChannel) {
	ag, err := client.Agent.Get(ctx, next.AgentID)
	if err == nil {
		err = graph.SetMessengerProfile(ctx, token, messengerProfile(ag.Name))
	}
	if err != nil {
		s.logger.WarnContext(ctx, "setting the page's messenger profile", "channel_id", next.ID, "error", err)
		next.ProfileError = ptr("Meta did not take the Page's Get Started button, greeting and \"Talk to a human\" menu (" +
			apperr.Message(err) + "): the bot answers without them; run checkMessengerChannel to try again")
		return
	}
	next.ProfileSetAt, next.ProfileError = ptr(s.now().UTC()), nil
}

// deleteProfile removes what setProfile set, best effort: the channel is
// being removed either way.
func (s *Service) deleteProfile(ctx context.Context, graph *messenger.Client, token string, ch *ent.MessengerChannel) {
	if ch.ProfileSetAt == nil {
		return
	}
	if err := graph.DeleteMessengerProfile(ctx, token, messenger.MessengerProfileFields); err != nil {
		s.logger.WarnContext(ctx, "deleting the page's messenger profile; removing the channel anyway",
			"channel_id", ch.ID, "error", err)
	}
}

func profileCheck(ch *ent.MessengerChannel) HealthCheck {
	c := HealthCheck{Name: CheckMessengerProfile}
	switch {
	case ch.Status == messengerchannel.StatusREMOVED:
		c.Detail = "the channel was removed and the Page's Get Started button and menu deleted"
	case !hasToken(ch):
		c.Detail = fixConnect
	case ch.ProfileError != nil:
		c.Detail = *ch.ProfileError
	case ch.ProfileSetAt == nil:
		c.Detail = "the Page has no Get Started button, greeting or \"Talk to a human\" menu from SeaChat yet " +
			"(it was connected before SeaChat set them): run checkMessengerChannel to set them; the bot answers either way"
	default:
		c.OK, c.Detail = true, "the Page shows the Get Started button, a greeting and the \"Talk to a human\" menu, set "+stamp(*ch.ProfileSetAt)
	}
	return c
}
