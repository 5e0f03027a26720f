package text_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/text"
)

func TestStemMatchesInflections(t *testing.T) {
	for _, tt := range []struct {
		lang  text.Language
		words []string
	}{
		{text.English, []string{"return", "returns", "returned", "returning"}},
		{text.English, []string{"delivery", "deliveries"}},
		{text.German, []string{"Rückgabe", "rückgabe", "ruckgabe"}},
		{text.German, []string{"Garantie", "Garantien"}},
		{text.German, []string{"kosten", "kostet"}},
		{text.German, []string{"Lieferung", "liefert"}},
		{text.German, []string{"verkaufen", "verkauft"}},
		{text.German, []string{"rösten", "röstet", "geröstet"}},
		{text.Spanish, []string{"devolución", "devoluciones", "devolucion"}},
		{text.Spanish, []string{"montan", "montáis", "montais"}},
		{text.French, []string{"livraison", "livraisons"}},
		{text.Italian, []string{"spedizione", "spedizioni"}},
		{text.Portuguese, []string{"devolução", "devolucao"}},
		{text.Portuguese, []string{"entrega", "entregas"}},
	} {
		want := text.Stem(tt.lang, text.Words(tt.words[0])[0])
		for _, w := range tt.words[1:] {
			require.Equal(t, want, text.Stem(tt.lang, text.Words(w)[0]), "%s %q vs %q", tt.lang, tt.words[0], w)
		}
	}
}

func TestTerms(t *testing.T) {
	require.Equal(t, []string{"warranti", "bike", "batteri"}, // "how long" asks, it does not say what about
		text.Terms(text.English, "How long is the warranty on the e-bike battery?"))
	require.Equal(t, []string{"30", "day"}, text.Terms(text.English, "in 30 days"))
	require.Equal(t, []string{"garanti", "akku"}, text.Terms(text.German, "Wie lange ist die Garantie auf den Akku?"))
	require.Empty(t, text.Terms(text.English, "hi, can you please tell me"))
}

func TestFold(t *testing.T) {
	require.Equal(t, "grosse", text.Fold("Größe"))
	require.Equal(t, "¿donde esta?", text.Fold("¿Dónde está?"))
	require.Equal(t, "plain", text.Fold("Plain"))
}

func TestDetect(t *testing.T) {
	for _, tt := range []struct {
		s    string
		want text.Language
	}{
		{"How long is the warranty on the battery?", text.English},
		{"can i return my bike after 3 weeks", text.English},
		{"Wie lange ist die Garantie auf den Akku?", text.German},
		{"wann habt ihr offen", text.German},
		{"¿Cuánto cuesta el envío a Madrid?", text.Spanish},
		{"puedo devolver la bici", text.Spanish},
		{"Quels sont vos horaires d'ouverture ?", text.French},
		{"quanto costa la spedizione", text.Italian},
		{"qual é o prazo de entrega", text.Portuguese},
		{"E-Bike", text.Unknown},
		{"42", text.Unknown},
	} {
		require.Equal(t, tt.want, text.Detect(tt.s), tt.s)
	}
}

func TestKeys(t *testing.T) {
	require.Equal(t, text.Keys(text.English, "kayak price"), text.Keys(text.English, "how much does a kayak cost"))
	require.Equal(t, []string{"~shipping", "~price"}, text.Keys(text.German, "Versandkosten"), "a compound of two concepts")
	require.Equal(t, []string{"~shipping", "pauschal"}, text.Keys(text.German, "Versandpauschale"))
	require.Equal(t, []string{"~hours"}, text.Keys(text.Spanish, "abris"))
	require.Equal(t, []string{"kayak"}, text.Keys(text.English, "kayaks"), "other words are terms")
}

func TestNearAndSplitCompound(t *testing.T) {
	require.True(t, text.Near("colour", "color"), "one typo")
	require.True(t, text.Near("rent", "rental"), "a longer form")
	require.True(t, text.Near("paddleboard", "paddl"), "a compound's head")
	require.False(t, text.Near("park", "part"), "four letters: no typos")
	require.False(t, text.Near("xolor", "color"), "the first letter is kept")
	require.False(t, text.Near("2024", "2025"), "numbers")
	known := map[string]bool{"paddl": true, "board": true, "life": true, "jacket": true}
	has := func(w string) bool { return known[w] }
	head, tail, ok := text.SplitCompound(text.English, "paddleboard", has)
	require.True(t, ok)
	require.Equal(t, []string{"paddl", "board"}, []string{head, tail})
	_, _, ok = text.SplitCompound(text.English, "lifeguard", has)
	require.False(t, ok, "both parts must be known")
}
