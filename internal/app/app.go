// Package app wires SeaChat together: it builds every service from the
// configuration and an open store, and returns the HTTP handler and the
// background workers. cmd/seachat runs it; end-to-end tests build the same
// thing.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"entgo.io/ent/dialect"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/seachat/seachat/graph"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/bot"
	"github.com/seachat/seachat/internal/channel"
	"github.com/seachat/seachat/internal/config"
	"github.com/seachat/seachat/internal/conversation"
	"github.com/seachat/seachat/internal/fairshare"
	"github.com/seachat/seachat/internal/heartbeat"
	"github.com/seachat/seachat/internal/inbox"
	"github.com/seachat/seachat/internal/knowledge"
	"github.com/seachat/seachat/internal/llm"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/pubsub"
	"github.com/seachat/seachat/internal/secret"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/server"
)

// payloadsPerWorkspace is how many subscription events (one per
// subscriber) one workspace may load and resolve at once, per process.
const payloadsPerWorkspace = 1

// App is a wired SeaChat.
type App struct {
	Server        *server.Server
	Auth          *auth.Service
	Channels      *channel.Service
	Conversations *conversation.Service
	Knowledge     *knowledge.Service
	Inbox         *inbox.Inbox
	Bus           pubsub.Bus

	// AdminToken is the generated admin token on the first start, else "".
	AdminToken string

	workers []func(context.Context)
	closers []io.Closer
}

// New builds SeaChat on st. registry receives the metrics.
func New(ctx context.Context, cfg config.Config, st *store.Store, box *secret.Box, registry *prometheus.Registry, logger *slog.Logger) (*App, error) {
	a := &App{}
	// Events fan out in process on SQLite (one process), and through
	// LISTEN/NOTIFY on Postgres so every replica's subscribers see them.
	var err error
	busMetrics := pubsub.WithMetrics(pubsub.NewMetrics(registry))
	if st.Dialect == dialect.Postgres {
		listenCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		a.Bus, err = pubsub.NewPostgres(listenCtx, st.URL, st.DB, logger, busMetrics)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("listening for events on postgres: %w", err)
		}
	} else {
		a.Bus = pubsub.NewMemory(busMetrics)
	}
	a.Auth = auth.New(st.Client, logger, time.Now, auth.WithPublisher(a.Bus))
	token, err := a.Auth.EnsureAdmin(ctx, cfg.AdminToken)
	if err != nil {
		a.Bus.Close()
		return nil, err
	}
	a.AdminToken = token

	graphAPI := messenger.NewClient(cfg.GraphAPIURL, &http.Client{Timeout: 20 * time.Second})
	a.Channels = channel.New(st.Client, graphAPI, box, cfg.PublicURL, logger, time.Now)
	a.workers = append(a.workers, func(ctx context.Context) { a.Channels.RecheckTokens(ctx, channel.DefaultRecheckEvery) })

	// Claims on shared work (inbox events, replies being sent) name this
	// process; those of a process whose heartbeat stopped are taken over.
	// On SQLite this is the only process, and it owns every claim.
	proc, err := heartbeat.Start(ctx, st.Client, heartbeat.Options{Exclusive: st.Dialect != dialect.Postgres, Logger: logger})
	if err != nil {
		a.Bus.Close()
		return nil, err
	}
	a.workers = append(a.workers, proc.Run)

	a.Conversations = conversation.New(conversation.Deps{
		Client: st.Client,
		Bus:    a.Bus,
		Sender: a.Channels,
		Logger: logger,
		Claims: proc,
	})
	a.workers = append(a.workers, func(ctx context.Context) {
		a.Conversations.RunOutbox(ctx, conversation.OutboxOptions{Workers: 16})
	})

	a.workers = append(a.workers, func(ctx context.Context) { a.Conversations.RunHandoffTimeouts(ctx, 10*time.Second) })

	responder, embedder, err := models(ctx, cfg, registry, logger)
	if err != nil {
		return nil, err
	}
	var knowledgeEmbedder llm.Embedder // a nil *Gemini must stay a nil interface
	if embedder != nil {
		a.closers = append(a.closers, embedder)
		knowledgeEmbedder = embedder
	}
	a.Knowledge = knowledge.New(st.Client, responder, knowledgeEmbedder, knowledge.Options{
		MaxUploadBytes: cfg.MaxUploadBytes,
		Registerer:     registry,
		Publisher:      a.Bus,
	}, logger)
	a.workers = append(a.workers, a.Knowledge.Run)

	engine := bot.New(a.Conversations, bot.KnowledgeFunc(func(ctx context.Context, agentID int, q string, history []llm.Turn) (bot.Answer, error) {
		ans, err := a.Knowledge.Answer(ctx, agentID, q, history)
		return bot.Answer(ans), err
	}), a.Channels, logger)
	workers := cfg.InboxWorkers
	if workers == 0 {
		workers = 4
		if cfg.GeminiAPIKey != "" {
			workers = 32
		}
	}
	a.Inbox = inbox.New(st, a.Channels, engine, inbox.Options{Logger: logger, Metrics: inbox.NewMetrics(registry), Workers: workers, Process: proc})
	a.workers = append(a.workers, func(ctx context.Context) {
		if err := a.Inbox.Run(ctx); err != nil {
			logger.Warn("inbox stopped", "error", err)
		}
	})

	// A subscription event is resolved for all its subscribers at once:
	// each workspace resolves only a few at a time, and all workspaces
	// together at most half of the database pool (see store), so one
	// tenant's fan-out never starves webhooks or other workspaces.
	payloads := fairshare.New(payloadsPerWorkspace, 4)
	if st.Dialect == dialect.Postgres {
		payloads = fairshare.New(payloadsPerWorkspace, 10)
	}
	a.Server = server.New(server.Options{
		Bus:      a.Bus,
		Config:   cfg,
		Client:   st.Client,
		Ready:    st,
		Auth:     a.Auth,
		Webhooks: a.Inbox.Handler(),
		Registry: registry,
		Logger:   logger,
		Schema: graph.NewSchema(graph.Deps{
			Client:        st.Client,
			Auth:          a.Auth,
			Channels:      a.Channels,
			Conversations: a.Conversations,
			Knowledge:     a.Knowledge,
			Bus:           a.Bus,
			Payloads:      payloads,
			Logger:        logger,
		}),
	})
	return a, nil
}

// Close releases what New acquired beyond the store.
func (a *App) Close() error {
	for _, c := range a.closers {
		c.Close()
	}
	return a.Bus.Close()
}

// models returns the responder and the embedder: Gemini, falling back to the
// offline responder for any reply it fails, when GEMINI_API_KEY is set; else
// the offline responder and no embeddings.
func models(ctx context.Context, cfg config.Config, registry prometheus.Registerer, logger *slog.Logger) (llm.Responder, *llm.Gemini, error) {
	if cfg.GeminiAPIKey == "" {
		logger.Info("GEMINI_API_KEY is unset: answers come from the offline responder")
		return llm.Offline{}, nil, nil
	}
	g, err := llm.NewGemini(ctx, llm.GeminiConfig{
		APIKey:         cfg.GeminiAPIKey,
		BaseURL:        cfg.GeminiBaseURL,
		Model:          cfg.GeminiModel,
		EmbeddingModel: cfg.GeminiEmbeddingModel,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("GEMINI_API_KEY: %w", err)
	}
	fallbacks := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "seachat_llm_fallbacks_total",
		Help: "Replies the offline responder gave because Gemini failed.",
	})
	registry.MustRegister(fallbacks)
	return &llm.Fallback{Primary: g, Secondary: llm.Offline{}, Logger: logger,
		OnFallback: func(error) { fallbacks.Inc() }}, g, nil
}

// RunWorkers runs the background workers until ctx is done and they return.
func (a *App) RunWorkers(ctx context.Context) {
	var wg sync.WaitGroup
	for _, w := range a.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w(ctx)
		}()
	}
	wg.Wait()
}
