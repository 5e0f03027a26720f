// Command seachat serves SeaChat: the GraphQL API, the Messenger webhooks and
// the playground. It is configured by environment variables (see README.md)
// and runs until SIGINT or SIGTERM, then drains and exits 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/seachat/seachat/internal/app"
	"github.com/seachat/seachat/internal/channel"
	"github.com/seachat/seachat/internal/config"
	"github.com/seachat/seachat/internal/requestid"
	"github.com/seachat/seachat/internal/secret"
	"github.com/seachat/seachat/internal/store"
	"github.com/seachat/seachat/server"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout))
}

// run starts SeaChat and blocks until ctx is done. It returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) int {
	fs := flag.NewFlagSet("seachat", flag.ContinueOnError)
	fs.SetOutput(stdout)
	addr := fs.String("addr", "", "listen address (overrides SEACHAT_ADDR; for development)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *addr != "" {
		getenv = override(getenv, "SEACHAT_ADDR", *addr)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintf(stdout, "seachat: configuration: %v\n", err)
		return 2
	}
	logger := newLogger(cfg, stdout)
	if err := serve(ctx, cfg, logger, stdout); err != nil {
		logger.Error("seachat stopped", "error", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, cfg config.Config, logger *slog.Logger, stdout io.Writer) error {
	box, err := secretBox(cfg, logger)
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()

	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a, err := app.New(ctx, cfg, st, box, registry, logger)
	if err != nil {
		return err
	}
	defer a.Close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("SEACHAT_ADDR: %w", err)
	}
	httpSrv := newHTTPServer(cfg, a.Server, logger)
	httpSrv.RegisterOnShutdown(a.Server.CloseWebsockets)
	if cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("SEACHAT_METRICS_ADDR: %w", err)
		}
		metricsSrv := newHTTPServer(cfg, server.MetricsHandler(registry), logger)
		go metricsSrv.Serve(mln)
		defer metricsSrv.Close()
		logger.Info("serving metrics", "addr", mln.Addr().String())
	}

	local := "http://" + ln.Addr().String()
	dbKind := "SQLite " + cfg.SQLitePath()
	if cfg.IsPostgres() {
		dbKind = "PostgreSQL"
	}
	logger.Info("seachat is serving", "addr", ln.Addr().String(), "database", dbKind, "public_url", cfg.PublicURL)
	if warning := channel.PublicURLWarning(cfg.PublicURL); warning != "" {
		logger.Warn("Meta cannot call this server back", "reason", warning)
	}
	fmt.Fprintf(stdout, "\nSeaChat is running.\n  GraphQL playground: %s/\n  GraphQL endpoint:   %s/graphql\n", local, local)
	if a.AdminToken != "" {
		// Shown once, on the first start: only its hash is stored.
		fmt.Fprintf(stdout, "  Admin token (shown once, keep it safe): %s\n", a.AdminToken)
		fmt.Fprintln(stdout, `  In the playground, open Headers and paste: {"Authorization": "Bearer <the admin token>"}`)
	}
	fmt.Fprintln(stdout)

	workCtx, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	workersDone := make(chan struct{})
	go func() {
		a.RunWorkers(workCtx)
		close(workersDone)
	}()
	errc := make(chan error, 1)
	go func() { errc <- httpSrv.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	logger.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if serr := httpSrv.Shutdown(shutdownCtx); serr != nil && !errors.Is(serr, http.ErrServerClosed) && err == nil {
		err = fmt.Errorf("draining connections: %w", serr)
	}
	// Workers stop after the last request is served, so nothing accepted is
	// left half done by a worker that quit first.
	stopWork()
	select {
	case <-workersDone:
	case <-shutdownCtx.Done():
		logger.Warn("background workers did not stop in time")
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	logger.Info("stopped")
	return err
}

// newHTTPServer returns a server with timeouts that keep slow or idle
// clients from holding connections: headers within 10 s (or
// SEACHAT_READ_TIMEOUT if shorter), the whole request within
// SEACHAT_READ_TIMEOUT.
func newHTTPServer(cfg config.Config, h http.Handler, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: min(10*time.Second, cfg.ReadTimeout),
		ReadTimeout:       cfg.ReadTimeout,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

// secretBox returns the box that encrypts page tokens and app secrets. On
// SQLite without SEACHAT_SECRET_KEY, the key is generated on the first start
// and kept beside the database file.
func secretBox(cfg config.Config, logger *slog.Logger) (*secret.Box, error) {
	key := cfg.SecretKey
	if key == nil {
		var created bool
		var err error
		key, created, err = secret.LoadOrCreateKeyFile(cfg.SecretKeyPath())
		if err != nil {
			return nil, fmt.Errorf("SEACHAT_SECRET_KEY is unset and the key file cannot be used: %w", err)
		}
		if created {
			logger.Info("generated the secret key that encrypts page tokens; back it up with the database",
				"path", cfg.SecretKeyPath())
		}
	}
	return secret.New(key)
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config.Load
	opts := &slog.HandlerOptions{Level: level}
	format := cfg.LogFormat
	if format == "" {
		format = "json"
		if f, ok := w.(*os.File); ok && config.IsTerminal(f) {
			format = "text"
		}
	}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(requestid.Handler(h))
}

func override(getenv func(string) string, key, value string) func(string) string {
	return func(k string) string {
		if k == key {
			return value
		}
		return getenv(k)
	}
}
