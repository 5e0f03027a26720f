package schema

import (
	"time"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// Process is one running SeaChat process's heartbeat. Claims on shared work
// (an inbox event being processed, a reply being sent) name the process
// that holds them; a claim whose process stopped beating is taken over.
type Process struct{ ent.Schema }

// Fields of the Process.
func (Process) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable().Comment("Random per start: a restarted process is a new one."),
		field.String("host").Default("").Immutable(),
		field.Time("started_at").Default(time.Now).Immutable(),
		field.Time("last_seen").Default(time.Now).Comment("Refreshed every few seconds while the process lives."),
	}
}

// Indexes of the Process.
func (Process) Indexes() []ent.Index {
	return []ent.Index{index.Fields("last_seen")}
}

// Annotations of the Process.
func (Process) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}
