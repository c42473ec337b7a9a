package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	t.Setenv("HTTPAUTH_POSTGRES_TEST_DSN", "postgres://127.0.0.1/x")
	t.Setenv("HTTPAUTH_REDIS_TEST_URL", "redis://127.0.0.1:6379/0")
	tests := []struct {
		args    []string
		wantErr string
		max     int
	}{
		{args: nil, max: 10_000_000},
		{args: []string{"-max", "1e4"}, max: 10_000},
		{args: []string{"-max", "10"}, wantErr: "-max"},
		{args: []string{"-max", "lots"}, wantErr: "-max"},
		{args: []string{"-parts", "storm,nope"}, wantErr: "unknown part"},
		{args: []string{"-rounds", "0"}, wantErr: "-rounds"},
		{args: []string{"extra"}, wantErr: "unexpected"},
		{args: []string{"-redis", ""}, wantErr: "required"},
	}
	for _, tt := range tests {
		cfg, err := parseFlags(tt.args, io.Discard)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%q: err = %v, want one containing %q", tt.args, err, tt.wantErr)
			}
			continue
		}
		if err != nil || cfg.max != tt.max {
			t.Errorf("%q: max %d, err %v; want max %d", tt.args, cfg.max, err, tt.max)
		}
	}
	cfg, err := parseFlags([]string{"-parts", "cold"}, io.Discard)
	if err != nil || !cfg.parts["revocations"] || !cfg.parts["locks"] {
		t.Errorf("-parts cold does not bring the loads it needs: %v, %v", cfg.parts, err)
	}
	if got := powers(2_000_000); len(got) != 4 || got[0] != 1000 || got[3] != 1_000_000 {
		t.Errorf("powers(2e6) = %v", got)
	}
}

// TestMeasurementsAtSmallScale runs every measurement at 10² against the
// test servers and checks that the results are sane: rates above zero,
// every answer the expected one, no 500, the cold instance live. It times
// nothing against a bound.
// TestMain lets the test binary be the load's client process, as the
// program is (-load-client).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == loadClientFlag {
		if err := loadClientMain(context.Background(), os.Args[2:], os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestMeasurementsAtSmallScale(t *testing.T) {
	pg, rd := os.Getenv("HTTPAUTH_POSTGRES_TEST_DSN"), os.Getenv("HTTPAUTH_REDIS_TEST_URL")
	if pg == "" || rd == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("HTTPAUTH_POSTGRES_TEST_DSN and HTTPAUTH_REDIS_TEST_URL are unset, and CI=true")
		}
		t.Skip("HTTPAUTH_POSTGRES_TEST_DSN or HTTPAUTH_REDIS_TEST_URL unset")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e, err := newEnv(ctx, pg, rd, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.close(context.Background()) })
	e.rounds, e.tunedGOGC = 2, 400
	const n, conns, d = 100, 4, 200 * time.Millisecond

	s, err := storm(ctx, e, 5, false)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status[http.StatusOK] != 5 || s.Failed != 0 || s.Seconds <= 0 || s.PeakHeapMiB <= 0 {
		t.Errorf("storm: %+v, want 5 × 200", s)
	}

	p, err := measureAccounts(ctx, e, n, conns, d)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rate <= 0 || p.Requests == 0 || p.Wrong != 0 || p.Status5xx != 0 || p.Failed != 0 || p.P99Ms <= 0 || len(p.RoundRates) != 2 {
		t.Errorf("accounts: %+v", p)
	}
	if tu := p.Tuned; tu == nil || tu.Rate <= 0 || tu.Wrong != 0 || tu.Status5xx != 0 || tu.Failed != 0 {
		t.Errorf("accounts, tuned GOGC: %+v", tu)
	}
	if p.HeapPerAccount <= 0 {
		t.Errorf("heap per cached account %.0f B, want above 0", p.HeapPerAccount)
	}

	// The same with the client in a process of its own (this test binary,
	// through TestMain), as the program runs it by default.
	e.clientProcess, e.tunedGOGC, e.rounds = true, 0, 1
	p, err = measureAccounts(ctx, e, n, conns, d)
	if err != nil {
		t.Fatal(err)
	}
	if p.Rate <= 0 || p.Requests == 0 || p.Wrong != 0 || p.Status5xx != 0 || p.Failed != 0 || p.P99Ms <= 0 ||
		p.CPUPerRequest <= 0 || p.ClientCPUPerRequest <= 0 {
		t.Errorf("accounts, client process: %+v", p)
	}
	e.clientProcess, e.tunedGOGC, e.rounds = false, 400, 2

	revs, err := measureRevocations(ctx, e, []int{n}, n, conns, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(revs) != 1 || revs[0].Load == nil {
		t.Fatalf("revocations: %+v", revs)
	}
	if l := revs[0].Load; l.Rate <= 0 || l.Wrong != 0 || l.Status5xx != 0 || l.Failed != 0 {
		t.Errorf("revocations: token load %+v", l)
	}

	locks, err := measureLocks(ctx, e, []int{n})
	if err != nil {
		t.Fatal(err)
	}
	if len(locks) != 1 {
		t.Fatalf("locks: %+v", locks)
	}

	c, err := coldStart(ctx, e, n, n, 1000, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if c.RevLiveMs < 0 || c.LimLiveMs < 0 || c.FirstRevokedMs <= 0 || c.FirstLockedMs <= 0 {
		t.Errorf("cold start: %+v", c)
	}
	if err := checkResults(results{Storm: &s, Accounts: []accountPoint{p}, Revocations: revs}); err != nil {
		t.Error(err)
	}
}
