// Package eval measures the quality of SeaChat's answers: it feeds labelled
// customer messages to the real bot over knowledge bases of fictional
// businesses and scores what would have been sent, beside a plain BM25
// baseline. `make eval` runs it (bench/cmd/eval); bench/README.md explains
// the data set and the rules for changing it.
package eval

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/seachat/seachat/internal/knowledge"
)

// Labels: what the bot should do with a message.
const (
	LabelAnswer    = "answer"    // answer from the knowledge base, with every fact
	LabelFallback  = "fallback"  // the knowledge base does not say: the fallback message
	LabelHandoff   = "handoff"   // the person asks for a human
	LabelSmallTalk = "smalltalk" // a greeting, thanks or goodbye
)

// Splits of the messages. Figures are tuned on SplitTune only; SplitHeldOut
// is read, never tuned on.
const (
	SplitTune    = "tune"
	SplitHeldOut = "heldout"
)

// Events a message arrives as; the default is a typed text.
const (
	EventText       = "text"
	EventQuickReply = "quick_reply" // the "Talk to a human" quick reply
	EventPostback   = "postback"    // the "Talk to a human" button of the persistent menu
)

// Agent is how the business set up its agent.
type Agent struct {
	Name            string `json:"name"`
	FallbackMessage string `json:"fallbackMessage"`
	HandoffMessage  string `json:"handoffMessage"`
}

// Message is one labelled customer message.
type Message struct {
	ID    string `json:"id"`
	Text  string `json:"text"`
	Event string `json:"event,omitempty"`
	Label string `json:"label"`
	// Facts must all appear in an answer (ignoring case and accents);
	// Source is the document, in the business's folder, that holds them.
	Facts  []string `json:"facts,omitempty"`
	Source string   `json:"source,omitempty"`
	// Tags: "staff" marks a message that mentions people or staff without
	// asking for a human.
	Tags  []string `json:"tags,omitempty"`
	Split string   `json:"split"`
}

// Set is the messages of one language, asked of one business.
type Set struct {
	Language string    `json:"language"`
	Business string    `json:"business"` // folder under kb/
	Agent    Agent     `json:"agent"`
	Messages []Message `json:"messages"`

	// Docs maps a document's file name to its path; filled by Load.
	Docs map[string]string `json:"-"`
}

// Load reads every messages/*.json under dir (bench/eval), in file name
// order, with the documents of each set's business under dir/kb.
func Load(dir string) ([]*Set, error) {
	files, err := filepath.Glob(filepath.Join(dir, "messages", "*.json"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no messages/*.json under %s", dir)
	}
	sort.Strings(files)
	var sets []*Set
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		s := &Set{}
		if err := dec.Decode(s); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		docs, err := os.ReadDir(filepath.Join(dir, "kb", s.Business))
		if err != nil {
			return nil, fmt.Errorf("%s: business %q: %w", f, s.Business, err)
		}
		s.Docs = map[string]string{}
		for _, d := range docs {
			if !d.IsDir() {
				s.Docs[d.Name()] = filepath.Join(dir, "kb", s.Business, d.Name())
			}
		}
		sets = append(sets, s)
	}
	return sets, nil
}

// DocText returns the text SeaChat reads from a document: its sections and
// FAQ pairs, through the real extractor.
func DocText(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	doc, err := knowledge.Extract(filepath.Base(path), "", f, 0)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString(doc.Title + "\n")
	for _, s := range doc.Sections {
		b.WriteString(s.Heading + "\n" + s.Text + "\n")
	}
	for _, p := range doc.FAQ {
		b.WriteString(p.Question + "\n" + p.Answer + "\n")
	}
	return b.String(), nil
}

// Validate checks a set's own integrity: unique ids, known labels, splits
// and events, and that every fact of an answer appears in the text SeaChat
// extracts from its source document, and in no other document of the
// business.
func (s *Set) Validate() error {
	var errs []string
	texts := map[string]string{} // document name → extracted text
	for name, path := range s.Docs {
		text, err := DocText(path)
		if err != nil {
			errs = append(errs, fmt.Sprintf("reading %s: %v", name, err))
		}
		texts[name] = text
	}
	seen := map[string]bool{}
	for _, m := range s.Messages {
		fail := func(format string, args ...any) {
			errs = append(errs, m.ID+": "+fmt.Sprintf(format, args...))
		}
		if m.ID == "" || seen[m.ID] {
			fail("missing or repeated id")
		}
		seen[m.ID] = true
		if strings.TrimSpace(m.Text) == "" {
			fail("no text")
		}
		if !slices.Contains([]string{"", EventText, EventQuickReply, EventPostback}, m.Event) {
			fail("unknown event %q", m.Event)
		}
		if m.Split != SplitTune && m.Split != SplitHeldOut {
			fail("split %q is neither %q nor %q", m.Split, SplitTune, SplitHeldOut)
		}
		switch m.Label {
		case LabelAnswer:
			if _, ok := s.Docs[m.Source]; !ok {
				fail("source %q is not a document of %s", m.Source, s.Business)
				continue
			}
			if len(m.Facts) == 0 {
				fail("an answer needs at least one fact")
			}
			// Each fact has one home: a reply drawn from another document
			// must not pass for right.
			for _, f := range m.Facts {
				if !Contains(texts[m.Source], f) {
					fail("fact %q is not in %s", f, m.Source)
				}
				for name, text := range texts {
					if name != m.Source && Contains(text, f) {
						fail("fact %q is in %s too, not only in %s", f, name, m.Source)
					}
				}
			}
		case LabelFallback, LabelHandoff, LabelSmallTalk:
			if len(m.Facts) > 0 || m.Source != "" {
				fail("a %s has no facts or source", m.Label)
			}
		default:
			fail("unknown label %q", m.Label)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s: %s", s.Language, strings.Join(errs, "; "))
	}
	return nil
}

// fold lowercases s, drops accents, and turns dashes and unusual spaces
// into plain ones, for matching facts.
func fold(s string) string {
	var b strings.Builder
	space := false
	for _, r := range strings.ToLower(s) {
		if f, ok := folds[r]; ok {
			r = f
		}
		switch r {
		case 'ß':
			b.WriteString("ss")
			space = false
			continue
		case ' ', '\t', '\n', '\r', '\u00a0', '\u202f', '\u2009':
			if !space {
				b.WriteByte(' ')
			}
			space = true
			continue
		}
		space = false
		b.WriteRune(r)
	}
	return strings.TrimSpace(b.String())
}

var folds = map[rune]rune{
	'á': 'a', 'à': 'a', 'â': 'a', 'ä': 'a', 'ã': 'a', 'å': 'a',
	'é': 'e', 'è': 'e', 'ê': 'e', 'ë': 'e',
	'í': 'i', 'ì': 'i', 'î': 'i', 'ï': 'i',
	'ó': 'o', 'ò': 'o', 'ô': 'o', 'ö': 'o', 'õ': 'o',
	'ú': 'u', 'ù': 'u', 'û': 'u', 'ü': 'u',
	'ñ': 'n', 'ç': 'c', 'ÿ': 'y',
	'–': '-', '—': '-', '‑': '-', '‐': '-',
	'’': '\'', '‘': '\'', '“': '"', '”': '"', '„': '"',
}

// Contains reports whether fact appears in text, ignoring case, accents
// and differences in spaces and dashes.
func Contains(text, fact string) bool {
	return strings.Contains(fold(text), fold(fact))
}
