package requestid

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	for id, want := range map[string]bool{
		"abc-123_x.y":           true,
		New():                   true,
		"":                      false,
		"has space":             false,
		"new\nline":             false,
		strings.Repeat("a", 65): false,
	} {
		if Valid(id) != want {
			t.Errorf("Valid(%q) = %v, want %v", id, !want, want)
		}
	}
}

func TestHandlerAddsRequestID(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(Handler(slog.NewTextHandler(&buf, nil))).With("svc", "x")
	logger.InfoContext(NewContext(context.Background(), "req-1"), "hello")
	logger.InfoContext(context.Background(), "bye")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if !strings.Contains(lines[0], "request_id=req-1") || !strings.Contains(lines[0], "svc=x") {
		t.Errorf("line with an id: %s", lines[0])
	}
	if strings.Contains(lines[1], "request_id") {
		t.Errorf("line without an id: %s", lines[1])
	}
}
