// Package messenger holds the Meta specifics of SeaChat's Messenger channel:
// webhook verification and signature checks, decoding webhook bodies into
// typed events, and a small Graph API client (Send API, /me,
// subscribed_apps, user profile) whose errors carry apperr kinds.
//
// The package has no state, storage or business logic. The HTTP handler
// reads the raw body (at most 1 MiB), calls CheckSignature, stores the body,
// answers 200 and later calls ParseWebhook; services call the Client.
package messenger

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"hash"
	"net/url"
	"strings"
)

// Signature errors. The HTTP layer answers 403 to all of them.
var (
	// ErrSignatureMissing means the request carries no X-Hub-Signature-256
	// header. The legacy SHA-1 X-Hub-Signature alone is not enough.
	ErrSignatureMissing = errors.New("messenger: webhook X-Hub-Signature-256 header missing")
	// ErrSignatureMismatch means the signature header is malformed or does
	// not match the body: a forged request or a wrong app secret.
	ErrSignatureMismatch = errors.New("messenger: webhook signature mismatch")
	// ErrNoAppSecret means no app secret was configured, so no request can
	// be verified.
	ErrNoAppSecret = errors.New("messenger: app secret is empty")
)

// VerifyChallenge answers Meta's GET verification request. It returns the
// hub.challenge value and true when hub.mode is "subscribe" and
// hub.verify_token equals verifyToken; the caller writes the challenge back
// unchanged as a text/plain body, and answers 403 when ok is false. An empty
// verifyToken never matches.
func VerifyChallenge(q url.Values, verifyToken string) (challenge string, ok bool) {
	if q.Get("hub.mode") != "subscribe" || verifyToken == "" {
		return "", false
	}
	// Comparing digests keeps the comparison constant-time in the length too.
	got := sha256.Sum256([]byte(q.Get("hub.verify_token")))
	want := sha256.Sum256([]byte(verifyToken))
	if subtle.ConstantTimeCompare(got[:], want[:]) != 1 {
		return "", false
	}
	challenge = q.Get("hub.challenge")
	return challenge, challenge != ""
}

// CheckSignature verifies that body was signed by Meta with appSecret.
// header256 is the X-Hub-Signature-256 value ("sha256=<hex>"). The legacy
// SHA-1 X-Hub-Signature is deliberately not accepted: Meta sends the SHA-256
// header on every POST, and honouring SHA-1 alone would let a request that
// strips the 256 header fall back to the weaker hash. The HMAC is computed
// over the raw bytes as received: never re-encode parsed JSON before
// checking.
func CheckSignature(body []byte, header256 string, appSecret []byte) error {
	if len(appSecret) == 0 {
		return ErrNoAppSecret
	}
	if header256 == "" {
		return ErrSignatureMissing
	}
	return checkHMAC(sha256.New, "sha256=", header256, body, appSecret)
}

func checkHMAC(h func() hash.Hash, prefix, header string, body, secret []byte) error {
	hexSig, ok := strings.CutPrefix(strings.TrimSpace(header), prefix)
	if !ok {
		return ErrSignatureMismatch
	}
	sig, err := hex.DecodeString(hexSig)
	if err != nil {
		return ErrSignatureMismatch
	}
	mac := hmac.New(h, secret)
	mac.Write(body)
	if !hmac.Equal(sig, mac.Sum(nil)) {
		return ErrSignatureMismatch
	}
	return nil
}
