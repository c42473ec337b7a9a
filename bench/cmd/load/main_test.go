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
	srv, me := fakeServer(t, false)
	var out strings.Builder
	err := run(context.Background(), []string{"-url", srv.URL, "-c", "4", "-n", "200", "-d", "5s", "-warmup", "0"}, &out, io.Discard)
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
	srv, _ := fakeServer(t, true)
	err := run(context.Background(), []string{"-url", srv.URL, "-c", "2", "-n", "20", "-d", "5s", "-warmup", "0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "basic-cached") {
		t.Fatalf("err = %v, want basic-cached failures", err)
	}
}

func TestRunStopsAtDuration(t *testing.T) {
	srv, _ := fakeServer(t, false)
	start := time.Now()
	err := run(context.Background(), []string{"-url", srv.URL, "-c", "2", "-n", "10000000", "-d", "100ms", "-warmup", "0"}, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %s with -d 100ms per target", d)
	}
}

func TestFlagsRefuseNonLoopback(t *testing.T) {
	for _, u := range []string{"http://10.0.0.1:8080", "http://example.com", "http://[2001:db8::1]:80", "https://127.0.0.1:8443", "127.0.0.1:8080"} {
		if _, err := parseFlags([]string{"-url", u}, io.Discard); err == nil {
			t.Errorf("-url %s accepted", u)
		}
	}
	for _, u := range []string{"http://127.0.0.1:8080", "http://[::1]:9000"} {
		if _, err := parseFlags([]string{"-url", u}, io.Discard); err != nil {
			t.Errorf("-url %s: %v", u, err)
		}
	}
	for _, args := range [][]string{{"-c", "0"}, {"-n", "0"}, {"-d", "0s"}, {"-d", "1h"}, {"-warmup", "-1s"}, {"-rounds", "0"}, {"-n", "3", "-rounds", "4"}, {"extra"}} {
		if _, err := parseFlags(args, io.Discard); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

func TestPercentile(t *testing.T) {
	var s []time.Duration
	for i := 1; i <= 100; i++ {
		s = append(s, time.Duration(i))
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{50, 50}, {99, 99}, {100, 100}, {0, 1}} {
		if got := percentile(s, tc.p); got != tc.want {
			t.Errorf("p%v = %d, want %d", tc.p, got, tc.want)
		}
	}
	if got := percentile([]time.Duration{7}, 99); got != 7 {
		t.Errorf("p99 of one = %d", got)
	}
	if got := percentile(nil, 50); got != 0 {
		t.Errorf("p50 of none = %d", got)
	}
}
