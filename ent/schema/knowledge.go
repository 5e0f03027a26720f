package schema

import (
	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/dialect/entsql"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// KnowledgeSource is one thing an agent knows from: a text, a file, FAQ pairs.
type KnowledgeSource struct{ ent.Schema }

// Mixin of the KnowledgeSource.
func (KnowledgeSource) Mixin() []ent.Mixin { return []ent.Mixin{WorkspaceMixin{}, TimeMixin{}} }

// Fields of the KnowledgeSource.
func (KnowledgeSource) Fields() []ent.Field {
	return []ent.Field{
		field.Int("agent_id").Immutable().Annotations(entgql.Skip(entgql.SkipAll)),
		field.Enum("kind").Values("TEXT", "FILE", "FAQ", "URL").Immutable().Annotations(entgql.Type("KnowledgeKind")),
		field.String("title").MaxLen(500).Validate(notBlank),
		field.String("filename").Optional().Nillable(),
		field.String("content_type").Optional().Nillable(),
		field.Int("bytes").Default(0),
		field.Bytes("content").Optional().Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("The uploaded bytes, kept until ingest finishes."),
		field.Enum("status").Values("PROCESSING", "READY", "FAILED").Default("PROCESSING").
			Annotations(entgql.Type("KnowledgeStatus")),
		field.String("error").Optional().Nillable(),
		field.Int("chunk_count").Default(0),
		field.Int("revision").Default(0).Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("Bumped whenever the source's chunks or their embeddings change, so that the " +
				"retrieval index cached by every replica knows to reload them."),
		field.Bool("needs_embedding").Default(false).Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("Some chunks have no embedding yet: embedded in the background once Gemini is configured and answers."),
		field.Int("attempts").Default(0).Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("Ingest attempts so far; a file that keeps crashing its worker is given up on."),
		field.Time("lease_until").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("While in the future, a worker (of any replica) is ingesting the source."),
		field.Time("claimed_at").Optional().Nillable().Annotations(entgql.Skip(entgql.SkipAll)).
			Comment("When a worker last claimed the source for ingest. The latest of a workspace is when it " +
				"was last served: workers serve the workspace served least recently first, so that one " +
				"workspace's queue of uploads cannot hold back another's."),
	}
}

// Edges of the KnowledgeSource.
func (KnowledgeSource) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("agent", Agent.Type).Ref("knowledge_sources").Field("agent_id").Unique().Required().Immutable(),
		edge.To("chunks", KnowledgeChunk.Type).
			Annotations(entsql.OnDelete(entsql.Cascade), entgql.Skip(entgql.SkipAll)),
	}
}

// Indexes of the KnowledgeSource.
func (KnowledgeSource) Indexes() []ent.Index {
	return []ent.Index{
		index.Fields("agent_id", "status"), index.Fields("status"), index.Fields("needs_embedding"),
		index.Fields("workspace_id", "claimed_at"),
	}
}

// Policy of the KnowledgeSource.
func (KnowledgeSource) Policy() ent.Policy { return ownerOnly() }

// KnowledgeChunk is a retrievable, citable piece of a source.
type KnowledgeChunk struct{ ent.Schema }

// Mixin of the KnowledgeChunk.
func (KnowledgeChunk) Mixin() []ent.Mixin { return []ent.Mixin{WorkspaceMixin{}} }

// Fields of the KnowledgeChunk.
func (KnowledgeChunk) Fields() []ent.Field {
	return []ent.Field{
		field.Int("source_id").Immutable(),
		field.Int("agent_id").Immutable().Comment("Denormalised for retrieval by agent."),
		field.Int("position").Immutable(),
		field.String("heading").Default(""),
		field.Text("text"),
		field.Bytes("embedding").Optional().Comment("float32 little-endian, when Gemini is configured."),
	}
}

// Edges of the KnowledgeChunk.
func (KnowledgeChunk) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("source", KnowledgeSource.Type).Ref("chunks").Field("source_id").Unique().Required().Immutable(),
	}
}

// Indexes of the KnowledgeChunk.
func (KnowledgeChunk) Indexes() []ent.Index {
	return []ent.Index{index.Fields("agent_id"), index.Fields("source_id", "position").Unique()}
}

// Annotations of the KnowledgeChunk.
func (KnowledgeChunk) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipAll)}
}

// Policy of the KnowledgeChunk.
func (KnowledgeChunk) Policy() ent.Policy { return ownerOnly() }
