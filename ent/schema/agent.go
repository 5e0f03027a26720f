package schema

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // time zones of business hours, whatever the host has

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"

	"github.com/seachat/seachat/ent/schema/schematype"
	"github.com/seachat/seachat/internal/apperr"
)

// Defaults of a new agent, from API.md.
const (
	DefaultHandoffCommand  = "/agent"
	DefaultHandoffMessage  = "Thanks! A member of our team will reply here shortly."
	DefaultFallbackMessage = "Sorry, I don't have an answer to that yet."
	// DefaultAfterHoursMessage answers a handoff outside business hours.
	DefaultAfterHoursMessage = "Thanks! Our team is away right now. We'll reply here as soon as we're back."
	// DefaultTimezone is the zone of an agent's business hours unless set.
	DefaultTimezone = "UTC"
	// MaxOpeningHours bounds the intervals of an agent's business hours.
	MaxOpeningHours = 50
	// DefaultWelcomeMessage is the welcome of an agent whose
	// welcome_message is empty; %s is the agent's name.
	DefaultWelcomeMessage = "Hi! I'm the assistant of %s. Ask me anything, or tap \"Talk to a human\"."
)

// Agent is an AI agent: a persona and a knowledge base, connected to pages.
type Agent struct{ ent.Schema }

// Mixin of the Agent.
func (Agent) Mixin() []ent.Mixin { return []ent.Mixin{WorkspaceMixin{}, TimeMixin{}} }

// Fields of the Agent.
func (Agent) Fields() []ent.Field {
	return []ent.Field{
		field.String("name").MaxLen(200).Validate(notBlank),
		field.Text("instructions").Default("").MaxLen(20000),
		field.String("handoff_command").Default(DefaultHandoffCommand).MaxLen(100).Validate(notBlank),
		field.String("handoff_message").Default(DefaultHandoffMessage).MaxLen(2000).Validate(notBlank),
		field.String("fallback_message").Default(DefaultFallbackMessage).MaxLen(2000).Validate(notBlank),
		field.String("welcome_message").Default("").MaxLen(2000).Annotations(entgql.Skip(entgql.SkipWhereInput)).
			Comment("Sent when a person taps Get Started; empty: DefaultWelcomeMessage with the agent's name."),
		field.Bool("pause_bot_on_echo").Default(true).
			Comment("A human replying from Meta's Page Inbox takes the conversation over."),
		field.Int("handoff_timeout_seconds").Optional().Nillable().NonNegative().
			Comment("A handoff nobody accepted within this time returns to the bot; unset: never."),
		field.JSON("business_hours", []schematype.OpeningHours{}).Default([]schematype.OpeningHours{}).
			Annotations(entgql.Skip(entgql.SkipWhereInput)).
			Comment("Weekly opening intervals in timezone; empty: always open. Outside them a handoff sends afterHoursMessage."),
		field.String("timezone").Default(DefaultTimezone).MaxLen(64).Validate(validTimezone).
			Comment(`IANA time zone of businessHours, e.g. "Europe/Berlin".`),
		field.String("after_hours_message").Default(DefaultAfterHoursMessage).MaxLen(2000).Validate(notBlank).
			Comment("Sent instead of handoffMessage when a person asks for a human outside businessHours."),
	}
}

// Edges of the Agent.
func (Agent) Edges() []ent.Edge {
	return []ent.Edge{
		// Exposed as non-null lists in schema/seachat.graphqls.
		edge.To("messenger_channels", MessengerChannel.Type).Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("knowledge_sources", KnowledgeSource.Type).Annotations(entgql.Skip(entgql.SkipAll)),
		edge.To("conversations", Conversation.Type).Annotations(entgql.Skip(entgql.SkipAll)),
	}
}

// Annotations of the Agent.
func (Agent) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Mutations(entgql.MutationCreate(), entgql.MutationUpdate())}
}

// Hooks of the Agent.
func (Agent) Hooks() []ent.Hook {
	return []ent.Hook{func(next ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(ctx context.Context, m ent.Mutation) (ent.Value, error) {
			var hours []schematype.OpeningHours
			if v, ok := m.Field("business_hours"); ok {
				hours, _ = v.([]schematype.OpeningHours)
			}
			if am, ok := m.(interface {
				AppendedBusinessHours() ([]schematype.OpeningHours, bool)
			}); ok {
				appended, _ := am.AppendedBusinessHours()
				hours = append(hours, appended...)
			}
			if err := validOpeningHours(hours); err != nil {
				return nil, apperr.Errorf(apperr.InvalidArgument, "businessHours: %v", err)
			}
			return next.Mutate(ctx, m)
		})
	}}
}

// Policy of the Agent.
func (Agent) Policy() ent.Policy { return ownerOnly() }

// validTimezone accepts the names time.LoadLocation knows (the zone
// database is embedded: time/tzdata).
func validTimezone(s string) error {
	if s == "" || s == "Local" {
		return errors.New(`must be an IANA time zone such as "Europe/Berlin" or "UTC"`)
	}
	if _, err := time.LoadLocation(s); err != nil {
		return fmt.Errorf(`%q is not an IANA time zone: use a name such as "Europe/Berlin" or "UTC"`, s)
	}
	return nil
}

func validOpeningHours(hours []schematype.OpeningHours) error {
	if len(hours) > MaxOpeningHours {
		return fmt.Errorf("at most %d intervals, got %d", MaxOpeningHours, len(hours))
	}
	for _, h := range hours {
		if _, _, err := h.Minutes(); err != nil {
			return err
		}
	}
	return nil
}

func notBlank(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("must not be blank")
	}
	return nil
}
