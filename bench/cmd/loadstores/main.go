// Command loadstores measures several running examples/api servers side by
// side, in one interleaved run: memory, SQLite, PostgreSQL + Redis, or any
// other set. bench/load-stores.sh starts the servers and runs it.
//
//	loadstores -target memory=http://127.0.0.1:18081 -target pg+redis=http://127.0.0.1:18083
//	     [-c 32] [-d 4s] [-rounds 6] [-warmup 1s]
//	     [-login alice@example.com] [-password wonderland-42]
//
// For every target it logs in once for a token, then runs rounds. Each
// round measures, for each target in turn, token requests (GET /api/v1/me
// with Bearer) and cached-Basic requests (the same with Basic) on -c
// keep-alive connections for -d. Rounds alternate between the targets, so
// load from elsewhere on the machine hits every setup alike. It prints req/s,
// p50, p99 and errors per target and kind, and each rate and p99 as a ratio
// to its reference: the nearest target at or before it whose name starts
// with "memory", or else the first. It only talks to loopback addresses.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gohttpauth/httpauth/bench/internal/loadgen"
)

func main() { loadgen.Main("loadstores", run) }

// setup is one server under test.
type setup struct {
	name  string
	base  *url.URL
	token string
}

// targets collects repeated -target name=URL flags.
type targets []setup

func (t *targets) String() string { return fmt.Sprint(len(*t)) }

func (t *targets) Set(v string) error {
	name, raw, ok := strings.Cut(v, "=")
	if !ok || name == "" {
		return errors.New("want name=http://host:port")
	}
	u, err := loadgen.ParseURL(raw)
	if err != nil {
		return err
	}
	// IP addresses only, as -target always took (load's -url also takes
	// localhost).
	if net.ParseIP(u.Hostname()) == nil {
		return fmt.Errorf("host %q is not a loopback IP address", u.Hostname())
	}
	*t = append(*t, setup{name: name, base: u})
	return nil
}

type config struct {
	loadgen.Options
	setups targets
}

var defaults = loadgen.Defaults{
	Conns:         32,
	ConnsUsage:    "concurrent keep-alive connections",
	Rounds:        6,
	RoundsUsage:   "rounds; each measures every target and kind once",
	Duration:      4 * time.Second,
	MaxDuration:   5 * time.Minute,
	DurationUsage: "measuring time per target, kind and round",
	WarmupUsage:   "unmeasured load per target and kind before the first round",
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("loadstores", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.Var(&c.setups, "target", "name=http://127.0.0.1:PORT; repeat; ratios are to the nearest memory* target before")
	opts, err := defaults.Parse(fs, args)
	c.Options = opts
	if err != nil {
		return c, err
	}
	if len(c.setups) == 0 {
		return c, errors.New("at least one -target is required")
	}
	return c, nil
}

var kinds = []string{"token", "basic-cached"}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	basic := loadgen.BasicAuth(cfg.Login, cfg.Password)
	for i := range cfg.setups {
		if cfg.setups[i].token, err = loadgen.FetchToken(ctx, cfg.setups[i].base, basic); err != nil {
			return fmt.Errorf("%s: %w", cfg.setups[i].name, err)
		}
	}
	load := func(s setup, kind string, d time.Duration) loadgen.Load {
		authz := basic
		if kind == "token" {
			authz = "Bearer " + s.token
		}
		return loadgen.Load{URL: s.base.JoinPath("/api/v1/me").String(), Authz: authz, Conns: cfg.Conns, Duration: d}
	}
	samples := make(map[string]*loadgen.Sample)
	for _, s := range cfg.setups {
		for _, k := range kinds {
			samples[s.name+"/"+k] = &loadgen.Sample{}
			if cfg.Warmup > 0 {
				loadgen.Measure(ctx, load(s, k, cfg.Warmup))
			}
		}
	}
	for r := range cfg.Rounds {
		// Alternate the order too, so no setup always runs right after
		// another one's load.
		order := slices.Clone(cfg.setups)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, s := range order {
			for _, k := range kinds {
				samples[s.name+"/"+k].Add(loadgen.Measure(ctx, load(s, k, cfg.Duration)))
			}
		}
		fmt.Fprintf(stderr, "round %d/%d done\n", r+1, cfg.Rounds)
	}
	rows := make(map[string]loadgen.Summary, len(samples))
	for key, x := range samples {
		rows[key] = x.Summarize()
	}
	report(stdout, cfg, rows)
	for name, x := range rows {
		if x.Errors > 0 || x.Requests == 0 {
			return fmt.Errorf("%s: %d requests failed, %d succeeded", name, x.Errors, x.Requests)
		}
	}
	return nil
}

func report(w io.Writer, cfg config, rows map[string]loadgen.Summary) {
	fmt.Fprintf(w, "%d connections, %d interleaved rounds of %s per setup and kind, after %s warm-up\n\n",
		cfg.Conns, cfg.Rounds, cfg.Duration, cfg.Warmup)
	refOf := func(i int) string {
		for j := i; j >= 0; j-- {
			if strings.HasPrefix(cfg.setups[j].name, "memory") {
				return cfg.setups[j].name
			}
		}
		return cfg.setups[0].name
	}
	tw := loadgen.NewTable(w)
	fmt.Fprintf(tw, "setup\tkind\treq/s\tp50\tp99\terrors\treq/s vs ref\tp99 vs ref\tref\t\n")
	for i, s := range cfg.setups {
		ref := refOf(i)
		for _, k := range kinds {
			r, base := rows[s.name+"/"+k], rows[ref+"/"+k]
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%d\t%.0f%%\t%.2f×\t%s\t\n", s.name, k, r.Rate,
				r.P50.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Errors,
				100*r.Rate/base.Rate, float64(r.P99)/float64(base.P99), ref)
		}
	}
	_ = tw.Flush()
	// The same as a Markdown table, for BENCHMARKS.md.
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| Setup | Token req/s | Token p50 | Token p99 | Cached-Basic req/s | Cached-Basic p50 | Cached-Basic p99 | Errors |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	for _, s := range cfg.setups {
		t, b := rows[s.name+"/token"], rows[s.name+"/basic-cached"]
		fmt.Fprintf(w, "| %s | %.0f | %s | %s | %.0f | %s | %s | %d |\n", s.name,
			t.Rate, t.P50.Round(10*time.Microsecond), t.P99.Round(10*time.Microsecond),
			b.Rate, b.P50.Round(10*time.Microsecond), b.P99.Round(10*time.Microsecond), t.Errors+b.Errors)
	}
}
