package loadgen

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestBasicAuth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ login, password, want string }{
		{"alice@example.com", "wonderland-42", "Basic YWxpY2VAZXhhbXBsZS5jb206d29uZGVybGFuZC00Mg=="},
		{"", "", "Basic Og=="},
	} {
		t.Run(tc.login, func(t *testing.T) {
			t.Parallel()
			if got := BasicAuth(tc.login, tc.password); got != tc.want {
				t.Errorf("BasicAuth = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestFetchToken(t *testing.T) {
	t.Parallel()
	const basic = "Basic YWxpY2VAZXhhbXBsZS5jb206d29uZGVybGFuZC00Mg=="
	for _, tc := range []struct {
		name    string
		status  int
		body    string
		want    string
		wantErr string
	}{
		{name: "token", status: http.StatusOK, body: `{"token":"tok","expiration":3600}`, want: "tok"},
		{name: "refused", status: http.StatusUnauthorized, body: "no\n", wantErr: "status 401: no"},
		{name: "no token", status: http.StatusOK, body: `{"expiration":3600}`, wantErr: "no token"},
		{name: "not JSON", status: http.StatusOK, body: "ok", wantErr: "no token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method != http.MethodPost || r.URL.Path != "/api/v1/tokens/" || r.Header.Get("Authorization") != basic {
					http.Error(w, "wrong request", http.StatusBadRequest)
					return
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			t.Cleanup(srv.Close)
			base, err := url.Parse(srv.URL)
			if err != nil {
				t.Fatal(err)
			}
			got, err := FetchToken(context.Background(), base, basic)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("FetchToken = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}
