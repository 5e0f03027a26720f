package knowledge

import (
	"context"
	"strings"

	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/store"
)

// Passage is a passage retrieval found for a question.
type Passage struct {
	SourceID  int
	Heading   string
	Text      string
	Score     float64 // the citation's score: lexical coverage or cosine similarity
	Confident bool    // above the thresholds: Answer would let it answer
}

// Passages returns the passages Answer would hand the responder for
// question (at most Options.Passages), best first, whether or not any is
// confident, without asking the responder. Like Answer, it loads the agent
// with ctx, so a viewer of another workspace gets apperr.NotFound. It
// measures retrieval on its own (bench/eval); the bot uses Answer.
func (s *Service) Passages(ctx context.Context, agentID int, question string) (_ []Passage, err error) {
	defer apperr.Wrap(&err, "knowledge.Passages(agent %d)", agentID)
	question = truncateRunes(strings.TrimSpace(question), maxQueryChars)
	client := store.Client(ctx, s.client)
	if _, err := client.Agent.Get(ctx, agentID); err != nil {
		return nil, s.entError(err, "agent")
	}
	results, err := s.retrieve(ctx, client, agentID, question, nil)
	if err != nil {
		return nil, err
	}
	out := make([]Passage, len(results))
	for i, r := range results {
		out[i] = Passage{SourceID: r.chunk.sourceID, Heading: r.chunk.heading, Text: r.chunk.text,
			Score: r.score, Confident: r.confident}
	}
	return out, nil
}
