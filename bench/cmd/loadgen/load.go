package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/seachat/seachat/bench/harness"
)

// Latency is a latency distribution, in milliseconds.
type Latency struct {
	N    int64   `json:"n"`
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// Run is one measured load step against one server.
type Run struct {
	Target      string  `json:"target"` // "seachat" or "baseline"
	Concurrency int     `json:"concurrency"`
	Think       float64 `json:"think_seconds,omitempty"` // end to end: mean pause between a reply and the next message
	Requests    int64   `json:"requests"`                // sent
	OK          int64   `json:"ok"`                      // acked with 200 (ingest) or answered (e2e)
	Failed      int64   `json:"failed"`                  // non-200, transport errors, missing replies
	Seconds     float64 `json:"seconds"`
	PerSecond   float64 `json:"per_second"` // OK per wall-clock second
	Latency     Latency `json:"latency"`
	// ServerCPUms is the server process's CPU time per OK request.
	ServerCPUms float64 `json:"server_cpu_ms_per_ok"`
	// Statuses counts the HTTP statuses other than 200, and transport errors as 0.
	Statuses map[int]int64 `json:"statuses,omitempty"`
}

// recorder is a concurrency-safe HDR histogram of microseconds.
type recorder struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram
}

func newRecorder() *recorder {
	return &recorder{h: hdrhistogram.New(1, (5 * time.Minute).Microseconds(), 3)}
}

func (r *recorder) record(d time.Duration) {
	r.mu.Lock()
	r.h.RecordValue(max(d.Microseconds(), 1))
	r.mu.Unlock()
}

func (r *recorder) latency() Latency {
	r.mu.Lock()
	defer r.mu.Unlock()
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return Latency{
		N: r.h.TotalCount(), P50: ms(r.h.ValueAtQuantile(50)), P90: ms(r.h.ValueAtQuantile(90)),
		P99: ms(r.h.ValueAtQuantile(99)), Max: ms(r.h.Max()), Mean: r.h.Mean() / 1000,
	}
}

type statusCounter struct {
	mu sync.Mutex
	m  map[int]int64
}

func (s *statusCounter) add(code int) {
	s.mu.Lock()
	if s.m == nil {
		s.m = map[int]int64{}
	}
	s.m[code]++
	s.mu.Unlock()
}

// cpuMeter measures a process's CPU time over a step.
type cpuMeter struct {
	pid   int
	start time.Duration
}

func meterCPU(pid int) cpuMeter {
	t, _ := harness.CPUTime(pid)
	return cpuMeter{pid: pid, start: t}
}

func (m cpuMeter) perOK(ok int64) float64 {
	t, err := harness.CPUTime(m.pid)
	if err != nil || ok == 0 {
		return 0
	}
	return float64((t - m.start).Microseconds()) / 1000 / float64(ok)
}

// ingestStep posts signed text events with c concurrent senders until
// maxRequests were sent or maxDur passed, and measures the time to 200.
// Event n comes from user psidPrefix+(n mod users) with mid midPrefix+n.
// acked receives the mids that got a 200.
func ingestStep(ctx context.Context, client *http.Client, target, webhookURL, pageID string, pid, c int,
	maxRequests int64, maxDur time.Duration, users int, psidPrefix, midPrefix string, acked func(mid string),
) Run {
	rec := newRecorder()
	var next, ok, failed atomic.Int64
	var statuses statusCounter
	cpu := meterCPU(pid)
	deadline := time.Now().Add(maxDur)
	start := time.Now()
	var wg sync.WaitGroup
	for range c {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				n := next.Add(1)
				if n > maxRequests {
					return
				}
				mid := fmt.Sprintf("%s%d", midPrefix, n)
				psid := fmt.Sprintf("%s%d", psidPrefix, n%int64(users))
				body := harness.TextEvent(pageID, psid, mid, harness.Question, time.Now())
				t0 := time.Now()
				code, err := harness.PostSigned(ctx, client, webhookURL, body)
				d := time.Since(t0)
				if err != nil || code != http.StatusOK {
					failed.Add(1)
					statuses.add(code)
					continue
				}
				rec.record(d)
				ok.Add(1)
				if acked != nil {
					acked(mid)
				}
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	return Run{
		Target: target, Concurrency: c, Requests: ok.Load() + failed.Load(), OK: ok.Load(), Failed: failed.Load(),
		Seconds: secs, PerSecond: float64(ok.Load()) / secs, Latency: rec.latency(),
		ServerCPUms: cpu.perOK(ok.Load()), Statuses: statuses.m,
	}
}

// e2eStep runs c conversations at once. Each sends a signed text message,
// waits until the fake Graph API receives the reply, then sends the next,
// perConv times or until maxDur passed. The latency is from the start of
// the webhook POST to the reply's arrival at the fake. With think > 0 each
// conversation starts at a random moment within think and pauses between
// half and one and a half times think after each reply, as a person
// typing would; with think 0 they write back to back, which measures the
// server saturated (latency is then about c ÷ throughput).
func e2eStep(ctx context.Context, client *http.Client, fake *harness.FakeGraph, target, webhookURL, pageID string,
	pid, c, perConv int, think, maxDur, replyTimeout time.Duration, prefix string,
) Run {
	rec := newRecorder()
	var sent, ok, failed atomic.Int64
	var statuses statusCounter
	cpu := meterCPU(pid)
	deadline := time.Now().Add(maxDur)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range c {
		wg.Go(func() {
			psid := fmt.Sprintf("%s%d", prefix, i)
			replies := fake.Await(psid)
			defer fake.Forget(psid)
			if think > 0 {
				pause(ctx, rand.N(think))
			}
			for k := 0; k < perConv && ctx.Err() == nil && time.Now().Before(deadline); k++ {
				if k > 0 && think > 0 {
					pause(ctx, think/2+rand.N(think))
				}
				body := harness.TextEvent(pageID, psid, fmt.Sprintf("m_%s_%d", psid, k), harness.Question, time.Now())
				t0 := time.Now()
				sent.Add(1)
				code, err := harness.PostSigned(ctx, client, webhookURL, body)
				if err != nil || code != http.StatusOK {
					failed.Add(1)
					statuses.add(code)
					continue
				}
				select {
				case r := <-replies:
					rec.record(r.At.Sub(t0))
					ok.Add(1)
				case <-time.After(replyTimeout):
					failed.Add(1)
					statuses.add(-1) // -1: no reply in time
					return
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	return Run{
		Target: target, Concurrency: c, Think: think.Seconds(), Requests: sent.Load(), OK: ok.Load(), Failed: failed.Load(),
		Seconds: secs, PerSecond: float64(ok.Load()) / secs, Latency: rec.latency(),
		ServerCPUms: cpu.perOK(ok.Load()), Statuses: statuses.m,
	}
}

// pause sleeps for d or until ctx is done.
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}

// fill posts messages of new people, 100 to a webhook body, to each of the
// webhook URLs until the database holds want conversations.
func fill(ctx context.Context, client *http.Client, check *harness.DB, urls []string, want int, tag string) error {
	have, err := check.Count(ctx, `SELECT count(*) FROM conversations`)
	if err != nil {
		return err
	}
	const perBody = 100
	bodies := (want - have + perBody - 1) / perBody
	var next atomic.Int64
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for ctx.Err() == nil {
				n := int(next.Add(1))
				if n > bodies {
					return
				}
				at := time.Now()
				events := make([]json.RawMessage, perBody)
				for i := range events {
					psid := fmt.Sprintf("f%s_%d_%d", tag, n, i)
					events[i] = harness.Messaging(pageID, psid, "mf_"+psid, harness.Question, at)
				}
				body := harness.Body(pageID, at, events...)
				for _, u := range urls {
					if code, err := harness.PostSigned(ctx, client, u, body); err != nil || code != http.StatusOK {
						select {
						case errs <- fmt.Errorf("posting to %s: status %d, %v", u, code, err):
						default:
						}
						return
					}
				}
			}
		})
	}
	wg.Wait()
	select {
	case err := <-errs:
		return err
	default:
		return ctx.Err()
	}
}
