// Command eval measures answer quality (`make eval`): it runs the labelled
// customer messages of bench/eval through the real bot over real SQLite,
// prints the figures beside the BM25 baseline, writes them to
// bench/eval/RESULTS.md and updates the "Answer quality" section of
// bench/RESULTS.md. See bench/README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/seachat/seachat/bench/eval"
	"github.com/seachat/seachat/bench/harness"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) int {
	fs := flag.NewFlagSet("eval", flag.ContinueOnError)
	dir := fs.String("dir", "bench/eval", "the evaluation set: messages/*.json and kb/")
	out := fs.String("out", "bench/eval/RESULTS.md", "the full report; empty: not written")
	summary := fs.String("summary", "bench/RESULTS.md", `file whose "Answer quality" section is replaced (or appended); empty: none`)
	list := fs.Bool("list-tune", false, "also print every tune message with its outcome (held-out ones are never listed)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if getenv("GEMINI_API_KEY") != "" {
		fmt.Fprintln(stdout, "note: GEMINI_API_KEY is ignored; the evaluation uses the offline responder")
	}
	res, err := eval.Run(ctx, eval.Options{Dir: *dir})
	if err != nil {
		fmt.Fprintln(os.Stderr, "eval:", err)
		return 1
	}
	report := eval.Report(res)
	fmt.Fprint(stdout, report)
	if *list {
		fmt.Fprint(stdout, "\n## Every tune message\n\n", eval.TuneLog(res.Outcomes))
	}
	if *out != "" {
		if err := os.WriteFile(*out, []byte(report), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "eval:", err)
			return 1
		}
	}
	if *summary != "" {
		old, err := os.ReadFile(*summary)
		if err != nil && !os.IsNotExist(err) {
			fmt.Fprintln(os.Stderr, "eval:", err)
			return 1
		}
		updated := harness.ReplaceSection(string(old), eval.SummaryHeading, eval.Summary(res))
		if err := os.WriteFile(*summary, []byte(updated), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "eval:", err)
			return 1
		}
	}
	fmt.Fprintf(stdout, "\n%d messages in %.1fs; wrote %s\n", len(res.Outcomes), res.Took.Seconds(),
		strings.Trim(*out+" "+*summary, " "))
	return 0
}
