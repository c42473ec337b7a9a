package redisstore_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
	"github.com/gohttpauth/httpauth/redisstore"
)

// pollUntil waits for cond with a generous deadline; it never asserts a
// latency.
func pollUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 30*time.Second, 5*time.Millisecond, what)
}

// countHook counts the commands a client sends, by name.
type countHook struct {
	mu  sync.Mutex
	cmd map[string]int
}

func (h *countHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.add(cmd)
		return next(ctx, cmd)
	}
}

func (h *countHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, c := range cmds {
			h.add(c)
		}
		return next(ctx, cmds)
	}
}

func (h *countHook) add(cmd redis.Cmder) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cmd == nil {
		h.cmd = map[string]int{}
	}
	h.cmd[cmd.Name()]++
}

// total returns the number of commands sent, heartbeats and subscriptions
// aside.
func (h *countHook) total() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for name, c := range h.cmd {
		if name != "ping" && name != "subscribe" && name != "hello" && name != "client" {
			n += c
		}
	}
	return n
}

// eventuallyLocal polls until call, made while live holds, sends no
// command through h. Process-local answers need a live subscription, and a
// loaded machine may let it go quiet past MaxSilence for a moment, which
// rightly sends calls to Redis; a cache that never answers fails after the
// poll's deadline.
func eventuallyLocal(t *testing.T, what string, live func() bool, h *countHook, call func()) {
	t.Helper()
	pollUntil(t, what, func() bool {
		if !live() {
			return false
		}
		before := h.total()
		call()
		return h.total() == before && live()
	})
}

// newCountedClient opens a second client to the test Redis, counting its
// commands.
func newCountedClient(t *testing.T) (*redis.Client, *countHook) {
	t.Helper()
	opts, err := redis.ParseURL(os.Getenv("HTTPAUTH_REDIS_TEST_URL"))
	require.NoError(t, err)
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	h := &countHook{}
	c.AddHook(h)
	return c, h
}

// killPubSub closes every pub/sub connection of the server, as a network
// fault would.
func killPubSub(t *testing.T, c *redis.Client) {
	t.Helper()
	require.NoError(t, c.Do(context.Background(), "CLIENT", "KILL", "TYPE", "pubsub").Err())
}

// countingHasher counts Verify calls of a cheap test hasher.
type countingHasher struct {
	httpauth.PasswordHasher
	verifies atomic.Int64
}

func (h *countingHasher) Verify(ctx context.Context, hash, pw string) (bool, error) {
	h.verifies.Add(1)
	return h.PasswordHasher.Verify(ctx, hash, pw)
}

type testUser struct{}

// newCountingHasher returns a cheap hasher that counts its Verify calls.
func newCountingHasher() *countingHasher {
	return &countingHasher{PasswordHasher: httpauthtest.FastHasher{}}
}

// newSigner returns an HMAC signer with a random key.
func newSigner(t *testing.T) httpauth.TokenSigner {
	t.Helper()
	s, err := httpauth.NewHMACSigner(httpauth.SigningKey{ID: "k1", Secret: randomKey()})
	require.NoError(t, err)
	return s
}

// newAuth returns an authenticator over a store holding alice, with lim as
// its per-login limiter and hasher counting its hashes.
func newAuth(t *testing.T, lim httpauth.Limiter, hasher *countingHasher) *httpauth.Authenticator[testUser] {
	t.Helper()
	users := httpauth.NewMemoryUserStore[testUser](hasher.PasswordHasher)
	require.NoError(t, users.Add(context.Background(), "alice", "right-password", httpauth.Account[testUser]{ID: "u1"}))
	a, err := httpauth.New(httpauth.Config[testUser]{
		Users:    users,
		Signer:   newSigner(t),
		Realm:    "test",
		Hasher:   hasher,
		Throttle: httpauth.Throttle{Logins: lim},
		Logger:   slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	return a
}

func basicGet(login, pw string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(login, pw)
	return r
}

var okHandler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })

// Four instances sharing one Redis limiter: 64 concurrent wrong guesses
// for one login hash at most the limit, because each attempt is reserved
// in Redis before any hash.
func TestReserveBoundsHashesAcrossInstances(t *testing.T) {
	newClient(t) // skips without Redis
	prefix := uniquePrefix(t, newClient(t))
	hasher := newCountingHasher()
	var handlers []http.Handler
	for range 4 {
		c, _ := newCountedClient(t)
		l, err := redisstore.NewLimiter(c, redisstore.LimiterOptions{Prefix: prefix, MaxFailures: 10, Window: time.Minute})
		require.NoError(t, err)
		t.Cleanup(func() { _ = l.Close() })
		handlers = append(handlers, newAuth(t, l, hasher).Middleware(okHandler))
	}
	hasher.verifies.Store(0)
	const guesses = 64
	codes := make([]int, guesses)
	var wg sync.WaitGroup
	for i := range guesses {
		wg.Go(func() {
			w := httptest.NewRecorder()
			handlers[i%4].ServeHTTP(w, basicGet("alice", fmt.Sprint("guess-", i)))
			codes[i] = w.Code
		})
	}
	wg.Wait()
	count := map[int]int{}
	for _, c := range codes {
		count[c]++
	}
	assert.Equal(t, map[int]int{http.StatusUnauthorized: 10, http.StatusTooManyRequests: guesses - 10}, count)
	assert.EqualValues(t, 10, hasher.verifies.Load(), "hashes for one login across four instances")
}

// startRedisServer runs a redis-server of our own on a free port with the
// given extra arguments, and stops it when the test ends.
func startRedisServer(t *testing.T, args ...string) *redis.Client {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not found, and CI=true: %v", err)
		}
		t.Skipf("redis-server not found: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	cmd := exec.Command(bin, append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"}, args...)...)
	cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	t.Cleanup(func() { _ = c.Close() })
	pollUntil(t, "own redis-server answers", func() bool { return c.Ping(context.Background()).Err() == nil })
	return c
}

// A Redis that refuses writes (maxmemory with noeviction, which spraying
// unknown logins reaches) must give nothing to observe: every password
// attempt is a 500, no hash runs, and the right password never gets a 200.
func TestFullRedisRunsNoHash(t *testing.T) {
	newClient(t) // skips without the test Redis, like every Redis test
	c := startRedisServer(t, "--maxmemory", "2mb", "--maxmemory-policy", "noeviction")
	ctx := context.Background()
	filler := strings.Repeat("x", 16<<10)
	full := false
	for i := range 10000 {
		if err := c.Set(ctx, fmt.Sprint("fill:", i), filler, 0).Err(); err != nil {
			require.Contains(t, err.Error(), "OOM")
			full = true
			break
		}
	}
	require.True(t, full, "Redis never refused a write")

	l, err := redisstore.NewLimiter(c, redisstore.LimiterOptions{Prefix: "app:", MaxFailures: 3, Window: time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	_, _, err = l.Reserve(ctx, "login:alice")
	require.ErrorContains(t, err, "OOM", "Reserve on a full Redis")
	hasher := newCountingHasher()
	h := newAuth(t, l, hasher).Middleware(okHandler)
	hasher.verifies.Store(0)
	tries := []struct{ login, pw string }{
		{"alice", "guess"}, {"alice", "right-password"}, {"nobody", "guess"},
	}
	for i := range 30 {
		tr := tries[i%len(tries)]
		w := httptest.NewRecorder()
		h.ServeHTTP(w, basicGet(tr.login, tr.pw))
		require.Equal(t, http.StatusInternalServerError, w.Code, "attempt %d (%s)", i, tr.pw)
	}
	assert.Zero(t, hasher.verifies.Load(), "hashes run against a full Redis")
}

// Allow answers from the local lock set while the subscription is live:
// no Redis command for a clean key; a lock made by another instance is
// seen; after the subscription is killed Allow reads Redis until it has
// resubscribed.
func TestLimiterLocalLocks(t *testing.T) {
	prefix := uniquePrefix(t, newClient(t))
	ca, _ := newCountedClient(t)
	cb, hb := newCountedClient(t)
	opts := redisstore.LimiterOptions{Prefix: prefix, MaxFailures: 2, Window: time.Minute}
	a, err := redisstore.NewLimiter(ca, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	b, err := redisstore.NewLimiter(cb, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()

	pollUntil(t, "B live", b.Live)
	eventuallyLocal(t, "Allow on a clean key answers without Redis while live", b.Live, hb, func() {
		for range 100 {
			ok, _, err := b.Allow(ctx, "login:clean")
			require.NoError(t, err)
			require.True(t, ok)
		}
	})

	for range 2 {
		ok, _, err := a.Reserve(ctx, "login:alice")
		require.NoError(t, err)
		require.True(t, ok)
	}
	pollUntil(t, "B sees A's lock", func() bool {
		ok, _, err := b.Allow(ctx, "login:alice")
		return err == nil && !ok
	})
	require.NoError(t, a.Reset(ctx, "login:alice"))
	pollUntil(t, "B sees A's unlock", func() bool {
		ok, _, err := b.Allow(ctx, "login:alice")
		return err == nil && ok
	})

	// Hold B disconnected, lock on A, and B must read through.
	release := holdDisconnected(t, b, cb)
	assert.False(t, b.Live(), "B live after losing its subscription")
	for range 2 {
		ok, _, err := a.Reserve(ctx, "login:bob")
		require.NoError(t, err)
		require.True(t, ok)
	}
	before := hb.total()
	ok, ra, err := b.Allow(ctx, "login:bob")
	require.NoError(t, err)
	assert.False(t, ok, "B allowed a key locked while it was disconnected")
	assert.Positive(t, ra)
	assert.Greater(t, hb.total(), before, "B answered without Redis while not live")
	release()

	pollUntil(t, "B live again", b.Live)
	ok, _, err = b.Allow(ctx, "login:bob")
	require.NoError(t, err)
	assert.False(t, ok, "the lock made while B was away is in its resynchronised set")
	eventuallyLocal(t, "Allow answers without Redis once B is live again", b.Live, hb, func() {
		ok, _, err := b.Allow(ctx, "login:bob")
		require.NoError(t, err)
		assert.False(t, ok)
	})
}

// A revocation on A is refused on B; with B's subscription killed, B never
// answers "not revoked" from its cache, and once resubscribed its cache
// works again.
func TestRevocationAcrossInstances(t *testing.T) {
	prefix := uniquePrefix(t, newClient(t))
	ca, _ := newCountedClient(t)
	cb, hb := newCountedClient(t)
	a, err := redisstore.NewRevocationStore(ca, redisstore.RevocationOptions{Prefix: prefix})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	b, err := redisstore.NewRevocationStore(cb, redisstore.RevocationOptions{Prefix: prefix})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	ctx := context.Background()
	id := func(n byte) [16]byte { return [16]byte{0xee, n} }
	revoked := func(s *redisstore.RevocationStore, i [16]byte) bool {
		r, err := s.IsRevoked(ctx, i)
		require.NoError(t, err)
		return r
	}

	pollUntil(t, "B live", b.Live)
	assert.False(t, revoked(b, id(1)))
	eventuallyLocal(t, "a repeat ID answers without Redis", b.Live, hb, func() {
		assert.False(t, revoked(b, id(1)), "cached verdict")
	})

	require.NoError(t, a.Revoke(ctx, id(1), time.Now().Add(time.Hour)))
	assert.True(t, revoked(a, id(1)), "A sees its own revocation at once")
	pollUntil(t, "B refuses a token revoked on A", func() bool { return revoked(b, id(1)) })

	// B's subscription lost: B must not answer from its cache.
	assert.False(t, revoked(b, id(2))) // cached "not revoked"
	release := holdDisconnected(t, b, cb)
	require.False(t, b.Live())
	require.NoError(t, a.Revoke(ctx, id(2), time.Now().Add(time.Hour)))
	assert.True(t, revoked(b, id(2)), "B answered a stale \"not revoked\" after losing its subscription")
	release()

	pollUntil(t, "B live again", b.Live)
	assert.True(t, revoked(b, id(2)), "after resubscribing")
	eventuallyLocal(t, "verdicts are cached again after resubscribing", b.Live, hb, func() {
		assert.True(t, revoked(b, id(2)), "cached again")
	})
}

// The README's manual-unlock command, run as written (with the test's
// prefix), unlocks a login locked through httpauth, on every instance.
func TestReadmeManualUnlock(t *testing.T) {
	url := os.Getenv("HTTPAUTH_REDIS_TEST_URL")
	client := newClient(t)
	for _, bin := range []string{"sh", "redis-cli", "sha256sum", "cut"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Skipf("%s not found: %v", bin, err)
		}
	}
	readme, err := os.ReadFile("README.md")
	require.NoError(t, err)
	_, after, ok := strings.Cut(string(readme), "To unlock a login by hand")
	require.True(t, ok, "unlock section missing")
	_, after, ok = strings.Cut(after, "```sh\n")
	require.True(t, ok)
	script, _, ok := strings.Cut(after, "```")
	require.True(t, ok)
	require.Contains(t, script, "myapp:login:")

	prefix := uniquePrefix(t, client) + "login:"
	script = strings.ReplaceAll(script, "myapp:login:", prefix)
	ca, _ := newCountedClient(t)
	cb, _ := newCountedClient(t)
	opts := redisstore.LimiterOptions{Prefix: prefix, MaxFailures: 3, Window: time.Minute}
	la, err := redisstore.NewLimiter(ca, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = la.Close() })
	lb, err := redisstore.NewLimiter(cb, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = lb.Close() })
	pollUntil(t, "B live", lb.Live)

	hasher := newCountingHasher()
	users := httpauth.NewMemoryUserStore[testUser](hasher.PasswordHasher)
	require.NoError(t, users.Add(context.Background(), "alice@example.com", "right-password", httpauth.Account[testUser]{ID: "u1"}))
	auth, err := httpauth.New(httpauth.Config[testUser]{
		Users: users, Signer: newSigner(t), Realm: "test", Hasher: hasher,
		Throttle: httpauth.Throttle{Logins: la}, Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	h := auth.Middleware(okHandler)
	do := func(login, pw string) int {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, basicGet(login, pw))
		return w.Code
	}
	for range 3 {
		require.Equal(t, http.StatusUnauthorized, do("Alice@Example.com", "guess"))
	}
	require.Equal(t, http.StatusTooManyRequests, do("alice@example.com", "right-password"))
	pollUntil(t, "B sees the lock", func() bool {
		ok, _, err := lb.Allow(context.Background(), "login:alice@example.com")
		return err == nil && !ok
	})

	cmd := exec.Command("sh", "-ec", script)
	cmd.Env = append(os.Environ(), "REDIS_URL="+url)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", out)

	pollUntil(t, "B sees the unlock", func() bool {
		ok, _, err := lb.Allow(context.Background(), "login:alice@example.com")
		return err == nil && ok
	})
	assert.Equal(t, http.StatusOK, do("alice@example.com", "right-password"), "after the documented unlock")
}

// holdDisconnected kills store's pub/sub connection (on client) and holds
// the store in its lost state, not yet resubscribed, until release.
func holdDisconnected(t *testing.T, store any, client *redis.Client) (release func()) {
	t.Helper()
	held, gate := make(chan struct{}, 1), make(chan struct{})
	redisstore.SetLostHook(store, func() {
		select {
		case held <- struct{}{}:
		default:
		}
		<-gate
	})
	killPubSub(t, client)
	<-held
	redisstore.SetLostHook(store, nil)
	return sync.OnceFunc(func() { close(gate) })
}

// randomKey is a fresh 32-byte signing key.
func randomKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	return k
}

// scriptCounter counts the EVALSHAs of each script in pipelines.
type scriptCounter struct {
	mu    sync.Mutex
	calls map[string]int
}

func (h *scriptCounter) DialHook(next redis.DialHook) redis.DialHook          { return next }
func (h *scriptCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook { return next }
func (h *scriptCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.mu.Lock()
		for _, c := range cmds {
			if a := c.Args(); len(a) > 1 && strings.EqualFold(fmt.Sprint(a[0]), "evalsha") {
				h.calls[fmt.Sprint(a[1])]++
			}
		}
		h.mu.Unlock()
		return next(ctx, cmds)
	}
}

func (h *scriptCounter) count(sha string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.calls[sha]
}

// A lock set larger than LocalLocks is found out by counting, without
// reading the locks: at 10⁶ locks a read is 115 MiB from Redis, which
// every instance would otherwise repeat at every retry. The limiter stays
// not live and answers from Redis, correctly.
func TestLimiterOverflowReadsNoLocks(t *testing.T) {
	prefix := uniquePrefix(t, newClient(t))
	ctx := context.Background()
	a, err := redisstore.NewLimiter(newClient(t), redisstore.LimiterOptions{Prefix: prefix, MaxFailures: 1, Window: time.Minute})
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.Close() })
	for i := range 20 {
		ok, _, err := a.Reserve(ctx, fmt.Sprintf("login:%d", i))
		require.NoError(t, err)
		require.True(t, ok)
	}
	cb, _ := newCountedClient(t)
	h := &scriptCounter{calls: map[string]int{}}
	cb.AddHook(h)
	b, err := redisstore.NewLimiter(cb, redisstore.LimiterOptions{Prefix: prefix, MaxFailures: 1, Window: time.Minute, LocalLocks: 5})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	ok, _, err := b.Allow(ctx, "login:3") // starts B's subscription and resync
	require.NoError(t, err)
	assert.False(t, ok, "a locked login, read from Redis")
	pollUntil(t, "B counted the locks", func() bool { return h.count(redisstore.CountScriptHash) >= 256 })
	// The read would follow the count at once; give it two seconds to
	// show (a slow machine can only make this pass, never fail).
	assert.Never(t, func() bool { return h.count(redisstore.ResyncScriptHash) > 0 }, 2*time.Second, 10*time.Millisecond,
		"B read the locks of a set it cannot hold")
	assert.False(t, b.Live(), "B cannot hold the lock set: not live")
	ok, _, err = b.Allow(ctx, "login:7")
	require.NoError(t, err)
	assert.False(t, ok)
	ok, _, err = b.Allow(ctx, "login:clean")
	require.NoError(t, err)
	assert.True(t, ok)
}
