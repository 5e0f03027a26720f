package server_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/ent/schema/schematype"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// seedConversation stores a conversation of the workspace that token belongs
// to, as the Messenger intake would.
func seedConversation(t *testing.T, e *env, token, psid string, tags []string, at time.Time) (*ent.Conversation, *ent.KnowledgeSource) {
	t.Helper()
	ctx := auth.SystemContext(context.Background())
	v, err := auth.New(e.st.Client, slog.New(slog.DiscardHandler), time.Now).Authenticate(ctx, token)
	require.NoError(t, err)
	c := e.st.Client
	ws := v.WorkspaceID
	ag, err := c.Agent.Create().SetWorkspaceID(ws).SetName("bot " + psid).Save(ctx)
	require.NoError(t, err)
	ch, err := c.MessengerChannel.Create().SetWorkspaceID(ws).SetAgentID(ag.ID).
		SetWebhookKey("key-" + psid).SetVerifyToken("vt").Save(ctx)
	require.NoError(t, err)
	ct, err := c.Contact.Create().SetWorkspaceID(ws).SetChannelID(ch.ID).SetPsid(psid).SetName("User " + psid).Save(ctx)
	require.NoError(t, err)
	conv, err := c.Conversation.Create().SetWorkspaceID(ws).SetAgentID(ag.ID).SetChannelID(ch.ID).
		SetContactID(ct.ID).SetTags(tags).SetLastMessageAt(at).Save(ctx)
	require.NoError(t, err)
	src, err := c.KnowledgeSource.Create().SetWorkspaceID(ws).SetAgentID(ag.ID).SetKind("TEXT").SetTitle("Hours").Save(ctx)
	require.NoError(t, err)
	_, err = c.Message.Create().SetWorkspaceID(ws).SetConversationID(conv.ID).SetChannelID(ch.ID).
		SetDirection(message.DirectionINBOUND).SetAuthor(message.AuthorUSER).SetText("photo?").SetMid("m_" + psid).
		SetAttachments([]schematype.Attachment{{Type: "image", URL: "https://example.com/a.jpg"}}).Save(ctx)
	require.NoError(t, err)
	_, err = c.Message.Create().SetWorkspaceID(ws).SetConversationID(conv.ID).SetChannelID(ch.ID).
		SetDirection(message.DirectionOUTBOUND).SetAuthor(message.AuthorBOT).SetText("We open at 9.").
		SetCitations([]schematype.Citation{{SourceID: src.ID, Snippet: "open at 9", Score: 0.8}, {SourceID: 12345, Snippet: "gone"}}).
		SetDeliveryStatus(message.DeliveryStatusSENT).Save(ctx)
	require.NoError(t, err)
	return conv, src
}

func TestConversationsQuery(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		a, b := e.newWorkspace("A"), e.newWorkspace("B")
		now := time.Now()
		old, _ := seedConversation(t, e, a.owner, "p1", []string{"billing"}, now.Add(-time.Hour))
		newer, _ := seedConversation(t, e, a.owner, "p2", []string{"vip", "billing"}, now)
		seedConversation(t, e, b.owner, "p3", []string{"billing"}, now)

		type page struct {
			TotalCount int
			Edges      []struct{ Node struct{ ID string } }
			PageInfo   struct {
				HasNextPage bool
				EndCursor   string
			}
		}
		var all page
		e.ok(a.agent, `{conversations{totalCount edges{node{id}} pageInfo{hasNextPage endCursor}}}`, nil, "conversations", &all)
		require.Equal(t, 2, all.TotalCount, "A sees only its two conversations")
		require.Equal(t, itoa(newer.ID), all.Edges[0].Node.ID, "newest lastMessageAt first")
		require.Equal(t, itoa(old.ID), all.Edges[1].Node.ID)

		var first page
		e.ok(a.agent, `{conversations(first:1){totalCount edges{node{id}} pageInfo{hasNextPage endCursor}}}`, nil, "conversations", &first)
		require.True(t, first.PageInfo.HasNextPage)
		var next page
		e.ok(a.agent, `query($c:Cursor){conversations(first:1,after:$c){edges{node{id}} pageInfo{hasNextPage}}}`,
			map[string]any{"c": first.PageInfo.EndCursor}, "conversations", &next)
		require.Equal(t, itoa(old.ID), next.Edges[0].Node.ID)
		require.False(t, next.PageInfo.HasNextPage)

		var vip page
		e.ok(a.agent, `{conversations(where:{tag:"vip"}){totalCount edges{node{id}}}}`, nil, "conversations", &vip)
		require.Equal(t, 1, vip.TotalCount)
		require.Equal(t, itoa(newer.ID), vip.Edges[0].Node.ID)
		var billing page
		e.ok(a.agent, `{conversations(where:{tag:"billing", status:BOT}){totalCount}}`, nil, "conversations", &billing)
		require.Equal(t, 2, billing.TotalCount)
		var agentFilter page
		e.ok(a.agent, `query($id:ID!){conversations(where:{agentID:$id}){totalCount}}`,
			map[string]any{"id": newer.AgentID}, "conversations", &agentFilter)
		require.Equal(t, 1, agentFilter.TotalCount)

		var conv struct {
			Tags     []string
			Contact  struct{ Psid, Name string }
			Messages struct {
				TotalCount int
				Edges      []struct {
					Node struct {
						Author      string
						Text        string
						Attachments []struct{ Type, URL string }
						Citations   []struct {
							Snippet string
							Source  struct{ Title string }
						}
					}
				}
			}
		}
		e.ok(a.agent, `query($id:ID!){node(id:$id){... on Conversation{tags contact{psid name}
			messages(first:10){totalCount edges{node{author text attachments{type url} citations{snippet source{title}}}}}}}}`,
			map[string]any{"id": newer.ID}, "node", &conv)
		require.Equal(t, []string{"vip", "billing"}, conv.Tags)
		require.Equal(t, "p2", conv.Contact.Psid)
		require.Equal(t, 2, conv.Messages.TotalCount)
		require.Equal(t, "USER", conv.Messages.Edges[0].Node.Author, "messages oldest first")
		require.Equal(t, "image", conv.Messages.Edges[0].Node.Attachments[0].Type)
		cites := conv.Messages.Edges[1].Node.Citations
		require.Len(t, cites, 1, "the citation of a missing source is left out")
		require.Equal(t, "Hours", cites[0].Source.Title)
	})
}
