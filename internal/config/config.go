// Package config reads SeaChat's settings from the environment, in one place.
// Every variable is documented in the README; errors name the variable.
package config

import (
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/seachat/seachat/internal/secret"
)

// DefaultSQLitePath is where the embedded database lives when DATABASE_URL
// is unset.
const DefaultSQLitePath = "./data/seachat.db"

// Config is every setting of a SeaChat process.
type Config struct {
	Addr          string // SEACHAT_ADDR
	DatabaseURL   string // DATABASE_URL, normalised: "postgres://…" or "sqlite://<path>"
	PublicURL     string // SEACHAT_PUBLIC_URL, without a trailing slash
	AdminToken    string // SEACHAT_ADMIN_TOKEN; empty: generated on first start
	SecretKey     []byte // SEACHAT_SECRET_KEY; nil: generated beside the SQLite file
	GraphAPIURL   string // SEACHAT_GRAPH_API_URL
	GeminiAPIKey  string // GEMINI_API_KEY
	GeminiBaseURL string // SEACHAT_GEMINI_BASE_URL
	// GeminiModel and GeminiEmbeddingModel name the models
	// (SEACHAT_GEMINI_MODEL, SEACHAT_GEMINI_EMBEDDING_MODEL); empty: the
	// llm package's defaults.
	GeminiModel          string
	GeminiEmbeddingModel string
	LogFormat            string // SEACHAT_LOG_FORMAT: "text", "json", or "" for text on a terminal, else json
	LogLevel             string // SEACHAT_LOG_LEVEL: debug, info, warn, error

	// AllowedOrigins are the browser origins allowed to call /graphql over
	// HTTP (CORS) and to open GraphQL websockets besides the server's own
	// origin: "https://app.example.com", "http://localhost:*", or "*" for
	// every origin; a pattern without "://" matches the host alone, as in
	// coder/websocket's OriginPatterns. SEACHAT_ALLOWED_ORIGINS, comma
	// separated.
	AllowedOrigins []string
	// MaxBodyBytes caps GraphQL request bodies other than uploads
	// (SEACHAT_MAX_BODY_BYTES, default 1 MiB).
	MaxBodyBytes int64
	// MaxUploadBytes caps knowledge uploads (SEACHAT_MAX_UPLOAD_BYTES, default 20 MB).
	MaxUploadBytes int64
	// ReadTimeout bounds how long a client may take to send one request,
	// headers and body (SEACHAT_READ_TIMEOUT, default 2m; raise it for
	// large uploads over slow links). Headers alone get at most 10 s.
	// Websockets are not bound by it once upgraded.
	ReadTimeout time.Duration
	// MetricsAddr, when set, is a separate listen address that serves
	// /metrics without a token, for a Prometheus on a private network
	// (SEACHAT_METRICS_ADDR). Unset: /metrics is served on SEACHAT_ADDR
	// to the built-in admin token only.
	MetricsAddr string
	// MaxResponseBytes caps one GraphQL response, roughly: an operation
	// that would produce more fails with one error instead
	// (SEACHAT_MAX_RESPONSE_BYTES, default 16 MiB).
	MaxResponseBytes int64
	// ShutdownTimeout bounds the drain on SIGTERM (SEACHAT_SHUTDOWN_TIMEOUT, default 15s).
	ShutdownTimeout time.Duration
	// RateLimit is how many GraphQL operations per second each API token
	// may make on average, per process (SEACHAT_RATE_LIMIT, default 50; 0
	// turns the limit off). RateBurst is how many it may make at once
	// (SEACHAT_RATE_BURST, default 200).
	RateLimit float64
	RateBurst int
	// MaxSubscriptions caps the GraphQL subscriptions open at once on one
	// websocket, and for one API token across its websockets to this
	// process (SEACHAT_MAX_SUBSCRIPTIONS, default 50).
	MaxSubscriptions int
	// InboxWorkers is how many Messenger events this process answers at
	// once (SEACHAT_INBOX_WORKERS). 0 picks the default: 4 with the offline
	// responder, whose answers cost only CPU, and 32 with Gemini, whose
	// answers mostly wait for the model.
	InboxWorkers int
}

// Load reads the configuration through getenv (os.Getenv in production).
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		Addr:                 or(getenv("SEACHAT_ADDR"), "127.0.0.1:8080"),
		AdminToken:           strings.TrimSpace(getenv("SEACHAT_ADMIN_TOKEN")),
		GraphAPIURL:          strings.TrimRight(or(getenv("SEACHAT_GRAPH_API_URL"), "https://graph.facebook.com"), "/"),
		GeminiAPIKey:         strings.TrimSpace(getenv("GEMINI_API_KEY")),
		GeminiBaseURL:        strings.TrimRight(getenv("SEACHAT_GEMINI_BASE_URL"), "/"),
		GeminiModel:          strings.TrimSpace(getenv("SEACHAT_GEMINI_MODEL")),
		GeminiEmbeddingModel: strings.TrimSpace(getenv("SEACHAT_GEMINI_EMBEDDING_MODEL")),
		LogFormat:            getenv("SEACHAT_LOG_FORMAT"),
		LogLevel:             or(getenv("SEACHAT_LOG_LEVEL"), "info"),
		AllowedOrigins:       splitList(getenv("SEACHAT_ALLOWED_ORIGINS")),
		MaxBodyBytes:         1 << 20,
		MaxUploadBytes:       20 << 20,
		MaxResponseBytes:     16 << 20,
		ShutdownTimeout:      15 * time.Second,
		ReadTimeout:          2 * time.Minute,
		MetricsAddr:          strings.TrimSpace(getenv("SEACHAT_METRICS_ADDR")),
		RateLimit:            50,
		RateBurst:            200,
		MaxSubscriptions:     50,
	}
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		return Config{}, fmt.Errorf("SEACHAT_ADDR %q: want host:port: %w", c.Addr, err)
	}
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			return Config{}, fmt.Errorf("SEACHAT_METRICS_ADDR %q: want host:port, such as 127.0.0.1:9090: %w", c.MetricsAddr, err)
		}
	}
	var err error
	if c.DatabaseURL, err = normaliseDatabaseURL(getenv("DATABASE_URL")); err != nil {
		return Config{}, err
	}
	c.PublicURL = strings.TrimRight(or(getenv("SEACHAT_PUBLIC_URL"), "http://"+c.Addr), "/")
	if err := checkURL("SEACHAT_PUBLIC_URL", c.PublicURL); err != nil {
		return Config{}, err
	}
	if err := checkURL("SEACHAT_GRAPH_API_URL", c.GraphAPIURL); err != nil {
		return Config{}, err
	}
	if c.GeminiBaseURL != "" {
		if err := checkURL("SEACHAT_GEMINI_BASE_URL", c.GeminiBaseURL); err != nil {
			return Config{}, err
		}
	}
	if v := getenv("SEACHAT_SECRET_KEY"); v != "" {
		if c.SecretKey, err = secret.ParseKey(v); err != nil {
			return Config{}, fmt.Errorf("SEACHAT_SECRET_KEY: %w", err)
		}
	}
	switch c.LogFormat {
	case "", "text", "json":
	default:
		return Config{}, fmt.Errorf("SEACHAT_LOG_FORMAT %q: want text or json", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return Config{}, fmt.Errorf("SEACHAT_LOG_LEVEL %q: want debug, info, warn or error", c.LogLevel)
	}
	if c.MaxBodyBytes, err = bytesVar(getenv, "SEACHAT_MAX_BODY_BYTES", c.MaxBodyBytes); err != nil {
		return Config{}, err
	}
	if c.MaxUploadBytes, err = bytesVar(getenv, "SEACHAT_MAX_UPLOAD_BYTES", c.MaxUploadBytes); err != nil {
		return Config{}, err
	}
	if c.MaxResponseBytes, err = bytesVar(getenv, "SEACHAT_MAX_RESPONSE_BYTES", c.MaxResponseBytes); err != nil {
		return Config{}, err
	}
	if v := getenv("SEACHAT_SHUTDOWN_TIMEOUT"); v != "" {
		if c.ShutdownTimeout, err = time.ParseDuration(v); err != nil || c.ShutdownTimeout <= 0 {
			return Config{}, fmt.Errorf("SEACHAT_SHUTDOWN_TIMEOUT %q: want a positive duration such as 15s", v)
		}
	}
	if v := getenv("SEACHAT_READ_TIMEOUT"); v != "" {
		if c.ReadTimeout, err = time.ParseDuration(v); err != nil || c.ReadTimeout <= 0 {
			return Config{}, fmt.Errorf("SEACHAT_READ_TIMEOUT %q: want a positive duration such as 2m", v)
		}
	}
	if v := getenv("SEACHAT_RATE_LIMIT"); v != "" {
		if c.RateLimit, err = strconv.ParseFloat(v, 64); err != nil || c.RateLimit < 0 || math.IsInf(c.RateLimit, 0) || math.IsNaN(c.RateLimit) {
			return Config{}, fmt.Errorf("SEACHAT_RATE_LIMIT %q: want operations per second per API token, such as 50 (0 turns the limit off)", v)
		}
	}
	if v := getenv("SEACHAT_RATE_BURST"); v != "" {
		if c.RateBurst, err = strconv.Atoi(v); err != nil || c.RateBurst <= 0 {
			return Config{}, fmt.Errorf("SEACHAT_RATE_BURST %q: want a positive number of operations, such as 200", v)
		}
	}
	if v := getenv("SEACHAT_MAX_SUBSCRIPTIONS"); v != "" {
		if c.MaxSubscriptions, err = strconv.Atoi(v); err != nil || c.MaxSubscriptions <= 0 || c.MaxSubscriptions > 10000 {
			return Config{}, fmt.Errorf("SEACHAT_MAX_SUBSCRIPTIONS %q: want how many subscriptions a websocket or an API token may have open, from 1 to 10000, such as 50", v)
		}
	}
	if v := getenv("SEACHAT_INBOX_WORKERS"); v != "" {
		if c.InboxWorkers, err = strconv.Atoi(v); err != nil || c.InboxWorkers <= 0 || c.InboxWorkers > 1000 {
			return Config{}, fmt.Errorf("SEACHAT_INBOX_WORKERS %q: want how many events to answer at once, from 1 to 1000, such as 16", v)
		}
	}
	if c.IsPostgres() && c.SecretKey == nil {
		return Config{}, fmt.Errorf("SEACHAT_SECRET_KEY is required with a PostgreSQL DATABASE_URL " +
			"(every replica must share it); generate one with: openssl rand -hex 32")
	}
	return c, nil
}

// IsPostgres reports whether the store is PostgreSQL.
func (c Config) IsPostgres() bool { return strings.HasPrefix(c.DatabaseURL, "postgres") }

// SQLitePath is the database file when the store is SQLite, else "".
func (c Config) SQLitePath() string {
	p, ok := strings.CutPrefix(c.DatabaseURL, "sqlite://")
	if !ok {
		return ""
	}
	return p
}

// SecretKeyPath is where a generated secret key is kept: beside the SQLite file.
func (c Config) SecretKeyPath() string {
	return filepath.Join(filepath.Dir(c.SQLitePath()), "secret.key")
}

func normaliseDatabaseURL(v string) (string, error) {
	v = strings.TrimSpace(v)
	switch {
	case v == "":
		return "sqlite://" + DefaultSQLitePath, nil
	case strings.HasPrefix(v, "postgres://"), strings.HasPrefix(v, "postgresql://"):
		if _, err := url.Parse(v); err != nil {
			return "", fmt.Errorf("DATABASE_URL: not a valid URL (the value is not shown, it may hold a password)")
		}
		return v, nil
	case strings.HasPrefix(v, "sqlite://"):
		if strings.TrimPrefix(v, "sqlite://") == "" {
			return "", fmt.Errorf("DATABASE_URL %q: sqlite:// needs a file path, e.g. sqlite:///var/lib/seachat.db", v)
		}
		return v, nil
	default:
		return "", fmt.Errorf("DATABASE_URL: want postgres://…, sqlite:///abs/path.db or sqlite://rel.db")
	}
}

func checkURL(name, v string) error {
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q: want an absolute http(s) URL", name, v)
	}
	return nil
}

func bytesVar(getenv func(string) string, name string, def int64) (int64, error) {
	v := getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s %q: want a positive number of bytes", name, v)
	}
	return n, nil
}

func splitList(v string) []string {
	var out []string
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func or(v, def string) string {
	if strings.TrimSpace(v) == "" {
		return def
	}
	return strings.TrimSpace(v)
}

// IsTerminal reports whether f is a terminal, for the default log format.
func IsTerminal(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
