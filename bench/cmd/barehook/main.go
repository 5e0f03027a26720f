// Command barehook is the benchmarks' baseline: the simplest Messenger
// webhook that is still correct about signatures. It is a bare net/http
// handler that reads the body, checks X-Hub-Signature-256 with the app
// secret and answers 200 — it stores nothing. With -graph it also answers
// each text message by calling the Send API directly, from a goroutine
// after the 200, so the end-to-end benchmark has a round trip to compare
// with.
//
//	barehook -secret FAKE_SECRET [-graph http://127.0.0.1:port -token PAGE_TOKEN]
//
// It listens on loopback and prints "listening on http://…" when ready.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address (loopback)")
	secret := flag.String("secret", "", "app secret that signs webhook bodies")
	graph := flag.String("graph", "", "Graph API base URL; empty: do not reply")
	token := flag.String("token", "", "page access token for the Send API")
	flag.Parse()
	if *secret == "" {
		fmt.Fprintln(os.Stderr, "barehook: -secret is required")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "barehook:", err)
		os.Exit(1)
	}
	h := &hook{secret: []byte(*secret), graph: strings.TrimRight(*graph, "/"), token: *token,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 256}}}
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/messenger/{key}", h)
	fmt.Printf("listening on http://%s\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintln(os.Stderr, srv.Serve(ln))
	os.Exit(1)
}

type hook struct {
	secret []byte
	graph  string
	token  string
	client *http.Client
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	got, err := hex.DecodeString(strings.TrimPrefix(r.Header.Get("X-Hub-Signature-256"), "sha256="))
	mac := hmac.New(sha256.New, h.secret)
	mac.Write(body)
	if err != nil || !hmac.Equal(got, mac.Sum(nil)) {
		http.Error(w, "invalid signature", http.StatusForbidden)
		return
	}
	io.WriteString(w, "EVENT_RECEIVED")
	if h.graph != "" {
		go h.reply(body)
	}
}

// reply answers every text message of body with one Send API call.
func (h *hook) reply(body []byte) {
	var wh struct {
		Entry []struct {
			Messaging []struct {
				Sender  struct{ ID string } `json:"sender"`
				Message *struct {
					IsEcho bool   `json:"is_echo"`
					Text   string `json:"text"`
				} `json:"message"`
			} `json:"messaging"`
		} `json:"entry"`
	}
	if json.Unmarshal(body, &wh) != nil {
		return
	}
	for _, e := range wh.Entry {
		for _, m := range e.Messaging {
			if m.Message == nil || m.Message.IsEcho || m.Sender.ID == "" {
				continue
			}
			req, _ := json.Marshal(map[string]any{
				"recipient":      map[string]string{"id": m.Sender.ID},
				"messaging_type": "RESPONSE",
				"message":        map[string]string{"text": "We are open Monday to Saturday from 9 am to 6 pm."},
			})
			hr, _ := http.NewRequest(http.MethodPost, h.graph+"/v25.0/me/messages", bytes.NewReader(req))
			hr.Header.Set("Content-Type", "application/json")
			hr.Header.Set("Authorization", "Bearer "+h.token)
			res, err := h.client.Do(hr)
			if err != nil {
				fmt.Fprintln(os.Stderr, "barehook: send:", err)
				continue
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	}
}
