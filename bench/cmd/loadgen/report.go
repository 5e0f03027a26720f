package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/seachat/seachat/bench/harness"
)

// Results is everything one run measured; results.json is this.
type Results struct {
	Date    string          `json:"date"`
	Commit  string          `json:"commit"`
	Machine Machine         `json:"machine"`
	Seconds float64         `json:"seconds"`
	Ingest  []IngestResult  `json:"ingest"`
	E2E     []E2EResult     `json:"e2e"`
	Memory  []MemoryResult  `json:"memory"`
	Commits []CommitLatency `json:"commit_latency"`
	Targets []Target        `json:"targets"`
	Notes   []string        `json:"notes,omitempty"`
}

// Machine describes where the run happened.
type Machine struct {
	CPU      string `json:"cpu"`
	CPUs     int    `json:"cpus"`
	MemoryMB int    `json:"memory_mb"`
	Kernel   string `json:"kernel"`
	Go       string `json:"go"`
	Postgres string `json:"postgres,omitempty"`
	// LoadBefore and LoadAfter are /proc/loadavg at the start and end of
	// the run: other work on the machine skews the figures.
	LoadBefore string `json:"loadavg_before"`
	LoadAfter  string `json:"loadavg_after"`
}

func (m Machine) short() string {
	return fmt.Sprintf("%d× %s, %d GiB", m.CPUs, m.CPU, (m.MemoryMB+512)/1024)
}

// IngestResult is one webhook ingest step.
type IngestResult struct {
	DB          string `json:"db"`
	Concurrency int    `json:"concurrency"`
	Ours        Run    `json:"seachat"`
	Baseline    Run    `json:"baseline"`
	// Stored is how many of the step's events are in inbox_events;
	// LostAcked how many acked events are not.
	Stored    int  `json:"stored"`
	LostAcked int  `json:"lost_acked"`
	Durable   bool `json:"every_acked_event_stored"`
	// Drained says whether the bot processed the step's backlog within the
	// drain timeout, and DrainSeconds how long after the last ack it took.
	Drained      bool    `json:"drained"`
	DrainSeconds float64 `json:"drain_seconds"`
	// ProcessedPerSecond is stored events over the time from the step's
	// start to the drained queue: the rate at which replies were produced.
	ProcessedPerSecond float64 `json:"processed_per_second"`
	// CommitsPerEvent is PostgreSQL's committed transactions in the
	// database per stored event, from its ack to its reply (PostgreSQL
	// only; 0 elsewhere).
	CommitsPerEvent float64 `json:"pg_commits_per_event,omitempty"`
}

// E2EResult is one end-to-end step.
type E2EResult struct {
	DB            string `json:"db"`
	Conversations int    `json:"conversations"`
	MessagesEach  int    `json:"messages_each"`
	// ThinkSeconds is the mean pause between a reply and the conversation's
	// next message; 0: back to back.
	ThinkSeconds float64 `json:"think_seconds"`
	Ours         Run     `json:"seachat"`
	Baseline     Run     `json:"baseline"`
	// CommitsPerReply is PostgreSQL's committed transactions per answered
	// message (PostgreSQL only).
	CommitsPerReply float64 `json:"pg_commits_per_reply,omitempty"`
}

// label names the step: its database, conversations and pace.
func (e E2EResult) label() string {
	if e.ThinkSeconds == 0 {
		if e.Conversations == 1 {
			return e.DB + ", 1 conversation back to back"
		}
		return fmt.Sprintf("%s, %d conversations back to back", e.DB, e.Conversations)
	}
	return fmt.Sprintf("%s, %d conversations, paced (~%.0f s between a reply and the next message)", e.DB, e.Conversations, e.ThinkSeconds)
}

// MemoryResult is the server's resident memory.
type MemoryResult struct {
	DB               string  `json:"db"`
	IdleMiB          float64 `json:"idle_rss_mib"`
	AfterMiB         float64 `json:"after_load_rss_mib"`
	Conversations    int     `json:"conversations_stored"`
	Messages         int     `json:"messages_stored"`
	InboxEvents      int     `json:"inbox_events_stored"`
	BaselineIdleMiB  float64 `json:"baseline_idle_rss_mib"`
	BaselineAfterMiB float64 `json:"baseline_after_load_rss_mib"`
}

// Target is one of the targets, judged on this run.
type Target struct {
	Name    string `json:"name"`
	Met     bool   `json:"met"`
	Measure string `json:"measured"`
}

func targets(r *Results) []Target {
	var out []Target
	for _, in := range r.Ingest {
		ratio := in.Ours.PerSecond / in.Baseline.PerSecond
		t := Target{Name: fmt.Sprintf("ingest %s c=%d: ≥ 25%% of baseline throughput, every acked event stored", in.DB, in.Concurrency)}
		t.Met = ratio >= 0.25 && in.Durable
		t.Measure = fmt.Sprintf("%.1f%% of baseline (%.0f vs %.0f events/s); %d acked, %d of them not stored",
			100*ratio, in.Ours.PerSecond, in.Baseline.PerSecond, in.Ours.OK, in.LostAcked)
		if !t.Met && ratio < 0.25 {
			t.Measure += fmt.Sprintf("; missed by %.1f points (%.1f× short)", 100*(0.25-ratio), 0.25/ratio)
		}
		out = append(out, t)
	}
	for _, e := range r.E2E {
		if e.Conversations != 200 {
			continue
		}
		p50, p99 := e.Ours.Latency.P50, e.Ours.Latency.P99
		t := Target{Name: fmt.Sprintf("end to end %s: p50 < 20 ms and p99 < 100 ms", e.label())}
		t.Met = p50 < 20 && p99 < 100 && e.Ours.Failed == 0
		t.Measure = fmt.Sprintf("p50 %s, p99 %s (baseline %s / %s)", ms(p50), ms(p99), ms(e.Baseline.Latency.P50), ms(e.Baseline.Latency.P99))
		var miss []string
		if p50 >= 20 {
			miss = append(miss, fmt.Sprintf("p50 over by %s (%.1f×)", ms(p50-20), p50/20))
		}
		if p99 >= 100 {
			miss = append(miss, fmt.Sprintf("p99 over by %s (%.1f×)", ms(p99-100), p99/100))
		}
		if e.Ours.Failed > 0 {
			miss = append(miss, fmt.Sprintf("%d messages got no reply in time", e.Ours.Failed))
		}
		if len(miss) > 0 {
			t.Measure += "; " + strings.Join(miss, ", ")
		}
		out = append(out, t)
	}
	return out
}

func write(dir string, r *Results) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "results.json"), append(b, '\n'), 0o644); err != nil {
		return err
	}
	md := markdown(r, dir)
	// make eval owns the "Answer quality" section (bench/eval): keep it.
	if old, err := os.ReadFile(filepath.Join(dir, "RESULTS.md")); err == nil {
		if section := harness.Section(string(old), answerQuality); section != "" {
			md = harness.ReplaceSection(md, answerQuality, section)
		}
	}
	return os.WriteFile(filepath.Join(dir, "RESULTS.md"), []byte(md), 0o644)
}

// answerQuality heads the section of RESULTS.md that make eval writes
// (eval.SummaryHeading; bench/eval is not imported for one string).
const answerQuality = "## Answer quality"

func markdown(r *Results, dir string) string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	date := r.Date[:10]
	mach := r.Machine.short()
	p("# SeaChat benchmarks\n\n")
	p("Generated by `make bench` (`bench/cmd/loadgen`) on %s at commit `%s`, in %.0f s. Raw figures: `results.json`.\n\n", r.Date, r.Commit, r.Seconds)
	p("Machine: %d CPUs (%s), %d MB RAM, Linux %s, %s", r.Machine.CPUs, r.Machine.CPU, r.Machine.MemoryMB, r.Machine.Kernel, r.Machine.Go)
	if r.Machine.Postgres != "" {
		p(", PostgreSQL %s (local, shared with other work on this machine)", r.Machine.Postgres)
	}
	p(".\nLoad average (1, 5, 15 min) before the run: %s; after: %s — on 2 CPUs, anything above about 1 before the run is other work competing with the benchmark.\n", r.Machine.LoadBefore, r.Machine.LoadAfter)
	p("The load generator, the fake Graph API (inside the load generator), `bin/seachat` and the baseline all run on these same CPUs over loopback.\n\n")
	p("**ours** is `bin/seachat` (offline responder, default settings, logs at info to a file). **baseline** is `bench/cmd/barehook`, ")
	p("a bare `net/http` handler that only checks `X-Hub-Signature-256` and answers 200 (for end to end it then calls the fake Send API directly); ")
	p("it stores nothing. Both are separate processes driven by the same load generator, one right after the other in each step. ")
	p("**ratio** is ours ÷ baseline: above 1 is better for throughput, worse for latency and memory.\n\n")

	p("| figure | ours | baseline | ratio | machine | date |\n|---|---:|---:|---:|---|---|\n")
	row := func(fig, ours, base string, ratio float64) {
		p("| %s | %s | %s | %s | %s | %s |\n", fig, ours, base, fmtRatio(ratio), mach, date)
	}
	for _, in := range r.Ingest {
		f := fmt.Sprintf("ingest %s c=%d", in.DB, in.Concurrency)
		row(f+": acked events/s", fmt.Sprintf("%.0f", in.Ours.PerSecond), fmt.Sprintf("%.0f", in.Baseline.PerSecond), in.Ours.PerSecond/in.Baseline.PerSecond)
		row(f+": p50 time to 200", ms(in.Ours.Latency.P50), ms(in.Baseline.Latency.P50), in.Ours.Latency.P50/in.Baseline.Latency.P50)
		row(f+": p99 time to 200", ms(in.Ours.Latency.P99), ms(in.Baseline.Latency.P99), in.Ours.Latency.P99/in.Baseline.Latency.P99)
	}
	for _, e := range r.E2E {
		f := "end to end " + e.label()
		row(f+": p50 message → reply", ms(e.Ours.Latency.P50), ms(e.Baseline.Latency.P50), e.Ours.Latency.P50/e.Baseline.Latency.P50)
		row(f+": p99 message → reply", ms(e.Ours.Latency.P99), ms(e.Baseline.Latency.P99), e.Ours.Latency.P99/e.Baseline.Latency.P99)
		row(f+": replies/s", fmt.Sprintf("%.0f", e.Ours.PerSecond), fmt.Sprintf("%.0f", e.Baseline.PerSecond), e.Ours.PerSecond/e.Baseline.PerSecond)
	}
	for _, m := range r.Memory {
		row(fmt.Sprintf("RSS %s, idle", m.DB), fmt.Sprintf("%.1f MiB", m.IdleMiB), fmt.Sprintf("%.1f MiB", m.BaselineIdleMiB), m.IdleMiB/m.BaselineIdleMiB)
		row(fmt.Sprintf("RSS %s, after storing %d conversations (%d messages)", m.DB, m.Conversations, m.Messages),
			fmt.Sprintf("%.1f MiB", m.AfterMiB), fmt.Sprintf("%.1f MiB", m.BaselineAfterMiB), m.AfterMiB/m.BaselineAfterMiB)
	}

	p("\n## Targets of the issue, on this run\n\n")
	for _, t := range r.Targets {
		mark := "MET"
		if !t.Met {
			mark = "MISSED"
		}
		p("- **%s** — %s: %s\n", mark, t.Name, t.Measure)
	}

	p("\n## Details (no baseline: what the figures above rest on)\n\n")
	p("| step | sent | acked / answered | failed | duration | server CPU per OK | baseline CPU per OK | PostgreSQL transactions per event | stored / lost acked | backlog drained after |\n|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n")
	for _, in := range r.Ingest {
		drained := fmt.Sprintf("%.1f s (%.0f events/s processed)", in.DrainSeconds, in.ProcessedPerSecond)
		if !in.Drained {
			drained = fmt.Sprintf("not within %.0f s", in.DrainSeconds)
		}
		p("| ingest %s c=%d | %d | %d | %d%s | %.1f s | %.2f ms | %.2f ms | %s | %d / %d | %s |\n", in.DB, in.Concurrency,
			in.Ours.Requests, in.Ours.OK, in.Ours.Failed, statuses(in.Ours.Statuses), in.Ours.Seconds,
			in.Ours.ServerCPUms, in.Baseline.ServerCPUms, perEvent(in.CommitsPerEvent), in.Stored, in.LostAcked, drained)
	}
	for _, e := range r.E2E {
		p("| end to end %s, %d each | %d | %d | %d%s | %.1f s | %.2f ms | %.2f ms | %s | — | — |\n", e.label(), e.MessagesEach,
			e.Ours.Requests, e.Ours.OK, e.Ours.Failed, statuses(e.Ours.Statuses), e.Ours.Seconds,
			e.Ours.ServerCPUms, e.Baseline.ServerCPUms, perEvent(e.CommitsPerReply))
	}
	p("\nPostgreSQL transactions per event: the database's `xact_commit` over the step divided by the events it stored (ingest, until the backlog was answered) or the replies (end to end). Every statement run outside a transaction counts as one, reads included; PostgreSQL publishes the counter with a delay, so the figure is approximate.\n")
	if len(r.Commits) > 0 {
		p("\nThe floor under every stored event: one single-row INSERT transaction, %d in a row, on the same database and settings:\n\n", r.Commits[0].Commits)
		for _, c := range r.Commits {
			p("- %s (%s): p50 %s, p99 %s\n", c.DB, c.Settings, ms(c.Latency.P50), ms(c.Latency.P99))
		}
	}
	for _, n := range r.Notes {
		p("\n- %s\n", n)
	}
	if notes, err := os.ReadFile(filepath.Join(dir, "ANALYSIS.md")); err == nil {
		p("\n%s", notes)
	}
	return b.String()
}

func perEvent(v float64) string {
	if v == 0 {
		return "—"
	}
	return fmt.Sprintf("%.1f", v)
}

func statuses(m map[int]int64) string {
	if len(m) == 0 {
		return ""
	}
	var parts []string
	for code, n := range m {
		switch code {
		case 0:
			parts = append(parts, fmt.Sprintf("%d transport errors", n))
		case -1:
			parts = append(parts, fmt.Sprintf("%d without reply", n))
		default:
			parts = append(parts, fmt.Sprintf("%d× HTTP %d", n, code))
		}
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func ms(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.2f s", v/1000)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.2f ms", v)
}

func fmtRatio(v float64) string {
	switch {
	case v != v || v == 0: // NaN or nothing measured
		return "—"
	case v >= 10:
		return fmt.Sprintf("%.0f×", v)
	}
	return fmt.Sprintf("%.2f×", v)
}

// loadavg returns the first three fields of /proc/loadavg.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func describeMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), Go: runtime.Version(), LoadBefore: loadavg()}
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "model name"); ok {
				m.CPU = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
		f.Close()
	}
	if f, err := os.Open("/proc/meminfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var kb int
			if _, err := fmt.Sscanf(sc.Text(), "MemTotal: %d kB", &kb); err == nil {
				m.MemoryMB = kb / 1024
				break
			}
		}
		f.Close()
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// commit names the code measured: the HEAD commit, marked when the work
// tree differs from it.
func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += "+uncommitted"
	}
	return c
}
