package conversation

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/apperr"
	"github.com/seachat/seachat/internal/budget"
)

func TestTranscriptWriter(t *testing.T) {
	t.Run("its own limit", func(t *testing.T) {
		w := &transcriptWriter{ctx: context.Background(), limit: 100}
		_, err := w.WriteString(strings.Repeat("x", 60))
		require.NoError(t, err)
		_, err = w.Write([]byte(strings.Repeat("x", 60)))
		require.ErrorIs(t, err, apperr.InvalidArgument)
		require.Equal(t, "the transcript is larger than 100 bytes: read the conversation in pages with "+
			"Conversation.messages(first, after) instead", apperr.Message(err))
		_, err = w.WriteString("x")
		require.Error(t, err, "a failed writer stays failed")
		require.Equal(t, 60, w.b.Len(), "nothing past the limit is kept")
		require.Error(t, w.close())
	})
	t.Run("the request's budget", func(t *testing.T) {
		b := budget.New(100 << 10)
		w := &transcriptWriter{ctx: budget.NewContext(context.Background(), b), limit: MaxTranscriptBytes}
		chunk := strings.Repeat("x", 1<<10)
		var err error
		for i := 0; err == nil && i < 1000; i++ {
			_, err = w.WriteString(chunk)
		}
		require.True(t, b.Is(err), "got %v", err)
		require.LessOrEqual(t, w.b.Len(), 100<<10+budgetChunk, "stopped within a chunk of the budget")
	})
	t.Run("what is left is charged on close", func(t *testing.T) {
		b := budget.New(1 << 20)
		w := &transcriptWriter{ctx: budget.NewContext(context.Background(), b), limit: MaxTranscriptBytes}
		w.WriteString("hello")
		require.Zero(t, b.Used(), "charged a chunk at a time")
		require.NoError(t, w.close())
		require.Equal(t, int64(5), b.Used())
	})
}
