package knowledge

import "math"

// rrfK dampens the weight of top ranks in reciprocal rank fusion; 60 is
// the value from the original paper and what most search engines use.
const rrfK = 60

// FuseRRF merges ranked lists, for example lexical and vector search
// results, by reciprocal rank fusion: each id scores the sum of
// 1/(60+rank) over the lists it appears in, rank counting from 1. Only
// ranks matter, so lists whose scores are on different scales combine
// fairly. The result is ordered best first, ties by lower id; an id
// repeated within one list counts at its best rank only.
func FuseRRF(lists ...[]Hit) []Hit {
	scores := map[int]float64{}
	for _, list := range lists {
		seen := map[int]bool{}
		for i, h := range list {
			if seen[h.ID] {
				continue
			}
			seen[h.ID] = true
			scores[h.ID] += 1 / float64(rrfK+i+1)
		}
	}
	hits := make([]Hit, 0, len(scores))
	for id, s := range scores {
		hits = append(hits, Hit{ID: id, Score: s})
	}
	sortHits(hits)
	return hits
}

// Cosine returns the cosine similarity of two embedding vectors, in
// [-1, 1]. It returns 0 when the vectors differ in length or either is all
// zeros, so a bad vector never looks similar.
func Cosine(a, b []float32) float64 {
	if len(a) != len(b) || len(a) == 0 {
		return 0
	}
	var dot, na, nb float64
	for i := range a {
		x, y := float64(a[i]), float64(b[i])
		dot += x * y
		na += x * x
		nb += y * y
	}
	if na == 0 || nb == 0 {
		return 0
	}
	c := dot / (math.Sqrt(na) * math.Sqrt(nb))
	if math.IsNaN(c) {
		return 0
	}
	return max(-1, min(1, c))
}
