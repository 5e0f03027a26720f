package budget_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/budget"
)

func TestBudget(t *testing.T) {
	b := budget.New(10)
	ctx := budget.NewContext(context.Background(), b)
	require.NoError(t, budget.Spend(ctx, 10))
	require.False(t, b.Exceeded())

	inner, m := budget.WithMeter(ctx)
	deeper, m2 := budget.WithMeter(inner)
	err := budget.Spend(deeper, 1)
	require.ErrorIs(t, err, apperr.InvalidArgument)
	require.Equal(t, "the response would be larger than 10 bytes: ask for fewer fields, fewer transcripts "+
		"or smaller pages (first/last) per request", apperr.Message(err))
	require.True(t, b.Is(fmt.Errorf("wrapped: %w", err)))
	require.True(t, b.Exceeded())
	require.Error(t, b.Spend(0), "an exceeded budget stays exceeded")
	require.Equal(t, int64(1), m2.Spent(), "the innermost meter counts")
	require.Zero(t, m.Spent(), "outer meters do not")
	require.Equal(t, int64(11), b.Used())

	var none *budget.Budget
	require.NoError(t, none.Spend(1<<40), "no budget, no limit")
	require.NoError(t, budget.Spend(context.Background(), 1<<40))
	require.False(t, none.Exceeded())
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{
		100: "100 bytes", 2048: "2 KiB", 16 << 20: "16 MiB", 3 << 19: "1.5 MiB", 50000: "50000 bytes",
	} {
		require.Equal(t, want, budget.Size(n))
	}
}
