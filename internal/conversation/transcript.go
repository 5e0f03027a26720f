package conversation

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/seachat/seachat/ent"
	entconv "github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/knowledgesource"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/ent/schema/schematype"
	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/budget"
)

// TranscriptFormat is how Transcript renders a conversation. Its values are
// the GraphQL enum TranscriptFormat, and it marshals as one.
type TranscriptFormat string

// The transcript formats.
const (
	// TranscriptText is plain text for people: a header, then one entry per
	// message, "[2006-01-02 15:04:05 UTC] User (Ada): text", with the
	// sources of bot answers listed under them.
	TranscriptText TranscriptFormat = "TEXT"
	// TranscriptJSON is a JSON array of message objects (see Transcript).
	TranscriptJSON TranscriptFormat = "JSON"
	// TranscriptCSV is RFC 4180 CSV with a header row (see Transcript).
	TranscriptCSV TranscriptFormat = "CSV"
)

// MarshalGQL writes the format as a GraphQL enum value.
func (f TranscriptFormat) MarshalGQL(w io.Writer) { io.WriteString(w, strconv.Quote(string(f))) }

// UnmarshalGQL reads a GraphQL enum value.
func (f *TranscriptFormat) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("TranscriptFormat must be a string, got %T", v)
	}
	switch tf := TranscriptFormat(s); tf {
	case TranscriptText, TranscriptJSON, TranscriptCSV:
		*f = tf
		return nil
	}
	return fmt.Errorf("%q is not a valid TranscriptFormat: use TEXT, JSON or CSV", s)
}

// transcriptTime is how TEXT shows times: UTC, to the second.
const transcriptTime = "2006-01-02 15:04:05 UTC"

// CSVHeader is the header row of CSV transcripts. Columns are only ever
// added at the end.
var CSVHeader = []string{
	"id", "created_at", "direction", "author", "author_label", "text", "attachments",
	"citations", "delivery_status", "error", "answered", "in_reply_to_id",
}

// transcriptMessage is one message of a JSON transcript. Its field names are
// part of the API: fields may be added, never renamed.
type transcriptMessage struct {
	ID             string                  `json:"id"`
	CreatedAt      time.Time               `json:"createdAt"`
	Direction      message.Direction       `json:"direction"`
	Author         message.Author          `json:"author"`
	AuthorLabel    string                  `json:"authorLabel"`
	SentBy         *string                 `json:"sentBy"`
	Text           string                  `json:"text"`
	Attachments    []schematype.Attachment `json:"attachments"`
	DeliveryStatus message.DeliveryStatus  `json:"deliveryStatus"`
	Error          *string                 `json:"error"`
	Mid            *string                 `json:"mid"`
	Answered       *bool                   `json:"answered"`
	InReplyToID    *string                 `json:"inReplyToId"`
	Citations      []transcriptCitation    `json:"citations"`
}

// transcriptCitation is a source a bot answer cites. Source is the title of
// the knowledge source, null once the source was deleted.
type transcriptCitation struct {
	SourceID string  `json:"sourceId"`
	Source   *string `json:"source"`
	Snippet  string  `json:"snippet"`
	Score    float64 `json:"score"`
}

// MaxTranscriptBytes bounds one transcript. Transcript stops and fails
// once its output would grow past it, so one call never holds more than
// about this much memory, whatever the size of the conversation.
const MaxTranscriptBytes = 16 << 20

// transcriptBatch is how many messages Transcript reads per query.
const transcriptBatch = 500

// Transcript renders the conversation's messages, oldest first, as format:
//
//   - TEXT: a header naming the contact, agent, page, status and tags, then
//     one entry per message: its time in UTC, the author ("User (Ada)",
//     "Bot", "Agent Dana", "System") and the text, continuation lines
//     indented; attachments, delivery problems, unanswered questions and the
//     sources a bot answer cites follow on indented lines.
//   - JSON: an array of objects with the fields id, createdAt (RFC 3339,
//     UTC), direction, author, authorLabel, sentBy, text, attachments
//     [{type, url}], deliveryStatus, error, mid, answered, inReplyToId and
//     citations [{sourceId, source, snippet, score}].
//   - CSV: the columns of CSVHeader, attachments and citations joined with
//     "; ". Cells that a spreadsheet would run as a formula (starting with
//     =, +, -, @, tab or carriage return) are prefixed with a quote (').
//
// Messages are read transcriptBatch at a time and rendered as they are
// read. The output is charged to the request's budget (package budget) as
// it grows; a transcript larger than MaxTranscriptBytes, or than what is
// left of the budget, is InvalidArgument. Messages stored while the
// transcript is being read are left out.
//
// A conversation outside the viewer's workspace is NotFound.
func (s *Service) Transcript(ctx context.Context, convID int, format TranscriptFormat) (out string, err error) {
	defer apperr.Wrap(&err, "conversation.Transcript(%d, %s)", convID, format)
	var r transcriptRenderer
	switch format {
	case TranscriptText:
		r = &textRenderer{}
	case TranscriptJSON:
		r = &jsonRenderer{}
	case TranscriptCSV:
		r = &csvRenderer{}
	default:
		return "", apperr.Errorf(apperr.InvalidArgument, "format: %q is not TEXT, JSON or CSV", format)
	}
	c, err := s.client.Conversation.Query().Where(entconv.ID(convID)).
		WithContact().WithAgent().WithChannel().Only(ctx)
	if ent.IsNotFound(err) {
		return "", notFound(convID)
	}
	if err != nil {
		return "", err
	}
	// The messages up to the newest one now: a count in the header that
	// matches the entries under it, however many arrive meanwhile.
	lastID, err := c.QueryMessages().Order(ent.Desc(message.FieldID)).FirstID(ctx)
	if err != nil && !ent.IsNotFound(err) {
		return "", err
	}
	count, err := c.QueryMessages().Where(message.IDLTE(lastID)).Count(ctx)
	if err != nil {
		return "", err
	}
	w := &transcriptWriter{ctx: ctx, limit: MaxTranscriptBytes}
	r.begin(w, c, count)
	titles := map[int]string{}
	for after := 0; w.err == nil; {
		ms, err := c.QueryMessages().Where(message.IDGT(after), message.IDLTE(lastID)).
			Order(ent.Asc(message.FieldID)).Limit(transcriptBatch).All(ctx)
		if err != nil {
			return "", err
		}
		if err := s.sourceTitles(ctx, ms, titles); err != nil {
			return "", err
		}
		for _, m := range ms {
			r.entry(w, newTranscriptMessage(c, m, titles))
		}
		if len(ms) < transcriptBatch {
			break
		}
		after = ms[len(ms)-1].ID
	}
	r.end(w)
	if err := w.close(); err != nil {
		return "", err
	}
	return w.b.String(), nil
}

// transcriptWriter is the bounded buffer a transcript is rendered into. A
// write that would take it past limit, or past the request's budget, fails
// and fails every write after it; renderers need not check each write.
type transcriptWriter struct {
	ctx    context.Context
	b      strings.Builder
	limit  int
	unpaid int // bytes written but not yet charged to the budget
	err    error
}

// budgetChunk is how many bytes transcriptWriter writes between charges to
// the request's budget: a lookup in the context per line would cost more
// than the line.
const budgetChunk = 64 << 10

func (w *transcriptWriter) Write(p []byte) (int, error) {
	if !w.reserve(len(p)) {
		return 0, w.err
	}
	return w.b.Write(p)
}

func (w *transcriptWriter) WriteString(s string) (int, error) {
	if !w.reserve(len(s)) {
		return 0, w.err
	}
	return w.b.WriteString(s)
}

func (w *transcriptWriter) reserve(n int) bool {
	if w.err != nil {
		return false
	}
	if w.b.Len()+n > w.limit {
		w.err = apperr.Errorf(apperr.InvalidArgument, "the transcript is larger than %s: read the conversation "+
			"in pages with Conversation.messages(first, after) instead", budget.Size(int64(w.limit)))
		return false
	}
	if w.unpaid += n; w.unpaid >= budgetChunk {
		w.pay()
	}
	return w.err == nil
}

func (w *transcriptWriter) pay() {
	if err := budget.Spend(w.ctx, w.unpaid); err != nil && w.err == nil {
		w.err = err
	}
	w.unpaid = 0
}

// close charges what is left and returns the first error of the writes.
func (w *transcriptWriter) close() error {
	if w.err == nil {
		w.pay()
	}
	return w.err
}

// transcriptRenderer writes one format of transcript, message by message.
type transcriptRenderer interface {
	begin(w *transcriptWriter, c *ent.Conversation, count int)
	entry(w *transcriptWriter, e transcriptMessage)
	end(w *transcriptWriter)
}

// sourceTitles adds to titles those of the knowledge sources ms cite that
// still exist and are not in titles yet, in one query.
func (s *Service) sourceTitles(ctx context.Context, ms []*ent.Message, titles map[int]string) error {
	var ids []int
	for _, m := range ms {
		for _, c := range m.Citations {
			if _, ok := titles[c.SourceID]; !ok {
				ids = append(ids, c.SourceID)
			}
		}
	}
	if len(ids) == 0 {
		return nil
	}
	slices.Sort(ids)
	srcs, err := s.client.KnowledgeSource.Query().Where(knowledgesource.IDIn(slices.Compact(ids)...)).
		Select(knowledgesource.FieldID, knowledgesource.FieldTitle).All(ctx)
	if err != nil {
		return err
	}
	for _, src := range srcs {
		titles[src.ID] = src.Title
	}
	return nil
}

func newTranscriptMessage(c *ent.Conversation, m *ent.Message, titles map[int]string) transcriptMessage {
	tm := transcriptMessage{
		ID:             strconv.Itoa(m.ID),
		CreatedAt:      m.CreatedAt.UTC(),
		Direction:      m.Direction,
		Author:         m.Author,
		AuthorLabel:    AuthorLabel(m, c.Edges.Contact),
		SentBy:         m.SentBy,
		Text:           m.Text,
		Attachments:    m.Attachments,
		DeliveryStatus: m.DeliveryStatus,
		Error:          m.Error,
		Mid:            m.Mid,
		Answered:       m.Answered,
		Citations:      []transcriptCitation{},
	}
	if tm.Attachments == nil {
		tm.Attachments = []schematype.Attachment{}
	}
	if m.InReplyToID != nil {
		id := strconv.Itoa(*m.InReplyToID)
		tm.InReplyToID = &id
	}
	for _, ci := range m.Citations {
		tc := transcriptCitation{SourceID: strconv.Itoa(ci.SourceID), Snippet: ci.Snippet, Score: ci.Score}
		if t, ok := titles[ci.SourceID]; ok {
			tc.Source = &t
		}
		tm.Citations = append(tm.Citations, tc)
	}
	return tm
}

// AuthorLabel names who wrote m for people: "User (Ada)" (or "User" when
// the contact has no name), "Bot", "Agent Dana" (the sender's token name,
// or "Agent Page Inbox" for replies from Meta's tools), "System" and
// "Note by Dana" for internal notes.
func AuthorLabel(m *ent.Message, ct *ent.Contact) string {
	switch m.Author {
	case message.AuthorUSER:
		if ct != nil && ct.Name != nil && strings.TrimSpace(*ct.Name) != "" {
			return "User (" + strings.TrimSpace(*ct.Name) + ")"
		}
		return "User"
	case message.AuthorBOT:
		return "Bot"
	case message.AuthorAGENT:
		if m.SentBy != nil && strings.TrimSpace(*m.SentBy) != "" {
			return "Agent " + strings.TrimSpace(*m.SentBy)
		}
		return "Agent"
	case message.AuthorSYSTEM:
		return "System"
	case message.AuthorNOTE:
		if m.SentBy != nil && strings.TrimSpace(*m.SentBy) != "" {
			return "Note by " + strings.TrimSpace(*m.SentBy)
		}
		return "Note"
	}
	return string(m.Author)
}

// textRenderer writes TEXT transcripts.
type textRenderer struct{}

func (textRenderer) begin(w *transcriptWriter, c *ent.Conversation, count int) {
	who := "an unnamed contact"
	if ct := c.Edges.Contact; ct != nil {
		who = "PSID " + ct.Psid
		if ct.Name != nil && strings.TrimSpace(*ct.Name) != "" {
			who = strings.TrimSpace(*ct.Name) + " (" + who + ")"
		}
	}
	fmt.Fprintf(w, "Conversation %d with %s\n", c.ID, who)
	var about []string
	if a := c.Edges.Agent; a != nil {
		about = append(about, "Agent: "+a.Name)
	}
	if ch := c.Edges.Channel; ch != nil && ch.PageName != nil {
		about = append(about, "Page: "+*ch.PageName)
	}
	about = append(about, "Status: "+string(c.Status))
	if len(c.Tags) > 0 {
		about = append(about, "Tags: "+strings.Join(c.Tags, ", "))
	}
	w.WriteString(strings.Join(about, " | "))
	fmt.Fprintf(w, "\n%d messages\n", count)
}

func (textRenderer) entry(w *transcriptWriter, e transcriptMessage) {
	fmt.Fprintf(w, "\n[%s] %s:", e.CreatedAt.Format(transcriptTime), e.AuthorLabel)
	if e.Text != "" {
		lines := strings.Split(strings.ReplaceAll(e.Text, "\r\n", "\n"), "\n")
		w.WriteString(" " + lines[0])
		for _, l := range lines[1:] {
			w.WriteString("\n    " + l)
		}
	}
	w.WriteString("\n")
	for _, a := range e.Attachments {
		fmt.Fprintf(w, "    [%s] %s\n", a.Type, a.URL)
	}
	switch e.DeliveryStatus {
	case message.DeliveryStatusFAILED:
		fmt.Fprintf(w, "    (not delivered: %s)\n", oneLine(deref(e.Error, "unknown reason")))
	case message.DeliveryStatusPENDING:
		w.WriteString("    (not sent yet)\n")
	}
	if e.Author == message.AuthorBOT && e.Answered != nil && !*e.Answered {
		w.WriteString("    (no answer in the knowledge base)\n")
	}
	if len(e.Citations) > 0 {
		w.WriteString("    Sources:\n")
		for _, ci := range e.Citations {
			fmt.Fprintf(w, "    - %s: %s\n", deref(ci.Source, "(deleted source)"), oneLine(ci.Snippet))
		}
	}
}

func (textRenderer) end(*transcriptWriter) {}

// jsonRenderer writes JSON transcripts: what json.Encoder with a two-space
// indent makes of the whole array, one element at a time.
type jsonRenderer struct {
	n   int
	buf bytes.Buffer
	enc *json.Encoder
}

func (r *jsonRenderer) begin(w *transcriptWriter, _ *ent.Conversation, _ int) {
	r.enc = json.NewEncoder(&r.buf)
	r.enc.SetEscapeHTML(false)
	r.enc.SetIndent("  ", "  ")
	w.WriteString("[")
}

func (r *jsonRenderer) entry(w *transcriptWriter, e transcriptMessage) {
	r.buf.Reset()
	if err := r.enc.Encode(e); err != nil {
		if w.err == nil {
			w.err = err
		}
		return
	}
	if r.n == 0 {
		w.WriteString("\n  ")
	} else {
		w.WriteString(",\n  ")
	}
	r.n++
	w.Write(bytes.TrimSuffix(r.buf.Bytes(), []byte("\n")))
}

func (r *jsonRenderer) end(w *transcriptWriter) {
	if r.n == 0 {
		w.WriteString("]\n")
		return
	}
	w.WriteString("\n]\n")
}

// csvRenderer writes CSV transcripts.
type csvRenderer struct{ cw *csv.Writer }

func (r *csvRenderer) begin(w *transcriptWriter, _ *ent.Conversation, _ int) {
	r.cw = csv.NewWriter(w)
	r.cw.Write(CSVHeader)
}

func (r *csvRenderer) entry(w *transcriptWriter, e transcriptMessage) {
	atts := make([]string, len(e.Attachments))
	for i, a := range e.Attachments {
		atts[i] = strings.TrimSpace(a.Type + " " + a.URL)
	}
	cites := make([]string, len(e.Citations))
	for i, ci := range e.Citations {
		cites[i] = deref(ci.Source, "(deleted source)") + ": " + oneLine(ci.Snippet)
	}
	answered := ""
	if e.Answered != nil {
		answered = strconv.FormatBool(*e.Answered)
	}
	// Errors stick in w (or in the csv.Writer, reported by end).
	r.cw.Write([]string{
		e.ID, e.CreatedAt.Format(time.RFC3339Nano), string(e.Direction), string(e.Author),
		csvCell(e.AuthorLabel), csvCell(e.Text), csvCell(strings.Join(atts, "; ")),
		csvCell(strings.Join(cites, "; ")), string(e.DeliveryStatus), csvCell(deref(e.Error, "")),
		answered, deref(e.InReplyToID, ""),
	})
}

func (r *csvRenderer) end(w *transcriptWriter) {
	r.cw.Flush()
	if err := r.cw.Error(); err != nil && w.err == nil {
		w.err = err
	}
}

// csvCell defuses spreadsheet formulas: message text comes from anyone who
// writes to the Page, and staff open exports in spreadsheets (OWASP's
// advice on CSV injection).
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
