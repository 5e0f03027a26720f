package config

import (
	"strings"
	"testing"
	"time"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func TestDefaults(t *testing.T) {
	c, err := Load(env())
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct{ name, got, want string }{
		{"addr", c.Addr, "127.0.0.1:8080"},
		{"database", c.DatabaseURL, "sqlite://./data/seachat.db"},
		{"sqlite path", c.SQLitePath(), "./data/seachat.db"},
		{"secret key path", c.SecretKeyPath(), "data/secret.key"},
		{"public url", c.PublicURL, "http://127.0.0.1:8080"},
		{"graph api", c.GraphAPIURL, "https://graph.facebook.com"},
		{"log level", c.LogLevel, "info"},
	} {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
		}
	}
	if c.SecretKey != nil || c.IsPostgres() || c.MaxUploadBytes != 20<<20 || c.MaxBodyBytes != 1<<20 || c.MaxResponseBytes != 16<<20 || c.ShutdownTimeout != 15*time.Second {
		t.Errorf("unexpected defaults: %+v", c)
	}
}

func TestValues(t *testing.T) {
	key := strings.Repeat("ab", 32)
	c, err := Load(env(
		"SEACHAT_ADDR", "0.0.0.0:9000",
		"DATABASE_URL", "postgres://u:p@db/seachat",
		"SEACHAT_SECRET_KEY", key,
		"SEACHAT_PUBLIC_URL", "https://chat.example.com/",
		"SEACHAT_ALLOWED_ORIGINS", "app.example.com, *.example.org ,",
		"SEACHAT_MAX_UPLOAD_BYTES", "1000",
		"SEACHAT_MAX_RESPONSE_BYTES", "2000",
		"SEACHAT_SHUTDOWN_TIMEOUT", "3s",
		"SEACHAT_INBOX_WORKERS", "16",
	))
	if err != nil {
		t.Fatal(err)
	}
	if !c.IsPostgres() || c.SQLitePath() != "" || len(c.SecretKey) != 32 {
		t.Errorf("database settings: %+v", c)
	}
	if c.PublicURL != "https://chat.example.com" {
		t.Errorf("PublicURL = %q", c.PublicURL)
	}
	if len(c.AllowedOrigins) != 2 || c.AllowedOrigins[1] != "*.example.org" {
		t.Errorf("AllowedOrigins = %q", c.AllowedOrigins)
	}
	if c.MaxUploadBytes != 1000 || c.MaxResponseBytes != 2000 || c.ShutdownTimeout != 3*time.Second || c.InboxWorkers != 16 {
		t.Errorf("limits: %+v", c)
	}
	if c, _ := Load(env("DATABASE_URL", "sqlite:///var/lib/s.db")); c.SQLitePath() != "/var/lib/s.db" {
		t.Errorf("absolute sqlite path = %q", c.SQLitePath())
	}
}

func TestErrorsNameTheVariable(t *testing.T) {
	for _, tt := range []struct{ key, value string }{
		{"SEACHAT_ADDR", "8080"},
		{"DATABASE_URL", "mysql://x"},
		{"DATABASE_URL", "sqlite://"},
		{"SEACHAT_PUBLIC_URL", "chat.example.com"},
		{"SEACHAT_GRAPH_API_URL", "ftp://x"},
		{"SEACHAT_GEMINI_BASE_URL", "nope"},
		{"SEACHAT_SECRET_KEY", "abc"},
		{"SEACHAT_LOG_FORMAT", "xml"},
		{"SEACHAT_LOG_LEVEL", "loud"},
		{"SEACHAT_MAX_BODY_BYTES", "-1"},
		{"SEACHAT_MAX_UPLOAD_BYTES", "lots"},
		{"SEACHAT_SHUTDOWN_TIMEOUT", "soon"},
		{"SEACHAT_INBOX_WORKERS", "0"},
		{"SEACHAT_INBOX_WORKERS", "many"},
	} {
		_, err := Load(env(tt.key, tt.value))
		if err == nil || !strings.Contains(err.Error(), tt.key) {
			t.Errorf("%s=%q: err = %v, want one naming %s", tt.key, tt.value, err, tt.key)
		}
	}
	_, err := Load(env("DATABASE_URL", "postgres://u:secretpw@db/x"))
	if err == nil || !strings.Contains(err.Error(), "SEACHAT_SECRET_KEY") {
		t.Errorf("postgres without a key: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "secretpw") {
		t.Error("the error leaks the database password")
	}
}
