package knowledge

import (
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"unicode"

	"github.com/seachat/seachat/internal/text"
)

// Header names that mark the question and answer columns of an FAQ sheet,
// folded (lower case, no accents), in the languages SeaChat reads: English,
// German, Spanish, French, Italian and Portuguese.
var (
	questionHeaders = headerSet(`question questions q faq faqs query frage fragen pregunta preguntas
		domanda domande pergunta perguntas`)
	answerHeaders = headerSet(`answer answers a response reply antwort antworten respuesta respuestas
		reponse reponses risposta risposte resposta respostas`)
)

func headerSet(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// faqColumn returns the folded header name of a column, without the
// punctuation people put around it ("¿Pregunta?", "Réponse :").
func faqColumn(h string) string {
	return text.Fold(strings.TrimFunc(h, func(r rune) bool { return !unicode.IsLetter(r) }))
}

// extractCSV reads a spreadsheet export. When the header names question
// and answer columns each row is an FAQ pair; otherwise each row becomes a
// paragraph of "column: value" lines so that the column names stay next
// to their values.
func extractCSV(name, s string) (Document, error) {
	r := csv.NewReader(strings.NewReader(s))
	r.Comma = csvDelimiter(s)
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return Document{}, nil
	}
	if err != nil {
		return Document{}, corrupt(name, err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	qCol, aCol := -1, -1
	for i, h := range header {
		h = faqColumn(h)
		switch {
		case questionHeaders[h] && qCol < 0:
			qCol = i
		case answerHeaders[h] && aCol < 0:
			aCol = i
		}
	}

	var doc Document
	var paras []string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return Document{}, corrupt(name, err)
		}
		if qCol >= 0 && aCol >= 0 {
			doc.FAQ = append(doc.FAQ, FAQPair{Question: field(rec, qCol), Answer: field(rec, aCol)})
			continue
		}
		var lines []string
		for i, v := range rec {
			v = strings.TrimSpace(v)
			if v == "" {
				continue
			}
			if i < len(header) && header[i] != "" {
				v = header[i] + ": " + v
			}
			lines = append(lines, v)
		}
		if len(lines) > 0 {
			paras = append(paras, strings.Join(lines, "\n"))
		}
	}
	if len(paras) > 0 {
		doc.Sections = []Section{{Text: strings.Join(paras, "\n\n")}}
	}
	return doc, nil
}

// csvDelimiter guesses the separator from the first line: spreadsheet
// exports use ';' where ',' is the decimal mark, and tabs are common too.
func csvDelimiter(s string) rune {
	first, _, _ := strings.Cut(s, "\n")
	best, n := ',', strings.Count(first, ",")
	for _, d := range []rune{';', '\t'} {
		if c := strings.Count(first, string(d)); c > n {
			best, n = d, c
		}
	}
	return best
}

// field returns rec[i], or "" when the row is short.
func field(rec []string, i int) string {
	if i < len(rec) {
		return rec[i]
	}
	return ""
}
