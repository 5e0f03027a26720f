package messenger_test

import (
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/internal/messenger"
)

func TestVerifyChallenge(t *testing.T) {
	for _, tt := range []struct {
		name   string
		query  string
		token  string
		want   string
		wantOK bool
	}{
		{"meta docs", "hub.verify_token=TOKEN&hub.challenge=CHALLENGE_ACCEPTED&hub.mode=subscribe", "TOKEN", "CHALLENGE_ACCEPTED", true},
		{"numeric challenge", "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock", "meatyhamhock", "1158201444", true},
		{"fbsamples test", "hub.mode=subscribe&hub.verify_token=test_verify_token_12345&hub.challenge=challenge_123", "test_verify_token_12345", "challenge_123", true},
		{"wrong token", "hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=c", "right", "", false},
		{"token prefix", "hub.mode=subscribe&hub.verify_token=righ&hub.challenge=c", "right", "", false},
		{"wrong mode", "hub.mode=unsubscribe&hub.verify_token=right&hub.challenge=c", "right", "", false},
		{"no mode", "hub.verify_token=right&hub.challenge=c", "right", "", false},
		{"empty configured token", "hub.mode=subscribe&hub.verify_token=&hub.challenge=c", "", "", false},
		{"no challenge", "hub.mode=subscribe&hub.verify_token=right", "right", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			require.NoError(t, err)
			got, ok := messenger.VerifyChallenge(q, tt.token)
			require.Equal(t, tt.wantOK, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestCheckSignature(t *testing.T) {
	secret := []byte("FAKE_SECRET") // MESSENGER.md §3 vectors
	const (
		raw256 = "sha256=5ed144e30fbf7b9730f32b3a05200b1a3dd9098811b41742071c847eb9202cf7"
		raw1   = "sha1=0d814d436b45c33ef664a317ff4b8dc2d3d8fe2a"
		obj256 = "sha256=448df8785dd36742e43fa3cad9de2eca8ceb6391e79c742e33e52c6637f32dac"
		obj1   = "sha1=1c99183cb7c44ea27fb834746086b65b89800db8"
	)
	for _, tt := range []struct {
		name    string
		body    string
		header  string
		secret  []byte
		wantErr error
	}{
		{"sha256 rawBody", "rawBody", raw256, secret, nil},
		{"sha256 {}", "{}", obj256, secret, nil},
		{"sha256 uppercase hex", "{}", "sha256=448DF8785DD36742E43FA3CAD9DE2ECA8CEB6391E79C742E33E52C6637F32DAC", secret, nil},
		{"256 wrong body", "{} ", obj256, secret, messenger.ErrSignatureMismatch},
		{"wrong secret", "{}", obj256, []byte("OTHER"), messenger.ErrSignatureMismatch},
		{"sha1 value in 256 header", "{}", obj1, secret, messenger.ErrSignatureMismatch},
		{"sha1 rawBody value in 256 header", "rawBody", raw1, secret, messenger.ErrSignatureMismatch},
		{"no prefix", "{}", "448df8785dd36742e43fa3cad9de2eca8ceb6391e79c742e33e52c6637f32dac", secret, messenger.ErrSignatureMismatch},
		{"not hex", "{}", "sha256=zz", secret, messenger.ErrSignatureMismatch},
		{"truncated", "{}", obj256[:20], secret, messenger.ErrSignatureMismatch},
		{"empty digest", "{}", "sha256=", secret, messenger.ErrSignatureMismatch},
		{"missing", "{}", "", secret, messenger.ErrSignatureMissing},
		{"no secret", "{}", obj256, nil, messenger.ErrNoAppSecret},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := messenger.CheckSignature([]byte(tt.body), tt.header, tt.secret)
			if tt.wantErr == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, tt.wantErr)
		})
	}
}
