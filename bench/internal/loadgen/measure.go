// Package loadgen is what the bench load generators (cmd/load and
// cmd/loadstores) share: the keep-alive load loop, latency samples and
// their percentiles, the flags both take, the token login and the report
// table. It only talks to loopback addresses.
package loadgen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"
)

// Load is one measurement: GET URL from Conns goroutines, each on its own
// keep-alive connection.
type Load struct {
	URL string
	// Authz is the Authorization header; none when empty.
	Authz    string
	Conns    int
	Duration time.Duration
	// MaxRequests caps the measured requests; 0 means no cap.
	MaxRequests int
	// Warmup is unmeasured load on the same connections before measuring,
	// timed by the wall clock; its requests in flight at the end are cut.
	Warmup time.Duration
	// Now is the clock that times requests and Duration; nil is time.Now.
	Now func() time.Time
}

// Sample is what one or more measurements of the same target found.
type Sample struct {
	// Latencies are the successful (200) requests' latencies.
	Latencies []time.Duration
	// Errors counts requests that failed or answered anything but a 200.
	Errors  int
	Elapsed time.Duration
}

// Add appends o's requests and time to s, for a target measured in rounds.
func (s *Sample) Add(o Sample) {
	s.Latencies = append(s.Latencies, o.Latencies...)
	s.Errors += o.Errors
	s.Elapsed += o.Elapsed
}

// Rate is the successful requests a second, 0 when nothing was timed.
func (s *Sample) Rate() float64 {
	if s.Elapsed <= 0 {
		return 0
	}
	return float64(len(s.Latencies)) / s.Elapsed.Seconds()
}

// Summary is a Sample's figures for a report.
type Summary struct {
	Requests, Errors int
	Rate             float64
	P50, P99         time.Duration
}

// Summarize sorts s.Latencies and returns its figures.
func (s *Sample) Summarize() Summary {
	slices.Sort(s.Latencies)
	return Summary{
		Requests: len(s.Latencies),
		Errors:   s.Errors,
		Rate:     s.Rate(),
		P50:      Percentile(s.Latencies, 50),
		P99:      Percentile(s.Latencies, 99),
	}
}

// Percentile returns the p-th percentile (nearest rank) of sorted.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// Measure runs l: first l.Warmup unmeasured, then until l.MaxRequests
// requests or l.Duration by l.Now. Each goroutine sends at least one
// measured request, so a slow machine gives slower numbers, never an empty
// sample; requests in flight at the deadline finish and are counted, since
// cutting them would drop the slowest from p99. A request cut by ctx is
// not a failure.
func Measure(ctx context.Context, l Load) Sample {
	now := l.Now
	if now == nil {
		now = time.Now
	}
	tr := &http.Transport{
		Proxy:               nil, // loopback only, never through a proxy
		MaxIdleConns:        l.Conns,
		MaxIdleConnsPerHost: l.Conns,
		MaxConnsPerHost:     l.Conns,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}

	do := func(ctx context.Context) (time.Duration, bool) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, l.URL, nil)
		if err != nil {
			return 0, false
		}
		if l.Authz != "" {
			req.Header.Set("Authorization", l.Authz)
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

	if l.Warmup > 0 {
		wctx, cancel := context.WithTimeout(ctx, l.Warmup)
		var wg sync.WaitGroup
		for range l.Conns {
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
		latencies = make([][]time.Duration, l.Conns)
	)
	start := now()
	deadline := start.Add(l.Duration)
	for i := range l.Conns {
		wg.Go(func() {
			var lat []time.Duration
			if l.MaxRequests > 0 {
				lat = make([]time.Duration, 0, l.MaxRequests/l.Conns+1)
			}
			for n := 0; ctx.Err() == nil && (n == 0 || now().Before(deadline)); n++ {
				if l.MaxRequests > 0 && issued.Add(1) > int64(l.MaxRequests) {
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
	return Sample{Latencies: slices.Concat(latencies...), Errors: int(failed.Load()), Elapsed: now().Sub(start)}
}

// NewTable returns the right-aligned tab writer both reports print with;
// the caller flushes it.
func NewTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
}

// Main runs a generator's run with the command line, and on an error
// prints it after the command's name and exits 1.
func Main(name string, run func(ctx context.Context, args []string, stdout, stderr io.Writer) error) {
	if err := run(context.Background(), os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
}
