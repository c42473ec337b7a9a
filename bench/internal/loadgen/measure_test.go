package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	var hundred []time.Duration
	for i := 1; i <= 100; i++ {
		hundred = append(hundred, time.Duration(i))
	}
	for _, tc := range []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"p50 of 100", hundred, 50, 50},
		{"p99 of 100", hundred, 99, 99},
		{"p100 of 100", hundred, 100, 100},
		{"p0 of 100", hundred, 0, 1},
		{"p99 of one", []time.Duration{7}, 99, 7},
		{"p50 of none", nil, 50, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Percentile(tc.sorted, tc.p); got != tc.want {
				t.Errorf("Percentile(p%v) = %d, want %d", tc.p, got, tc.want)
			}
		})
	}
}

func TestSample(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		parts []Sample
		want  Summary
	}{
		{"nothing timed", nil, Summary{}},
		{"no time elapsed", []Sample{{Latencies: []time.Duration{1}}}, Summary{Requests: 1, P50: 1, P99: 1}},
		{
			name: "rounds add up and sort",
			parts: []Sample{
				{Latencies: []time.Duration{4, 1}, Errors: 1, Elapsed: time.Second},
				{Latencies: []time.Duration{3, 2}, Errors: 2, Elapsed: time.Second},
			},
			want: Summary{Requests: 4, Errors: 3, Rate: 2, P50: 2, P99: 4},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var s Sample
			for _, p := range tc.parts {
				s.Add(p)
			}
			if got := s.Summarize(); got != tc.want {
				t.Errorf("Summarize() = %+v, want %+v", got, tc.want)
			}
			if !slices.IsSorted(s.Latencies) {
				t.Errorf("latencies left unsorted: %v", s.Latencies)
			}
		})
	}
}

// fakeClock returns a clock that moves on by step at every reading, so
// that a deadline depends on how often the code looks, not on how fast
// the machine is; step 0 never reaches one.
func fakeClock(step time.Duration) func() time.Time {
	var ticks atomic.Int64
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * step) }
}

// countingServer answers 200 to GET /me with Authorization authz, 401 to
// any other, and status to everything when status is not 0.
func countingServer(t *testing.T, authz string, status int) (string, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch {
		case status != 0:
			w.WriteHeader(status)
		case r.Method != http.MethodGet || r.URL.Path != "/me" || r.Header.Get("Authorization") != authz:
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/me", &hits
}

func TestMeasure(t *testing.T) {
	t.Parallel()
	const conns = 2
	for _, tc := range []struct {
		name           string
		load           Load
		serverAuthz    string
		status         int
		minOK, maxOK   int // successful requests measured
		errors         int
		warmupRequests bool // the server may see more requests than measured
	}{
		{name: "stops at -n", load: Load{Authz: "Bearer x", MaxRequests: 10, Now: fakeClock(0)},
			serverAuthz: "Bearer x", minOK: 10, maxOK: 10},
		{name: "no header when Authz is empty", load: Load{MaxRequests: 4, Now: fakeClock(0)},
			minOK: 4, maxOK: 4},
		// 20 ms: at most 19 readings before the deadline, each letting one
		// more request start, plus each connection's first.
		{name: "stops at the deadline", load: Load{Duration: 20 * time.Millisecond, Now: fakeClock(time.Millisecond)},
			minOK: conns, maxOK: conns + 19},
		// Every request outlasts the deadline: each connection still sends
		// one, which finishes and counts.
		{name: "request longer than the deadline", load: Load{Duration: time.Millisecond, Now: fakeClock(time.Hour)},
			minOK: conns, maxOK: conns},
		{name: "anything but a 200 is an error", load: Load{MaxRequests: 6, Now: fakeClock(0)},
			status: http.StatusTooManyRequests, errors: 6},
		{name: "wrong credentials are errors", load: Load{Authz: "Bearer wrong", MaxRequests: 6, Now: fakeClock(0)},
			serverAuthz: "Bearer x", errors: 6},
		// Warm-up requests, cut or not, are neither measured nor errors.
		{name: "warm-up is not measured", load: Load{Warmup: 5 * time.Millisecond, MaxRequests: 8, Now: fakeClock(0)},
			minOK: 8, maxOK: 8, warmupRequests: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			url, hits := countingServer(t, tc.serverAuthz, tc.status)
			l := tc.load
			l.URL, l.Conns = url, conns
			if l.Duration == 0 {
				l.Duration = time.Second // with step 0 the clock never gets there
			}
			s := Measure(context.Background(), l)
			if got := len(s.Latencies); got < tc.minOK || got > tc.maxOK {
				t.Errorf("%d requests measured, want %d to %d", got, tc.minOK, tc.maxOK)
			}
			if s.Errors != tc.errors {
				t.Errorf("%d errors, want %d", s.Errors, tc.errors)
			}
			sent := int64(len(s.Latencies) + s.Errors)
			if got := hits.Load(); got < sent || (!tc.warmupRequests && got != sent) {
				t.Errorf("server saw %d requests, %d measured", got, sent)
			}
			if s.Elapsed < 0 {
				t.Errorf("elapsed %v", s.Elapsed)
			}
		})
	}
}

// TestMeasureCancelIsNotAnError cancels the run from the server on the
// third request: the two before count, the cut one is no failure.
func TestMeasureCancelIsNotAnError(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 3 {
			cancel()
			select {
			case <-r.Context().Done(): // the client gave up the request
			case <-time.After(30 * time.Second):
			}
		}
	}))
	t.Cleanup(srv.Close)
	s := Measure(ctx, Load{URL: srv.URL, Conns: 1, Duration: time.Second, Now: fakeClock(0)})
	if len(s.Latencies) != 2 || s.Errors != 0 {
		t.Errorf("%d measured, %d errors; want 2 and 0", len(s.Latencies), s.Errors)
	}
}
