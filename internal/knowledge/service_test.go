package knowledge

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/knowledgesource"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/llm"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
	"github.com/seachat/seachat/internal/text"
)

// TestUploadAnswers uploads every real test file, each for an agent of its
// own, and asks a question only that file answers.
func TestUploadAnswers(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil, Options{})
		e.run(e.svc)
		for _, tt := range []struct {
			file      string
			title     string // the document's own title replaces the file name
			question  string
			wantReply string
		}{
			{"harbor-bikes.pdf", "Harbor Bikes Customer Guide", "How much does standard shipping cost?", "$6.95"},
			{"harbor-bikes.docx", "Harbor Bikes Service Guide", "How do I make a warranty claim?", "warranty@harborbikes.example"},
			{"harbor-bikes.html", "Harbor Bikes – Visit us", "Do you ship outside the country?", "do not ship outside the country"},
			{"harbor-bikes.md", "Harbor Bikes Rental Handbook", "How much is the deposit for a rental?", "deposit of $100"},
			{"harbor-bikes-faq.csv", "harbor-bikes-faq.csv", "What does the warranty cover?", "lifetime warranty on the frame"},
		} {
			t.Run(tt.file, func(t *testing.T) {
				agent := e.newAgent(e.owner, tt.file)
				src := e.wait(e.upload(agent, tt.file).ID)
				require.Equal(t, knowledgesource.StatusREADY, src.Status, "error: %v", src.Error)
				require.Nil(t, src.Error)
				require.Equal(t, tt.title, src.Title)
				require.Equal(t, len(readTestdata(t, tt.file)), src.Bytes)
				require.Empty(t, src.Content, "the raw upload is kept after ingest")
				require.Nil(t, src.LeaseUntil)
				require.Positive(t, src.ChunkCount)
				require.Len(t, e.chunks(src.ID), src.ChunkCount)
				require.True(t, src.NeedsEmbedding, "stored without embeddings, for when Gemini is configured")

				ans, err := e.svc.Answer(e.owner, agent, tt.question, nil)
				require.NoError(t, err)
				require.True(t, ans.Answered, "%q was not answered", tt.question)
				require.Contains(t, ans.Text, tt.wantReply)
				require.NotEmpty(t, ans.Citations)
				for _, c := range ans.Citations {
					require.Equal(t, src.ID, c.SourceID)
					require.NotEmpty(t, c.Snippet)
					require.Greater(t, c.Score, DefaultMinScore)
					require.LessOrEqual(t, c.Score, 1.0)
				}
			})
		}
	})
}

// TestUploadFailures checks that files we cannot read end FAILED with the
// reason Extract gives, in words for the person who uploaded them.
func TestUploadFailures(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		reg := prometheus.NewRegistry()
		e := newEnv(t, st, nil, Options{Registerer: reg})
		e.run(e.svc)
		for _, tt := range []struct {
			file string
			want string
		}{
			{"corrupt.pdf", "corrupt.pdf looks damaged and could not be read; open it, save or export it again, and upload the new file"},
			{"encrypted.pdf", "encrypted.pdf is encrypted or password-protected; remove the protection (for example, print it to a new PDF) and upload it again"},
			{"empty.docx", "empty.docx has no text in it"},
			{"scanned.pdf", "scanned.pdf has no text we can read; it may be a scanned image, so upload a PDF with selectable text or paste the text instead"},
		} {
			t.Run(tt.file, func(t *testing.T) {
				src := e.wait(e.upload(e.agent, tt.file).ID)
				require.Equal(t, knowledgesource.StatusFAILED, src.Status)
				require.NotNil(t, src.Error)
				require.Equal(t, tt.want, *src.Error)
				require.Empty(t, src.Content)
				require.Zero(t, src.ChunkCount)
				require.Empty(t, e.chunks(src.ID))
			})
		}
		// The counter moves just after the FAILED status is committed.
		require.Eventually(t, func() bool { return testutil.ToFloat64(e.svc.metrics.sourcesFailed) >= 4 },
			5*time.Second, 10*time.Millisecond)
		require.Equal(t, 4.0, testutil.ToFloat64(e.svc.metrics.sourcesFailed))

		ans, err := e.svc.Answer(e.owner, e.agent, "What are your opening hours?", nil)
		require.NoError(t, err)
		require.False(t, ans.Answered, "answered from nothing")
	})
}

func TestUploadRefused(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil, Options{MaxUploadBytes: 2000})
		data := readTestdata(t, "harbor-bikes.pdf")
		require.Greater(t, len(data), 2000)

		_, err := e.svc.Upload(e.owner, e.agent, "harbor-bikes.pdf", "application/pdf", bytes.NewReader(data), "")
		require.ErrorIs(t, err, apperr.InvalidArgument)
		require.Equal(t, "harbor-bikes.pdf is larger than the 1 KB limit; split it into smaller files", apperr.Message(err))

		_, err = e.svc.Upload(e.owner, e.agent, "notes.txt", "text/plain", strings.NewReader(" \n "), "")
		require.ErrorIs(t, err, apperr.InvalidArgument)
		require.Equal(t, "notes.txt is empty", apperr.Message(err))

		n, err := st.Client.KnowledgeSource.Query().Count(e.sys)
		require.NoError(t, err)
		require.Zero(t, n, "a refused upload was stored")
	})
}

// TestCrashResume leaves sources as a crashed process would and checks
// that a new process finishes them.
func TestCrashResume(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil, Options{MaxAttempts: 3})
		// Stored by a process that died before ingesting it.
		fresh := e.upload(e.agent, "harbor-bikes.md")
		// Claimed by a process that died while ingesting it.
		crashed := e.upload(e.agent, "harbor-bikes.pdf")
		past := time.Now().Add(-time.Minute).UTC()
		require.NoError(t, st.Client.KnowledgeSource.UpdateOneID(crashed.ID).
			SetLeaseUntil(past).SetAttempts(1).Exec(e.sys))
		// A file that crashed every process that tried it.
		poison := e.upload(e.agent, "harbor-bikes.docx")
		require.NoError(t, st.Client.KnowledgeSource.UpdateOneID(poison.ID).
			SetLeaseUntil(past).SetAttempts(3).Exec(e.sys))
		// Being ingested right now by a live replica.
		busy := e.upload(e.agent, "harbor-bikes.html")
		require.NoError(t, st.Client.KnowledgeSource.UpdateOneID(busy.ID).
			SetLeaseUntil(time.Now().Add(time.Hour).UTC()).SetAttempts(1).Exec(e.sys))

		restarted := e.newService(nil, Options{MaxAttempts: 3, PollInterval: 20 * time.Millisecond})
		e.run(restarted)
		for _, id := range []int{fresh.ID, crashed.ID} {
			src := e.wait(id)
			require.Equal(t, knowledgesource.StatusREADY, src.Status, "error: %v", src.Error)
			require.Positive(t, src.ChunkCount)
			require.Empty(t, src.Content)
		}
		src := e.wait(poison.ID)
		require.Equal(t, knowledgesource.StatusFAILED, src.Status)
		require.Equal(t, failedMessage, *src.Error)

		time.Sleep(200 * time.Millisecond) // several polls
		src, err := st.Client.KnowledgeSource.Get(e.sys, busy.ID)
		require.NoError(t, err)
		require.Equal(t, knowledgesource.StatusPROCESSING, src.Status, "took a source another worker holds")
		require.Equal(t, 1, src.Attempts)

		ans, err := restarted.Answer(e.sys, e.agent, "How much does a complete bike cost to ship?", nil)
		require.NoError(t, err)
		require.True(t, ans.Answered)
		require.Equal(t, crashed.ID, ans.Citations[0].SourceID)
	})
}

// TestUploadInMutation uploads inside a transaction, as the GraphQL
// mutation does: the workers, which poll rarely here, are woken when it
// commits, and not before.
func TestUploadInMutation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil, Options{PollInterval: time.Hour})
		e.run(e.svc)
		time.Sleep(50 * time.Millisecond) // let the workers go to sleep

		txCtx, tx, err := st.Client.OpenTx(e.owner)
		require.NoError(t, err)
		src, err := e.svc.Upload(txCtx, e.agent, "harbor-bikes.md", "text/markdown",
			bytes.NewReader(readTestdata(t, "harbor-bikes.md")), "Rentals")
		require.NoError(t, err)
		// Visible inside the transaction only.
		got, err := ent.FromContext(txCtx).KnowledgeSource.Get(txCtx, src.ID)
		require.NoError(t, err)
		require.Equal(t, "Rentals", got.Title)
		require.NoError(t, tx.Commit())

		src = e.wait(src.ID)
		require.Equal(t, knowledgesource.StatusREADY, src.Status)
		require.Equal(t, "Rentals", src.Title, "a given title is kept")

		// A rolled-back mutation leaves nothing behind.
		txCtx, tx, err = st.Client.OpenTx(e.owner)
		require.NoError(t, err)
		_, err = e.svc.AddText(txCtx, e.agent, "Parking", "Free parking behind the shop.")
		require.NoError(t, err)
		require.NoError(t, tx.Rollback())
		n, err := st.Client.KnowledgeSource.Query().Count(e.sys)
		require.NoError(t, err)
		require.Equal(t, 1, n)
	})
}

func TestAddTextAndFAQ(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil, Options{})
		text, err := e.svc.AddText(e.owner, e.agent, "  Parking ", "Free parking for customers behind the shop.\n\nBike racks at the front door.")
		require.NoError(t, err)
		require.Equal(t, knowledgesource.KindTEXT, text.Kind)
		require.Equal(t, knowledgesource.StatusREADY, text.Status, "texts are ready at once")
		require.Equal(t, "Parking", text.Title)
		require.Equal(t, 1, text.ChunkCount)
		require.Equal(t, e.st.Client.Agent.GetX(e.owner, e.agent).WorkspaceID, text.WorkspaceID)

		faq, err := e.svc.AddFAQ(e.owner, e.agent, "Club FAQ", []FAQPair{
			{Question: "Can I pay by card?", Answer: "Yes, all major cards and contactless."},
			{Question: " Do you sell gift cards? ", Answer: "Yes, from $10 to $200."},
		})
		require.NoError(t, err)
		require.Equal(t, knowledgesource.KindFAQ, faq.Kind)
		require.Equal(t, knowledgesource.StatusREADY, faq.Status)
		chunks := e.chunks(faq.ID)
		require.Len(t, chunks, 2)
		require.Equal(t, "Do you sell gift cards?", chunks[1].Heading)
		require.Equal(t, "Q: Do you sell gift cards?\nA: Yes, from $10 to $200.", chunks[1].Text)

		for _, tt := range []struct {
			question string
			source   int
			want     string
		}{
			{"Where can I park?", text.ID, "Free parking"},
			{"do you have gift cards", faq.ID, "Yes, from $10 to $200."},
		} {
			ans, err := e.svc.Answer(e.sys, e.agent, tt.question, nil)
			require.NoError(t, err)
			require.True(t, ans.Answered, tt.question)
			require.Contains(t, ans.Text, tt.want)
			require.Equal(t, tt.source, ans.Citations[0].SourceID)
		}
	})
}

func TestValidation(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil, Options{MaxTextChars: 100})
		long := strings.Repeat("word ", 30)
		for _, tt := range []struct {
			name string
			call func() error
			want string
		}{
			{"blank title", func() error { _, err := e.svc.AddText(e.owner, e.agent, " \t", "text"); return err },
				`title: give it a title, e.g. "Opening hours" or "Returns policy"`},
			{"title too long", func() error { _, err := e.svc.AddText(e.owner, e.agent, strings.Repeat("é", 300), "text"); return err },
				"title: the title is longer than 500 characters; shorten it"},
			{"blank text", func() error { _, err := e.svc.AddText(e.owner, e.agent, "Hours", "\n \u200b\n"); return err },
				"text: the text is empty; paste the information the agent should know"},
			{"text too long", func() error { _, err := e.svc.AddText(e.owner, e.agent, "Hours", long); return err },
				"text: the text has 149 characters, more than the limit of 100; split it into several texts or upload it as a file"},
			{"no pairs", func() error { _, err := e.svc.AddFAQ(e.owner, e.agent, "FAQ", nil); return err },
				"pairs: add at least one question with its answer"},
			{"empty pair", func() error {
				_, err := e.svc.AddFAQ(e.owner, e.agent, "FAQ", []FAQPair{{"Q?", "A."}, {" ", ""}})
				return err
			}, "pairs: pair 2 is empty; remove it or fill in its question and answer"},
			{"blank question", func() error {
				_, err := e.svc.AddFAQ(e.owner, e.agent, "FAQ", []FAQPair{{" ", "A."}})
				return err
			}, "pairs: pair 1 has no question"},
			{"blank answer", func() error {
				_, err := e.svc.AddFAQ(e.owner, e.agent, "FAQ", []FAQPair{{"Open on Sunday?", " "}})
				return err
			}, `pairs: pair 1 ("Open on Sunday?") has no answer`},
			{"pairs too long", func() error {
				_, err := e.svc.AddFAQ(e.owner, e.agent, "FAQ", []FAQPair{{"Q?", long}})
				return err
			}, "pairs: the pairs have 151 characters, more than the limit of 100; split them into several FAQs"},
			{"blank question to answer", func() error { _, err := e.svc.Answer(e.owner, e.agent, "  ", nil); return err },
				"question: type a question"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				err := tt.call()
				require.ErrorIs(t, err, apperr.InvalidArgument)
				require.Equal(t, tt.want, apperr.Message(err))
			})
		}
		n, err := st.Client.KnowledgeSource.Query().Count(e.sys)
		require.NoError(t, err)
		require.Zero(t, n)
	})
}

// TestAccess checks tenancy and roles: another workspace's agents and
// sources do not exist for a viewer, and only OWNER tokens change the
// knowledge base, while anyone in the workspace may preview answers.
func TestAccess(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil, Options{})
		src, err := e.svc.AddText(e.owner, e.agent, "Hours", "We are open every day from 8am to 8pm.")
		require.NoError(t, err)
		md := readTestdata(t, "harbor-bikes.md")

		for _, tt := range []struct {
			name string
			call func() error
		}{
			{"AddText", func() error { _, err := e.svc.AddText(e.ownerB, e.agent, "x", "y"); return err }},
			{"AddFAQ", func() error { _, err := e.svc.AddFAQ(e.ownerB, e.agent, "x", []FAQPair{{"q", "a"}}); return err }},
			{"Upload", func() error {
				_, err := e.svc.Upload(e.ownerB, e.agent, "a.md", "", bytes.NewReader(md), "")
				return err
			}},
			{"Delete", func() error { return e.svc.Delete(e.ownerB, src.ID) }},
			{"Answer", func() error { _, err := e.svc.Answer(e.ownerB, e.agent, "When are you open?", nil); return err }},
		} {
			t.Run("other workspace "+tt.name, func(t *testing.T) {
				require.ErrorIs(t, tt.call(), apperr.NotFound)
			})
		}

		for _, tt := range []struct {
			name string
			call func() error
		}{
			{"AddText", func() error { _, err := e.svc.AddText(e.member, e.agent, "x", "y"); return err }},
			{"AddFAQ", func() error { _, err := e.svc.AddFAQ(e.member, e.agent, "x", []FAQPair{{"q", "a"}}); return err }},
			{"Upload", func() error {
				_, err := e.svc.Upload(e.member, e.agent, "a.md", "", bytes.NewReader(md), "")
				return err
			}},
			{"Delete", func() error { return e.svc.Delete(e.member, src.ID) }},
		} {
			t.Run("AGENT role "+tt.name, func(t *testing.T) {
				err := tt.call()
				require.ErrorIs(t, err, apperr.PermissionDenied)
				require.Equal(t, "changing the knowledge base needs an OWNER token of the workspace", apperr.Message(err))
			})
		}
		n, err := st.Client.KnowledgeSource.Query().Count(e.sys)
		require.NoError(t, err)
		require.Equal(t, 1, n, "a refused call stored something")

		for name, ctx := range map[string]context.Context{"AGENT role": e.member, "owner": e.owner, "system": e.sys} {
			ans, err := e.svc.Answer(ctx, e.agent, "When are you open?", nil)
			require.NoError(t, err, name)
			require.True(t, ans.Answered, name)
			require.Equal(t, src.ID, ans.Citations[0].SourceID, name)
		}
		_, err = e.svc.Answer(e.sys, 999999, "When are you open?", nil)
		require.ErrorIs(t, err, apperr.NotFound)
		require.ErrorIs(t, e.svc.Delete(e.owner, 999999), apperr.NotFound)
	})
}

// TestDelete checks that a deleted source stops answering at once, on the
// replica that deleted it and on another that had it cached.
func TestDelete(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil, Options{})
		other := e.newService(nil, Options{}) // another replica
		e.run(e.svc)
		hours, err := e.svc.AddText(e.owner, e.agent, "Hours", "We are open every day from 8am to 8pm.")
		require.NoError(t, err)
		file := e.wait(e.upload(e.agent, "harbor-bikes.pdf").ID)
		require.Equal(t, knowledgesource.StatusREADY, file.Status)

		question := "How much does standard shipping cost?"
		for _, svc := range []*Service{e.svc, other} {
			ans, err := svc.Answer(e.owner, e.agent, question, nil)
			require.NoError(t, err)
			require.True(t, ans.Answered)
			require.Equal(t, file.ID, ans.Citations[0].SourceID)
		}

		require.NoError(t, e.svc.Delete(e.owner, file.ID))
		_, err = st.Client.KnowledgeSource.Get(e.sys, file.ID)
		require.True(t, ent.IsNotFound(err))
		require.Empty(t, e.chunks(file.ID))
		for i, svc := range []*Service{e.svc, other} {
			ans, err := svc.Answer(e.owner, e.agent, question, nil)
			require.NoError(t, err)
			require.False(t, ans.Answered, "replica %d still answers from a deleted source: %+v", i, ans)
			ans, err = svc.Answer(e.owner, e.agent, "When are you open?", nil)
			require.NoError(t, err)
			require.True(t, ans.Answered)
			require.Equal(t, hours.ID, ans.Citations[0].SourceID)
		}

		// Deleting inside a mutation that rolls back deletes nothing.
		txCtx, tx, err := st.Client.OpenTx(e.owner)
		require.NoError(t, err)
		require.NoError(t, e.svc.Delete(txCtx, hours.ID))
		require.NoError(t, tx.Rollback())
		ans, err := other.Answer(e.owner, e.agent, "When are you open?", nil)
		require.NoError(t, err)
		require.True(t, ans.Answered)

		// A source deleted while it is being ingested stays deleted.
		src := e.upload(e.agent, "harbor-bikes.docx")
		require.NoError(t, e.svc.Delete(e.owner, src.ID))
		time.Sleep(100 * time.Millisecond)
		n, err := st.Client.KnowledgeChunk.Query().Count(e.sys)
		require.NoError(t, err)
		require.Equal(t, 1, n, "only the text's chunk is left")
	})
}

// TestFollowUp checks that a short follow-up is searched together with
// the question before it, so that the passage it refers to reaches the
// responder.
func TestFollowUp(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil, Options{})
		e.run(e.svc)
		for _, f := range []string{"harbor-bikes.pdf", "harbor-bikes.md", "harbor-bikes.docx"} {
			require.Equal(t, knowledgesource.StatusREADY, e.wait(e.upload(e.agent, f).ID).Status)
		}
		history := []llm.Turn{
			{Role: "user", Text: "Do you do a full overhaul?"},
			{Role: "assistant", Text: "Yes, we do."},
		}
		has := func(rs []result, text string) bool {
			return slices.ContainsFunc(rs, func(r result) bool { return strings.Contains(r.chunk.text, text) })
		}
		// "cost" finds every price list on its own ("~price"); with its
		// context the overhaul's comes first.
		followUp, err := e.svc.retrieve(e.sys, st.Client, e.agent, "How much does it cost?", history)
		require.NoError(t, err)
		require.True(t, has(followUp[:1], "Full overhaul | $180"), "the follow-up lost its context")
		require.True(t, slices.ContainsFunc(followUp, func(r result) bool { return r.confident }))
	})
}

func TestSnippet(t *testing.T) {
	long := strings.Repeat("Filler words about nothing in particular. ", 8) +
		"The deposit is $100 and it is released when the bike comes back. " +
		strings.Repeat("More filler text here. ", 8)
	got := snippet(long, "How much is the deposit?", text.English)
	require.True(t, strings.HasPrefix(got, "…The deposit is $100"), got)
	require.True(t, strings.HasSuffix(got, "…"), got)
	require.LessOrEqual(t, len([]rune(got)), snippetChars+1)
	require.Equal(t, "Short text.", snippet("Short \n text.", "x", text.English))
}

func TestVectorEncoding(t *testing.T) {
	v := []float32{1, -2.5, 0, 3.25}
	require.Equal(t, v, decodeVector(encodeVector(v)))
	require.Len(t, encodeVector(v), 16)
	require.Nil(t, decodeVector([]byte{1, 2, 3}))
	require.Nil(t, decodeVector(nil))
	require.Nil(t, normalize([]float32{0, 0}))
	n := normalize([]float32{3, 4})
	require.InDelta(t, 1.0, dot(n, n), 1e-6)
	require.InDelta(t, Cosine([]float32{1, 2, 3, 4, 5}, []float32{5, 4, 3, 2, 1}),
		dot(normalize([]float32{1, 2, 3, 4, 5}), normalize([]float32{5, 4, 3, 2, 1})), 1e-6)
}
