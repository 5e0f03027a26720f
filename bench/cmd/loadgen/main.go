// Command loadgen runs SeaChat's benchmarks (`make bench`) and writes
// bench/RESULTS.md and bench/results.json.
//
// It starts bin/seachat as a subprocess on a fresh SQLite file and on a
// fresh PostgreSQL database (created here and dropped at the end), serves
// the fake Graph API in-process, and measures three things, each beside a
// baseline measured in the same run on the same machine:
//
//   - webhook ingest: signed events posted at rising concurrency; acked
//     events per second and the time to 200. Baseline: bench/cmd/barehook,
//     a bare net/http handler that only checks the signature. After each
//     step every acked event is looked up in the database.
//   - end to end: conversations that each send a message and wait for the
//     reply at the fake Graph API before sending the next. Baseline: the
//     bare handler replying through the same fake directly.
//   - memory: the server's RSS when idle and after the load above.
//
// Everything stays on loopback; request counts and durations are bounded
// so that the whole run fits in a few minutes on 2 cores.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/seachat/seachat/bench/harness"
	"github.com/seachat/seachat/internal/messenger/messengertest"
)

const (
	pageID     = "1895382890692545"
	pageToken  = "EAAGbenchpagetoken"
	adminToken = "sct_bench_admin_token_0123456789abcdef"
)

// options bound the run.
type options struct {
	seachat, barehook string
	out               string
	postgres          string
	ingestLevels      []int
	ingestRequests    int64
	ingestMaxDur      time.Duration
	ingestUsers       int
	baselineDur       time.Duration
	e2eLevels         []int
	e2eMessages       int // per level: conversations × messages each ≈ this, at least 1 each
	e2eMaxDur         time.Duration
	pacedConvs        int
	pacedMessages     int
	pacedThink        time.Duration
	drainTimeout      time.Duration
	budget            time.Duration
	databases         []string
	memConversations  int
}

func main() {
	var o options
	var ingestLevels, e2eLevels string
	flag.StringVar(&o.seachat, "seachat", "bin/seachat", "the seachat binary")
	flag.StringVar(&o.barehook, "barehook", "bin/barehook", "the baseline binary (bench/cmd/barehook)")
	flag.StringVar(&o.out, "out", "bench", "directory for RESULTS.md and results.json")
	flag.StringVar(&o.postgres, "postgres", envOr("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"),
		"PostgreSQL server to create the benchmark database on; empty skips PostgreSQL")
	databases := flag.String("databases", "sqlite,postgres", "databases to run on, comma separated")
	flag.StringVar(&ingestLevels, "ingest-levels", "1,16,64", "ingest concurrency levels")
	flag.Int64Var(&o.ingestRequests, "ingest-requests", 1500, "requests per ingest step against seachat, at most (each is answered afterwards, so this bounds the drain)")
	flag.DurationVar(&o.ingestMaxDur, "ingest-duration", 8*time.Second, "duration of an ingest step against seachat, at most")
	flag.DurationVar(&o.baselineDur, "baseline-duration", 3*time.Second, "duration of an ingest step against the baseline")
	flag.IntVar(&o.ingestUsers, "ingest-users", 500, "distinct senders per ingest step")
	flag.StringVar(&e2eLevels, "e2e-levels", "1,50,200", "end-to-end concurrent conversations")
	flag.IntVar(&o.e2eMessages, "e2e-messages", 600, "messages per end-to-end step, at most (spread over the conversations)")
	flag.DurationVar(&o.e2eMaxDur, "e2e-duration", 25*time.Second, "duration of an end-to-end step, at most")
	flag.IntVar(&o.pacedConvs, "paced-conversations", 200, "conversations of the paced end-to-end step (0 skips it)")
	flag.IntVar(&o.pacedMessages, "paced-messages", 2, "messages per conversation in the paced step")
	flag.DurationVar(&o.pacedThink, "paced-think", 10*time.Second, "mean pause between a reply and the next message in the paced step")
	flag.IntVar(&o.memConversations, "memory-conversations", 10000, "stored conversations before the memory reading after load")
	flag.DurationVar(&o.drainTimeout, "drain-timeout", 60*time.Second, "how long to wait for the inbox to drain after an ingest step")
	flag.DurationVar(&o.budget, "budget", 9*time.Minute, "the whole run, at most")
	render := flag.Bool("render", false, "only render RESULTS.md again from results.json (and ANALYSIS.md)")
	flag.Parse()
	var err error
	o.databases = strings.Split(*databases, ",")
	if o.ingestLevels, err = ints(ingestLevels); err != nil {
		log.Fatalf("-ingest-levels: %v", err)
	}
	if o.e2eLevels, err = ints(e2eLevels); err != nil {
		log.Fatalf("-e2e-levels: %v", err)
	}
	if *render {
		// Only rewrite RESULTS.md from results.json, e.g. after editing ANALYSIS.md.
		b, err := os.ReadFile(filepath.Join(o.out, "results.json"))
		if err != nil {
			log.Fatalf("loadgen: %v", err)
		}
		var res Results
		if err := json.Unmarshal(b, &res); err != nil {
			log.Fatalf("loadgen: results.json: %v", err)
		}
		if err := write(o.out, &res); err != nil {
			log.Fatalf("loadgen: writing results: %v", err)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, o.budget)
	defer cancel()
	res, err := run(ctx, o)
	if err != nil {
		log.Fatalf("loadgen: %v", err)
	}
	if err := write(o.out, res); err != nil {
		log.Fatalf("loadgen: writing results: %v", err)
	}
	log.Printf("wrote %s and %s", filepath.Join(o.out, "RESULTS.md"), filepath.Join(o.out, "results.json"))
}

func run(ctx context.Context, o options) (*Results, error) {
	started := time.Now()
	res := &Results{Date: started.UTC().Format(time.RFC3339), Machine: describeMachine(), Commit: commit()}
	logDir, err := os.MkdirTemp("", "seachat-bench-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(logDir)

	fake := harness.NewFakeGraph(false, messengertest.Page{ID: pageID, Name: "Harbor Bikes", Token: pageToken})
	defer fake.Close()

	baseLog, _ := os.Create(filepath.Join(logDir, "barehook.log"))
	defer baseLog.Close()
	base, err := harness.StartBaseline(ctx, o.barehook,
		[]string{"-secret", harness.AppSecret, "-graph", fake.URL, "-token", pageToken}, baseLog)
	if err != nil {
		return nil, err
	}
	defer base.Stop(5 * time.Second)
	baseURL := base.URL + "/webhooks/messenger/bench"
	time.Sleep(500 * time.Millisecond)
	baseIdle, _ := base.RSS()

	var dbs []string
	for _, db := range o.databases {
		if db != "postgres" || o.postgres != "" {
			dbs = append(dbs, db)
		}
	}
	for _, db := range dbs {
		if ctx.Err() != nil {
			res.Notes = append(res.Notes, fmt.Sprintf("%s skipped: the run's time budget (%s) ran out", db, o.budget))
			continue
		}
		log.Printf("== %s", db)
		if err := benchDB(ctx, o, db, fake, base, baseURL, baseIdle, logDir, res); err != nil {
			return nil, fmt.Errorf("%s: %w", db, err)
		}
	}
	res.Seconds = time.Since(started).Seconds()
	res.Machine.LoadAfter = loadavg()
	res.Targets = targets(res)
	return res, nil
}

// benchDB runs every scenario against a seachat on one database.
func benchDB(ctx context.Context, o options, db string, fake *harness.FakeGraph, base *harness.Process,
	baseURL string, baseIdle int64, logDir string, res *Results,
) error {
	var databaseURL string
	switch db {
	case "sqlite":
		databaseURL = "sqlite://" + filepath.Join(logDir, "seachat.db")
	case "postgres":
		pg, err := harness.CreatePostgresDatabase(ctx, o.postgres, "seachat_bench")
		if err != nil {
			return err
		}
		defer func() {
			dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := pg.Drop(dctx); err != nil {
				log.Printf("dropping %s: %v", pg.Name, err)
			}
		}()
		databaseURL = pg.URL
		var v string
		pg.Admin().QueryRowContext(ctx, "SHOW server_version").Scan(&v)
		res.Machine.Postgres = v
	}
	serverLog, _ := os.Create(filepath.Join(logDir, "seachat-"+db+".log"))
	defer serverLog.Close()
	srv, err := harness.StartSeaChat(ctx, harness.SeaChatConfig{
		Bin: o.seachat, DatabaseURL: databaseURL, GraphAPIURL: fake.URL,
		AdminToken: adminToken, SecretKey: randomHex(32), Log: serverLog,
	})
	if err != nil {
		return err
	}
	defer func() {
		if err := srv.Stop(20 * time.Second); err != nil {
			log.Printf("stopping seachat: %v", err)
		}
	}()
	check, err := harness.OpenDB(databaseURL)
	if err != nil {
		return err
	}
	defer check.Close()

	if cl, err := measureCommits(ctx, db, databaseURL, logDir, 200); err != nil {
		log.Printf("measuring commit latency on %s: %v", db, err)
	} else {
		log.Printf("commit latency %s: p50 %.2fms p99 %.2fms (%s)", db, cl.Latency.P50, cl.Latency.P99, cl.Settings)
		res.Commits = append(res.Commits, cl)
	}
	time.Sleep(time.Second) // let start-up work settle before the idle reading
	idle, _ := srv.RSS()
	ch, err := harness.SetupChannel(ctx, harness.GraphQL{URL: srv.URL, Token: adminToken}, pageID, pageToken)
	if err != nil {
		return err
	}
	ourURL := ch.WebhookURL
	client := harness.NewHTTPClient(256)
	defer client.CloseIdleConnections()
	tag := strconv.FormatInt(time.Now().UnixNano()%1e9, 36)

	for _, c := range o.ingestLevels {
		if ctx.Err() != nil {
			break
		}
		prefix := fmt.Sprintf("%s_i%d_", tag, c)
		// The baseline stores nothing, so it runs for a fixed time rather
		// than a fixed count: a few hundred milliseconds would be all noise.
		baseRun := ingestStep(ctx, client, "baseline", baseURL, pageID, base.PID(), c,
			1<<40, o.baselineDur, o.ingestUsers, "b"+prefix, "mb_"+prefix, nil)
		var mu sync.Mutex
		var acked []string
		commits := check.Commits(ctx)
		stepStart := time.Now()
		ours := ingestStep(ctx, client, "seachat", ourURL, pageID, srv.PID(), c,
			o.ingestRequests, o.ingestMaxDur, o.ingestUsers, "u"+prefix, "m_"+prefix, func(mid string) {
				mu.Lock()
				acked = append(acked, mid)
				mu.Unlock()
			})
		r := IngestResult{DB: db, Concurrency: c, Ours: ours, Baseline: baseRun}
		// Every acked event must be in the database: look each one up.
		stored, err := check.Strings(ctx, `SELECT dedup_key FROM inbox_events WHERE dedup_key LIKE ?`, "m_"+prefix+"%")
		if err != nil {
			return fmt.Errorf("reading stored events: %w", err)
		}
		have := make(map[string]bool, len(stored))
		for _, k := range stored {
			have[k] = true
		}
		for _, m := range acked {
			if !have[m] {
				r.LostAcked++
			}
		}
		r.Stored = len(stored)
		r.Durable = r.LostAcked == 0 && int64(len(acked)) == ours.OK
		// The bot answers every stored event: wait for the queue to drain,
		// so that the next step does not pay for this one's backlog.
		drainStart := time.Now()
		r.Drained, r.DrainSeconds = drain(ctx, check, o.drainTimeout)
		if r.Drained {
			r.ProcessedPerSecond = float64(r.Stored) / time.Since(stepStart).Seconds()
			if n := check.Commits(ctx); commits >= 0 && n >= commits && r.Stored > 0 {
				r.CommitsPerEvent = float64(n-commits) / float64(r.Stored)
			}
		}
		log.Printf("ingest %s c=%d: ours %.0f/s p50 %.2fms p99 %.2fms (%d ok, %d failed) | baseline %.0f/s p50 %.2fms p99 %.2fms | stored %d lost %d | drained %v in %.1fs",
			db, c, ours.PerSecond, ours.Latency.P50, ours.Latency.P99, ours.OK, ours.Failed,
			baseRun.PerSecond, baseRun.Latency.P50, baseRun.Latency.P99, r.Stored, r.LostAcked, r.Drained, time.Since(drainStart).Seconds())
		res.Ingest = append(res.Ingest, r)
	}

	type e2eCase struct {
		convs, perConv int
		think          time.Duration
	}
	var cases []e2eCase
	for _, c := range o.e2eLevels {
		cases = append(cases, e2eCase{c, max(1, o.e2eMessages/c), 0})
	}
	if o.pacedConvs > 0 {
		cases = append(cases, e2eCase{o.pacedConvs, o.pacedMessages, o.pacedThink})
	}
	for _, k := range cases {
		if ctx.Err() != nil {
			break
		}
		prefix := fmt.Sprintf("%s_e%d_%d_", tag, k.convs, k.think/time.Second)
		maxDur := o.e2eMaxDur
		if k.think > 0 {
			maxDur = time.Duration(k.perConv+1) * k.think * 2
		}
		baseRun := e2eStep(ctx, client, fake, "baseline", baseURL, pageID, base.PID(), k.convs, k.perConv,
			k.think, maxDur, 30*time.Second, "b"+prefix)
		commits := check.Commits(ctx)
		ours := e2eStep(ctx, client, fake, "seachat", ourURL, pageID, srv.PID(), k.convs, k.perConv,
			k.think, maxDur, 30*time.Second, "u"+prefix)
		log.Printf("e2e %s %d conversations × %d, think %s: ours p50 %.2fms p99 %.2fms (%d ok, %d failed) | baseline p50 %.2fms p99 %.2fms",
			db, k.convs, k.perConv, k.think, ours.Latency.P50, ours.Latency.P99, ours.OK, ours.Failed, baseRun.Latency.P50, baseRun.Latency.P99)
		// A reply can be in flight at the end of a step; let it land.
		drain(ctx, check, o.drainTimeout)
		r := E2EResult{DB: db, Conversations: k.convs, MessagesEach: k.perConv, ThinkSeconds: k.think.Seconds(), Ours: ours, Baseline: baseRun}
		if n := check.Commits(ctx); commits >= 0 && n >= commits && ours.OK > 0 {
			r.CommitsPerReply = float64(n-commits) / float64(ours.OK)
		}
		res.E2E = append(res.E2E, r)
	}

	// Memory with many stored conversations: new people, 100 to a webhook
	// body, up to o.memConversations, each answered by the bot.
	if err := fill(ctx, client, check, []string{ourURL, baseURL}, o.memConversations, tag); err != nil {
		res.Notes = append(res.Notes, fmt.Sprintf("%s: filling to %d conversations: %v", db, o.memConversations, err))
	}
	drain(ctx, check, 3*o.drainTimeout)

	mem := MemoryResult{DB: db, IdleMiB: mib(idle), BaselineIdleMiB: mib(baseIdle)}
	runtimeGCPause()
	after, _ := srv.RSS()
	baseAfter, _ := base.RSS()
	mem.AfterMiB, mem.BaselineAfterMiB = mib(after), mib(baseAfter)
	mem.Conversations, _ = check.Count(ctx, `SELECT count(*) FROM conversations`)
	mem.Messages, _ = check.Count(ctx, `SELECT count(*) FROM messages`)
	mem.InboxEvents, _ = check.Count(ctx, `SELECT count(*) FROM inbox_events`)
	log.Printf("memory %s: idle %.1f MiB, after %d conversations / %d messages %.1f MiB | baseline %.1f → %.1f MiB",
		db, mem.IdleMiB, mem.Conversations, mem.Messages, mem.AfterMiB, mem.BaselineIdleMiB, mem.BaselineAfterMiB)
	res.Memory = append(res.Memory, mem)

	if n := strings.Count(srv.Output(), `"level":"ERROR"`); n > 0 {
		res.Notes = append(res.Notes, fmt.Sprintf("%s: the server logged %d errors during the run", db, n))
	}
	return nil
}

// drain waits until no inbox event is PENDING, at most timeout.
func drain(ctx context.Context, db *harness.DB, timeout time.Duration) (bool, float64) {
	start := time.Now()
	for {
		n, err := db.PendingEvents(ctx)
		if err == nil && n == 0 {
			return true, time.Since(start).Seconds()
		}
		if time.Since(start) > timeout || ctx.Err() != nil {
			return false, time.Since(start).Seconds()
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runtimeGCPause gives the server a moment after the load, so the reading
// is of what it keeps rather than of requests in flight.
func runtimeGCPause() { time.Sleep(2 * time.Second) }

func mib(b int64) float64 { return float64(b) / (1 << 20) }

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

func ints(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q: want positive integers, comma separated", s)
		}
		out = append(out, n)
	}
	return out, nil
}

func envOr(k, def string) string {
	if v, ok := os.LookupEnv(k); ok {
		return v
	}
	return def
}
