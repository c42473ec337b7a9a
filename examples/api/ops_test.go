package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// This file tests what an operator needs (README, "Running in
// production"): key rotation, serving with a least-privilege role, bounded
// requests, readiness, signals, secrets from the environment, trusted
// proxies, persistence and the shutdown drain.

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

func TestParseOptionsProduction(t *testing.T) {
	k1, k2 := randomHex(t), randomHex(t)
	dir := t.TempDir()
	dsnFile := filepath.Join(dir, "dsn")
	require.NoError(t, os.WriteFile(dsnFile, []byte("postgres://app:pw@db/app\n"), 0o600))
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantErr string
		check   func(t *testing.T, o options)
	}{
		{name: "key ring, first signs", env: map[string]string{"HTTPAUTH_KEYS": "k2:" + k2 + ", k1:" + k1},
			check: func(t *testing.T, o options) {
				require.Len(t, o.keys, 2)
				assert.Equal(t, "k2", o.keys[0].ID)
				assert.Equal(t, "k1", o.keys[1].ID)
			}},
		{name: "secret is the key k1", env: map[string]string{"HTTPAUTH_SECRET": k1},
			check: func(t *testing.T, o options) { require.Len(t, o.keys, 1); assert.Equal(t, "k1", o.keys[0].ID) }},
		{name: "keys and secret", env: map[string]string{"HTTPAUTH_KEYS": "k2:" + k2, "HTTPAUTH_SECRET": k1}, wantErr: "not both"},
		{name: "duplicate key ID", env: map[string]string{"HTTPAUTH_KEYS": "k1:" + k1 + ",k1:" + k2}, wantErr: "twice"},
		{name: "entry without ID", env: map[string]string{"HTTPAUTH_KEYS": k1}, wantErr: "not id:hex"},
		{name: "bad key names its ID, not the key", env: map[string]string{"HTTPAUTH_KEYS": "k9:" + k1[:20]}, wantErr: "(k9)"},
		{name: "no key with postgres", args: []string{"-db", "postgres://db/app"}, wantErr: "HTTPAUTH_KEYS (or HTTPAUTH_SECRET) is required"},
		{name: "no key with redis", args: []string{"-redis", "redis://r:6379/0"}, wantErr: "is required"},
		{name: "no key with redis from the environment", env: map[string]string{"HTTPAUTH_REDIS": "redis://r:6379/0"}, wantErr: "is required"},
		{name: "no key with sqlite is a demo", args: []string{"-db", "sqlite:x.db"},
			check: func(t *testing.T, o options) { assert.Len(t, o.keys, 1) }},
		{name: "DSNs from the environment", env: map[string]string{"HTTPAUTH_SECRET": k1, "HTTPAUTH_DB": "postgres://db/app", "HTTPAUTH_REDIS": "redis://r/0"},
			check: func(t *testing.T, o options) {
				assert.Equal(t, "postgres://db/app", o.db)
				assert.Equal(t, "redis://r/0", o.redis)
			}},
		{name: "DSN from a file", env: map[string]string{"HTTPAUTH_SECRET": k1, "HTTPAUTH_DB_FILE": dsnFile},
			check: func(t *testing.T, o options) { assert.Equal(t, "postgres://app:pw@db/app", o.db) }},
		{name: "variable and file", env: map[string]string{"HTTPAUTH_DB": "x", "HTTPAUTH_DB_FILE": dsnFile}, wantErr: "both HTTPAUTH_DB and HTTPAUTH_DB_FILE"},
		{name: "missing file", env: map[string]string{"HTTPAUTH_REDIS_FILE": filepath.Join(dir, "none")}, wantErr: "HTTPAUTH_REDIS_FILE"},
		{name: "trusted proxies", args: []string{"-trusted-proxies", "10.0.0.0/8, 192.168.1.7"},
			check: func(t *testing.T, o options) {
				require.Len(t, o.proxies, 2)
				assert.Equal(t, "10.0.0.0/8", o.proxies[0].String())
				assert.Equal(t, "192.168.1.7/32", o.proxies[1].String())
			}},
		{name: "bad proxy", args: []string{"-trusted-proxies", "10.0.0.0/99"}, wantErr: "-trusted-proxies"},
		{name: "negative client attempts", args: []string{"-client-attempts", "-1"}, wantErr: "-client-attempts"},
		{name: "stray argument", args: []string{"serve"}, wantErr: "unexpected argument"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _, err := parseOptions(tt.args, func(k string) string { return tt.env[k] }, io.Discard)
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), k1)
				assert.NotContains(t, err.Error(), k1[:20])
				return
			}
			require.NoError(t, err)
			tt.check(t, o)
		})
	}
}

// doH is call with request headers.
func doH(t *testing.T, method, url string, header map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	require.NoError(t, err)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode
}

// TestTrustedProxies: the per-client limit counts the X-Forwarded-For
// client behind a trusted proxy, and the connection's address otherwise.
func TestTrustedProxies(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		sameXFF int // a right password from the guessing client
		newXFF  int // a right password from another client behind the proxy
	}{
		{name: "trusted proxy", args: []string{"-trusted-proxies", "127.0.0.0/8"}, sameXFF: 429, newXFF: 200},
		{name: "no trusted proxy: X-Forwarded-For ignored", sameXFF: 429, newXFF: 429},
		{name: "another proxy trusted", args: []string{"-trusted-proxies", "10.0.0.0/8"}, sameXFF: 429, newXFF: 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := startAPI(t, append([]string{"-client-attempts", "3"}, tt.args...)...)
			for i := range 3 { // distinct logins: only the client's budget is spent
				h := map[string]string{"Authorization": basic(fmt.Sprintf("nobody%d@example.com", i), "guess"), "X-Forwarded-For": "203.0.113.7"}
				require.Equal(t, 401, doH(t, http.MethodGet, s.base+"/api/v1/me", h))
			}
			alice := basic("alice@example.com", "wonderland-42")
			assert.Equal(t, tt.sameXFF, doH(t, http.MethodGet, s.base+"/api/v1/me", map[string]string{"Authorization": alice, "X-Forwarded-For": "203.0.113.7"}))
			assert.Equal(t, tt.newXFF, doH(t, http.MethodGet, s.base+"/api/v1/me", map[string]string{"Authorization": alice, "X-Forwarded-For": "198.51.100.9"}))
		})
	}
}

// metricValue reads one series' value from a /metrics page, or -1.
func metricValue(t *testing.T, metricsURL, series string) float64 {
	t.Helper()
	resp, err := http.Get(metricsURL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), series+" "); ok {
			var f float64
			_, err := fmt.Sscan(v, &f)
			require.NoError(t, err)
			return f
		}
	}
	return -1
}

// TestRedisOutage stops a private Redis under a running server: /readyz
// fails and comes back, the feed gauges and the 5xx counter move, and the
// log says "lost" and "back" once per feed.
func TestRedisOutage(t *testing.T) {
	rd := startRedis(t)
	s := startAPI(t, "-redis", rd.URL(), "-metrics-addr", "127.0.0.1:0")
	alice := basic("alice@example.com", "wonderland-42")
	require.Eventually(t, func() bool { return statusOf(s.base+"/readyz", "") == 200 }, 30*time.Second, 20*time.Millisecond)
	assert.Equal(t, 1.0, metricValue(t, s.metrics, `httpauth_change_feed_live{feed="revocations"}`))
	assert.Contains(t, s.logs.String(), "redis: ready")
	for _, feed := range []string{"revocations", "limiter"} { // the watcher has seen each feed up
		require.Eventually(t, func() bool { return strings.Contains(s.logs.String(), "change feed live\" feed="+feed) }, 30*time.Second, 20*time.Millisecond)
	}

	rd.Stop()
	t.Run("readiness fails while Redis is down, liveness does not", func(t *testing.T) {
		eventuallyStatus(t, 503, s.base+"/readyz", "")
		r := call(t, http.MethodGet, s.base+"/readyz", "")
		assert.Equal(t, "unreachable", r.body["checks"].(map[string]any)["redis"])
		assert.Equal(t, 200, statusOf(s.base+"/healthz", ""))
	})
	t.Run("signals", func(t *testing.T) {
		for range 5 {
			assert.Equal(t, 500, call(t, http.MethodPost, s.base+"/api/v1/tokens/", alice).status)
		}
		assert.GreaterOrEqual(t, metricValue(t, s.metrics, `httpauth_http_server_errors_total{code="500",route="/api/v1/"}`), 5.0)
		require.Eventually(t, func() bool {
			return metricValue(t, s.metrics, `httpauth_change_feed_live{feed="revocations"}`) == 0
		}, 30*time.Second, 20*time.Millisecond)
	})
	rd.Start()
	t.Run("back", func(t *testing.T) {
		eventuallyStatus(t, 200, s.base+"/readyz", "")
		require.Eventually(t, func() bool {
			return metricValue(t, s.metrics, `httpauth_change_feed_live{feed="limiter"}`) == 1
		}, 30*time.Second, 20*time.Millisecond)
		assert.Equal(t, 200, call(t, http.MethodPost, s.base+"/api/v1/tokens/", alice).status)
		for _, feed := range []string{"revocations", "limiter"} {
			require.Eventually(t, func() bool { return strings.Contains(s.logs.String(), "change feed back\" feed="+feed) }, 30*time.Second, 20*time.Millisecond)
		}
		logs := s.logs.String()
		for _, feed := range []string{"revocations", "limiter"} {
			assert.Equal(t, 1, strings.Count(logs, "change feed lost: reading through to the store until it is back\" feed="+feed), feed)
			assert.Equal(t, 1, strings.Count(logs, "change feed back\" feed="+feed), feed)
		}
		// One failing request is one line at most once per repeatWindow,
		// and go-redis's own lines come through slog.
		assert.NotRegexp(t, `(?m)^redis: `, logs, "go-redis's unstructured lines")
	})
}

// TestFrozenRedis pauses every Redis client: a login that needs Redis
// fails with a 500 in bounded time rather than hanging.
func TestFrozenRedis(t *testing.T) {
	rd := startRedis(t)
	s := startAPI(t, "-redis", rd.URL())
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", rd.port)})
	t.Cleanup(func() { _ = c.Close() })
	require.NoError(t, c.Do(t.Context(), "CLIENT", "PAUSE", "30000", "ALL").Err())
	t.Cleanup(func() { _ = c.Do(context.Background(), "CLIENT", "UNPAUSE").Err() })
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, s.base+"/api/v1/tokens/", nil)
		req.Header.Set("Authorization", basic("alice@example.com", "wonderland-42"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		_ = resp.Body.Close()
		done <- resp.StatusCode
	}()
	select {
	case status := <-done:
		assert.Equal(t, 500, status)
	case <-time.After(15 * time.Second): // Redis stays frozen for 30 s
		t.Fatal("a login against a frozen Redis did not complete within 15 s")
	}
}

// TestRedisSetupThatCannotWork: a wrong Redis password stops the start
// with a clear message.
func TestRedisSetupThatCannotWork(t *testing.T) {
	rd := startRedis(t, "--requirepass", "right-password")
	tests := []struct{ name, url, want string }{
		{"wrong password", fmt.Sprintf("redis://:wrong-password@127.0.0.1:%d/0", rd.port), "authentication failed"},
		{"no password", rd.URL(), "authentication failed"},
		{"nothing listening", fmt.Sprintf("redis://127.0.0.1:%d/0", freePort(t)), "not answering"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs syncBuffer
			err := run(t.Context(), []string{"-addr", "127.0.0.1:0"}, func(k string) string {
				return map[string]string{"HTTPAUTH_SECRET": testSecret, "HTTPAUTH_REDIS": tt.url}[k]
			}, &logs)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
			assert.NotContains(t, err.Error()+logs.String(), "wrong-password")
			assert.NotContains(t, logs.String(), "listening on")
		})
	}
}

// TestRevocationSurvivesRedisRestart: with the append-only file a revoked
// token stays revoked after Redis restarts (without it, it comes back).
func TestRevocationSurvivesRedisRestart(t *testing.T) {
	rd := startRedis(t) // --appendonly yes, as .ci/services.sh runs CI's
	s := startAPI(t, "-redis", rd.URL())
	r := call(t, http.MethodPost, s.base+"/api/v1/tokens/", basic("alice@example.com", "wonderland-42"))
	require.Equal(t, 200, r.status)
	tok := "Bearer " + r.body["token"].(string)
	require.Equal(t, 204, call(t, http.MethodDelete, s.base+"/api/v1/tokens/", tok).status)
	rd.Stop()
	rd.Start()
	eventuallyStatus(t, 200, s.base+"/readyz", "")
	assert.Equal(t, 401, call(t, http.MethodGet, s.base+"/api/v1/me", tok).status)
}

// TestLeastPrivilegeRole migrates with httpauth-users as the owner, then
// serves with a role holding exactly the README's grants, and checks that
// the start ran no DDL.
func TestLeastPrivilegeRole(t *testing.T) {
	pg := startPostgres(t)
	ctx := context.Background()
	cli := filepath.Join(t.TempDir(), "httpauth-users")
	build := exec.Command("go", "build", "-o", cli, "github.com/gohttpauth/httpauth/cmd/httpauth-users")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	out, err := exec.Command(cli, "-db", pg.DSN(), "migrate").CombinedOutput()
	require.NoError(t, err, "%s", out)

	admin, err := sql.Open("pgx", pg.DSN())
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	// Exactly the grants of README.md, "Running in production".
	for _, stmt := range []string{
		"CREATE ROLE httpauth_app LOGIN PASSWORD 'app-password'",
		"GRANT CONNECT ON DATABASE postgres TO httpauth_app",
		"GRANT USAGE ON SCHEMA public TO httpauth_app",
		"GRANT SELECT, INSERT, UPDATE, DELETE ON httpauth_users, httpauth_api_keys, httpauth_second_factor, httpauth_recovery_codes TO httpauth_app",
	} {
		_, err := admin.ExecContext(ctx, stmt)
		require.NoError(t, err, stmt)
	}
	ddlState := func() string {
		var s string
		require.NoError(t, admin.QueryRowContext(ctx, `SELECT string_agg(x, ',' ORDER BY x) FROM (
			SELECT proname || ':' || xmin::text AS x FROM pg_proc WHERE proname LIKE 'httpauth%'
			UNION ALL SELECT tgname || ':' || xmin::text FROM pg_trigger WHERE tgname LIKE 'httpauth%'
			UNION ALL SELECT relname || ':' || xmin::text FROM pg_class WHERE relname LIKE 'httpauth%') t`).Scan(&s))
		return s
	}
	before := ddlState()
	appDSN := fmt.Sprintf("postgres://httpauth_app@127.0.0.1:%d/postgres?sslmode=disable", pg.port)
	t.Setenv("PGPASSWORD", "app-password") // read by the driver: no password in argv

	t.Run("-migrate is refused to the serving role", func(t *testing.T) {
		err := run(t.Context(), []string{"-addr", "127.0.0.1:0", "-db", appDSN, "-migrate"}, env(testSecret), io.Discard)
		require.Error(t, err)
	})
	s := startAPI(t, "-db", appDSN, "-demo-users")
	t.Run("serves", func(t *testing.T) {
		admin := basic("admin@example.com", "s3cret:with:colons")
		r := call(t, http.MethodPost, s.base+"/api/v1/tokens/", admin)
		require.Equal(t, 200, r.status, r.body)
		tok := "Bearer " + r.body["token"].(string)
		assert.Equal(t, 200, call(t, http.MethodGet, s.base+"/api/v1/me", tok).status)
		k := s.do(t, request{method: http.MethodPost, path: "/api/v1/keys", body: map[string]any{"name": "ci"}, header: map[string]string{"Authorization": tok}})
		require.Equal(t, 201, k.status, k.raw)
		assert.Equal(t, 200, s.do(t, request{method: http.MethodGet, path: "/api/v1/keys", header: map[string]string{"Authorization": tok}}).status)
		assert.Equal(t, 204, call(t, http.MethodDelete, s.base+"/api/v1/keys/"+k.obj["id"].(string), tok).status)
		assert.Equal(t, 204, call(t, http.MethodDelete, s.base+"/api/v1/tokens/", tok).status)
		assert.Equal(t, 401, call(t, http.MethodGet, s.base+"/api/v1/me", tok).status)
		assert.Equal(t, 200, statusOf(s.base+"/readyz", ""))
		assert.Contains(t, s.logs.String(), "user=httpauth_app")
	})
	assert.Equal(t, before, ddlState(), "the start ran DDL")
}

// proc is a running examples/api process.
type proc struct {
	base string
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

func startProc(t *testing.T, bin string, args, env []string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(bin, args...), logs: &syncBuffer{}, done: make(chan error, 1)}
	p.cmd.Env = env
	stderr, err := p.cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, p.cmd.Start())
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			_, _ = p.logs.Write([]byte(sc.Text() + "\n"))
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		p.done <- p.cmd.Wait()
	}()
	t.Cleanup(func() { p.stop(t) })
	select {
	case p.base = <-found:
		return p
	case <-time.After(60 * time.Second):
		t.Fatalf("instance did not start listening: %s", p.logs.String())
		return nil
	}
}

// stop sends SIGTERM and waits for the exit, at most 30 s.
func (p *proc) stop(t *testing.T) error {
	if p.cmd.ProcessState != nil {
		return nil
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		p.done <- err
		return err
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		t.Errorf("the process did not exit within 30 s of SIGTERM")
		return nil
	}
}

// TestKeyRotation runs two instances through the README's rolling key
// rotation, behind a balancer that sends requests only to instances in
// rotation, with requests in flight all along: none may fail.
func TestKeyRotation(t *testing.T) {
	m := newMultiEnv(t)
	oldKey, newKey := "k1:"+randomHex(t), "k2:"+randomHex(t)
	envWith := func(keys string) []string {
		var e []string
		for _, kv := range m.env {
			if !strings.HasPrefix(kv, "HTTPAUTH_SECRET=") {
				e = append(e, kv)
			}
		}
		return append(e, "HTTPAUTH_KEYS="+keys)
	}
	var (
		mu       sync.RWMutex // the balancer's pool and the token pool
		backends = map[int]string{}
		tokens   []string
		phase    sync.RWMutex // held by each request; Lock between phases
		failures atomic.Int64
		requests atomic.Int64
		firstErr atomic.Value
	)
	pick := func() string {
		mu.RLock()
		defer mu.RUnlock()
		var live []string
		for _, b := range backends {
			live = append(live, b)
		}
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(live))))
		return live[n.Int64()]
	}
	fail := func(format string, args ...any) {
		failures.Add(1)
		firstErr.CompareAndSwap(nil, fmt.Sprintf(format, args...))
	}
	procs := map[int]*proc{}
	start := func(i int, keys string) {
		// -drain-delay: a request that picked the instance just before the
		// balancer dropped it still finds the listener open.
		p := startProc(t, m.bin, append([]string{"-drain-delay", "1s"}, m.args...), envWith(keys))
		mu.Lock()
		procs[i], backends[i] = p, p.base
		mu.Unlock()
	}
	start(0, oldKey) // before the load: the balancer never has no backend
	start(1, oldKey)
	users := [][2]string{{"alice@example.com", "wonderland-42"}, {"carol@example.com", "pässwörd-ü42"}, {"admin@example.com", "s3cret:with:colons"}}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { // mints tokens, about 4 a second
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
			phase.RLock()
			u, base := users[i%len(users)], pick()
			req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/tokens/", nil)
			req.Header.Set("Authorization", basic(u[0], u[1]))
			resp, err := http.DefaultClient.Do(req)
			requests.Add(1)
			switch {
			case err != nil:
				fail("mint on %s: %v", base, err)
			case resp.StatusCode != 200:
				fail("mint on %s: %d", base, resp.StatusCode)
			default:
				var body struct{ Token string }
				_ = jsonDecode(resp.Body, &body)
				mu.Lock()
				tokens = append(tokens, body.Token)
				mu.Unlock()
			}
			if resp != nil {
				_ = resp.Body.Close()
			}
			phase.RUnlock()
		}
	})
	for range 3 { // verify random tokens on random instances
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				case <-time.After(5 * time.Millisecond):
				}
				phase.RLock()
				mu.RLock()
				tok := ""
				if len(tokens) > 0 {
					n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(tokens))))
					tok = tokens[n.Int64()]
				}
				mu.RUnlock()
				if tok != "" {
					base := pick()
					status := statusOf(base+"/api/v1/me", "Bearer "+tok)
					requests.Add(1)
					if status != 200 {
						fail("token %s… on %s: %d", tok[:3], base, status)
					}
				}
				phase.RUnlock()
			}
		})
	}

	// roll restarts each instance in turn: out of the balancer, SIGTERM
	// (it drains its requests in flight), started again with keys, back in.
	roll := func(keys string) {
		for i := range 2 {
			mu.Lock()
			delete(backends, i)
			p := procs[i]
			mu.Unlock()
			require.NoError(t, p.stop(t))
			start(i, keys)
			time.Sleep(300 * time.Millisecond) // some traffic on the mix
		}
	}
	time.Sleep(time.Second)
	roll(oldKey + "," + newKey) // step 1: the new key verifies; the old one signs
	roll(newKey + "," + oldKey) // step 2: the new key signs
	// Step 3, one token lifetime later: the old key's tokens have expired.
	phase.Lock()
	mu.Lock()
	var kept []string
	for _, tok := range tokens {
		if strings.HasPrefix(tok, "k2.") {
			kept = append(kept, tok)
		}
	}
	tokens = kept
	mu.Unlock()
	phase.Unlock()
	roll(newKey)
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	t.Logf("%d requests, %d tokens of the new key", requests.Load(), len(tokens))
	assert.Zero(t, failures.Load(), "first failure: %v", firstErr.Load())
	assert.NotEmpty(t, tokens)
	assert.Greater(t, requests.Load(), int64(50))
}

// TestShutdownDrain sends SIGTERM while requests are in flight: readiness
// fails first, every request gets its answer, and the process exits in
// bounded time.
func TestShutdownDrain(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "api")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())
	p := startProc(t, bin, []string{"-addr", "127.0.0.1:0", "-drain-delay", "1s"}, append(os.Environ(), "HTTPAUTH_SECRET="+testSecret))
	require.Equal(t, 200, statusOf(p.base+"/readyz", ""))

	const n = 12 // each a password hash: together they keep the CPU busy
	results := make(chan error, n)
	var sent sync.WaitGroup
	for i := range n {
		sent.Add(1)
		go func() {
			req, _ := http.NewRequest(http.MethodGet, p.base+"/api/v1/me", nil)
			req.Header.Set("Authorization", basic(fmt.Sprintf("drain%d@example.com", i), "wrong"))
			sent.Done()
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				_ = resp.Body.Close()
				if resp.StatusCode != 401 {
					err = fmt.Errorf("status %d", resp.StatusCode)
				}
			}
			results <- err
		}()
	}
	sent.Wait()
	time.Sleep(50 * time.Millisecond) // the requests reach the server
	start := time.Now()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	eventuallyStatus(t, 503, p.base+"/readyz", "") // during -drain-delay
	for range n {
		assert.NoError(t, <-results)
	}
	select {
	case err := <-p.done:
		require.NoError(t, err, p.logs.String())
	case <-time.After(shutdownTimeout + 10*time.Second):
		t.Fatal("no exit within the shutdown bound")
	}
	t.Logf("exited %s after SIGTERM", time.Since(start).Round(time.Millisecond))
	assert.Regexp(t, regexp.MustCompile(`(?s)shutting down.*shut down`), p.logs.String())
}

func jsonDecode(r io.Reader, v any) error { return json.NewDecoder(r).Decode(v) }
