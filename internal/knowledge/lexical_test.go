package knowledge

import (
	"fmt"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/text"
)

func TestIndexReadsEachTextInItsLanguage(t *testing.T) {
	idx := NewIndex()
	idx.Add(1, "Die Rücksendung ist innerhalb von 14 Tagen kostenlos.")
	idx.Add(2, "Las devoluciones son gratuitas durante 30 días.")
	idx.Add(3, "Returns are free within 45 days of delivery.")
	// Returns are one concept in every language (text.Keys), so each
	// question finds all three; its own language's words put its text first.
	require.Equal(t, 1, idx.Search("Ist die Rücksendung kostenlos?", 5)[0].ID, "German stems")
	require.Equal(t, 2, idx.Search("son gratuitas las devolucion?", 5)[0].ID, "Spanish, typed without accents")
	require.Equal(t, 3, idx.Search("are returns free", 5)[0].ID)
	require.Equal(t, text.English, idx.QueryLanguage("kostenlos"), "too short to tell: the dominant language (first on a tie)")
	idx.Add(4, "Der Versand nach Österreich kostet 9,90 €.")
	require.Equal(t, text.German, idx.Dominant())
	require.Equal(t, text.German, idx.QueryLanguage("versand?"))
	require.Equal(t, text.Spanish, idx.QueryLanguage("cuanto cuesta el envio"))
	require.Equal(t, text.German, idx.QueryLanguage("quanto costa la spedizione"), "no Italian texts: read as the index's language")
}

func TestGermanCompounds(t *testing.T) {
	idx := NewIndex()
	idx.Add(1, "Auf alle Espressomaschinen geben wir 3 Jahre Garantie.")
	idx.Add(2, "Jeden ersten Freitag gibt es eine kostenlose Röstereiführung.")
	idx.Add(3, "Die Maschine ist nach einer Woche wieder bei Ihnen.")
	require.Equal(t, []int{1, 3}, hitIDs(idx.Search("Garantie auf Maschinen?", 5)), "the compound ends with the word")
	require.Equal(t, []int{2}, hitIDs(idx.Search("gibt es eine Führung durch die Rösterei", 5)))
	cov := idx.Coverage("Garantie Maschine", []int{1, 3})
	require.InDelta(t, 0.9, cov[0], 0.05, "a compound counts almost as the word (typoWeight)")
	require.InDelta(t, 0.5, cov[1], 0.01, "the word, not the guarantee")
}

func TestTypos(t *testing.T) {
	idx := NewIndex()
	idx.Add(1, "Each kayak comes in three colors.")
	idx.Add(2, "Our warranty covers the hull for five years.")
	idx.Add(3, "We fix manufacturing defects for free.")
	require.Equal(t, []int{1}, hitIDs(idx.Search("what colours", 5)), "one substitution away")
	require.Equal(t, []int{2}, hitIDs(idx.Search("warrenty", 5)))
	require.Equal(t, []int{3}, hitIDs(idx.Search("manifactoring", 5)), "two edits in a long word")
	require.Empty(t, idx.Search("holl", 5), "short words are not guessed")
	require.Empty(t, idx.Search("xolors", 5), "the first letter is kept")
	typo := idx.Coverage("warrenty", []int{2})[0]
	require.Greater(t, typo, 0.5)
	require.Less(t, typo, idx.Coverage("warranty", []int{2})[0], "a guess counts less than the word")

	require.Equal(t, 1, text.EditDistance("colour", "color", 2))
	require.Equal(t, 2, text.EditDistance("resevration", "reservation", 2))
	require.Equal(t, 2, text.EditDistance("abcdef", "uvwxyz", 1), "stops past the limit")
	idx.Add(4, "Rentals run from May to October.")
	require.Equal(t, []int{4}, hitIDs(idx.Search("can i rent one", 5)), "a word the stemmer left shorter")
	idx.Add(5, "A stand-up paddle board is $30 for 2 hours.")
	require.Equal(t, 5, idx.Search("paddleboard price", 5)[0].ID, "two known words written as one")
}

func TestSearchRanksTheRightChunk(t *testing.T) {
	// One index over the chunks of every Harbor Bikes file, as the bot
	// would search a business's whole knowledge base.
	idx := NewIndex()
	var chunks []Chunk
	for _, doc := range harborDocuments(t) {
		for _, c := range ChunkDocument(doc, ChunkOptions{}) {
			idx.Add(len(chunks), c.Heading+"\n"+c.Text)
			chunks = append(chunks, c)
		}
	}
	require.Equal(t, len(chunks), idx.Len())

	for _, tt := range []struct {
		question string
		want     string // phrase in the top chunk
	}{
		{"Do you ship complete bikes?", "Complete bikes are shipped 90% assembled"},
		{"how do I make a warranty claim", "To make a claim, email warranty@harborbikes.example"},
		{"How much deposit do you hold for a rental?", "deposit of $100"},
		{"When does the rental desk close in winter?", "rental desk closes at 4pm"},
		{"Do you ship internationally, outside the country?", "do not ship outside the country"},
		{"how much does a full overhaul cost", "Full overhaul | $180"},
		{"How long do repairs take?", "How long does a repair take?"},
		{"e-bike rental price for a full day", "E-bike | $40 | $65"},
	} {
		t.Run(tt.question, func(t *testing.T) {
			hits := idx.Search(tt.question, 3)
			require.NotEmpty(t, hits)
			require.Contains(t, chunks[hits[0].ID].Text, tt.want, "top hit is %q", chunks[hits[0].ID].Text)
			for i := 1; i < len(hits); i++ {
				require.GreaterOrEqual(t, hits[i-1].Score, hits[i].Score)
			}
		})
	}
}

func TestIndex(t *testing.T) {
	idx := NewIndex()
	require.Empty(t, idx.Search("bike", 5), "empty index")

	idx.Add(1, "We repair bikes and sell bike parts.")
	idx.Add(2, "Opening hours: 9am to 6pm.")
	idx.Add(3, "A bike.")
	hits := idx.Search("bike repair", 10)
	require.Equal(t, []int{1, 3}, hitIDs(hits), "texts without a query term are left out")
	require.Empty(t, idx.Search("the and of", 10), "stopwords only")
	require.Empty(t, idx.Search("bike", 0))
	require.Len(t, idx.Search("bike", 1), 1)

	// At equal term frequency the shorter text wins.
	idx.Add(4, "bike shop at the harbor on quay street")
	require.Equal(t, []int{3, 1, 4}, hitIDs(idx.Search("bike", 10)))
	// A rare term outweighs a common one.
	require.Equal(t, 4, idx.Search("bike quay", 1)[0].ID)

	// Add replaces; Remove forgets.
	idx.Add(2, "Closed on Sundays.")
	require.Empty(t, idx.Search("opening hours", 10))
	require.Equal(t, []int{2}, hitIDs(idx.Search("sunday", 10)))
	idx.Remove(2)
	idx.Remove(99)
	require.Empty(t, idx.Search("sunday", 10))
	require.Equal(t, 3, idx.Len())

	// Ties are broken by id, so results are stable.
	idx2 := NewIndex()
	idx2.Add(9, "tune-up")
	idx2.Add(5, "tune-up")
	require.Equal(t, []int{5, 9}, hitIDs(idx2.Search("tune up", 10)))
}

func TestIndexConcurrent(t *testing.T) {
	idx := NewIndex()
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := range 200 {
				id := w*1000 + i
				idx.Add(id, fmt.Sprintf("bike %d repair shop harbor", i))
				idx.Search("bike repair", 5)
				if i%3 == 0 {
					idx.Remove(id)
				}
			}
		})
	}
	wg.Wait()
	require.Equal(t, 4*(200-67), idx.Len())
}

func hitIDs(hits []Hit) []int {
	ids := make([]int, len(hits))
	for i, h := range hits {
		ids[i] = h.ID
	}
	return ids
}

// TestIndexCompaction removes most of a large index, which compacts it,
// and checks that it searches exactly like an index of what is left.
func TestIndexCompaction(t *testing.T) {
	idx, fresh := NewIndex(), NewIndex()
	text := func(i int) string {
		return fmt.Sprintf("chunk %d about bikes %d and repairs %d tune-up w%d", i, i%7, i%13, i%101)
	}
	for i := range 5000 {
		idx.Add(i, text(i))
	}
	for i := range 5000 {
		if i%5 != 0 {
			idx.Remove(i)
		} else {
			fresh.Add(i, text(i))
		}
	}
	idx.Add(7, "replaced text about bikes")
	fresh.Add(7, "replaced text about bikes")
	require.Less(t, len(idx.docs), 2000, "not compacted")
	require.Equal(t, fresh.Len(), idx.Len())
	for _, q := range []string{"bikes 3", "repairs 5 w17", "tune-up", "replaced", "chunk 4995"} {
		require.Equal(t, fresh.Search(q, 10), idx.Search(q, 10), q)
	}
	ids := []int{0, 5, 7, 8, 4995}
	require.Equal(t, fresh.Coverage("bikes w0 kayaks", ids), idx.Coverage("bikes w0 kayaks", ids))
}

func TestCoverage(t *testing.T) {
	idx := NewIndex()
	idx.Add(1, "We rent city bikes and e-bikes by the day.")
	idx.Add(2, "Opening hours: 9am to 6pm, closed on Sundays.")
	idx.Add(3, "Bike repairs take two days.")
	got := idx.Coverage("Hi! Can you tell me if you rent bikes, please?", []int{1, 2, 3, 99})
	require.Equal(t, 1.0, got[0], "filler words count for nothing")
	require.Zero(t, got[1])
	require.Greater(t, got[2], 0.0)
	require.Less(t, got[2], 0.5, "bike is common, rent is not")
	require.Zero(t, got[3], "unknown id")

	kayaks := idx.Coverage("Do you rent kayaks?", []int{1})[0]
	require.Less(t, kayaks, 0.5, "a term the index has never seen weighs the most")
	require.Greater(t, kayaks, 0.0)
	require.Equal(t, []float64{0}, idx.Coverage("the and of", []int{1}))
}
