// Command load is a small HTTP load generator for the httpauth example
// server (examples/api). It only talks to loopback addresses.
//
//	load [-url http://127.0.0.1:8080] [-c 64] [-n 200000] [-d 10s] [-warmup 1s] [-rounds 5]
//	     [-login alice@example.com] [-password wonderland-42]
//
// It logs in once (POST /api/v1/tokens/ with Basic) for a token, then runs
// three targets, each on its own pool of -c keep-alive connections, for
// at most -n requests or -d, whichever ends first. The budget is split
// over -rounds rounds that take the targets in turn, so that load from
// elsewhere on the machine hits every target alike:
//
//   - healthz: GET /healthz, no authentication (the baseline);
//   - token: GET /api/v1/me with Authorization: Bearer <token>;
//   - basic-cached: GET /api/v1/me with Basic login:password, which after
//     the first request hits the verified-credential cache.
//
// For each it prints the request rate, the p50 and p99 latency and the
// number of failed requests (anything but a 200 counts), and at the end
// the token rate as a share of the healthz rate.
//
// When a round's time is up, requests in flight finish and are counted
// (cancelling them would drop the slowest from p99), and every connection
// sends at least one request per round, so a slow or loaded machine gives
// slower numbers, never an empty round.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/url"
	"time"

	"github.com/gohttpauth/httpauth/bench/internal/loadgen"
)

func main() { loadgen.Main("load", run) }

// config is the command line, parsed.
type config struct {
	loadgen.Options
	base        *url.URL
	maxRequests int
}

var defaults = loadgen.Defaults{
	Conns:         64,
	ConnsUsage:    "concurrent connections per target",
	Rounds:        5,
	RoundsUsage:   "split -n and -d over this many rounds that take the targets in turn",
	Duration:      10 * time.Second,
	MaxDuration:   10 * time.Minute,
	DurationUsage: "at most this long measuring each target",
	WarmupUsage:   "unmeasured load before each target's first round",
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	rawURL := fs.String("url", "http://127.0.0.1:8080", "base URL of the example server (loopback only)")
	fs.IntVar(&c.maxRequests, "n", 200000, "at most this many measured requests per target")
	opts, err := defaults.Parse(fs, args)
	c.Options = opts
	if err != nil {
		return c, err
	}
	switch {
	case c.maxRequests < 1 || c.maxRequests > 10_000_000:
		return c, errors.New("-n must be between 1 and 10000000")
	case c.Rounds > c.maxRequests:
		return c, errors.New("-rounds must be between 1 and 100, and at most -n")
	}
	if c.base, err = loadgen.ParseURL(*rawURL); err != nil {
		return c, fmt.Errorf("-url: %w", err)
	}
	return c, nil
}

// target is one kind of request to measure.
type target struct {
	name, path, authz string
}

// result is what one target measured.
type result struct {
	name string
	loadgen.Summary
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runClock(ctx, args, stdout, stderr, time.Now)
}

// runClock is run with the clock that measures requests and rounds.
func runClock(ctx context.Context, args []string, stdout, stderr io.Writer, now func() time.Time) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	basic := loadgen.BasicAuth(cfg.Login, cfg.Password)
	token, err := loadgen.FetchToken(ctx, cfg.base, basic)
	if err != nil {
		return err
	}
	targets := []target{
		{name: "healthz", path: "/healthz"},
		{name: "token", path: "/api/v1/me", authz: "Bearer " + token},
		{name: "basic-cached", path: "/api/v1/me", authz: basic},
	}
	// Rounds take the targets in turn, so that a burst of load from
	// elsewhere on the machine hits every target alike.
	samples := make([]loadgen.Sample, len(targets))
	for r := range cfg.Rounds {
		for i, t := range targets {
			l := loadgen.Load{
				URL:         cfg.base.JoinPath(t.path).String(),
				Authz:       t.authz,
				Conns:       cfg.Conns,
				Duration:    cfg.Duration / time.Duration(cfg.Rounds),
				MaxRequests: cfg.maxRequests / cfg.Rounds,
				Now:         now,
			}
			if r == 0 {
				l.Warmup = cfg.Warmup
			}
			samples[i].Add(loadgen.Measure(ctx, l))
		}
	}
	results := make([]result, len(targets))
	for i, t := range targets {
		results[i] = result{name: t.name, Summary: samples[i].Summarize()}
	}
	report(stdout, cfg, results)
	for _, r := range results {
		if r.Requests == 0 {
			return fmt.Errorf("%s: no request succeeded (%d failed)", r.name, r.Errors)
		}
		if r.Errors > 0 {
			return fmt.Errorf("%s: %d requests failed", r.name, r.Errors)
		}
	}
	return nil
}

func report(w io.Writer, cfg config, results []result) {
	fmt.Fprintf(w, "server %s, %d connections, at most %d requests or %s per target in %d rounds, after %s warm-up\n\n",
		cfg.base, cfg.Conns, cfg.maxRequests, cfg.Duration, cfg.Rounds, cfg.Warmup)
	tw := loadgen.NewTable(w)
	fmt.Fprintln(tw, "target\trequests\terrors\treq/s\tp50\tp99\t")
	var healthz float64
	for _, r := range results {
		if r.name == "healthz" {
			healthz = r.Rate
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t\n", r.name, r.Requests, r.Errors, r.Rate,
			r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond))
	}
	_ = tw.Flush()
	if healthz > 0 {
		fmt.Fprintln(w)
		for _, r := range results {
			if r.name != "healthz" {
				fmt.Fprintf(w, "%s rate / healthz rate = %.1f%%\n", r.name, 100*r.Rate/healthz)
			}
		}
	}
}
