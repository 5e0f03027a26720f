package secret

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestSealOpen(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	box, err := New(key)
	if err != nil {
		t.Fatal(err)
	}
	token := []byte("EAAGm0PX4ZCpsBAPageToken")
	sealed := box.Seal(token)
	if bytes.Contains(sealed, token) {
		t.Fatal("sealed value contains the plaintext")
	}
	if bytes.Equal(sealed, box.Seal(token)) {
		t.Fatal("two seals of the same plaintext are identical: nonce is not random")
	}
	got, err := box.Open(sealed)
	if err != nil || !bytes.Equal(got, token) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := box.Open(sealed); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("altered ciphertext: err = %v, want ErrDecrypt", err)
	}
	other, _ := New(bytes.Repeat([]byte{8}, KeySize))
	if _, err := other.Open(box.Seal(token)); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("wrong key: err = %v, want ErrDecrypt", err)
	}
	if _, err := box.Open([]byte("short")); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("short input: err = %v", err)
	}
}

func TestParseKey(t *testing.T) {
	raw := bytes.Repeat([]byte{0xab}, KeySize)
	for _, tt := range []struct {
		name, in string
		ok       bool
	}{
		{"hex", hex.EncodeToString(raw), true},
		{"hex with newline", hex.EncodeToString(raw) + "\n", true},
		{"base64", base64.StdEncoding.EncodeToString(raw), true},
		{"base64 raw url", base64.RawURLEncoding.EncodeToString(raw), true},
		{"too short", hex.EncodeToString(raw[:16]), false},
		{"garbage", "not a key", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			k, err := ParseKey(tt.in)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && !bytes.Equal(k, raw) {
				t.Fatalf("key = %x", k)
			}
		})
	}
}

func TestLoadOrCreateKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "secret.key")
	k1, created, err := LoadOrCreateKeyFile(path)
	if err != nil || !created || len(k1) != KeySize {
		t.Fatalf("first call: %x %v %v", k1, created, err)
	}
	k2, created, err := LoadOrCreateKeyFile(path)
	if err != nil || created || !bytes.Equal(k1, k2) {
		t.Fatalf("second call: %x %v %v", k2, created, err)
	}
	if _, err := New(k2); err != nil {
		t.Fatal(err)
	}
}

// TestKeyFileModes: the key file is 0600 and the directory created for it
// 0700, whatever the umask allows; a key file left readable by others is
// tightened when it is loaded.
func TestKeyFileModes(t *testing.T) {
	old := syscall.Umask(0o022) // process-wide: this test is not parallel
	t.Cleanup(func() { syscall.Umask(old) })
	mode := func(p string) fs.FileMode {
		t.Helper()
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Mode().Perm()
	}
	dir := filepath.Join(t.TempDir(), "data")
	path := filepath.Join(dir, "secret.key")
	if _, _, err := LoadOrCreateKeyFile(path); err != nil {
		t.Fatal(err)
	}
	if got := mode(path); got != 0o600 {
		t.Errorf("new key file: mode %v, want 0600", got)
	}
	if got := mode(dir); got != 0o700 {
		t.Errorf("new key directory: mode %v, want 0700", got)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, created, err := LoadOrCreateKeyFile(path); err != nil || created {
		t.Fatalf("loading: created %v, %v", created, err)
	}
	if got := mode(path); got != 0o600 {
		t.Errorf("key file left 0644: mode %v after loading, want 0600", got)
	}
}
