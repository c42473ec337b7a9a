package main

import (
	"context"
	"io"
	"math/rand/v2"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/gohttpauth/httpauth/bench/internal/loadgen"
)

// tokenSet is what the load sends: one token per account, and the answer
// each must get (200 with the account's ID, or 401 for a revoked one).
type tokenSet struct {
	ids    []string   // account IDs, the body of a 200
	authz  []string   // "Bearer …"
	claims [][16]byte // token IDs
	expiry []time.Time
	want   []int  // expected status
	file   string // the tokens, written for a client process; removed at close
}

func (ts *tokenSet) len() int { return len(ts.authz) }

// mintTokens issues one token per account 0..n-1 on in.
func mintTokens(ctx context.Context, in *instance, n int) (*tokenSet, error) {
	ts := &tokenSet{
		ids: make([]string, n), authz: make([]string, n), claims: make([][16]byte, n),
		expiry: make([]time.Time, n), want: make([]int, n),
	}
	err := parallel(ctx, n, func(i int) error {
		id := accountID(i)
		tok, c, err := in.auth.IssueToken(ctx, id)
		if err != nil {
			return err
		}
		ts.ids[i], ts.authz[i], ts.claims[i], ts.expiry[i], ts.want[i] = id, "Bearer "+tok, c.ID, c.ExpiresAt, http.StatusOK
		return nil
	})
	return ts, err
}

// parallel runs f(0..n-1) on 2 × GOMAXPROCS × 8 goroutines (most of the
// work waits for PostgreSQL or Redis) and returns the first error.
func parallel(ctx context.Context, n int, f func(i int) error) error {
	workers := min(n, 16*runtime.GOMAXPROCS(0))
	var (
		next    int
		mu      sync.Mutex
		wg      sync.WaitGroup
		errOnce sync.Once
		first   error
	)
	for range workers {
		wg.Go(func() {
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := f(i); err != nil {
					errOnce.Do(func() { first = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if first == nil {
		first = ctx.Err()
	}
	return first
}

// loadResult is one token load's figures.
type loadResult struct {
	Requests  int     `json:"requests"`
	Rate      float64 `json:"rate"`
	P50Ms     float64 `json:"p50_ms"`
	P99Ms     float64 `json:"p99_ms"`
	Wrong     int     `json:"wrong"` // an answer other than the expected status or user
	Status5xx int     `json:"status_5xx"`
	Failed    int     `json:"failed"` // transport errors
	// CPUPerRequest is the process's CPU time (user + system, getrusage)
	// per request, in microseconds: the servers' alone with the client in
	// a process of its own (the default), the servers' and the load
	// generator's with -client-process=false. Other jobs on the machine
	// slow the rate but hardly this.
	CPUPerRequest float64 `json:"cpu_us_per_request"`
	// ClientCPUPerRequest is the client process's, when it has one.
	ClientCPUPerRequest float64 `json:"client_cpu_us_per_request,omitempty"`
	// RoundRates are the rates of the rounds; Rate is their median.
	RoundRates []float64 `json:"round_rates,omitempty"`

	lat []time.Duration // sorted
}

// rounds runs tokenLoad rounds times and combines them: the median
// round's rate, the percentiles of all requests, the counts summed.
func rounds(ctx context.Context, n int, load func() loadResult) loadResult {
	var r loadResult
	var all []time.Duration
	var cpu, ccpu float64
	for range n {
		x := load()
		cpu += x.CPUPerRequest * float64(x.Requests)
		ccpu += x.ClientCPUPerRequest * float64(x.Requests)
		r.Requests += x.Requests
		r.Wrong += x.Wrong
		r.Status5xx += x.Status5xx
		r.Failed += x.Failed
		r.RoundRates = append(r.RoundRates, x.Rate)
		all = append(all, x.lat...)
	}
	slices.Sort(all)
	rates := slices.Sorted(slices.Values(r.RoundRates))
	r.Rate = rates[len(rates)/2]
	r.CPUPerRequest = cpu / float64(max(r.Requests, 1))
	r.ClientCPUPerRequest = ccpu / float64(max(r.Requests, 1))
	r.P50Ms = ms(loadgen.Percentile(all, 50))
	r.P99Ms = ms(loadgen.Percentile(all, 99))
	return r
}

// tokenLoad sends GET /api/v1/me from conns keep-alive connections, spread
// round-robin over bases, for d; each request carries the token of an
// account drawn uniformly at random. Every answer is checked: the
// expected status, and for a 200 the account's own ID.
func tokenLoad(ctx context.Context, bases []string, ts *tokenSet, conns int, d time.Duration) loadResult {
	transports := make([]*http.Transport, len(bases))
	clients := make([]*http.Client, len(bases))
	per := (conns + len(bases) - 1) / len(bases)
	for i := range bases {
		transports[i] = &http.Transport{
			Proxy: nil, MaxIdleConns: per, MaxIdleConnsPerHost: per, MaxConnsPerHost: per,
			DisableCompression: true, IdleConnTimeout: time.Minute,
		}
		clients[i] = &http.Client{Transport: transports[i], Timeout: 30 * time.Second}
	}
	defer func() {
		for _, t := range transports {
			t.CloseIdleConnections()
		}
	}()
	type tally struct {
		lat                      []time.Duration
		wrong, status5xx, failed int
	}
	tallies := make([]tally, conns)
	cpu0 := processCPU()
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), uint64(start.UnixNano())))
			url := bases[w%len(bases)] + "/api/v1/me"
			client := clients[w%len(bases)]
			t := &tallies[w]
			buf := make([]byte, 64)
			for n := 0; ctx.Err() == nil && (n == 0 || time.Now().Before(deadline)); n++ {
				i := rng.IntN(ts.len())
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				req.Header.Set("Authorization", ts.authz[i])
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						t.failed++
					}
					continue
				}
				k, _ := io.ReadFull(resp.Body, buf)
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				t.lat = append(t.lat, time.Since(t0))
				if resp.StatusCode >= 500 {
					t.status5xx++
				}
				if resp.StatusCode != ts.want[i] || (resp.StatusCode == http.StatusOK && string(buf[:k]) != ts.ids[i]) {
					t.wrong++
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := processCPU() - cpu0
	var r loadResult
	var all []time.Duration
	for _, t := range tallies {
		all = append(all, t.lat...)
		r.Wrong += t.wrong
		r.Status5xx += t.status5xx
		r.Failed += t.failed
	}
	slices.Sort(all)
	r.Requests = len(all)
	r.CPUPerRequest = float64(cpu/time.Microsecond) / float64(max(len(all), 1))
	r.Rate = float64(len(all)-r.Wrong) / elapsed.Seconds()
	r.P50Ms = ms(loadgen.Percentile(all, 50))
	r.P99Ms = ms(loadgen.Percentile(all, 99))
	r.lat = all
	return r
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// heapAfterGC is the live heap: runtime.MemStats.HeapAlloc right after two collections.
func heapAfterGC() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}

// processCPU is the CPU time this process has used (user + system).
func processCPU() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}
