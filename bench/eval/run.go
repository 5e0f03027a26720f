package eval

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/contact"
	entconv "github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/knowledgechunk"
	"github.com/seachat/seachat/ent/knowledgesource"
	"github.com/seachat/seachat/ent/messengerchannel"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/bot"
	"github.com/seachat/seachat/internal/conversation"
	"github.com/seachat/seachat/internal/knowledge"
	"github.com/seachat/seachat/internal/llm"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/pubsub"
	"github.com/seachat/seachat/internal/store"
)

// Outcomes: what the bot did with a message, read from what it sent.
const (
	OutcomeAnswer   = "answer"   // a reply that is neither of the two below
	OutcomeFallback = "fallback" // the agent's fallback message
	OutcomeHandoff  = "handoff"  // the handoff message; the conversation is HANDOFF_REQUESTED
	OutcomeSilent   = "silent"   // nothing was sent
)

// ingestTimeout bounds the wait for the documents to be READY.
const ingestTimeout = 2 * time.Minute

// Options tunes Run.
type Options struct {
	// Dir is bench/eval: messages/*.json and kb/.
	Dir string
	// Keep, if not nil, picks the messages to run; nil runs them all.
	Keep func(s *Set, m Message) bool
	// Logger gets the services' logs; nil discards them.
	Logger *slog.Logger
}

// Outcome is what SeaChat and the baseline did with one message.
type Outcome struct {
	Language string
	Message  Message

	Got     string // an Outcome* constant
	Reply   string // the text sent, parts joined by a space
	Correct bool   // an answer holding every expected fact
	FromKB  bool   // the reply repeats a sentence of the knowledge base
	Rank    int    // 1-based rank of the first passage holding a fact in Service.Passages; 0: not in them

	Baseline Outcome0
}

// Outcome0 is the baseline's outcome for a message.
type Outcome0 struct {
	Got     string
	Reply   string
	Correct bool
	Score   float64 // BM25 score of the top passage
	Rank    int

	state baselineState
}

// Result is a whole run.
type Result struct {
	Outcomes  []Outcome
	Threshold float64 // the baseline's BM25 threshold, calibrated on the tune split
	Sources   int     // documents ingested
	Chunks    int     // passages indexed
	Took      time.Duration
}

// Run ingests each set's documents into a fresh SQLite database through
// the real knowledge service, and sends every kept message to the real bot
// as a Messenger event from a new person. The only fake is at the network
// boundary: a recorder stands in for Meta's Send API.
func Run(ctx context.Context, opts Options) (*Result, error) {
	start := time.Now()
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	sets, err := Load(opts.Dir)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "seachat-eval-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	st, err := store.Open(ctx, "sqlite://"+filepath.Join(tmp, "eval.db"))
	if err != nil {
		return nil, err
	}
	defer st.Close()

	sender := &recorder{sent: map[string][]messenger.SendRequest{}}
	bus := pubsub.NewMemory()
	defer bus.Close()
	convs := conversation.New(conversation.Deps{Client: st.Client, Bus: bus, Sender: sender, Logger: logger})
	ks := knowledge.New(st.Client, llm.Offline{}, nil, knowledge.Options{Publisher: bus}, logger)
	runCtx, stop := context.WithCancel(ctx)
	var workers sync.WaitGroup
	workers.Add(1)
	go func() {
		defer workers.Done()
		ks.Run(runCtx)
	}()
	defer func() {
		stop()
		workers.Wait()
	}()
	engine := bot.New(convs, bot.KnowledgeFunc(func(ctx context.Context, agentID int, q string, history []llm.Turn) (bot.Answer, error) {
		ans, err := ks.Answer(ctx, agentID, q, history)
		return bot.Answer(ans), err
	}), sender, logger)

	res := &Result{}
	sys := auth.SystemContext(ctx)
	type prepared struct {
		set     *Set
		agent   *ent.Agent
		channel *ent.MessengerChannel
		docs    map[int]string // source id → document file name
		chunks  []*ent.KnowledgeChunk
		base    *bm25
	}
	var all []prepared
	for i, s := range sets {
		p := prepared{set: s, docs: map[int]string{}}
		if p.agent, p.channel, err = setUp(sys, st.Client, s, i); err != nil {
			return nil, err
		}
		var ids []int
		for _, name := range slices.Sorted(maps.Keys(s.Docs)) {
			src, err := upload(sys, ks, p.agent.ID, s.Docs[name])
			if err != nil {
				return nil, err
			}
			p.docs[src.ID] = name
			ids = append(ids, src.ID)
		}
		if err := waitReady(sys, ks, ids); err != nil {
			return nil, fmt.Errorf("%s: %w", s.Business, err)
		}
		p.chunks, err = st.Client.KnowledgeChunk.Query().Where(knowledgechunk.AgentID(p.agent.ID)).
			Order(ent.Asc(knowledgechunk.FieldID)).All(sys)
		if err != nil {
			return nil, err
		}
		p.base = newBM25(p.chunks)
		res.Sources += len(ids)
		res.Chunks += len(p.chunks)
		all = append(all, p)
	}

	for _, p := range all {
		s := p.set
		folded := make([]string, len(p.chunks))
		for i, c := range p.chunks {
			folded[i] = fold(c.Heading + "\n" + c.Text)
		}
		for _, m := range s.Messages {
			if opts.Keep != nil && !opts.Keep(s, m) {
				continue
			}
			o := Outcome{Language: s.Language, Message: m}
			psid := "eval-" + m.ID
			if err := engine.Process(ctx, p.channel, event(*p.channel.PageID, psid, m)); err != nil {
				return nil, fmt.Errorf("%s: %w", m.ID, err)
			}
			// The bot stores its reply; the outbox sends it.
			if _, err := convs.SendDue(ctx); err != nil {
				return nil, fmt.Errorf("%s: sending: %w", m.ID, err)
			}
			c, err := st.Client.Conversation.Query().Where(entconv.HasContactWith(contact.Psid(psid))).Only(sys)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", m.ID, err)
			}
			o.Reply = sender.text(psid)
			switch {
			case c.Status == entconv.StatusHANDOFF_REQUESTED || o.Reply == strings.TrimSpace(p.agent.HandoffMessage):
				o.Got = OutcomeHandoff
			case o.Reply == strings.TrimSpace(p.agent.FallbackMessage):
				o.Got = OutcomeFallback
			case o.Reply == "":
				o.Got = OutcomeSilent
			default:
				o.Got = OutcomeAnswer
				o.FromKB = fromKB(o.Reply, folded)
				o.Correct = m.Label == LabelAnswer && containsAll(o.Reply, m.Facts)
			}
			if m.Label == LabelAnswer {
				ps, err := ks.Passages(sys, p.agent.ID, m.Text)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", m.ID, err)
				}
				for i, x := range ps {
					if p.docs[x.SourceID] == m.Source && containsAny(x.Text, m.Facts) {
						o.Rank = i + 1
						break
					}
				}
			}
			o.Baseline = p.base.outcome(m, p.docs)
			res.Outcomes = append(res.Outcomes, o)
		}
	}
	res.Threshold = calibrate(res.Outcomes)
	for i := range res.Outcomes {
		res.Outcomes[i].Baseline.decide(res.Outcomes[i].Message, res.Threshold)
	}
	res.Took = time.Since(start)
	return res, nil
}

// setUp creates the business's workspace, its agent and a connected
// Messenger channel.
func setUp(ctx context.Context, client *ent.Client, s *Set, i int) (*ent.Agent, *ent.MessengerChannel, error) {
	ws, err := client.Workspace.Create().SetName(s.Agent.Name).Save(ctx)
	if err != nil {
		return nil, nil, err
	}
	ag, err := client.Agent.Create().SetWorkspaceID(ws.ID).SetName(s.Agent.Name).
		SetFallbackMessage(s.Agent.FallbackMessage).SetHandoffMessage(s.Agent.HandoffMessage).Save(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("agent %s: %w", s.Business, err)
	}
	pageID := fmt.Sprintf("10000000000%02d", i+1)
	ch, err := client.MessengerChannel.Create().SetWorkspaceID(ws.ID).SetAgentID(ag.ID).
		SetWebhookKey("eval-" + s.Business).SetVerifyToken("verify").SetStatus(messengerchannel.StatusCONNECTED).
		SetPageID(pageID).SetPageName(s.Agent.Name).Save(ctx)
	if err != nil {
		return nil, nil, err
	}
	return ag, ch, nil
}

// upload gives a document to the knowledge service as a file upload.
func upload(ctx context.Context, ks *knowledge.Service, agentID int, path string) (*ent.KnowledgeSource, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ks.Upload(ctx, agentID, filepath.Base(path), "", f, "")
}

// waitReady waits until the sources are ingested.
func waitReady(ctx context.Context, ks *knowledge.Service, ids []int) error {
	deadline := time.Now().Add(ingestTimeout)
	for _, id := range ids {
		for {
			src, err := ks.Source(ctx, id)
			if err != nil {
				return err
			}
			if src.Status == knowledgesource.StatusREADY {
				break
			}
			if src.Status == knowledgesource.StatusFAILED {
				reason := ""
				if src.Error != nil {
					reason = *src.Error
				}
				return fmt.Errorf("ingesting %s failed: %s", src.Title, reason)
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s not ingested after %s", src.Title, ingestTimeout)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}

// event is m as the webhook would hand it to the bot.
func event(pageID, psid string, m Message) messenger.Event {
	ev := messenger.Event{PageID: pageID, Kind: messenger.KindMessage, SenderID: psid, RecipientID: pageID,
		Timestamp: time.Now(), MID: "m_" + m.ID, Text: m.Text}
	switch m.Event {
	case EventQuickReply:
		ev.QuickReplyPayload = conversation.HandoffPayload
	case EventPostback:
		ev.Kind, ev.Text = messenger.KindPostback, ""
		ev.PostbackTitle, ev.PostbackPayload = m.Text, conversation.HandoffPayload
	}
	return ev
}

func containsAll(text string, facts []string) bool {
	for _, f := range facts {
		if !Contains(text, f) {
			return false
		}
	}
	return len(facts) > 0
}

func containsAny(text string, facts []string) bool {
	return slices.ContainsFunc(facts, func(f string) bool { return Contains(text, f) })
}

// fromKB reports whether reply repeats the knowledge base: whether its
// longest sentence appears in a passage.
func fromKB(reply string, folded []string) bool {
	longest := ""
	for _, s := range sentences(reply) {
		if len(s) > len(longest) {
			longest = s
		}
	}
	longest = fold(strings.TrimRight(longest, ".!?…"))
	if len(longest) < 12 {
		return false
	}
	return slices.ContainsFunc(folded, func(c string) bool { return strings.Contains(c, longest) })
}

// sentences cuts text after ".", "!" or "?" followed by a space.
func sentences(text string) []string {
	var out []string
	startAt := 0
	for i := 0; i < len(text)-1; i++ {
		if strings.ContainsRune(".!?", rune(text[i])) && text[i+1] == ' ' {
			out = append(out, strings.TrimSpace(text[startAt:i+1]))
			startAt = i + 1
		}
	}
	if rest := strings.TrimSpace(text[startAt:]); rest != "" {
		out = append(out, rest)
	}
	return out
}

// recorder stands in for Meta's Send API: it keeps what would be sent.
type recorder struct {
	mu   sync.Mutex
	n    int
	sent map[string][]messenger.SendRequest
}

// Send implements conversation.Sender.
func (r *recorder) Send(_ context.Context, _ int, req messenger.SendRequest) (messenger.SendResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n++
	r.sent[req.PSID] = append(r.sent[req.PSID], req)
	return messenger.SendResult{RecipientID: req.PSID, MessageID: fmt.Sprintf("m_sent_%d", r.n)}, nil
}

// Profile implements conversation.Sender: the person has no public profile.
func (r *recorder) Profile(context.Context, int, string) (messenger.Profile, error) {
	return messenger.Profile{}, nil
}

// SenderAction implements bot.Actions.
func (r *recorder) SenderAction(context.Context, int, string, messenger.Action) error { return nil }

// text returns the texts sent to psid, joined by a space.
func (r *recorder) text(psid string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var parts []string
	for _, req := range r.sent[psid] {
		parts = append(parts, strings.TrimSpace(req.Text))
	}
	return strings.Join(parts, " ")
}
