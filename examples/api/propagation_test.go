package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"github.com/gohttpauth/httpauth"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gohttpauth/httpauth/sqlstore"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// propagationTrials is the number of trials of each kind (issue 10's
// "over 40 trials").
const propagationTrials = 40

// propagationDeadline bounds every wait: generous, since CI machines are
// loaded; the latencies are logged, not asserted.
const propagationDeadline = 30 * time.Second

// statusOf sends GET url with authz and returns the status, 0 on a
// transport error. Safe to call from any goroutine.
func statusOf(url, authz string) int {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

// waitRefused polls GET url until it answers 401 and returns how long that
// took from start; any answer other than 200 or 401 fails the test.
func waitRefused(t *testing.T, start time.Time, url, authz string) time.Duration {
	t.Helper()
	for {
		switch s := statusOf(url, authz); s {
		case http.StatusUnauthorized:
			return time.Since(start)
		case http.StatusOK:
		default:
			t.Fatalf("GET %s: status %d while waiting for a refusal", url, s)
		}
		if time.Since(start) > propagationDeadline {
			t.Fatalf("GET %s: still accepted %s after the change", url, propagationDeadline)
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// latencies summarises observed propagation times.
type latencies []time.Duration

func (l latencies) String() string {
	s := slices.Sorted(slices.Values(l))
	return fmt.Sprintf("n=%d p50=%s p90=%s max=%s", len(s),
		s[len(s)/2].Round(10*time.Microsecond), s[len(s)*9/10].Round(10*time.Microsecond), s[len(s)-1].Round(10*time.Microsecond))
}

// TestPropagation measures, on two instances A and B sharing PostgreSQL,
// Redis and the key, how long a change takes to be refused on B, whose
// process-local state was warm: a token revoked on A and a user disabled by
// plain SQL (40 trials each), a password change and a log-out everywhere
// (10 each). And it checks that with B's notification channels killed B
// never answers from stale state (40 trials). Latencies are logged for
// BENCHMARKS.md; only the refusals are asserted, with generous deadlines.
func TestPropagation(t *testing.T) {
	m := newMultiEnv(t)
	ctx := context.Background()
	// B logs in to Redis as a user of its own, so that the test can find
	// B's connections, and keep B from resubscribing for a while.
	rdb := redisClient(t, m.redisURL)
	var pw [8]byte
	_, _ = rand.Read(pw[:])
	redisUser, redisPass := "httpauth-"+m.schema+"-b", hex.EncodeToString(pw[:])
	require.NoError(t, rdb.Do(ctx, "ACL", "SETUSER", redisUser, "on", ">"+redisPass, "~*", "&*", "+@all").Err())
	t.Cleanup(func() { _ = rdb.Do(context.Background(), "ACL", "DELUSER", redisUser).Err() })
	u, err := url.Parse(m.redisURL)
	require.NoError(t, err)
	u.User = url.UserPassword(redisUser, redisPass)
	argsB := slices.Clone(m.args)
	argsB[slices.Index(argsB, m.redisURL)] = u.String()

	a := startProcess(t, m.bin, m.args, m.env) // migrates the schema
	b := startProcess(t, m.bin, argsB, m.env)
	store, err := sqlstore.New(ctx, m.db, sqlstore.Config[sqlstore.User]{Dialect: sqlstore.Postgres})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	// Users of the test's own, p0 to p59. A user may mint or revoke 10
	// tokens at once and then 1 a second (the default token rate), so the
	// trials take turns: 10 users for each of the six kinds of trial.
	_, err = store.CreateUser(ctx, sqlstore.NewUser{ID: "p0", Login: "p0@example.com", Password: "trial-password", Confirmed: true})
	require.NoError(t, err)
	_, err = m.db.ExecContext(ctx, `INSERT INTO httpauth_users (id, login, password_hash, confirmed)
		SELECT 'p' || n, 'p' || n || '@example.com', password_hash, TRUE
		FROM httpauth_users, generate_series(1, 59) AS n WHERE id = 'p0'`)
	require.NoError(t, err)
	const turns = 10
	user := func(kind, trial int) string { return fmt.Sprintf("p%d", kind*turns+trial%turns) }
	login := func(id string) (string, string) { return id + "@example.com", "trial-password" }
	token := func(t *testing.T, base, id string) string {
		t.Helper()
		r := call(t, http.MethodPost, base+"/api/v1/tokens/", basic(login(id)))
		require.Equal(t, 200, r.status, "%s: %v %v", id, r.body, r.header)
		return r.body["token"].(string)
	}
	me := b.base + "/api/v1/me"
	setDisabled := func(id string, on bool) {
		_, err := m.db.ExecContext(ctx, "UPDATE httpauth_users SET disabled = $1 WHERE id = $2", on, id)
		require.NoError(t, err)
	}
	// issuer mints tokens as the instances do (their key), without a
	// password, so that polling B with one counts no failed login.
	issuer := func() *httpauth.Authenticator[sqlstore.User] {
		var secret string
		for _, kv := range m.env {
			if v, ok := strings.CutPrefix(kv, "HTTPAUTH_SECRET="); ok {
				secret = v
			}
		}
		key, err := httpauth.KeyFromHex("k1", secret)
		require.NoError(t, err)
		signer, err := httpauth.NewHMACSigner(key)
		require.NoError(t, err)
		auth, err := httpauth.New(httpauth.Config[sqlstore.User]{Users: store, Signer: signer, Realm: "issuer"})
		require.NoError(t, err)
		return auth
	}()
	// enable turns a user back on and waits until B accepts a token minted
	// after the enable, then its password (which resets its failure count:
	// polling with the password would count every refusal). A token from
	// before the disable stays dead: the disable moved the cutoff.
	enable := func(id, tok string) {
		setDisabled(id, false)
		fresh, _, err := issuer.IssueToken(ctx, id)
		require.NoError(t, err)
		require.Eventually(t, func() bool { return statusOf(me, "Bearer "+fresh) == 200 },
			propagationDeadline, time.Millisecond, "B still refuses the re-enabled user")
		require.Equal(t, 401, statusOf(me, "Bearer "+tok), "a token from before the disable stays dead")
		require.Equal(t, 200, statusOf(me, basic(login(id))))
	}

	t.Run("a token revoked on A is refused on B", func(t *testing.T) {
		var lat latencies
		for i := range propagationTrials {
			tok := token(t, a.base, user(0, i))
			require.Equal(t, 200, statusOf(me, "Bearer "+tok)) // warm B
			require.Equal(t, 204, call(t, http.MethodDelete, a.base+"/api/v1/tokens/", "Bearer "+tok).status)
			lat = append(lat, waitRefused(t, time.Now(), me, "Bearer "+tok))
		}
		t.Logf("revoked on A, refused on B after: %s", lat)
	})

	t.Run("a user disabled by plain SQL is refused on B", func(t *testing.T) {
		var lat, latBasic latencies
		for i := range propagationTrials {
			id := user(1, i)
			pw := basic(login(id))
			tok := token(t, a.base, id)
			require.Equal(t, 200, statusOf(me, "Bearer "+tok)) // warm B
			require.Equal(t, 200, statusOf(me, pw))
			setDisabled(id, true)
			start := time.Now()
			lat = append(lat, waitRefused(t, start, me, "Bearer "+tok))
			latBasic = append(latBasic, waitRefused(t, start, me, pw))
			enable(id, tok)
		}
		t.Logf("disabled by SQL UPDATE, token refused on B after: %s", lat)
		t.Logf("disabled by SQL UPDATE, password refused on B after (includes one password hash): %s", latBasic)
	})

	t.Run("a password changed or a log-out everywhere is seen by B", func(t *testing.T) {
		var pwLat, outLat latencies
		for i := range turns {
			// The password, changed through the store (an UPDATE too).
			id := user(4, i)
			require.Equal(t, 200, statusOf(me, basic(login(id)))) // warm B
			require.NoError(t, store.SetPassword(ctx, id, "another-password"))
			pwLat = append(pwLat, waitRefused(t, time.Now(), me, basic(login(id))))
			// Log out everywhere: the user's older tokens die.
			id = user(5, i)
			tok := token(t, a.base, id)
			require.Equal(t, 200, statusOf(me, "Bearer "+tok)) // warm B
			require.NoError(t, store.LogoutEverywhere(ctx, id))
			outLat = append(outLat, waitRefused(t, time.Now(), me, "Bearer "+tok))
		}
		t.Logf("password changed, old password refused on B after (includes one password hash): %s", pwLat)
		t.Logf("logged out everywhere, token refused on B after: %s", outLat)
	})

	t.Run("with B's notification channels killed, no stale acceptance", func(t *testing.T) {
		pgLost := 0 // trials whose PostgreSQL notification B surely missed
		for i := range propagationTrials {
			id := user(3, i)
			pw := basic(login(id))
			tok := token(t, a.base, user(2, i))
			userTok := token(t, a.base, id)
			for _, authz := range []string{"Bearer " + tok, "Bearer " + userTok, pw} {
				require.Equal(t, 200, statusOf(me, authz), "warming B") // B's local state now holds them
			}
			subs, listeners := redisFeeds(t, rdb, redisUser), pgListeners(t, m, b.pid)
			require.NotEmpty(t, subs, "B has no Redis subscription to kill")
			require.NotEmpty(t, listeners, "B has no PostgreSQL LISTEN connection to kill")
			// Redis: B's subscriptions are killed and B cannot log in again
			// until the revocation is done, so its notification is lost
			// for B. B's other connections stay up.
			require.NoError(t, rdb.Do(ctx, "ACL", "SETUSER", redisUser, "off").Err())
			require.NoError(t, rdb.Do(ctx, "CLIENT", "KILL", "USER", redisUser, "TYPE", "pubsub").Err())
			require.Equal(t, 204, call(t, http.MethodDelete, a.base+"/api/v1/tokens/", "Bearer "+tok).status)
			require.NoError(t, rdb.Do(ctx, "ACL", "SETUSER", redisUser, "on").Err())
			// PostgreSQL notifies at commit: commit just after the kill,
			// most often before B has listened again.
			tx, err := m.db.BeginTx(ctx, nil)
			require.NoError(t, err)
			_, err = tx.ExecContext(ctx, "UPDATE httpauth_users SET disabled = TRUE WHERE id = $1", id)
			require.NoError(t, err)
			for _, pid := range listeners {
				_, err := m.db.ExecContext(ctx, "SELECT pg_terminate_backend($1)", pid)
				require.NoError(t, err)
			}
			require.NoError(t, tx.Commit())
			var afterCommit time.Time
			require.NoError(t, m.db.QueryRowContext(ctx, "SELECT clock_timestamp()").Scan(&afterCommit))
			// Once B has noticed (new subscriptions), nothing it answers
			// may come from before the kill.
			var newSubs []string
			var newListeners []int
			require.Eventually(t, func() bool {
				newSubs, newListeners = redisFeeds(t, rdb, redisUser), pgListeners(t, m, b.pid)
				return len(newSubs) == len(subs) && newIDs(newSubs, subs) && newIDs(newListeners, listeners)
			}, propagationDeadline, 5*time.Millisecond, "trial %d: B did not resubscribe", i)
			var started time.Time
			require.NoError(t, m.db.QueryRowContext(ctx, "SELECT min(backend_start) FROM pg_stat_activity WHERE pid = ANY($1)", newListeners).Scan(&started))
			if started.After(afterCommit) {
				pgLost++
			}
			for _, authz := range []string{"Bearer " + tok, "Bearer " + userTok, pw} {
				assert.Equal(t, 401, statusOf(me, authz), "trial %d: stale acceptance", i)
			}
			enable(id, userTok)
		}
		t.Logf("%d trials, no stale acceptance; B missed the notification of the revocation in all, of the SQL UPDATE in %d (it had listened again before the commit in the others)",
			propagationTrials, pgLost)
	})
}

func redisClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// newIDs reports whether now is non-empty and shares nothing with before.
func newIDs[T comparable](now, before []T) bool {
	if len(now) == 0 {
		return false
	}
	for _, x := range now {
		if slices.Contains(before, x) {
			return false
		}
	}
	return true
}

// redisFeeds returns the IDs of the Redis connections of user that
// receive notifications: subscribed (pub/sub) or tracking (client-side
// caching) connections.
func redisFeeds(t *testing.T, rdb *redis.Client, user string) []string {
	t.Helper()
	list, err := rdb.ClientList(context.Background()).Result()
	require.NoError(t, err)
	var ids []string
	for line := range strings.SplitSeq(list, "\n") {
		f := map[string]string{}
		for kv := range strings.FieldsSeq(line) {
			k, v, _ := strings.Cut(kv, "=")
			f[k] = v
		}
		if f["user"] != user {
			continue
		}
		if f["sub"] != "0" && f["sub"] != "" || f["psub"] != "0" && f["psub"] != "" ||
			f["ssub"] != "0" && f["ssub"] != "" || strings.Contains(f["flags"], "t") {
			ids = append(ids, f["id"])
		}
	}
	return ids
}

// pgListeners returns the backend PIDs of process pid's PostgreSQL LISTEN
// connections (sqlstore names them in application_name).
func pgListeners(t *testing.T, m *multiEnv, pid int) []int {
	t.Helper()
	ports := localPorts(t, pid)
	rows, err := m.db.QueryContext(context.Background(),
		"SELECT pid, client_port FROM pg_stat_activity WHERE application_name = 'httpauth-sqlstore-listener'")
	require.NoError(t, err)
	defer rows.Close()
	var pids []int
	for rows.Next() {
		var backend int
		var port sql.NullInt64 // NULL over a Unix socket
		require.NoError(t, rows.Scan(&backend, &port))
		if port.Valid && ports[strconv.FormatInt(port.Int64, 10)] {
			pids = append(pids, backend)
		}
	}
	require.NoError(t, rows.Err())
	return pids
}

// localPorts returns the local TCP ports of process pid's sockets, from
// /proc (Linux): the socket inodes among its file descriptors, looked up
// in /proc/net/tcp and tcp6.
func localPorts(t *testing.T, pid int) map[string]bool {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	require.NoError(t, err, "needs Linux /proc")
	inodes := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join(fmt.Sprintf("/proc/%d/fd", pid), fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	ports := map[string]bool{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			_, hexPort, _ := strings.Cut(fields[1], ":")
			if p, err := strconv.ParseUint(hexPort, 16, 16); err == nil {
				ports[strconv.FormatUint(p, 10)] = true
			}
		}
		_ = f.Close()
	}
	return ports
}
