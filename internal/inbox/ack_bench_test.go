package inbox_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/seachat/seachat/ent/messengerchannel"
	"github.com/seachat/seachat/internal/auth"
	"github.com/seachat/seachat/internal/inbox"
	"github.com/seachat/seachat/internal/messenger"
	"github.com/seachat/seachat/internal/store/storetest"
)

// BenchmarkAck measures acknowledging one webhook POST with one message,
// one request at a time, beside the floor: a handler that only checks the
// signature (what a webhook must do before anything else). The inbox's
// workers do not run.
func BenchmarkAck(b *testing.B) {
	bodies := func(prefix string) func(i int) ([]byte, string) {
		return func(i int) ([]byte, string) {
			body := body(testPage, textEvent(testPage, fmt.Sprint("U", i%500), fmt.Sprint(prefix, i), 1700000000000+int64(i)))
			return body, sign(body, testSecret)
		}
	}
	run := func(b *testing.B, h http.Handler, next func(i int) ([]byte, string)) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			body, sig := next(i)
			req := httptest.NewRequest(http.MethodPost, "/webhooks/messenger/key", bytes.NewReader(body))
			req.SetPathValue("key", "key")
			req.Header.Set("X-Hub-Signature-256", sig)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	}
	b.Run("baseline", func(b *testing.B) {
		run(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var buf bytes.Buffer
			buf.ReadFrom(r.Body)
			if err := messenger.CheckSignature(buf.Bytes(), r.Header.Get("X-Hub-Signature-256"), []byte(testSecret)); err != nil {
				http.Error(w, err.Error(), http.StatusForbidden)
			}
		}), bodies("mb_"))
	})
	for _, d := range storetest.Dialects {
		b.Run(d, func(b *testing.B) {
			st := storetest.Open(b, d)
			ctx := auth.SystemContext(context.Background())
			ws := st.Client.Workspace.Create().SetName("acme").SaveX(ctx)
			ag := st.Client.Agent.Create().SetWorkspaceID(ws.ID).SetName("Helper").SaveX(ctx)
			ch := st.Client.MessengerChannel.Create().SetWorkspaceID(ws.ID).SetAgentID(ag.ID).
				SetWebhookKey("key").SetVerifyToken("vt").SetStatus(messengerchannel.StatusCONNECTED).
				SetPageID(testPage).SaveX(ctx)
			in := inbox.New(st, &snapshotChannels{ch: ch, secret: []byte(testSecret)}, newRecorder(nil),
				inbox.Options{Metrics: inbox.NewMetrics(prometheus.NewRegistry())})
			run(b, in.Handler(), bodies("m_"))
		})
	}
}
