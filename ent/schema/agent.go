package schema

import (
	"errors"
	"strings"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// Defaults of a new agent, from API.md.
const (
	DefaultHandoffCommand  = "/agent"
	DefaultHandoffMessage  = "Thanks! A member of our team will reply here shortly."
	DefaultFallbackMessage = "Sorry, I don't have an answer to that yet."
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

// Policy of the Agent.
func (Agent) Policy() ent.Policy { return ownerOnly() }

func notBlank(s string) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("must not be blank")
	}
	return nil
}
