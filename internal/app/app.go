// Package app wires SeaChat together: it builds every service from the
// configuration and an open store, and returns the HTTP handler and the
// background workers. cmd/seachat runs it; end-to-end tests build the same
// thing.
package app

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seachat/seachat/graph"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/channel"
	"github.com/seachat/seachat/internal/config"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/secret"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/server"
)

// App is a wired SeaChat.
type App struct {
	Server   *server.Server
	Auth     *auth.Service
	Channels *channel.Service

	// AdminToken is the generated admin token on the first start, else "".
	AdminToken string

	workers []func(context.Context)
}

// New builds SeaChat on st. registry receives the metrics.
func New(ctx context.Context, cfg config.Config, st *store.Store, box *secret.Box, registry *prometheus.Registry, logger *slog.Logger) (*App, error) {
	a := &App{}
	a.Auth = auth.New(st.Client, logger, time.Now)
	token, err := a.Auth.EnsureAdmin(ctx, cfg.AdminToken)
	if err != nil {
		return nil, err
	}
	a.AdminToken = token

	graphAPI := messenger.NewClient(cfg.GraphAPIURL, &http.Client{Timeout: 20 * time.Second})
	a.Channels = channel.New(st.Client, graphAPI, box, cfg.PublicURL, logger, time.Now)
	a.workers = append(a.workers, func(ctx context.Context) { a.Channels.RecheckTokens(ctx, channel.DefaultRecheckEvery) })

	a.Server = server.New(server.Options{
		Config:   cfg,
		Client:   st.Client,
		Ready:    st,
		Auth:     a.Auth,
		Registry: registry,
		Logger:   logger,
		Schema: graph.NewSchema(graph.Deps{
			Client:   st.Client,
			Auth:     a.Auth,
			Channels: a.Channels,
			Logger:   logger,
		}),
	})
	return a, nil
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
