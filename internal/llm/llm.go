// Package llm turns a customer's question and the knowledge passages
// retrieved for it into a reply, and turns text into embedding vectors.
//
// Three responders implement [Responder]:
//
//   - [Gemini] asks Google's Gemini API (through the legacy
//     github.com/google/generative-ai-go SDK) to answer from the passages;
//     it also implements [Embedder].
//   - [Offline] needs no API key: it extracts the best-matching sentences
//     from the passages and never invents text.
//   - [Fallback] uses a primary responder and, when it fails, a secondary one.
//
// Every error that leaves this package has had API keys removed from it,
// because the SDK's transport errors carry the request URL and its key.
package llm

import "context"

// Passage is a retrieved knowledge chunk that a reply may draw on.
type Passage struct {
	SourceID int     // the knowledge source the chunk came from
	Title    string  // the source or section title; may be empty
	Text     string  // the chunk text
	Score    float64 // the retrieval score; informational only
}

// Turn is one earlier message of the conversation.
type Turn struct {
	Role string // "user", "assistant" (the bot) or "agent" (a staff member)
	Text string
}

// Prompt is everything a responder needs to answer one customer message.
type Prompt struct {
	Instructions string    // business-specific instructions (tone, name); may be empty
	Question     string    // the customer's message being answered
	Passages     []Passage // the retrieved knowledge, best first
	History      []Turn    // earlier turns, oldest first, not including Question
}

// Reply is a responder's answer.
//
// When Answered is false the passages did not contain an answer and the
// caller should send its own fallback message; Text is then empty.
type Reply struct {
	Text     string
	Answered bool
	Used     []int // indexes into Prompt.Passages that the answer drew on, ascending
}

// Responder answers a customer's question from the prompt's passages.
type Responder interface {
	Respond(ctx context.Context, p Prompt) (Reply, error)
}

// EmbedTask says what an embedding will be used for; models embed queries
// and documents differently so that the two compare well.
type EmbedTask int

// The embedding tasks. The zero value is invalid so that a forgotten task is
// an error rather than a silently worse index.
const (
	EmbedDocument EmbedTask = iota + 1 // a knowledge chunk to be stored and searched
	EmbedQuery                         // a customer question to search with
)

// Embedder turns texts into vectors, one per text, in the order given.
type Embedder interface {
	Embed(ctx context.Context, texts []string, task EmbedTask) ([][]float32, error)
}

var (
	_ Responder = (*Gemini)(nil)
	_ Embedder  = (*Gemini)(nil)
	_ Responder = Offline{}
	_ Responder = (*Fallback)(nil)
)
