package main

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr string
		setups  int
	}{
		{name: "two targets", args: []string{"-target", "memory=http://127.0.0.1:1", "-target", "pg=http://[::1]:2"}, setups: 2},
		{name: "no target", wantErr: "at least one -target"},
		{name: "not loopback", args: []string{"-target", "x=http://10.0.0.1:1"}, wantErr: "not a loopback"},
		{name: "host name", args: []string{"-target", "x=http://example.com:1"}, wantErr: "not a loopback"},
		{name: "localhost", args: []string{"-target", "x=http://localhost:1"}, wantErr: "not a loopback IP address"},
		{name: "no name", args: []string{"-target", "http://127.0.0.1:1"}, wantErr: "name="},
		{name: "https", args: []string{"-target", "x=https://127.0.0.1:1"}, wantErr: "http://"},
		{name: "zero connections", args: []string{"-target", "x=http://127.0.0.1:1", "-c", "0"}, wantErr: "-c"},
		{name: "too many rounds", args: []string{"-target", "x=http://127.0.0.1:1", "-rounds", "101"}, wantErr: "-rounds"},
		{name: "stray argument", args: []string{"-target", "x=http://127.0.0.1:1", "extra"}, wantErr: "unexpected"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.setups) != tt.setups {
				t.Fatalf("%d setups, want %d", len(cfg.setups), tt.setups)
			}
		})
	}
}

// fakeAPI answers the token request, and GET /api/v1/me with status.
func fakeAPI(t *testing.T, status int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/api/v1/tokens/" {
			_, _ = io.WriteString(w, `{"token":"t","expiration":3600}`)
			return
		}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestRun(t *testing.T) {
	t.Parallel()
	ok, failing := fakeAPI(t, http.StatusOK), fakeAPI(t, http.StatusTooManyRequests)
	tests := []struct {
		name    string
		targets []string
		wantErr string
		want    []string
	}{
		{
			name:    "ratios to memory",
			targets: []string{"memory=" + ok.URL, "other=" + ok.URL},
			want:    []string{"| memory |", "| other |", "req/s vs ref"},
		},
		{
			name:    "a non-200 is an error",
			targets: []string{"memory=" + ok.URL, "bad=" + failing.URL},
			wantErr: "bad/",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			args := []string{"-c", "2", "-rounds", "2", "-d", "20ms", "-warmup", "0s"}
			for _, target := range tt.targets {
				args = append(args, "-target", target)
			}
			var out bytes.Buffer
			err := run(context.Background(), args, &out, io.Discard)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
