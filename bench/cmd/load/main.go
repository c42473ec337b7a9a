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
	"sync/atomic"
	"text/tabwriter"
	"time"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}

// config is the command line, parsed.
type config struct {
	base            *url.URL
	conns           int
	maxRequests     int
	duration        time.Duration
	warmup          time.Duration
	rounds          int
	login, password string
	now             func() time.Time // the measuring clock; tests set it
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var c config
	rawURL := fs.String("url", "http://127.0.0.1:8080", "base URL of the example server (loopback only)")
	fs.IntVar(&c.conns, "c", 64, "concurrent connections per target")
	fs.IntVar(&c.maxRequests, "n", 200000, "at most this many measured requests per target")
	fs.DurationVar(&c.duration, "d", 10*time.Second, "at most this long measuring each target")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "unmeasured load before each target's first round")
	fs.IntVar(&c.rounds, "rounds", 5, "split -n and -d over this many rounds that take the targets in turn")
	fs.StringVar(&c.login, "login", "alice@example.com", "login for Basic and the token request")
	fs.StringVar(&c.password, "password", "wonderland-42", "password for Basic and the token request")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() != 0 {
		return c, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	switch {
	case c.conns < 1 || c.conns > 1024:
		return c, errors.New("-c must be between 1 and 1024")
	case c.maxRequests < 1 || c.maxRequests > 10_000_000:
		return c, errors.New("-n must be between 1 and 10000000")
	case c.duration <= 0 || c.duration > 10*time.Minute:
		return c, errors.New("-d must be positive and at most 10m")
	case c.warmup < 0 || c.warmup > time.Minute:
		return c, errors.New("-warmup must be between 0 and 1m")
	case c.rounds < 1 || c.rounds > 100 || c.rounds > c.maxRequests:
		return c, errors.New("-rounds must be between 1 and 100, and at most -n")
	}
	u, err := url.Parse(*rawURL)
	if err != nil {
		return c, fmt.Errorf("-url: %w", err)
	}
	if u.Scheme != "http" || u.Host == "" {
		return c, errors.New("-url must be http://host:port")
	}
	if err := checkLoopback(u.Hostname()); err != nil {
		return c, err
	}
	c.base = u
	return c, nil
}

// checkLoopback refuses any host that is not, or does not resolve only
// to, a loopback address.
func checkLoopback(host string) error {
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else if host == "localhost" {
		addrs, err := net.LookupIP(host)
		if err != nil {
			return err
		}
		ips = addrs
	}
	if len(ips) == 0 {
		return fmt.Errorf("-url host %q is not a loopback address", host)
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return fmt.Errorf("-url host %q is not a loopback address", host)
		}
	}
	return nil
}

// target is one kind of request to measure.
type target struct {
	name, path, authz string
}

// result is what one target measured.
type result struct {
	name     string
	requests int
	errors   int
	elapsed  time.Duration
	p50, p99 time.Duration
}

func (r result) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.requests) / r.elapsed.Seconds()
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
	cfg.now = now
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(cfg.login+":"+cfg.password))
	token, err := fetchToken(ctx, cfg.base, basic)
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
	results := make([]result, len(targets))
	latencies := make([][]time.Duration, len(targets))
	round := cfg
	round.maxRequests = cfg.maxRequests / cfg.rounds
	round.duration = cfg.duration / time.Duration(cfg.rounds)
	for r := range cfg.rounds {
		if r > 0 {
			round.warmup = 0
		}
		for i, t := range targets {
			lat, failed, elapsed := measure(ctx, round, t)
			latencies[i] = append(latencies[i], lat...)
			results[i].name = t.name
			results[i].errors += failed
			results[i].elapsed += elapsed
		}
	}
	for i := range results {
		all := latencies[i]
		slices.Sort(all)
		results[i].requests = len(all)
		results[i].p50 = percentile(all, 50)
		results[i].p99 = percentile(all, 99)
	}
	report(stdout, cfg, results)
	for _, r := range results {
		if r.requests == 0 {
			return fmt.Errorf("%s: no request succeeded (%d failed)", r.name, r.errors)
		}
		if r.errors > 0 {
			return fmt.Errorf("%s: %d requests failed", r.name, r.errors)
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
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token request: status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var reply struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &reply); err != nil || reply.Token == "" {
		return "", fmt.Errorf("token request: no token in %q", body)
	}
	return reply.Token, nil
}

// measure runs t from cfg.conns goroutines, each with its own keep-alive
// connection: first cfg.warmup unmeasured, then until cfg.maxRequests
// requests or cfg.duration (by cfg.now). Each goroutine sends at least one
// request, and none is cut off at the deadline. It returns the successful
// requests' latencies, the number of failures and the measured time.
func measure(ctx context.Context, cfg config, t target) ([]time.Duration, int, time.Duration) {
	now := cfg.now
	if now == nil {
		now = time.Now
	}
	tr := &http.Transport{
		Proxy:               nil, // loopback only, never through a proxy
		MaxIdleConns:        cfg.conns,
		MaxIdleConnsPerHost: cfg.conns,
		MaxConnsPerHost:     cfg.conns,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	u := cfg.base.JoinPath(t.path).String()

	do := func(ctx context.Context) (time.Duration, bool) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return 0, false
		}
		if t.authz != "" {
			req.Header.Set("Authorization", t.authz)
		}
		start := now()
		resp, err := client.Do(req)
		if err != nil {
			return 0, false
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		return now().Sub(start), resp.StatusCode == http.StatusOK
	}

	if cfg.warmup > 0 {
		wctx, cancel := context.WithTimeout(ctx, cfg.warmup)
		var wg sync.WaitGroup
		for range cfg.conns {
			wg.Go(func() {
				for wctx.Err() == nil {
					do(wctx)
				}
			})
		}
		wg.Wait()
		cancel()
	}

	var (
		issued    atomic.Int64
		failed    atomic.Int64
		wg        sync.WaitGroup
		latencies = make([][]time.Duration, cfg.conns)
	)
	start := now()
	deadline := start.Add(cfg.duration)
	for i := range cfg.conns {
		wg.Go(func() {
			lat := make([]time.Duration, 0, cfg.maxRequests/cfg.conns+1)
			for n := 0; ctx.Err() == nil && (n == 0 || now().Before(deadline)); n++ {
				if issued.Add(1) > int64(cfg.maxRequests) {
					break
				}
				d, ok := do(ctx)
				if !ok {
					if ctx.Err() != nil {
						break // interrupted by the caller: not a failure
					}
					failed.Add(1)
					continue
				}
				lat = append(lat, d)
			}
			latencies[i] = lat
		})
	}
	wg.Wait()
	return slices.Concat(latencies...), int(failed.Load()), now().Sub(start)
}

// percentile returns the p-th percentile (nearest rank) of sorted.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

func report(w io.Writer, cfg config, results []result) {
	fmt.Fprintf(w, "server %s, %d connections, at most %d requests or %s per target in %d rounds, after %s warm-up\n\n",
		cfg.base, cfg.conns, cfg.maxRequests, cfg.duration, cfg.rounds, cfg.warmup)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\trequests\terrors\treq/s\tp50\tp99\t")
	var healthz float64
	for _, r := range results {
		if r.name == "healthz" {
			healthz = r.rate()
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%s\t%s\t\n", r.name, r.requests, r.errors, r.rate(),
			r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond))
	}
	_ = tw.Flush()
	if healthz > 0 {
		fmt.Fprintln(w)
		for _, r := range results {
			if r.name != "healthz" {
				fmt.Fprintf(w, "%s rate / healthz rate = %.1f%%\n", r.name, 100*r.rate()/healthz)
			}
		}
	}
}
