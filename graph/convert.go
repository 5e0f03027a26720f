package graph

import (
	"context"

	"github.com/99designs/gqlgen/graphql"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/knowledgesource"
	"github.com/seachat/seachat/ent/schema/schematype"
	"github.com/seachat/seachat/graph/model"
	"github.com/seachat/seachat/internal/conversation"
	"github.com/seachat/seachat/internal/knowledge"
)

// citations resolves stored citations to their sources in one query, leaving
// out those whose source was deleted since.
func (r *Resolver) citations(ctx context.Context, stored []schematype.Citation) ([]*model.Citation, error) {
	if len(stored) == 0 {
		return []*model.Citation{}, nil
	}
	ids := make([]int, len(stored))
	for i, c := range stored {
		ids[i] = c.SourceID
	}
	sources, err := r.client.KnowledgeSource.Query().Where(knowledgesource.IDIn(ids...)).All(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[int]*ent.KnowledgeSource, len(sources))
	for _, s := range sources {
		byID[s.ID] = s
	}
	out := make([]*model.Citation, 0, len(stored))
	for _, c := range stored {
		if s := byID[c.SourceID]; s != nil {
			out = append(out, &model.Citation{Source: s, Snippet: c.Snippet, Score: c.Score})
		}
	}
	return out, nil
}

func faqPairs(in []*model.FAQPairInput) []knowledge.FAQPair {
	out := make([]knowledge.FAQPair, len(in))
	for i, p := range in {
		out[i] = knowledge.FAQPair{Question: p.Question, Answer: p.Answer}
	}
	return out
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// upload is a GraphQL upload as the conversation service takes it.
func upload(u *graphql.Upload) *conversation.Upload {
	if u == nil {
		return nil
	}
	return &conversation.Upload{Filename: u.Filename, ContentType: u.ContentType, Size: u.Size, File: u.File}
}
