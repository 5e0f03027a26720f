package llm

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var shop = []Passage{
	{SourceID: 1, Title: "Shipping", Text: `We ship to all 50 US states and to Canada. Standard shipping takes
3–5 business days and is free on orders over $50. Express shipping (1–2 business days) costs $15.
You will receive a tracking number by email once your order ships.`},
	{SourceID: 2, Title: "Returns and refunds", Text: `You can return unworn items within 30 days of delivery for a full refund.
Sale items are final sale and cannot be returned. To start a return, email support@acme.example with your order number.
Refunds are issued to the original payment method within 5–7 business days after we receive the item.`},
	{SourceID: 3, Title: "Store", Text: `Q: What are your opening hours?
A: Our Lisbon store is open Monday to Friday from 9 a.m. to 6 p.m. and Saturday from 10 a.m. to 2 p.m.
We are closed on Sundays and public holidays.
Q: Where is the store?
A: Rua Augusta 120, Lisbon.`},
}

func TestOffline(t *testing.T) {
	for _, tt := range []struct {
		name     string
		question string
		passages []Passage
		want     Reply
	}{
		{"shipping time", "How long does shipping take?", shop, Reply{
			Text:     "Standard shipping takes 3–5 business days and is free on orders over $50.",
			Answered: true, Used: []int{0},
		}},
		{"return policy", "What is your return policy?", shop, Reply{
			Text:     "You can return unworn items within 30 days of delivery for a full refund.",
			Answered: true, Used: []int{1},
		}},
		{"faq answer", "When are you open on Saturday?", shop, Reply{
			Text:     "Our Lisbon store is open Monday to Friday from 9 a.m. to 6 p.m. and Saturday from 10 a.m. to 2 p.m. We are closed on Sundays and public holidays.",
			Answered: true, Used: []int{2},
		}},
		{"faq question decides", "where's your store?", shop, Reply{
			Text: "Rua Augusta 120, Lisbon.", Answered: true, Used: []int{2},
		}},
		{"refund of sale items", "Can I get a refund for sale items?", shop, Reply{
			Text:     "Sale items are final sale and cannot be returned.",
			Answered: true, Used: []int{1},
		}},
		{"not in the passages", "Do you sell gift cards?", shop, Reply{}},
		{"only stopwords", "Hi! Can you help me please?", shop, Reply{}},
		{"no passages", "How long does shipping take?", nil, Reply{}},
		{"list under a heading", "What are the opening hours?", []Passage{{Text: "Opening hours:\n- Mon–Fri: 9:00–18:00\n- Sat: 10:00–14:00\n\nParking is free."}}, Reply{
			Text: "Opening hours: Mon–Fri: 9:00–18:00; Sat: 10:00–14:00", Answered: true, Used: []int{0},
		}},
		{"overlapping chunks", "Is express shipping available?", []Passage{
			{Text: "Express shipping costs $15."}, {Text: "Express shipping costs $15. Standard is free."},
		}, Reply{Text: "Express shipping costs $15.", Answered: true, Used: []int{0}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Offline{}.Respond(context.Background(), Prompt{Question: tt.question, Passages: tt.passages})
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestOfflineLength(t *testing.T) {
	long := strings.Repeat("Shipping is handled by our partner carrier in every region ", 30) + "."
	got, err := Offline{MaxChars: 100}.Respond(context.Background(), Prompt{
		Question: "shipping?", Passages: []Passage{{Text: long}, {Text: "Shipping is free."}},
	})
	require.NoError(t, err)
	require.True(t, got.Answered)
	require.LessOrEqual(t, len([]rune(got.Text)), 100)
	require.True(t, strings.HasSuffix(got.Text, "…"), got.Text)
	require.Equal(t, []int{0}, got.Used)
}

func TestOfflineDeterministic(t *testing.T) {
	p := Prompt{Question: "How much is express shipping to Canada?", Passages: shop}
	first, err := Offline{}.Respond(context.Background(), p)
	require.NoError(t, err)
	for range 50 {
		got, err := Offline{}.Respond(context.Background(), p)
		require.NoError(t, err)
		require.Equal(t, first, got)
	}
}

func TestSentences(t *testing.T) {
	require.Equal(t, []string{
		"We open at 9 a.m. and close at 6 p.m. See e.g. our FAQ at acme.example.", // no split after "p.m."
		"Prices are in U.S. dollars, e.g. $3.50!",
		"Call us.",
	}, sentences("We open at 9 a.m. and close\nat 6 p.m. See e.g. our FAQ at acme.example. Prices are in U.S. dollars, e.g. $3.50! Call us."))
}

func TestOfflineKeepsBestSentence(t *testing.T) {
	filler := "Express shipping partners handle parcels " + strings.Repeat("carefully and quickly ", 20) + "every day."
	got, err := Offline{MaxChars: 300}.Respond(context.Background(), Prompt{
		Question: "How much does express shipping cost?",
		Passages: []Passage{{Title: "Shipping", Text: filler + " Express shipping costs $15."}},
	})
	require.NoError(t, err)
	require.Equal(t, "Express shipping costs $15.", got.Text, "the earlier, longer, weaker sentence does not crowd out the best one")
}

func TestOfflineNeverSaysHeadingsOrTableGlue(t *testing.T) {
	machines := []Passage{{Title: "Maschinen", Text: "UNSERE MASCHINEN\n\nWir verkaufen Siebträgermaschinen und Mühlen.\n\n" +
		"Modell | Bauart | Preis\nMoretti Uno | Einkreiser | 649 €\nMoretti Duo | Dualboiler | 1.390 €\n\nGarantie\n\nAuf alle Maschinen geben wir 3 Jahre Garantie."}}
	for _, tt := range []struct{ question, want string }{
		{"was kostet die moretti duo", "Moretti Duo: Bauart Dualboiler, Preis 1.390 €."},
		{"wie lange garantie auf maschinen", "Auf alle Maschinen geben wir 3 Jahre Garantie."},
	} {
		got, err := Offline{}.Respond(context.Background(), Prompt{Question: tt.question, Passages: machines})
		require.NoError(t, err)
		require.Equal(t, tt.want, got.Text, tt.question)
		require.NotContains(t, got.Text, "|")
		require.NotContains(t, got.Text, "UNSERE")
	}
	require.Equal(t, []block{
		{kind: unitRow, text: "Size M: rider height 165 to 178 cm.", header: "Size rider height"},
		{kind: unitRow, text: "Size L: rider height 178 to 190 cm.", header: "Size rider height"},
	}, tableBlocks([]string{"Size | rider height", "|---|---|", "Size M | 165 to 178 cm", "Size L | 178 to 190 cm"}, ""),
		"a Markdown separator row is skipped")
}

func TestOfflineFAQAnswersOnly(t *testing.T) {
	faq := []Passage{
		{Text: "Frage: Gibt es Gutscheine?\nAntwort: Ja, ab 15 €. Sie sind drei Jahre gültig.\n\nFrage: Kann ich mit Karte zahlen?\nAntwort: Wir nehmen Girocard an."},
		{Text: "pregunta: ¿Puedo pagar a plazos?\nrespuesta: Sí, hasta 12 meses."},
	}
	for _, tt := range []struct{ question, want string }{
		{"wie lange gilt ein gutschein", "Ja, ab 15 €. Sie sind drei Jahre gültig."},
		{"kann ich mit karte zahlen?", "Wir nehmen Girocard an."},
		{"se puede pagar a plazos", "Sí, hasta 12 meses."},
	} {
		got, err := Offline{}.Respond(context.Background(), Prompt{Question: tt.question, Passages: faq})
		require.NoError(t, err)
		require.Equal(t, tt.want, got.Text, tt.question)
	}
	// The customer's question is matched against the FAQ's question: the
	// pair whose question it is wins over one whose answer shares a word.
	got, err := Offline{}.Respond(context.Background(), Prompt{Question: "Do you ship to Canada?", Passages: []Passage{
		{Text: "Q: Do you have a store in Canada?\nA: No, we ship there instead.\nQ: Do you ship to Canada?\nA: Yes, in 5 days."},
	}})
	require.NoError(t, err)
	require.Equal(t, "Yes, in 5 days.", got.Text)
}
