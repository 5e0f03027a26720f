package graph

import (
	"time"

	"entgo.io/contrib/entgql"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/graph/generated"
	"github.com/seachat/seachat/internal/conversation"
)

// Page sizes of connections (conversations, Conversation.messages) and the
// length of nodes(ids:). The server refuses larger ones before any resolver
// runs, and the complexity of a connection counts the page it asks for.
const (
	// MaxPageSize is the most items one page of a connection may ask for
	// with first or last.
	MaxPageSize = 100
	// DefaultPageSize is the page a connection returns when the operation
	// gives neither first nor last.
	DefaultPageSize = 100
	// MaxNodes is the most ids one nodes(ids:) may look up.
	MaxNodes = 100
)

// Complexity weights of the fields whose cost is not their number of
// fields: each is roughly what the field loads, in units of one field of
// one object. With the server's limit of 20,000 an operation may ask for
// five transcripts or five answers, or 100 conversations with 20 messages
// each, but not 100 conversations with 100 messages each.
const (
	// transcriptCost: a transcript reads the whole conversation and may be
	// megabytes long.
	transcriptCost = 4000
	// answerCost: an answer runs retrieval and, with Gemini, a model call.
	answerCost = 4000
	// agentStatsCost: the figures run several aggregate queries over the
	// agent's messages and group its unanswered questions.
	agentStatsCost = 1000
	// dailyCost: one aggregate query over up to 366 days.
	dailyCost = 100
)

// complexity returns the cost functions of the fields above; the others
// cost 1 plus their selections.
func complexity() generated.ComplexityRoot {
	var c generated.ComplexityRoot
	c.Query.Conversations = func(child int, _ *entgql.Cursor[int], first *int, _ *entgql.Cursor[int], last *int,
		_ *ent.ConversationOrder, _ *ent.ConversationWhereInput, _ *string) int {
		return connectionCost(child, first, last)
	}
	c.Conversation.Messages = func(child int, _ *entgql.Cursor[int], first *int, _ *entgql.Cursor[int], last *int,
		_ *ent.MessageOrder, _ *ent.MessageWhereInput) int {
		return connectionCost(child, first, last)
	}
	c.Query.Nodes = func(child int, ids []int) int {
		return 1 + max(1, min(len(ids), MaxNodes+1))*(1+child)
	}
	c.Query.Transcript = func(int, int, conversation.TranscriptFormat) int { return transcriptCost }
	c.Query.Answer = func(child, _ int, _ string) int { return answerCost + child }
	c.Query.AgentStats = func(child, _ int, _, _ *time.Time) int { return agentStatsCost + child }
	c.AgentStats.Daily = func(child int) int { return dailyCost + child }
	return c
}

// connectionCost is a connection's selections once per item of the page it
// asks for. Pages over MaxPageSize count as MaxPageSize: they are refused
// with their own, clearer error.
func connectionCost(child int, first, last *int) int {
	n := DefaultPageSize
	switch {
	case first != nil:
		n = *first
	case last != nil:
		n = *last
	}
	return 1 + child*max(1, min(n, MaxPageSize))
}
