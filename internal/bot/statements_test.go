package bot_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent"
	ct "github.com/seachat/seachat/internal/conversation/conversationtest"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/store/storetest"
)

// statementLog records the SQL statements an ent client runs, counting
// BEGIN and COMMIT (or ROLLBACK) as one each: every one is a round trip.
type statementLog struct {
	mu    sync.Mutex
	stmts []string
}

func (l *statementLog) log(_ context.Context, args ...any) {
	msg := fmt.Sprint(args...)
	for _, s := range []string{"Query: ", "Exec: ", "): started", "): committed", "): rollbacked"} {
		if strings.Contains(msg, s) {
			l.mu.Lock()
			l.stmts = append(l.stmts, msg)
			l.mu.Unlock()
			return
		}
	}
}

// take returns the statements logged since the last take.
func (l *statementLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := l.stmts
	l.stmts = nil
	return out
}

// TestReplyStatements bounds the SQL round trips of one bot reply: storing
// the question, reading the history, storing the answer, and the outbox
// finding the reply (and its conversation and contact), sending it, and
// finding nothing more to send.
// A new conversation costs more (the contact and conversation are created).
// The fixture's sender and knowledge base use no database, so the count is
// the bot's and the conversation service's alone. The bounds leave a little
// room, so that a regression of a few statements fails.
func TestReplyStatements(t *testing.T) {
	storetest.Run(t, func(t *testing.T, st *store.Store) {
		stmts := &statementLog{}
		st.Client = ent.NewClient(ent.Driver(dialect.DebugWithContext(entsql.OpenDB(st.Dialect, st.DB), stmts.log)))
		e := newEnv(t, st)
		for _, tt := range []struct {
			name, mid string
			at        time.Time
			max       int
		}{
			{"new conversation", "m1", ct.Start, 31},                       // 29 with the outbox, 25 before it, 34 before that
			{"existing conversation", "m2", ct.Start.Add(time.Minute), 25}, // 23 with the outbox, 20 before it, 36 before that
		} {
			stmts.take()
			e.process(t, ct.Text("u1", tt.mid, "Do you rent e-bikes?", tt.at))
			got := stmts.take()
			t.Logf("%s: %d statements", tt.name, len(got))
			if len(got) > tt.max {
				for _, s := range got {
					t.Log(s)
				}
			}
			require.LessOrEqual(t, len(got), tt.max, tt.name)
		}
		require.Len(t, e.Graph.Sent(), 2)
	})
}
