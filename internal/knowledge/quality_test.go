package knowledge

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent/knowledgesource"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// Retrieval quality over one agent that knows all the Harbor Bikes files
// plus a café menu and a membership FAQ written for this test. The floors
// are what the retrieval measured when it was written; a change that
// lowers them makes the bot worse.
const (
	minHitAt3 = 1.0 // share of answerable questions with a right source in the top 3 passages
	// minAnswered is the share of answerable questions answered, lexical
	// only, with the Offline responder. It was 0.84 at a MinScore of 0.5;
	// DefaultMinScore is now 0.6, calibrated on bench/eval so that a wrong
	// answer is rarer than a missed one, and three questions that cover
	// just over half of their terms ("What time do you open on Saturday?",
	// 0.54) now get the fallback instead (0.816).
	minAnswered = 0.81
)

// cafeMenu is a plain text, added with AddText.
const cafeMenu = `The Spoke Café is the coffee bar inside Harbor Bikes, next to the workshop.

The café opens at 7:30am on weekdays and at 9am on Saturdays, an hour before the shop, and closes with the shop.

Drinks: espresso $3, cappuccino or flat white $4.50, iced coffee $5, fresh orange juice $4. Oat, soy and almond milk at no extra charge.

Food: the breakfast burrito ($8.50) is served until 11am. Avocado toast $9. Banana bread $3.50, baked every morning. The grilled cheese sandwich ($7) is vegetarian; ask for the vegan version with dairy-free cheese.

Free Wi-Fi for guests: the password is printed on your receipt. Riders in a club jersey get 10% off. We do not take reservations; tables are first come, first served.`

// clubFAQ is added with AddFAQ.
var clubFAQ = []FAQPair{
	{"What is the Harbor Club?", "Our membership for regular riders. It costs $120 a year or $12 a month."},
	{"What do members get?", "Two free tune-ups a year, 15% off parts and accessories, and 10% off rentals."},
	{"How do I cancel my membership?", "Cancel any time at the front desk or by email to club@harborbikes.example. Monthly plans stop at the end of the month; yearly plans are refunded pro rata."},
	{"Can I share my membership?", "A membership is personal. The family plan covers up to four people living together for $200 a year."},
	{"Does the membership include theft insurance?", "Insurance is not included, but members get 20% off theft cover with our partner InsureCycle."},
}

// qualityQuestion is a question and the sources that answer it.
type qualityQuestion struct {
	question string
	sources  []string // keys of the sources that hold the answer; none: the knowledge base has no answer
}

var qualityQuestions = []qualityQuestion{
	{"What time do you open on Saturday?", []string{"pdf", "html", "csv"}},
	{"Are you open on Sundays?", []string{"pdf", "html", "csv"}},
	{"How long do I have to return an item?", []string{"pdf", "html", "csv"}},
	{"Can I get a refund for a gift card?", []string{"html"}},
	{"Are custom-built wheels refundable?", []string{"html"}},
	{"How much does standard shipping cost?", []string{"pdf", "csv"}},
	{"Do you ship complete bikes?", []string{"pdf"}},
	{"Is delivery free?", []string{"html", "csv"}},
	{"How much is a basic tune-up?", []string{"pdf", "docx"}},
	{"How much does a full overhaul cost?", []string{"docx"}},
	{"How long do repairs take?", []string{"pdf", "csv"}},
	{"Do I need an appointment to fix a flat tire?", []string{"docx"}},
	{"What does the warranty cover?", []string{"docx", "csv"}},
	{"How do I make a warranty claim?", []string{"docx"}},
	{"How much is it to rent an e-bike for a full day?", []string{"md"}},
	{"Are helmets included with a rental?", []string{"md"}},
	{"How much is the deposit?", []string{"md"}},
	{"What happens if I lose the lock?", []string{"md"}},
	{"When does the rental desk close in winter?", []string{"md"}},
	{"What is your emergency phone number?", []string{"md"}},
	{"What is the address of the shop?", []string{"docx", "html"}},
	{"When will my refund be paid back?", []string{"pdf"}},
	{"Can I return a bike I have ridden?", []string{"pdf", "csv"}},
	{"Do you ship abroad to other countries?", []string{"html"}},
	{"How much is a flat tire repair?", []string{"pdf", "md"}},
	{"Are children's bikes cheaper to rent?", []string{"md"}},
	{"Is the workshop open late in summer?", []string{"pdf"}},
	{"How much is a cappuccino?", []string{"cafe"}},
	{"Do you have vegan food?", []string{"cafe"}},
	{"When does the café open?", []string{"cafe"}},
	{"Is there Wi-Fi in the café?", []string{"cafe"}},
	{"Can I reserve a table?", []string{"cafe"}},
	{"Until when is breakfast served?", []string{"cafe"}},
	{"How much does the Harbor Club membership cost?", []string{"club"}},
	{"How do I cancel my membership?", []string{"club"}},
	{"Can I share my membership with my family?", []string{"club"}},
	{"Do members get free tune-ups?", []string{"club"}},
	{"Is theft insurance included?", []string{"club"}},

	// Nothing in the knowledge base answers these.
	{"Do you rent kayaks?", nil},
	{"Can I bring my dog?", nil},
	{"What's the weather like tomorrow?", nil},
	{"Who won the football match last night?", nil},
	{"Is there parking nearby?", nil},
	{"Do you sell car tires?", nil},
}

func TestRetrievalQuality(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, nil, Options{})
		e.run(e.svc)
		sources := map[int]string{} // source id → key
		for key, file := range map[string]string{
			"pdf": "harbor-bikes.pdf", "docx": "harbor-bikes.docx", "html": "harbor-bikes.html",
			"md": "harbor-bikes.md", "csv": "harbor-bikes-faq.csv",
		} {
			src := e.wait(e.upload(e.agent, file).ID)
			require.Equal(t, knowledgesource.StatusREADY, src.Status)
			sources[src.ID] = key
		}
		cafe, err := e.svc.AddText(e.owner, e.agent, "Spoke Café menu", cafeMenu)
		require.NoError(t, err)
		sources[cafe.ID] = "cafe"
		club, err := e.svc.AddFAQ(e.owner, e.agent, "Harbor Club membership", clubFAQ)
		require.NoError(t, err)
		sources[club.ID] = "club"

		var answerable, hits, top1, answered int
		var rr float64
		for _, q := range qualityQuestions {
			results, err := e.svc.retrieve(e.owner, st.Client, e.agent, q.question, nil)
			require.NoError(t, err)
			var ranked []string
			for _, r := range results {
				ranked = append(ranked, fmt.Sprintf("%s:%.2f", sources[r.chunk.sourceID], r.score))
			}
			ans, err := e.svc.Answer(e.owner, e.agent, q.question, nil)
			require.NoError(t, err)

			if q.sources == nil {
				require.False(t, ans.Answered, "%q has no answer in the knowledge base, but got %q (retrieved %v)",
					q.question, ans.Text, ranked)
				continue
			}
			answerable++
			rank := slices.IndexFunc(results, func(r result) bool { return slices.Contains(q.sources, sources[r.chunk.sourceID]) })
			switch {
			case rank < 0 || rank >= 3:
				t.Logf("miss: %q wants %v, retrieved %v", q.question, q.sources, ranked)
			default:
				hits++
				rr += 1 / float64(rank+1)
				if rank == 0 {
					top1++
				}
			}
			if ans.Answered {
				answered++
				require.NotEmpty(t, ans.Citations)
			} else {
				t.Logf("unanswered: %q (retrieved %v)", q.question, ranked)
			}
		}
		require.GreaterOrEqual(t, answerable, 30)
		hitAt3 := float64(hits) / float64(answerable)
		answeredShare := float64(answered) / float64(answerable)
		t.Logf("%d answerable questions: hit@3 %.3f, hit@1 %.3f, MRR@3 %.3f, answered %.3f; %d unanswerable questions declined",
			answerable, hitAt3, float64(top1)/float64(answerable), rr/float64(answerable), answeredShare,
			len(qualityQuestions)-answerable)
		require.GreaterOrEqual(t, hitAt3, minHitAt3, "retrieval got worse")
		require.GreaterOrEqual(t, answeredShare, minAnswered, "fewer questions are answered")
	})
}
