package conversation

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/seachat/seachat/ent"
	entconv "github.com/seachat/seachat/ent/conversation"
	"github.com/seachat/seachat/ent/knowledgesource"
	"github.com/seachat/seachat/ent/message"
	"github.com/seachat/seachat/ent/schema/schematype"
	"github.com/seachat/seachat/internal/apperr"
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
// A conversation outside the viewer's workspace is NotFound.
func (s *Service) Transcript(ctx context.Context, convID int, format TranscriptFormat) (out string, err error) {
	defer apperr.Wrap(&err, "conversation.Transcript(%d, %s)", convID, format)
	c, err := s.client.Conversation.Query().Where(entconv.ID(convID)).
		WithContact().WithAgent().WithChannel().Only(ctx)
	if ent.IsNotFound(err) {
		return "", notFound(convID)
	}
	if err != nil {
		return "", err
	}
	ms, err := c.QueryMessages().Order(ent.Asc(message.FieldID)).All(ctx)
	if err != nil {
		return "", err
	}
	titles, err := s.sourceTitles(ctx, ms)
	if err != nil {
		return "", err
	}
	entries := make([]transcriptMessage, len(ms))
	for i, m := range ms {
		entries[i] = newTranscriptMessage(c, m, titles)
	}
	switch format {
	case TranscriptText:
		return renderText(c, entries), nil
	case TranscriptJSON:
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		err := enc.Encode(entries)
		return b.String(), err
	case TranscriptCSV:
		return renderCSV(entries)
	}
	return "", apperr.Errorf(apperr.InvalidArgument, "format: %q is not TEXT, JSON or CSV", format)
}

// sourceTitles returns the titles of the knowledge sources ms cite that
// still exist, in one query.
func (s *Service) sourceTitles(ctx context.Context, ms []*ent.Message) (map[int]string, error) {
	var ids []int
	for _, m := range ms {
		for _, c := range m.Citations {
			ids = append(ids, c.SourceID)
		}
	}
	titles := map[int]string{}
	if len(ids) == 0 {
		return titles, nil
	}
	srcs, err := s.client.KnowledgeSource.Query().Where(knowledgesource.IDIn(ids...)).
		Select(knowledgesource.FieldID, knowledgesource.FieldTitle).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, src := range srcs {
		titles[src.ID] = src.Title
	}
	return titles, nil
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
// or "Agent Page Inbox" for replies from Meta's tools) and "System".
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
	}
	return string(m.Author)
}

func renderText(c *ent.Conversation, entries []transcriptMessage) string {
	var b strings.Builder
	who := "an unnamed contact"
	if ct := c.Edges.Contact; ct != nil {
		who = "PSID " + ct.Psid
		if ct.Name != nil && strings.TrimSpace(*ct.Name) != "" {
			who = strings.TrimSpace(*ct.Name) + " (" + who + ")"
		}
	}
	fmt.Fprintf(&b, "Conversation %d with %s\n", c.ID, who)
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
	b.WriteString(strings.Join(about, " | "))
	fmt.Fprintf(&b, "\n%d messages\n", len(entries))
	for _, e := range entries {
		fmt.Fprintf(&b, "\n[%s] %s:", e.CreatedAt.Format(transcriptTime), e.AuthorLabel)
		if e.Text != "" {
			lines := strings.Split(strings.ReplaceAll(e.Text, "\r\n", "\n"), "\n")
			b.WriteString(" " + lines[0])
			for _, l := range lines[1:] {
				b.WriteString("\n    " + l)
			}
		}
		b.WriteString("\n")
		for _, a := range e.Attachments {
			fmt.Fprintf(&b, "    [%s] %s\n", a.Type, a.URL)
		}
		switch e.DeliveryStatus {
		case message.DeliveryStatusFAILED:
			fmt.Fprintf(&b, "    (not delivered: %s)\n", oneLine(deref(e.Error, "unknown reason")))
		case message.DeliveryStatusPENDING:
			b.WriteString("    (not sent yet)\n")
		}
		if e.Author == message.AuthorBOT && e.Answered != nil && !*e.Answered {
			b.WriteString("    (no answer in the knowledge base)\n")
		}
		if len(e.Citations) > 0 {
			b.WriteString("    Sources:\n")
			for _, ci := range e.Citations {
				fmt.Fprintf(&b, "    - %s: %s\n", deref(ci.Source, "(deleted source)"), oneLine(ci.Snippet))
			}
		}
	}
	return b.String()
}

func renderCSV(entries []transcriptMessage) (string, error) {
	var buf bytes.Buffer
	w := csv.NewWriter(&buf)
	if err := w.Write(CSVHeader); err != nil {
		return "", err
	}
	for _, e := range entries {
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
		err := w.Write([]string{
			e.ID, e.CreatedAt.Format(time.RFC3339Nano), string(e.Direction), string(e.Author),
			csvCell(e.AuthorLabel), csvCell(e.Text), csvCell(strings.Join(atts, "; ")),
			csvCell(strings.Join(cites, "; ")), string(e.DeliveryStatus), csvCell(deref(e.Error, "")),
			answered, deref(e.InReplyToID, ""),
		})
		if err != nil {
			return "", err
		}
	}
	w.Flush()
	return buf.String(), w.Error()
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
