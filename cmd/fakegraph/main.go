// Command fakegraph serves a fake Meta Graph API on loopback, so SeaChat's
// Messenger setup can be tried end to end without a Facebook Page: point
// SEACHAT_GRAPH_API_URL at it, connect with one of its page tokens, and it
// prints every message SeaChat sends.
//
//	go run ./cmd/fakegraph -addr 127.0.0.1:9090 -page 1895382890692545:Harbor-Bikes:EAAGfaketoken
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/seachat/seachat/internal/messenger/messengertest"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9090", "listen address")
	pageFlag := flag.String("page", "1895382890692545:Harbor-Bikes:EAAGfaketoken", "page as ID:NAME:TOKEN (comma separated for several)")
	flag.Parse()

	var pages []messengertest.Page
	for _, spec := range strings.Split(*pageFlag, ",") {
		parts := strings.SplitN(spec, ":", 3)
		if len(parts) != 3 {
			fmt.Fprintf(os.Stderr, "fakegraph: -page %q: want ID:NAME:TOKEN\n", spec)
			os.Exit(2)
		}
		pages = append(pages, messengertest.Page{ID: parts[0], Name: parts[1], Token: parts[2]})
		fmt.Printf("page %s (%s): token %s\n", parts[0], parts[1], parts[2])
	}
	g := &messengertest.Graph{}
	h := g.Handler(pages...)
	go func() { // print what SeaChat sends
		seen := 0
		for range time.Tick(200 * time.Millisecond) {
			for _, s := range g.Sent()[seen:] {
				fmt.Printf("sent to %s (%s%s): %s\n", s.PSID, s.MessagingType, tagSuffix(s.Tag), s.Text)
				seen++
			}
		}
	}()
	fmt.Printf("fake Graph API on http://%s (set SEACHAT_GRAPH_API_URL to it)\n", *addr)
	srv := &http.Server{Addr: *addr, Handler: h, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

func tagSuffix(tag string) string {
	if tag == "" {
		return ""
	}
	return " " + tag
}
