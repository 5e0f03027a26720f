package messenger_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/seachat/seachat/internal/messenger"
)

// addFixtures seeds a fuzz target with every testdata/*.json body.
func addFixtures(f *testing.F, add func(body []byte)) {
	f.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures: %v", err)
	}
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
}

func FuzzParseWebhook(f *testing.F) {
	addFixtures(f, func(b []byte) { f.Add(b) })
	f.Add([]byte(`{"object":"page","entry":[{"messaging":[{"message":"TEST_MESSAGE"}]}]}`))
	f.Add([]byte(`{"object":"page","entry":[{"id":1,"messaging":[{"sender":{"id":1},"timestamp":"9","delivery":{"watermark":"-1"}}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		w, err := messenger.ParseWebhook(body)
		if err != nil {
			if !errors.Is(err, messenger.ErrMalformed) && !errors.Is(err, messenger.ErrNotPage) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if w != nil {
				t.Fatal("non-nil webhook with an error")
			}
			return
		}
		for _, e := range w.Events {
			if e.Kind == "" || len(e.Raw) == 0 {
				t.Fatalf("event without kind or raw: %+v", e)
			}
			if e.DedupKey() == "" {
				t.Fatalf("empty dedup key: %+v", e)
			}
			if p := e.PSID(); p != "" && p == e.PageID {
				t.Fatalf("PSID returned the page id %q", p)
			}
		}
	})
}

func FuzzCheckSignature(f *testing.F) {
	addFixtures(f, func(b []byte) { f.Add(b, "sha256=00", []byte("FAKE_SECRET")) })
	f.Add([]byte("rawBody"), "sha256=5ed144e30fbf7b9730f32b3a05200b1a3dd9098811b41742071c847eb9202cf7", []byte("FAKE_SECRET"))
	f.Add([]byte("{}"), "sha1=1c99183cb7c44ea27fb834746086b65b89800db8", []byte("FAKE_SECRET"))
	f.Add([]byte(""), "", []byte(""))
	f.Fuzz(func(t *testing.T, body []byte, header string, secret []byte) {
		// Arbitrary headers must never panic.
		_ = messenger.CheckSignature(body, header, secret)
		if len(secret) == 0 {
			return
		}
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		good := "sha256=" + hex.EncodeToString(mac.Sum(nil))
		if err := messenger.CheckSignature(body, good, secret); err != nil {
			t.Fatalf("valid signature rejected: %v", err)
		}
		if !strings.EqualFold(strings.TrimSpace(header), good) {
			if err := messenger.CheckSignature(body, header, secret); err == nil {
				t.Fatalf("header %q accepted for a body signed as %q", header, good)
			}
		}
		tampered := append([]byte{'x'}, body...)
		if err := messenger.CheckSignature(tampered, good, secret); !errors.Is(err, messenger.ErrSignatureMismatch) {
			t.Fatalf("tampered body: got %v", err)
		}
	})
}
