package knowledge

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent"
	"github.com/seachat/seachat/ent/knowledgechunk"
	"github.com/seachat/seachat/ent/knowledgesource"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/llm"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/internal/viewer"
)

// env is a knowledge service on a real database, with two workspaces: A,
// seen by an OWNER and an AGENT token, and B, seen by an OWNER.
type env struct {
	t      *testing.T
	st     *store.Store
	svc    *Service
	logs   *syncBuffer
	sys    context.Context // no viewer, privacy bypassed: the bot's context
	owner  context.Context // OWNER of workspace A
	member context.Context // AGENT role in workspace A
	ownerB context.Context // OWNER of workspace B
	agent  int             // an agent of workspace A
	agentB int             // an agent of workspace B
}

// newEnv returns an env whose service is not running; call run.
func newEnv(t *testing.T, st *store.Store, embedder llm.Embedder, opts Options) *env {
	t.Helper()
	ctx := t.Context()
	e := &env{t: t, st: st, logs: &syncBuffer{}, sys: auth.SystemContext(ctx)}
	wsA, err := st.Client.Workspace.Create().SetName("A").Save(e.sys)
	require.NoError(t, err)
	wsB, err := st.Client.Workspace.Create().SetName("B").Save(e.sys)
	require.NoError(t, err)
	e.owner = viewer.NewContext(ctx, viewer.Viewer{WorkspaceID: wsA.ID, TokenID: 1, Role: viewer.RoleOwner})
	e.member = viewer.NewContext(ctx, viewer.Viewer{WorkspaceID: wsA.ID, TokenID: 2, Role: viewer.RoleAgent})
	e.ownerB = viewer.NewContext(ctx, viewer.Viewer{WorkspaceID: wsB.ID, TokenID: 3, Role: viewer.RoleOwner})
	e.agent = e.newAgent(e.owner, "Harbor Bikes")
	e.agentB = e.newAgent(e.ownerB, "Other shop")
	if opts.PollInterval == 0 {
		opts.PollInterval = 50 * time.Millisecond
	}
	e.svc = e.newService(embedder, opts)
	return e
}

// newService returns another service on the same database, as another
// replica would have.
func (e *env) newService(embedder llm.Embedder, opts Options) *Service {
	logger := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return New(e.st.Client, llm.Offline{}, embedder, opts, logger)
}

func (e *env) newAgent(ctx context.Context, name string) int {
	e.t.Helper()
	a, err := e.st.Client.Agent.Create().SetName(name).
		SetInstructions("You are the friendly assistant of " + name + ".").Save(ctx)
	require.NoError(e.t, err)
	return a.ID
}

// run runs svc's workers until the test ends.
func (e *env) run(svc *Service) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(e.t.Context()))
	var wg sync.WaitGroup
	wg.Go(func() { svc.Run(ctx) })
	e.t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
}

// upload uploads a file of testdata as the owner of workspace A.
func (e *env) upload(agentID int, name string) *ent.KnowledgeSource {
	e.t.Helper()
	src, err := e.svc.Upload(e.owner, agentID, name, "", bytes.NewReader(readTestdata(e.t, name)), "")
	require.NoError(e.t, err)
	require.Equal(e.t, knowledgesource.StatusPROCESSING, src.Status)
	return src
}

// wait returns the source once it is no longer PROCESSING.
func (e *env) wait(id int) *ent.KnowledgeSource {
	e.t.Helper()
	var src *ent.KnowledgeSource
	require.Eventually(e.t, func() bool {
		var err error
		src, err = e.st.Client.KnowledgeSource.Get(e.sys, id)
		require.NoError(e.t, err)
		return src.Status != knowledgesource.StatusPROCESSING
	}, 30*time.Second, 10*time.Millisecond, "source %d is still PROCESSING", id)
	return src
}

// chunks returns the stored chunks of a source, in order.
func (e *env) chunks(sourceID int) []*ent.KnowledgeChunk {
	e.t.Helper()
	cs, err := e.st.Client.KnowledgeChunk.Query().Where(knowledgechunk.SourceID(sourceID)).
		Order(knowledgechunk.ByPosition()).All(e.sys)
	require.NoError(e.t, err)
	return cs
}

// syncBuffer is a bytes.Buffer that slog handlers may share across
// goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
