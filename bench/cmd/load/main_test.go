package main

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeServer answers like examples/api for the one demo user; when
// refuseBasic is set, /api/v1/me refuses Basic.
func fakeServer(t *testing.T, refuseBasic bool) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	const basic = "Basic YWxpY2VAZXhhbXBsZS5jb206d29uZGVybGFuZC00Mg==" // alice@example.com:wonderland-42
	var me atomic.Int64
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"status":"ok"}`)
	})
	mux.HandleFunc("POST /api/v1/tokens/", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != basic {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		_, _ = io.WriteString(w, `{"token":"tok","expiration":3600}`)
	})
	mux.HandleFunc("GET /api/v1/me", func(w http.ResponseWriter, r *http.Request) {
		me.Add(1)
		switch a := r.Header.Get("Authorization"); {
		case a == "Bearer tok", a == basic && !refuseBasic:
			_, _ = io.WriteString(w, `{"id":"1"}`)
		default:
			http.Error(w, "no", http.StatusUnauthorized)
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, &me
}

func TestRunReportsEveryTarget(t *testing.T) {
	t.Parallel()
	srv, me := fakeServer(t, false)
	var out strings.Builder
	// -d 10m: the request count ends every round, however slow the machine.
	err := run(context.Background(), []string{"-url", srv.URL, "-c", "4", "-n", "200", "-d", "10m", "-warmup", "0"}, &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"healthz", "token", "basic-cached", "p99", "token rate / healthz rate = "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if got := me.Load(); got != 400 {
		t.Errorf("/api/v1/me got %d requests, want 400 (-n 200 for two targets, no warm-up)", got)
	}
}

func TestRunFailsOnRefusals(t *testing.T) {
	t.Parallel()
	srv, _ := fakeServer(t, true)
	err := run(context.Background(), []string{"-url", srv.URL, "-c", "2", "-n", "20", "-d", "10m", "-warmup", "0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "basic-cached") {
		t.Fatalf("err = %v, want basic-cached failures", err)
	}
}

// fakeClock returns a clock that moves on by step at every reading, so
// that the deadline depends on how often the code looks, not on how fast
// the machine is.
func fakeClock(step time.Duration) func() time.Time {
	var ticks atomic.Int64
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	return func() time.Time { return base.Add(time.Duration(ticks.Add(1)) * step) }
}

// TestRunStopsAtDuration runs with -n far beyond what could finish, so
// only -d can end it; the clock is fake, so a loaded machine neither
// empties a round nor changes the outcome.
func TestRunStopsAtDuration(t *testing.T) {
	t.Parallel()
	const conns, rounds, meTargets = 2, 5, 2
	for _, tc := range []struct {
		name     string
		step     time.Duration // clock advance per reading
		min, max int64         // /api/v1/me requests
	}{
		// 20 ms per round: at most 19 readings before the deadline, each
		// letting one more request start, plus each connection's first.
		{"1ms per reading", time.Millisecond, meTargets * rounds * conns, meTargets * rounds * (conns + 19)},
		// Every request outlasts its round (a machine too slow for the
		// slice): each connection still sends, and counts, one per round.
		{"request longer than the round", time.Hour, meTargets * rounds * conns, meTargets * rounds * conns},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, me := fakeServer(t, false)
			var out strings.Builder
			err := runClock(context.Background(), []string{"-url", srv.URL, "-c", "2", "-n", "10000000", "-d", "100ms", "-warmup", "0"},
				&out, io.Discard, fakeClock(tc.step))
			if err != nil {
				t.Fatal(err)
			}
			if got := me.Load(); got < tc.min || got > tc.max {
				t.Errorf("/api/v1/me got %d requests, want %d to %d", got, tc.min, tc.max)
			}
			if !strings.Contains(out.String(), "basic-cached") {
				t.Errorf("report lacks basic-cached:\n%s", out.String())
			}
		})
	}
}

// TestParseFlags checks load's own flags and that the shared ones are
// wired; loadgen tests the shared checks in full.
func TestParseFlags(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		args []string
		ok   bool
	}{
		{name: "defaults", ok: true},
		{name: "IPv6 loopback", args: []string{"-url", "http://[::1]:9000"}, ok: true},
		{name: "as many rounds as requests", args: []string{"-n", "4", "-rounds", "4"}, ok: true},
		{name: "not loopback", args: []string{"-url", "http://10.0.0.1:8080"}},
		{name: "host name", args: []string{"-url", "http://example.com"}},
		{name: "https", args: []string{"-url", "https://127.0.0.1:8443"}},
		{name: "no scheme", args: []string{"-url", "127.0.0.1:8080"}},
		{name: "no requests", args: []string{"-n", "0"}},
		{name: "too many requests", args: []string{"-n", "10000001"}},
		{name: "more rounds than requests", args: []string{"-n", "3", "-rounds", "4"}},
		{name: "no connections", args: []string{"-c", "0"}},
		{name: "no time", args: []string{"-d", "0s"}},
		{name: "too long", args: []string{"-d", "1h"}},
		{name: "negative warm-up", args: []string{"-warmup", "-1s"}},
		{name: "no rounds", args: []string{"-rounds", "0"}},
		{name: "stray argument", args: []string{"extra"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := parseFlags(tc.args, io.Discard)
			if tc.ok && err != nil {
				t.Fatalf("%q: %v", tc.args, err)
			}
			if !tc.ok && err == nil {
				t.Fatalf("%q accepted", tc.args)
			}
		})
	}
}
