package apperr

import (
	"errors"
	"fmt"
	"testing"
)

func TestKinds(t *testing.T) {
	cause := errors.New("pq: duplicate key value violates unique constraint")
	for _, tt := range []struct {
		name     string
		err      error
		wantKind *Kind
		wantMsg  string
	}{
		{"plain", Errorf(NotFound, "agent %d not found", 7), NotFound, "agent 7 not found"},
		{"cause hidden", Wrapf(cause, Conflict, "name taken"), Conflict, "name taken"},
		{"wrapped with context", fmt.Errorf("createAgent: %w", Errorf(InvalidArgument, "name is required")), InvalidArgument, "name is required"},
		{"unknown", cause, Internal, "internal error"},
		{"bare kind", fmt.Errorf("x: %w", PermissionDenied), PermissionDenied, "internal error"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := KindOf(tt.err); got != tt.wantKind {
				t.Errorf("KindOf = %v, want %v", got, tt.wantKind)
			}
			if tt.wantKind != Internal && !errors.Is(tt.err, tt.wantKind) {
				t.Errorf("errors.Is(err, %v) = false", tt.wantKind)
			}
			if got := Message(tt.err); got != tt.wantMsg {
				t.Errorf("Message = %q, want %q", got, tt.wantMsg)
			}
		})
	}
	if !errors.Is(Wrapf(cause, Conflict, "x"), cause) {
		t.Error("Wrapf lost its cause")
	}
}

func TestWrapKeepsKind(t *testing.T) {
	f := func() (err error) {
		defer Wrap(&err, "Connect(%d)", 3)
		return Errorf(Upstream, "meta is down")
	}
	err := f()
	if KindOf(err) != Upstream || err.Error() != "Connect(3): meta is down" {
		t.Fatalf("got %v (%v)", err, KindOf(err))
	}
}
