package loadgen

import (
	"flag"
	"io"
	"strings"
	"testing"
	"time"
)

var testDefaults = Defaults{Conns: 8, Rounds: 3, Duration: 2 * time.Second, MaxDuration: 10 * time.Minute}

func TestDefaultsParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		args    []string
		want    Options
		wantErr string
	}{
		{name: "defaults", want: Options{Conns: 8, Rounds: 3, Duration: 2 * time.Second, Warmup: time.Second,
			Login: "alice@example.com", Password: "wonderland-42"}},
		{name: "every flag", args: []string{"-c", "2", "-rounds", "4", "-d", "10m", "-warmup", "0s", "-login", "bob", "-password", "pw"},
			want: Options{Conns: 2, Rounds: 4, Duration: 10 * time.Minute, Login: "bob", Password: "pw"}},
		{name: "the command's own flag", args: []string{"-own", "-c", "1"},
			want: Options{Conns: 1, Rounds: 3, Duration: 2 * time.Second, Warmup: time.Second, Login: "alice@example.com", Password: "wonderland-42"}},
		{name: "unknown flag", args: []string{"-x"}, wantErr: "not defined"},
		{name: "stray argument", args: []string{"extra"}, wantErr: "unexpected arguments"},
		{name: "no connections", args: []string{"-c", "0"}, wantErr: "-c must be between 1 and 1024"},
		{name: "too many connections", args: []string{"-c", "1025"}, wantErr: "-c must be between 1 and 1024"},
		{name: "no rounds", args: []string{"-rounds", "0"}, wantErr: "-rounds must be between 1 and 100"},
		{name: "too many rounds", args: []string{"-rounds", "101"}, wantErr: "-rounds must be between 1 and 100"},
		{name: "no time", args: []string{"-d", "0s"}, wantErr: "-d must be positive and at most 10m"},
		{name: "too long", args: []string{"-d", "11m"}, wantErr: "-d must be positive and at most 10m"},
		{name: "negative warm-up", args: []string{"-warmup", "-1s"}, wantErr: "-warmup must be between 0 and 1m"},
		{name: "long warm-up", args: []string{"-warmup", "61s"}, wantErr: "-warmup must be between 0 and 1m"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fs := flag.NewFlagSet("test", flag.ContinueOnError)
			fs.SetOutput(io.Discard)
			fs.Bool("own", false, "a flag of the command's own")
			got, err := testDefaults.Parse(fs, tc.args)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Parse = %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestShortDuration(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		d    time.Duration
		want string
	}{
		{10 * time.Minute, "10m"},
		{5 * time.Minute, "5m"},
		{time.Hour, "1h"},
		{time.Hour + 10*time.Minute, "1h10m"},
		{90 * time.Second, "1m30s"},
		{4 * time.Second, "4s"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			if got := shortDuration(tc.d); got != tc.want {
				t.Errorf("shortDuration(%v) = %q, want %q", tc.d, got, tc.want)
			}
		})
	}
}

func TestParseURL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		raw     string
		ok      bool
		wantErr string // part of the error, when not ok
	}{
		{raw: "http://127.0.0.1:8080", ok: true},
		{raw: "http://[::1]:9000", ok: true},
		{raw: "http://127.0.0.2:1", ok: true},
		{raw: "http://10.0.0.1:8080", wantErr: "not a loopback address"},
		{raw: "http://example.com", wantErr: "not a loopback address"},
		{raw: "http://[2001:db8::1]:80", wantErr: "not a loopback address"},
		{raw: "https://127.0.0.1:8443", wantErr: "http://host:port"},
		{raw: "http://", wantErr: "http://host:port"},
		{raw: "127.0.0.1:8080"}, // url.Parse's own error
	} {
		t.Run(tc.raw, func(t *testing.T) {
			t.Parallel()
			u, err := ParseURL(tc.raw)
			if !tc.ok {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.String() != tc.raw {
				t.Errorf("URL %s, want %s", u, tc.raw)
			}
		})
	}
}
