package main

import (
	"fmt"
	"runtime"
	"strings"
	"time"
)

func report(rows [][2]result, m int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Subscription fan-out (`bench/cmd/fanout`)\n\n")
	fmt.Fprintf(&b, "%s, %s/%s, %d CPUs. SeaChat on SQLite with the fake Graph API; %d signed webhook messages per row, posted one at a time; "+
		"each waits for every subscriber's INBOUND `messageAdded` and then its OUTBOUND one (the bot's reply) before the next.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), m)
	fmt.Fprintf(&b, "| figure | N | ours | baseline | ratio |\n|---|---:|---:|---:|---:|\n")
	ratio := func(a, c float64) string {
		if c < 0.01 {
			return "–"
		}
		return fmt.Sprintf("%.1f×", a/c)
	}
	for _, p := range rows {
		o, s := p[0], p[1]
		fmt.Fprintf(&b, "| delivery − ack p50 (ms) | %d | %.2f | %.2f | %s |\n", o.n, o.afterAck.p50, s.afterAck.p50, ratio(o.afterAck.p50, s.afterAck.p50))
		fmt.Fprintf(&b, "| delivery − ack p99 (ms) | %d | %.2f | %.2f | %s |\n", o.n, o.afterAck.p99, s.afterAck.p99, ratio(o.afterAck.p99, s.afterAck.p99))
		fmt.Fprintf(&b, "| delivery − POST start p99 (ms) | %d | %.2f | %.2f | %s |\n", o.n, o.afterReq.p99, s.afterReq.p99, ratio(o.afterReq.p99, s.afterReq.p99))
		fmt.Fprintf(&b, "| RSS per idle subscriber (KiB) | %d | %.1f | %.1f | %s |\n", o.n, o.rssPerSub/1024, s.rssPerSub/1024, ratio(o.rssPerSub, s.rssPerSub))
	}
	fmt.Fprintf(&b, "\n| target | N | acked / posted | events delivered / missing | events before the 200 | RSS before → with N idle (MiB) |\n|---|---:|---:|---:|---:|---:|\n")
	for _, p := range rows {
		for _, r := range p {
			name := "seachat"
			if r == p[1] {
				name = "baseline"
			}
			fmt.Fprintf(&b, "| %s | %d | %d / %d | %d / %d | %d | %.1f → %.1f |\n", name, r.n, r.acked, r.posts, r.delivered, r.missing, r.early,
				float64(r.rssBefore)/(1<<20), float64(r.rssIdle)/(1<<20))
		}
	}
	b.WriteString(`
- **delivery − ack**: for each subscriber and message, the arrival of its INBOUND ` + "`messageAdded`" + ` event at the
  client minus the arrival of the webhook's 200 (an event that came before the 200 counts as 0 and is counted in
  "events before the 200"). **delivery − POST start** is the same from the start of the POST.
  HdrHistogram, 3 significant digits, over all subscribers × messages.
- **RSS per idle subscriber**: server VmRSS (` + "`/proc/<pid>/status`" + `) 1.5 s after all N subscriptions are counted
  by ` + "`/metrics`" + `, minus the same before they were opened, ÷ N. Small N is noise-dominated (RSS moves in pages and with GC).
- **baseline**: ` + "`fanout -serve-baseline`" + `, a separate process: a coder/websocket server speaking
  graphql-transport-ws (token check in connection_init, one subscribe, ping/pong) and a webhook handler that checks
  the HMAC signature, decodes the body and queues to every subscriber's writer goroutine the INBOUND event and an
  OUTBOUND stand-in for the reply, then answers 200. No GraphQL execution, no database, no bot. It is a floor,
  not a competitor.
- SeaChat runs with ` + "`SEACHAT_RATE_LIMIT=0`" + ` so that N subscribe operations on one token are not rate-limited.
  All subscribers use the admin token and ` + "`subscription{messageAdded{id direction}}`" + `.
`)
	return b.String()
}
