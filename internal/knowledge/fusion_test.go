package knowledge

import (
	"math"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFuseRRF(t *testing.T) {
	for _, tt := range []struct {
		name  string
		lists [][]Hit
		want  []Hit
	}{
		{
			name: "agreement beats a single first place",
			lists: [][]Hit{
				{{ID: 1, Score: 12.5}, {ID: 2, Score: 9}, {ID: 3, Score: 1}},
				{{ID: 3, Score: 0.91}, {ID: 1, Score: 0.90}, {ID: 4, Score: 0.2}},
			},
			want: []Hit{
				{ID: 1, Score: 1.0/61 + 1.0/62},
				{ID: 3, Score: 1.0/63 + 1.0/61},
				{ID: 2, Score: 1.0 / 62},
				{ID: 4, Score: 1.0 / 63},
			},
		},
		{
			name:  "a repeated id counts once per list",
			lists: [][]Hit{{{ID: 7}, {ID: 7}, {ID: 8}}},
			want:  []Hit{{ID: 7, Score: 1.0 / 61}, {ID: 8, Score: 1.0 / 63}},
		},
		{
			name:  "ties by id",
			lists: [][]Hit{{{ID: 5}}, {{ID: 2}}},
			want:  []Hit{{ID: 2, Score: 1.0 / 61}, {ID: 5, Score: 1.0 / 61}},
		},
		{name: "nothing", lists: nil, want: []Hit{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := FuseRRF(tt.lists...)
			require.Len(t, got, len(tt.want))
			for i := range got {
				require.Equal(t, tt.want[i].ID, got[i].ID)
				require.InDelta(t, tt.want[i].Score, got[i].Score, 1e-12)
			}
		})
	}
}

func TestCosine(t *testing.T) {
	for _, tt := range []struct {
		name string
		a, b []float32
		want float64
	}{
		{"same", []float32{1, 2, 3}, []float32{1, 2, 3}, 1},
		{"scaled", []float32{1, 2, 3}, []float32{2, 4, 6}, 1},
		{"orthogonal", []float32{1, 0}, []float32{0, 1}, 0},
		{"opposite", []float32{1, -1}, []float32{-1, 1}, -1},
		{"45 degrees", []float32{1, 0}, []float32{1, 1}, 1 / math.Sqrt2},
		{"length mismatch", []float32{1, 2}, []float32{1, 2, 3}, 0},
		{"zero vector", []float32{0, 0}, []float32{1, 1}, 0},
		{"empty", nil, nil, 0},
		{"NaN", []float32{float32(math.NaN()), 1}, []float32{1, 1}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			require.InDelta(t, tt.want, Cosine(tt.a, tt.b), 1e-6)
		})
	}
}
