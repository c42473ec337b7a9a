package httpauth

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestClientIP(t *testing.T) {
	t.Parallel()
	trusted := func(c *testSetup[testUser]) {
		c.Throttle.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	}
	tests := []struct {
		name, remote, xff, want, wantPlain string
	}{
		{"direct", "192.0.2.1:1234", "", "192.0.2.1", "192.0.2.1"},
		{"untrusted proxy's header ignored", "192.0.2.1:1234", "198.51.100.7", "192.0.2.1", "192.0.2.1"},
		{"trusted proxy", "10.1.1.1:1234", "198.51.100.7", "198.51.100.7", "10.1.1.1"},
		{"chain of trusted proxies", "10.1.1.1:1234", "203.0.113.9, 198.51.100.7, 10.2.2.2", "198.51.100.7", "10.1.1.1"},
		// A garbled chain gets a bucket of its own, not the proxy's.
		{"garbage hop", "10.1.1.1:1234", "junk", clientKeyInvalidChain, "10.1.1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				f, plain := newEnv(t, trusted), newEnv(t)
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.RemoteAddr = tt.remote
				if tt.xff != "" {
					req.Header.Set("X-Forwarded-For", tt.xff)
				}
				assert.Equal(t, tt.want, f.auth.clientIP(req))
				assert.Equal(t, tt.wantPlain, plain.auth.clientIP(req), "X-Forwarded-For is not trusted by default")
			})
		})
	}
}

func TestClientLimiter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		f := newEnv(t, func(c *testSetup[testUser]) {
			c.Throttle.Clients = newMemoryLimiter(2, time.Minute)
			c.disableThrottling = true
		})
		do := func(remote, login, pw string) int {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = remote
			req.Header.Set("Authorization", basicHeader(login, pw))
			rec := httptest.NewRecorder()
			f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
			return rec.Code
		}
		assert.Equal(t, 401, do("192.0.2.1:1", "a@example.com", "x"))
		assert.Equal(t, 401, do("192.0.2.1:2", "b@example.com", "x"))
		assert.Equal(t, 429, do("192.0.2.1:3", "alice", alicePW), "the client is throttled across logins")
		assert.Equal(t, 200, do("192.0.2.2:1", "alice", alicePW), "other clients are not")
	})
}

// Hardening: IPv6 clients are keyed by /64, IPv4 per address, and a
// garbled X-Forwarded-For hop gets a bucket of its own, never the proxy's.
func TestSecurityClientKey(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, remote, xff, want string
	}{
		{"ipv4 direct", "192.0.2.7:1234", "", "192.0.2.7"},
		{"ipv4-mapped direct", "[::ffff:192.0.2.7]:1234", "", "192.0.2.7"},
		{"ipv6 direct", "[2001:db8:1:2:3:4:5:6]:443", "", "2001:db8:1:2::/64"},
		{"ipv6 same /64", "[2001:db8:1:2:ffff::1]:443", "", "2001:db8:1:2::/64"},
		{"ipv6 with zone", "[fe80::1%eth0]:443", "", "fe80::/64"},
		{"untrusted sender's XFF ignored", "192.0.2.7:1", "198.51.100.1", "192.0.2.7"},
		{"via proxy", "10.0.0.1:1", "198.51.100.1", "198.51.100.1"},
		{"via two proxies", "10.0.0.1:1", "198.51.100.1, 10.0.0.2", "198.51.100.1"},
		{"via proxy, ipv6 client", "[fd00::1]:1", "2001:db8:9:9::1", "2001:db8:9:9::/64"},
		{"rightmost untrusted wins", "10.0.0.1:1", "203.0.113.9, 198.51.100.1", "198.51.100.1"},
		{"garbled hop", "10.0.0.1:1", "198.51.100.1, garbage", clientKeyInvalidChain},
		{"empty hop", "10.0.0.1:1", "198.51.100.1, , 10.0.0.2", clientKeyInvalidChain},
		{"garbled hop left of the client", "10.0.0.1:1", "garbage, 198.51.100.1", "198.51.100.1"},
		{"proxy without XFF", "10.0.0.1:1", "", "10.0.0.1"},
		{"not an address", "pipe", "", "pipe"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, func(c *testSetup[testUser]) {
					c.Throttle.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
				})
				r := getReq()
				r.RemoteAddr = c.remote
				if c.xff != "" {
					r.Header.Set("X-Forwarded-For", c.xff)
				}
				assert.Equal(t, c.want, e.auth.clientIP(r))
			})
		})
	}
}

// Behind a trusted proxy the audit line names the client the limits
// count, beside the peer (the proxy); without trusted proxies it names
// the peer only.
func TestAuditNamesTheClientBehindAProxy(t *testing.T) {
	t.Parallel()
	trusted := func(c *testSetup[testUser]) {
		c.Throttle.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	}
	for _, tt := range []struct {
		name string
		opts []envOpt
		want []string
		not  string
	}{
		{"trusted proxy", []envOpt{trusted}, []string{`"remote":"10.1.1.1:1234"`, `"client":"198.51.100.7"`}, ""},
		{"no trusted proxy", nil, []string{`"remote":"10.1.1.1:1234"`}, `"client"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, tt.opts...)
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.RemoteAddr = "10.1.1.1:1234"
				req.Header.Set("X-Forwarded-For", "198.51.100.7")
				req.Header.Set("Authorization", basicHeader("alice", "wrong"))
				rec := httptest.NewRecorder()
				e.auth.Middleware(&spy{}).ServeHTTP(rec, req)
				assert.Equal(t, http.StatusUnauthorized, rec.Code)
				logs := e.logs.String()
				for _, w := range tt.want {
					assert.Contains(t, logs, w)
				}
				if tt.not != "" {
					assert.NotContains(t, logs, tt.not)
				}
			})
		})
	}
}
