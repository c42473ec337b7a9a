package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/sqlstore"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// probe is one kind of request the fault test's load sends, and the
// answers that are correct for it. A 500 is also accepted while a server
// is down; anything else (above all a 200 where a refusal is due) fails.
type probe struct {
	name, method, path, authz string
	want                      []int
	wantID                    string        // the user ID a 200 must name
	every                     time.Duration // send at most this often (token rate)
}

// faultLoad runs probes from several clients and records every answer.
type faultLoad struct {
	srv    string
	probes []probe
	client *http.Client

	mu         sync.Mutex
	sent       map[string]time.Time // probe -> last sent, for probe.every
	phase      string
	counts     map[string]map[int]int // phase/probe -> status -> answers
	last       map[string]int         // probe -> latest status
	violations []string
	dropped    int // answers not checked once violations is full
}

func (l *faultLoad) setPhase(p string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.phase = p
	clear(l.last)
}

// send runs one probe, unless it has an interval that is not over yet,
// and records its answer.
func (l *faultLoad) send(p probe) {
	if p.every > 0 {
		l.mu.Lock()
		due := time.Since(l.sent[p.name]) >= p.every
		if due {
			l.sent[p.name] = time.Now()
		}
		l.mu.Unlock()
		if !due {
			return
		}
	}
	req, _ := http.NewRequest(p.method, l.srv+p.path, nil)
	req.Header.Set("Authorization", p.authz)
	resp, err := l.client.Do(req)
	status, id := 0, ""
	if err == nil {
		raw, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		status = resp.StatusCode
		var body struct {
			ID string `json:"id"`
		}
		if status == http.StatusOK && p.path == "/api/v1/me" && json.Unmarshal(raw, &body) == nil {
			id = body.ID
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	key := l.phase + "/" + p.name
	if l.counts[key] == nil {
		l.counts[key] = map[int]int{}
	}
	l.counts[key][status]++
	l.last[p.name] = status
	if len(l.violations) >= 20 { // enough to see what went wrong
		l.dropped++
		return
	}
	switch {
	case err != nil:
		l.violations = append(l.violations, fmt.Sprintf("%s: %s: %v", l.phase, p.name, err))
	case status != http.StatusInternalServerError && !slices.Contains(p.want, status):
		l.violations = append(l.violations, fmt.Sprintf("%s: %s: status %d, want %v or 500", l.phase, p.name, status, p.want))
	case status == http.StatusOK && p.wantID != "" && id != p.wantID:
		l.violations = append(l.violations, fmt.Sprintf("%s: %s: 200 for user %q, want %q", l.phase, p.name, id, p.wantID))
	}
}

// seen reports whether, in the current phase, every probe was answered at
// least n times and some answer was a 500.
func (l *faultLoad) seen(n int) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	got500 := false
	for _, p := range l.probes {
		c := l.counts[l.phase+"/"+p.name]
		total := 0
		for _, k := range c {
			total += k
		}
		if total < n {
			return false
		}
		got500 = got500 || c[http.StatusInternalServerError] > 0
	}
	return got500
}

// recovered reports whether the latest answer to every probe in the
// current phase was a correct one.
func (l *faultLoad) recovered() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, p := range l.probes {
		s, ok := l.last[p.name]
		if !ok || !slices.Contains(p.want, s) {
			return false
		}
	}
	return true
}

// TestFaultsUnderLoad runs the example against private PostgreSQL and Redis
// servers under load from several clients, stops PostgreSQL and starts it
// again, then does the same to Redis. Every answer must be the correct one
// or a 500, never a 200 for a revoked token, a disabled user or a wrong
// password, and the instance must answer correctly again by itself once
// each server is back, with its process-local state live again.
func TestFaultsUnderLoad(t *testing.T) {
	pg := startPostgres(t)
	rd := startRedis(t)
	redis.SetLogger(quietRedis{}) // go-redis logs every failed dial while Redis is down
	ctx := context.Background()

	// Users of the test's own; the demo users are not created.
	db, err := sql.Open("pgx", pg.DSN())
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	require.NoError(t, sqlstore.Migrate(ctx, db, sqlstore.Postgres))
	admin, err := sqlstore.New(ctx, db, sqlstore.Config[sqlstore.User]{Dialect: sqlstore.Postgres})
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	for _, u := range []sqlstore.NewUser{
		{ID: "ok", Login: "ok@fault.test", Password: "ok-password-1", Confirmed: true},
		{ID: "gone", Login: "gone@fault.test", Password: "gone-password-1", Confirmed: true},
		{ID: "late", Login: "late@fault.test", Password: "late-password-1", Confirmed: true},
		{ID: "guess", Login: "guess@fault.test", Password: "guess-password-1", Confirmed: true},
	} {
		_, err := admin.CreateUser(ctx, u)
		require.NoError(t, err)
	}

	a, err := newServer(ctx, options{
		tokenTTL: time.Hour, keys: []httpauth.SigningKey{testKey(t)}, db: pg.DSN(), redis: rd.URL(), redisPrefix: "fault:",
	}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	srv := httptest.NewServer(a.handler)
	t.Cleanup(func() {
		srv.Close()
		_ = a.close()
	})

	tokenOf := func(login, pw string) string {
		r := call(t, http.MethodPost, srv.URL+"/api/v1/tokens/", basic(login, pw))
		require.Equal(t, 200, r.status, r.body)
		return r.body["token"].(string)
	}
	valid := tokenOf("ok@fault.test", "ok-password-1")
	revoked := tokenOf("ok@fault.test", "ok-password-1")
	require.Equal(t, 204, call(t, http.MethodDelete, srv.URL+"/api/v1/tokens/", "Bearer "+revoked).status)
	gone := tokenOf("gone@fault.test", "gone-password-1")
	require.Equal(t, 200, call(t, http.MethodGet, srv.URL+"/api/v1/me", basic("gone@fault.test", "gone-password-1")).status)
	_, err = db.ExecContext(ctx, "UPDATE httpauth_users SET disabled = TRUE WHERE id = 'gone'")
	require.NoError(t, err)
	late := tokenOf("late@fault.test", "late-password-1")

	load := &faultLoad{
		srv: srv.URL,
		probes: []probe{
			{name: "token request", method: http.MethodPost, path: "/api/v1/tokens/", authz: basic("ok@fault.test", "ok-password-1"), want: []int{200},
				every: 1100 * time.Millisecond}, // under the default token rate of 60 a minute
			{name: "token", method: http.MethodGet, path: "/api/v1/me", authz: "Bearer " + valid, want: []int{200}, wantID: "ok"},
			{name: "cached Basic", method: http.MethodGet, path: "/api/v1/me", authz: basic("ok@fault.test", "ok-password-1"), want: []int{200}, wantID: "ok"},
			{name: "wrong password", method: http.MethodGet, path: "/api/v1/me", authz: basic("guess@fault.test", "not-the-password"), want: []int{401, 429}},
			{name: "revoked token", method: http.MethodGet, path: "/api/v1/me", authz: "Bearer " + revoked, want: []int{401}},
			{name: "revoked token as Basic", method: http.MethodGet, path: "/api/v1/me", authz: basic(revoked, ""), want: []int{401}},
			{name: "disabled user's token", method: http.MethodGet, path: "/api/v1/me", authz: "Bearer " + gone, want: []int{401}},
			{name: "disabled user's password", method: http.MethodGet, path: "/api/v1/me", authz: basic("gone@fault.test", "gone-password-1"), want: []int{401, 429}},
		},
		client: &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}},
		counts: map[string]map[int]int{},
		sent:   map[string]time.Time{},
		last:   map[string]int{},
	}
	t.Cleanup(load.client.CloseIdleConnections)

	// The disabled user is refused once the change has arrived; only then
	// does the load start, since before that a 200 is still correct.
	require.Eventually(t, func() bool {
		return call(t, http.MethodGet, srv.URL+"/api/v1/me", "Bearer "+gone).status == 401 &&
			call(t, http.MethodGet, srv.URL+"/api/v1/me", basic("gone@fault.test", "gone-password-1")).status == 401
	}, 30*time.Second, 5*time.Millisecond, "the disabled user is still accepted")

	load.setPhase("steady")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				load.send(load.probes[i%len(load.probes)])
			}
		})
	}
	stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopLoad)

	const deadline = 60 * time.Second
	require.Eventually(t, load.recovered, deadline, 5*time.Millisecond, "steady state never reached")
	// waitLive polls /healthz until the local state of every store is
	// live, and returns when each was first seen live, from since.
	waitLive := func(what string, since time.Time) map[string]time.Duration {
		at := map[string]time.Duration{}
		if !assert.Eventually(t, func() bool {
			var body struct {
				Live map[string]bool `json:"live"`
			}
			resp, err := load.client.Get(srv.URL + "/healthz")
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			if json.NewDecoder(resp.Body).Decode(&body) != nil || len(body.Live) == 0 {
				return false
			}
			all := true
			for name, live := range body.Live {
				if _, seen := at[name]; live && !seen {
					at[name] = time.Since(since).Round(time.Millisecond)
				}
				all = all && live
			}
			return all
		}, deadline, 10*time.Millisecond) {
			t.Fatalf("%s: local state not live; live ones: %v", what, at)
		}
		return at
	}
	waitLive("start", time.Now())

	for _, f := range []struct {
		name        string
		stop, start func()
	}{
		{"postgres", pg.Stop, pg.Start},
		{"redis", rd.Stop, rd.Start},
	} {
		load.setPhase(f.name + " down")
		f.stop()
		// Every probe is tried during the outage, and it shows (a 500).
		require.Eventually(t, func() bool { return load.seen(3) }, deadline, 10*time.Millisecond, "%s: outage not observed", f.name)
		f.start()
		back := time.Now()
		load.setPhase(f.name + " back")
		if !assert.Eventually(t, load.recovered, deadline, 10*time.Millisecond) {
			load.mu.Lock()
			last := maps.Clone(load.last)
			load.mu.Unlock()
			t.Fatalf("%s: no recovery; latest answers: %v", f.name, last)
		}
		answering := time.Since(back)
		t.Logf("%s: correct answers again %s after restart; local state live again after %v",
			f.name, answering.Round(time.Millisecond), waitLive(f.name, back))
	}

	// After both restarts, a plain-SQL change still reaches the instance.
	require.Equal(t, 200, call(t, http.MethodGet, srv.URL+"/api/v1/me", "Bearer "+late).status)
	_, err = db.ExecContext(ctx, "UPDATE httpauth_users SET disabled = TRUE WHERE id = 'late'")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		return call(t, http.MethodGet, srv.URL+"/api/v1/me", "Bearer "+late).status == 401
	}, deadline, 5*time.Millisecond, "a user disabled after the restarts is still accepted")

	stopLoad()
	load.mu.Lock()
	defer load.mu.Unlock()
	var phases []string
	for k, c := range load.counts {
		phases = append(phases, fmt.Sprintf("%s %v", k, c))
	}
	slices.Sort(phases)
	t.Logf("answers by phase and probe:\n%s", strings.Join(phases, "\n"))
	assert.Empty(t, load.violations, "answers that were neither correct nor a 500 (and %d more answers unchecked)", load.dropped)
}

// quietRedis discards go-redis's internal log.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}
