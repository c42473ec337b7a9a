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
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "loadstores:", err)
		os.Exit(1)
	}
}

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
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" || u.Host == "" {
		return errors.New("URL must be http://host:port")
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("host %q is not a loopback IP address", u.Hostname())
	}
	*t = append(*t, setup{name: name, base: u})
	return nil
}

type config struct {
	setups          targets
	conns, rounds   int
	duration        time.Duration
	warmup          time.Duration
	login, password string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("loadstores", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	fs.Var(&c.setups, "target", "name=http://127.0.0.1:PORT; repeat; ratios are to the nearest memory* target before")
	fs.IntVar(&c.conns, "c", 32, "concurrent keep-alive connections")
	fs.IntVar(&c.rounds, "rounds", 6, "rounds; each measures every target and kind once")
	fs.DurationVar(&c.duration, "d", 4*time.Second, "measuring time per target, kind and round")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured load per target and kind before the first round")
	fs.StringVar(&c.login, "login", "alice@example.com", "login for Basic and the token request")
	fs.StringVar(&c.password, "password", "wonderland-42", "password for Basic and the token request")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	switch {
	case fs.NArg() != 0:
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	case len(c.setups) == 0:
		return c, errors.New("at least one -target is required")
	case c.conns < 1 || c.conns > 1024:
		return c, errors.New("-c must be between 1 and 1024")
	case c.rounds < 1 || c.rounds > 100:
		return c, errors.New("-rounds must be between 1 and 100")
	case c.duration <= 0 || c.duration > 5*time.Minute:
		return c, errors.New("-d must be positive and at most 5m")
	case c.warmup < 0 || c.warmup > time.Minute:
		return c, errors.New("-warmup must be between 0 and 1m")
	}
	return c, nil
}

// sample is what one target and kind measured over all rounds.
type sample struct {
	latencies []time.Duration
	errors    int
	elapsed   time.Duration
}

func (s *sample) rate() float64 {
	if s.elapsed <= 0 {
		return 0
	}
	return float64(len(s.latencies)) / s.elapsed.Seconds()
}

var kinds = []string{"token", "basic-cached"}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.login+":"+cfg.password))
	for i := range cfg.setups {
		if cfg.setups[i].token, err = fetchToken(ctx, cfg.setups[i].base, basic); err != nil {
			return fmt.Errorf("%s: %w", cfg.setups[i].name, err)
		}
	}
	authz := func(s setup, kind string) string {
		if kind == "token" {
			return "Bearer " + s.token
		}
		return basic
	}
	samples := make(map[string]*sample)
	for _, s := range cfg.setups {
		for _, k := range kinds {
			samples[s.name+"/"+k] = &sample{}
			if cfg.warmup > 0 {
				measure(ctx, cfg.conns, cfg.warmup, s.base, authz(s, k))
			}
		}
	}
	for r := range cfg.rounds {
		// Alternate the order too, so no setup always runs right after
		// another one's load.
		order := slices.Clone(cfg.setups)
		if r%2 == 1 {
			slices.Reverse(order)
		}
		for _, s := range order {
			for _, k := range kinds {
				lat, failed, elapsed := measure(ctx, cfg.conns, cfg.duration, s.base, authz(s, k))
				x := samples[s.name+"/"+k]
				x.latencies = append(x.latencies, lat...)
				x.errors += failed
				x.elapsed += elapsed
			}
		}
		fmt.Fprintf(stderr, "round %d/%d done\n", r+1, cfg.rounds)
	}
	report(stdout, cfg, samples)
	for name, x := range samples {
		if x.errors > 0 || len(x.latencies) == 0 {
			return fmt.Errorf("%s: %d requests failed, %d succeeded", name, x.errors, len(x.latencies))
		}
	}
	return nil
}

// fetchToken logs in with Basic for a token.
func fetchToken(ctx context.Context, base *url.URL, basic string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.JoinPath("/api/v1/tokens/").String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", basic)
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token request: status %d", resp.StatusCode)
	}
	var reply struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &reply); err != nil || reply.Token == "" {
		return "", errors.New("token request: no token in the reply")
	}
	return reply.Token, nil
}

// measure sends GET /api/v1/me with authz from conns goroutines, each on its
// own keep-alive connection, for d. Requests in flight at the deadline
// finish and are counted, so the slowest are never dropped from p99. It
// returns the successful requests' latencies, the failures (anything but a
// 200) and the elapsed time.
func measure(ctx context.Context, conns int, d time.Duration, base *url.URL, authz string) ([]time.Duration, int, time.Duration) {
	tr := &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	u := base.JoinPath("/api/v1/me").String()
	var (
		mu        sync.Mutex
		failed    int
		latencies []time.Duration
		wg        sync.WaitGroup
	)
	start := time.Now()
	deadline := start.Add(d)
	for range conns {
		wg.Go(func() {
			var lat []time.Duration
			bad := 0
			for n := 0; ctx.Err() == nil && (n == 0 || time.Now().Before(deadline)); n++ {
				req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
				if err != nil {
					bad++
					continue
				}
				req.Header.Set("Authorization", authz)
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					bad++
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					bad++
					continue
				}
				lat = append(lat, time.Since(t0))
			}
			mu.Lock()
			latencies = append(latencies, lat...)
			failed += bad
			mu.Unlock()
		})
	}
	wg.Wait()
	return latencies, failed, time.Since(start)
}

// percentile returns the p-th percentile (nearest rank) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func report(w io.Writer, cfg config, samples map[string]*sample) {
	fmt.Fprintf(w, "%d connections, %d interleaved rounds of %s per setup and kind, after %s warm-up\n\n",
		cfg.conns, cfg.rounds, cfg.duration, cfg.warmup)
	refOf := func(i int) string {
		for j := i; j >= 0; j-- {
			if strings.HasPrefix(cfg.setups[j].name, "memory") {
				return cfg.setups[j].name
			}
		}
		return cfg.setups[0].name
	}
	type row struct {
		rate     float64
		p50, p99 time.Duration
		errors   int
	}
	rows := make(map[string]row)
	for key, x := range samples {
		slices.Sort(x.latencies)
		rows[key] = row{x.rate(), percentile(x.latencies, 50), percentile(x.latencies, 99), x.errors}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "setup\tkind\treq/s\tp50\tp99\terrors\treq/s vs ref\tp99 vs ref\tref\t\n")
	for i, s := range cfg.setups {
		ref := refOf(i)
		for _, k := range kinds {
			r, base := rows[s.name+"/"+k], rows[ref+"/"+k]
			fmt.Fprintf(tw, "%s\t%s\t%.0f\t%s\t%s\t%d\t%.0f%%\t%.2f×\t%s\t\n", s.name, k, r.rate,
				r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.errors,
				100*r.rate/base.rate, float64(r.p99)/float64(base.p99), ref)
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
			t.rate, t.p50.Round(10*time.Microsecond), t.p99.Round(10*time.Microsecond),
			b.rate, b.p50.Round(10*time.Microsecond), b.p99.Round(10*time.Microsecond), t.errors+b.errors)
	}
}
