package schema

import (
	"regexp"

	"entgo.io/contrib/entgql"
	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/index"
)

// MaxCannedResponseLength is the longest text of a canned response: what
// one agent message may hold (conversation.MaxAgentMessageLength).
const MaxCannedResponseLength = 20000

// ShortcutPattern is what a canned response's shortcut looks like once its
// leading "/" is trimmed: typed after "/" in the composer, so no spaces.
var ShortcutPattern = regexp.MustCompile(`^[a-z0-9_-]{1,32}$`)

// CannedResponse is a reply staff of a workspace insert by typing
// "/shortcut" in the composer.
type CannedResponse struct{ ent.Schema }

// Mixin of the CannedResponse.
func (CannedResponse) Mixin() []ent.Mixin { return []ent.Mixin{WorkspaceMixin{}, TimeMixin{}} }

// Fields of the CannedResponse.
func (CannedResponse) Fields() []ent.Field {
	return []ent.Field{
		field.String("shortcut").Match(ShortcutPattern).
			Comment(`Lowercase letters, digits, "_" and "-", without the leading "/".`),
		field.Text("text").MaxRuneLen(MaxCannedResponseLength).Validate(notBlank),
	}
}

// Indexes of the CannedResponse.
func (CannedResponse) Indexes() []ent.Index {
	return []ent.Index{index.Fields("workspace_id", "shortcut").Unique()}
}

// Annotations of the CannedResponse.
func (CannedResponse) Annotations() []schema.Annotation {
	return []schema.Annotation{entgql.Skip(entgql.SkipWhereInput, entgql.SkipMutationCreateInput, entgql.SkipMutationUpdateInput)}
}
