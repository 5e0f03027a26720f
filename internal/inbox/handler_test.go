package inbox_test

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // Meta's legacy signature
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/seachat/seachat/ent/inboxevent"
	"github.com/seachat/seachat/ent/messengerchannel"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/inbox"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/store"
)

func TestVerify(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, newRecorder(nil), inbox.Options{})
		removed := e.newChannel("", messengerchannel.StatusREMOVED)
		waiting := e.newChannel("", messengerchannel.StatusAWAITING_VERIFICATION)
		for _, tt := range []struct {
			name     string
			key      string
			query    url.Values
			wantCode int
			wantBody string
		}{
			{"right token", e.ch.WebhookKey, url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {e.ch.VerifyToken}, "hub.challenge": {"1158201444"}}, 200, "1158201444"},
			{"before the page is connected", waiting.WebhookKey, url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {waiting.VerifyToken}, "hub.challenge": {"CHALLENGE_ACCEPTED"}}, 200, "CHALLENGE_ACCEPTED"},
			{"wrong token", e.ch.WebhookKey, url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {"nope"}, "hub.challenge": {"1"}}, 403, ""},
			{"no token", e.ch.WebhookKey, url.Values{"hub.mode": {"subscribe"}, "hub.challenge": {"1"}}, 403, ""},
			{"wrong mode", e.ch.WebhookKey, url.Values{"hub.mode": {"unsubscribe"}, "hub.verify_token": {e.ch.VerifyToken}, "hub.challenge": {"1"}}, 403, ""},
			{"unknown key", "wh_unknown", url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {e.ch.VerifyToken}, "hub.challenge": {"1"}}, 404, ""},
			{"removed channel", removed.WebhookKey, url.Values{"hub.mode": {"subscribe"}, "hub.verify_token": {removed.VerifyToken}, "hub.challenge": {"1"}}, 404, ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				resp, err := e.srv.Client().Get(e.url(tt.key) + "?" + tt.query.Encode())
				require.NoError(t, err)
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				require.Equal(t, tt.wantCode, resp.StatusCode, string(b))
				if tt.wantCode == 200 {
					require.Equal(t, tt.wantBody, string(b), "the challenge is echoed raw")
					require.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain"))
				}
			})
		}
		require.Equal(t, 2.0, testutil.ToFloat64(e.metrics.Requests.WithLabelValues("verified")))
	})
}

func sha1Sig(body []byte, secret string) string {
	mac := hmac.New(sha1.New, []byte(secret))
	mac.Write(body)
	return "sha1=" + hex.EncodeToString(mac.Sum(nil))
}

func TestPost(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, newRecorder(nil), inbox.Options{})
		unconnected := e.newChannel("", messengerchannel.StatusAWAITING_PAGE_TOKEN)
		removed := e.newChannel("PAGE_REMOVED", messengerchannel.StatusREMOVED)
		msg := func(mid string) []byte { return body(testPage, textEvent(testPage, "U1", mid, 1700000000000)) }

		// Exactly the limit: valid JSON padded with spaces.
		atLimit := msg("m_at_limit")
		atLimit = append(atLimit, bytes.Repeat([]byte(" "), inbox.MaxBodyBytes-len(atLimit))...)
		tooBig := append(msg("m_too_big"), bytes.Repeat([]byte(" "), inbox.MaxBodyBytes)...)

		for _, tt := range []struct {
			name     string
			key      string
			body     []byte
			header   http.Header
			chunked  bool
			wantCode int
			wantBody string
			wantRows int // new rows for the test channel
		}{
			{name: "signed", body: msg("m_signed"), wantCode: 200, wantRows: 1},
			// Meta sends X-Hub-Signature-256 on every POST; a body signed only
			// with the legacy SHA-1 header is refused and nothing is stored.
			{name: "legacy sha1 only", body: msg("m_sha1"), header: http.Header{"X-Hub-Signature": {sha1Sig(msg("m_sha1"), testSecret)}}, wantCode: 403},
			{name: "unsigned", body: msg("m_unsigned"), header: http.Header{}, wantCode: 403},
			{name: "signed with another secret", body: msg("m_forged"), header: http.Header{"X-Hub-Signature-256": {sign(msg("m_forged"), "other")}}, wantCode: 403},
			{name: "signature of another body", body: msg("m_swapped"), header: http.Header{"X-Hub-Signature-256": {sign(msg("m_other"), testSecret)}}, wantCode: 403},
			{name: "malformed signature", body: msg("m_malformed_sig"), header: http.Header{"X-Hub-Signature-256": {"sha256=zz"}}, wantCode: 403},
			{name: "bad sha256 beside good sha1", body: msg("m_both"), header: http.Header{"X-Hub-Signature-256": {sign(msg("m_both"), "other")}, "X-Hub-Signature": {sha1Sig(msg("m_both"), testSecret)}}, wantCode: 403},
			{name: "exactly 1 MiB", body: atLimit, wantCode: 200, wantRows: 1},
			{name: "over 1 MiB", body: tooBig, wantCode: 413},
			{name: "over 1 MiB chunked", body: tooBig, chunked: true, wantCode: 413},
			{name: "unknown key", key: "wh_nope", body: msg("m_unknown"), wantCode: 404},
			{name: "removed channel", key: removed.WebhookKey, body: msg("m_removed"), wantCode: 404},
			{name: "page not connected", key: unconnected.WebhookKey, body: msg("m_unconnected"), wantCode: 403, wantBody: "connect the page"},
			{name: "malformed JSON", body: []byte(`{"object":"page","entry":[`), wantCode: 200},
			{name: "not a page", body: []byte(`{"object":"instagram","entry":[]}`), wantCode: 200},
			{name: "no events", body: []byte(`{"object":"page","entry":[{"id":"0","time":1,"changes":[{"field":"messages","value":{}}]}]}`), wantCode: 200},
			{name: "non-UTF-8 text", body: body(testPage, "{\"sender\":{\"id\":\"U1\"},\"recipient\":{\"id\":\"PAGE_1\"},\"timestamp\":1700000000001,\"message\":{\"mid\":\"m_latin1\",\"text\":\"caf\xe9\"}}"), wantCode: 200, wantRows: 1},
		} {
			t.Run(tt.name, func(t *testing.T) {
				key := tt.key
				if key == "" {
					key = e.ch.WebhookKey
				}
				header := tt.header
				if header == nil {
					header = http.Header{"X-Hub-Signature-256": {sign(tt.body, testSecret)}}
				}
				before := len(e.events(e.ch.ID))
				req, err := http.NewRequest(http.MethodPost, e.url(key), bytes.NewReader(tt.body))
				require.NoError(t, err)
				if tt.chunked {
					req.Body = io.NopCloser(bytes.NewReader(tt.body))
					req.ContentLength = -1
				}
				for k, v := range header {
					req.Header[k] = v
				}
				resp, err := e.srv.Client().Do(req)
				require.NoError(t, err)
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				require.Equal(t, tt.wantCode, resp.StatusCode, string(b))
				require.Contains(t, string(b), tt.wantBody)
				require.Len(t, e.events(e.ch.ID), before+tt.wantRows)
			})
		}
		require.EqualValues(t, 6, e.channels.(*testChannels).refused.Load(), "refused signatures reported for health")
		require.Empty(t, e.events(unconnected.ID))
		require.Empty(t, e.events(removed.ID))

		// The stored row carries what the worker needs.
		ctx := auth.SystemContext(context.Background())
		row, err := st.Client.InboxEvent.Query().Where(inboxevent.DedupKey("m_signed")).Only(ctx)
		require.NoError(t, err)
		require.Equal(t, e.ch.ID, row.ChannelID)
		require.Equal(t, e.ws.ID, row.WorkspaceID)
		require.Equal(t, "U1", row.Psid)
		require.Equal(t, inboxevent.StatusPENDING, row.Status)
		require.Equal(t, 0, row.Attempts)
		require.NotNil(t, row.EventTime)
		require.Equal(t, time.UnixMilli(1700000000000).UTC(), row.EventTime.UTC())
		ev, err := inbox.DecodeEvent(row.Payload)
		require.NoError(t, err)
		require.Equal(t, messenger.KindMessage, ev.Kind)
		require.Equal(t, testPage, ev.PageID)
		require.Equal(t, "m_signed", ev.MID)

		ch := st.Client.MessengerChannel.GetX(ctx, e.ch.ID)
		require.NotNil(t, ch.LastEventAt, "last_event_at moves with stored events")
		require.Equal(t, 3.0, testutil.ToFloat64(e.metrics.Stored))
	})
}

// TestSamples posts every sample body of internal/messenger/testdata, well
// signed: each is answered 200, and the events of the channel's page are
// stored once each.
func TestSamples(t *testing.T) {
	files, err := filepath.Glob("../messenger/testdata/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	runStores(t, func(t *testing.T, st *store.Store) {
		rec := newRecorder(nil)
		e := newEnv(t, st, rec, inbox.Options{})
		ctx := auth.SystemContext(context.Background())
		total := 0
		for _, f := range files {
			t.Run(filepath.Base(f), func(t *testing.T) {
				b, err := os.ReadFile(f)
				require.NoError(t, err)
				page := "PAGE_NONE"
				want := map[string]bool{}
				if wh, err := messenger.ParseWebhook(b); err == nil && len(wh.Events) > 0 && wh.Events[0].PageID != "" {
					page = wh.Events[0].PageID
					for _, ev := range wh.Events {
						if ev.PageID == page {
							want[ev.DedupKey()] = true
						}
					}
				}
				ch := e.newChannel(page, messengerchannel.StatusCONNECTED)
				// A page feeds one live channel at a time.
				defer st.Client.MessengerChannel.UpdateOne(ch).SetStatus(messengerchannel.StatusREMOVED).ExecX(ctx)
				code, _ := e.post(e.srv, ch.WebhookKey, b, http.Header{"X-Hub-Signature-256": {sign(b, testSecret)}})
				require.Equal(t, 200, code)
				rows := e.events(ch.ID)
				require.Len(t, rows, len(want))
				for _, r := range rows {
					require.True(t, want[r.DedupKey], "unexpected dedup key %q", r.DedupKey)
					ev, err := inbox.DecodeEvent(r.Payload)
					require.NoError(t, err)
					require.Equal(t, r.DedupKey, ev.DedupKey(), "the stored event parses back to itself")
					require.Equal(t, r.Psid, ev.PSID())
				}
				total += len(rows)
			})
		}
		require.Positive(t, total)

		// The worker hands every stored event to the Processor.
		e.run(e.in)
		require.Eventually(t, func() bool {
			n, err := st.Client.InboxEvent.Query().Where(inboxevent.StatusEQ(inboxevent.StatusDONE)).Count(ctx)
			return err == nil && n == total
		}, 20*time.Second, 10*time.Millisecond)
		require.Len(t, rec.snapshot(), total)
	})
}

func TestEventRoundTrip(t *testing.T) {
	files, err := filepath.Glob("../messenger/testdata/*.json")
	require.NoError(t, err)
	for _, f := range files {
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		wh, err := messenger.ParseWebhook(b)
		if err != nil {
			continue
		}
		for _, ev := range wh.Events {
			payload, err := inbox.EncodeEvent(ev)
			require.NoError(t, err)
			got, err := inbox.DecodeEvent(payload)
			require.NoError(t, err)
			require.Equal(t, ev, got, "%s", filepath.Base(f))
		}
	}
	_, err = inbox.DecodeEvent([]byte(`{"page_id":"1"}`))
	require.Error(t, err)
	_, err = inbox.DecodeEvent([]byte(`not json`))
	require.Error(t, err)
}

func TestRedelivery(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		rec := newRecorder(nil)
		e := newEnv(t, st, rec, inbox.Options{})
		b := body(testPage, textEvent(testPage, "U1", "m_once", 1700000000000), textEvent(testPage, "U1", "m_twice", 1700000000001))
		require.Equal(t, 200, e.postSigned(b))
		require.Equal(t, 200, e.postSigned(b), "a redelivery is acknowledged")
		require.Len(t, e.events(e.ch.ID), 2)

		e.run(e.in)
		e.waitSettled(e.ch.ID, 2)
		require.Equal(t, 200, e.postSigned(b), "a redelivery after processing is acknowledged")
		time.Sleep(100 * time.Millisecond) // several poll intervals
		require.Len(t, e.events(e.ch.ID), 2)
		require.Equal(t, 1, rec.count("m_once"))
		require.Equal(t, 1, rec.count("m_twice"))
		require.Equal(t, 2.0, testutil.ToFloat64(e.metrics.Stored))
		require.Equal(t, 4.0, testutil.ToFloat64(e.metrics.Duplicates))
		require.Equal(t, 2.0, testutil.ToFloat64(e.metrics.Processed))
	})
}

func TestOtherPageDropped(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, newRecorder(nil), inbox.Options{})
		ctx := auth.SystemContext(context.Background())

		// Only another page's events: acknowledged, nothing stored.
		other := body("PAGE_2", textEvent("PAGE_2", "U9", "m_other_only", 1700000000000))
		require.Equal(t, 200, e.postSigned(other))
		require.Empty(t, e.events(e.ch.ID))
		require.Nil(t, st.Client.MessengerChannel.GetX(ctx, e.ch.ID).LastEventAt)

		// A batch of two entries, ours and another page's.
		mixed := []byte(`{"object":"page","entry":[` +
			`{"id":"PAGE_1","time":1,"messaging":[` + textEvent(testPage, "U1", "m_ours", 1700000000000) + `]},` +
			`{"id":"PAGE_2","time":1,"messaging":[` + textEvent("PAGE_2", "U1", "m_theirs", 1700000000000) + `]}]}`)
		require.Equal(t, 200, e.postSigned(mixed))
		rows := e.events(e.ch.ID)
		require.Len(t, rows, 1)
		require.Equal(t, "m_ours", rows[0].DedupKey)
		require.NotNil(t, st.Client.MessengerChannel.GetX(ctx, e.ch.ID).LastEventAt)
		require.Equal(t, 2.0, testutil.ToFloat64(e.metrics.Dropped.WithLabelValues("other_page")))
	})
}

// TestPagesOfOneApp: a Meta app sends the events of all its Pages to the
// one callback URL it has, so events of another Page go to that Page's
// channel, when the channel is connected with the same app (secret).
func TestPagesOfOneApp(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, newRecorder(nil), inbox.Options{})
		ctx := auth.SystemContext(context.Background())
		sameApp := e.newChannel("PAGE_2", messengerchannel.StatusCONNECTED)
		otherApp := e.newChannel("PAGE_3", messengerchannel.StatusCONNECTED)
		e.channels.(*testChannels).secrets = map[int][]byte{otherApp.ID: []byte("another app's secret")}
		t.Cleanup(func() {
			st.Client.MessengerChannel.Update().Where(messengerchannel.IDIn(sameApp.ID, otherApp.ID)).
				SetStatus(messengerchannel.StatusREMOVED).Exec(ctx)
		})

		b := []byte(`{"object":"page","entry":[` +
			`{"id":"PAGE_1","time":1,"messaging":[` + textEvent(testPage, "U1", "m_1", 1700000000000) + `]},` +
			`{"id":"PAGE_2","time":1,"messaging":[` + textEvent("PAGE_2", "U2", "m_2", 1700000000000) + `,` +
			textEvent("PAGE_2", "U2", "m_2b", 1700000000001) + `]},` +
			`{"id":"PAGE_3","time":1,"messaging":[` + textEvent("PAGE_3", "U3", "m_3", 1700000000000) + `]},` +
			`{"id":"PAGE_4","time":1,"messaging":[` + textEvent("PAGE_4", "U4", "m_4", 1700000000000) + `]}]}`)
		require.Equal(t, 200, e.postSigned(b))

		keys := func(chID int) (out []string) {
			for _, r := range e.events(chID) {
				out = append(out, r.DedupKey)
			}
			return out
		}
		require.Equal(t, []string{"m_1"}, keys(e.ch.ID))
		require.Equal(t, []string{"m_2", "m_2b"}, keys(sameApp.ID))
		require.Empty(t, keys(otherApp.ID), "events were stored for a channel of another app")
		require.NotNil(t, st.Client.MessengerChannel.GetX(ctx, sameApp.ID).LastEventAt)
		require.Equal(t, 2.0, testutil.ToFloat64(e.metrics.Dropped.WithLabelValues("other_page")))
	})
}

func TestDatabaseDown(t *testing.T) {
	runStores(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st, newRecorder(nil), inbox.Options{})
		// A channel service that answers from memory: the failure is the
		// inbox's own write.
		snap := inbox.New(st, &snapshotChannels{ch: e.ch, secret: []byte(testSecret)}, newRecorder(nil), testOptions(inbox.Options{}))
		snapSrv := serve(t, snap)
		b := body(testPage, textEvent(testPage, "U1", "m_down", 1700000000000))
		require.NoError(t, st.Close())

		code, msg := e.post(snapSrv, e.ch.WebhookKey, b, http.Header{"X-Hub-Signature-256": {sign(b, testSecret)}})
		require.Equal(t, http.StatusServiceUnavailable, code, msg)
		code, msg = e.post(e.srv, e.ch.WebhookKey, b, http.Header{"X-Hub-Signature-256": {sign(b, testSecret)}})
		require.Equal(t, http.StatusServiceUnavailable, code, "a failed channel lookup is not a 404: %s", msg)
		require.Equal(t, 1.0, testutil.ToFloat64(e.metrics.Requests.WithLabelValues("unavailable")))
	})
}
