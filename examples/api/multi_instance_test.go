package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/gohttpauth/httpauth/httpauthtest"
	"github.com/gohttpauth/httpauth/sqlstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// multiEnv is what instances of one multi-instance test share: a
// PostgreSQL schema of their own, a Redis prefix, the key and the binary.
type multiEnv struct {
	schema   string
	dsn      string  // PostgreSQL, with the test's schema as search_path
	db       *sql.DB // on dsn, for plain-SQL changes
	redisURL string
	bin      string
	args     []string
	env      []string
}

func newMultiEnv(t *testing.T) *multiEnv {
	t.Helper()
	pgDSN := httpauthtest.RequireEnv(t, "HTTPAUTH_POSTGRES_TEST_DSN", "source .ci/services.sh (as root), then go test ./examples/api")
	redisURL := httpauthtest.RequireEnv(t, "HTTPAUTH_REDIS_TEST_URL", "source .ci/services.sh (as root), then go test ./examples/api")
	ctx := context.Background()

	// A schema of its own, so runs never see each other's users.
	var suffix [6]byte
	_, _ = rand.Read(suffix[:])
	schema := "multi_" + hex.EncodeToString(suffix[:])
	admin, err := sql.Open("pgx", pgDSN)
	require.NoError(t, err)
	t.Cleanup(func() { _ = admin.Close() })
	_, err = admin.ExecContext(ctx, "CREATE SCHEMA "+schema)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = admin.ExecContext(context.Background(), "DROP SCHEMA "+schema+" CASCADE") })
	u, err := url.Parse(pgDSN)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	dsn := u.String()
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })

	bin := filepath.Join(t.TempDir(), "api")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	return &multiEnv{
		schema:   schema,
		dsn:      dsn,
		db:       db,
		redisURL: redisURL,
		bin:      bin,
		args:     []string{"-addr", "127.0.0.1:0", "-client-attempts", "0", "-db", dsn, "-migrate", "-demo-users", "-redis", redisURL, "-redis-prefix", "test:" + schema + ":"},
		env:      append(os.Environ(), "HTTPAUTH_SECRET="+hex.EncodeToString(secret)),
	}
}

// TestMultiInstance runs two real examples/api processes that share
// PostgreSQL, Redis and HTTPAUTH_SECRET, and checks that they serve as one.
func TestMultiInstance(t *testing.T) {
	m := newMultiEnv(t)
	ctx := context.Background()
	a := startInstance(t, m.bin, m.args, m.env)
	b := startInstance(t, m.bin, m.args, m.env)

	token := func(base, login, pw string) string {
		r := call(t, http.MethodPost, base+"/api/v1/tokens/", basic(login, pw))
		require.Equal(t, 200, r.status, r.body)
		return r.body["token"].(string)
	}

	t.Run("a token issued by A works on B", func(t *testing.T) {
		tok := token(a, "alice@example.com", "wonderland-42")
		r := call(t, http.MethodGet, b+"/api/v1/me", "Bearer "+tok)
		assert.Equal(t, 200, r.status)
		assert.Equal(t, "alice@example.com", r.body["email"])
	})

	t.Run("a token revoked on B is a 401 on A", func(t *testing.T) {
		tok := token(a, "carol@example.com", "pässwörd-ü42")
		other := token(b, "carol@example.com", "pässwörd-ü42")
		require.Equal(t, 200, call(t, http.MethodGet, a+"/api/v1/me", "Bearer "+tok).status)
		require.Equal(t, 204, call(t, http.MethodDelete, b+"/api/v1/tokens/", "Bearer "+tok).status)
		// A learns of it by notification: poll (latencies: TestPropagation).
		eventuallyStatus(t, 401, a+"/api/v1/me", "Bearer "+tok)
		eventuallyStatus(t, 401, a+"/api/v1/me", basic(tok, ""))
		assert.Equal(t, 200, call(t, http.MethodGet, a+"/api/v1/me", "Bearer "+other).status, "only that token")
	})

	t.Run("failures counted on A throttle the login on B", func(t *testing.T) {
		for i := range 10 {
			require.Equal(t, 401, call(t, http.MethodGet, a+"/api/v1/me", basic("admin@example.com", "guess")).status, "attempt %d", i)
		}
		r := call(t, http.MethodGet, b+"/api/v1/me", basic("admin@example.com", "s3cret:with:colons"))
		assert.Equal(t, 429, r.status)
		assert.NotEmpty(t, r.header.Get("Retry-After"))
		assert.Equal(t, 429, call(t, http.MethodGet, a+"/api/v1/me", basic("admin@example.com", "s3cret:with:colons")).status)
	})

	t.Run("a user disabled in the database is refused by both", func(t *testing.T) {
		tok := token(b, "alice@example.com", "wonderland-42")
		for _, base := range []string{a, b} { // warm both credential caches
			require.Equal(t, 200, call(t, http.MethodGet, base+"/api/v1/me", basic("alice@example.com", "wonderland-42")).status)
		}
		store, err := sqlstore.New(ctx, m.db, sqlstore.Config[sqlstore.User]{Dialect: sqlstore.Postgres})
		require.NoError(t, err)
		defer store.Close()
		require.NoError(t, store.SetDisabled(ctx, "1", true))
		for _, base := range []string{a, b} {
			eventuallyStatus(t, 401, base+"/api/v1/me", "Bearer "+tok)
			eventuallyStatus(t, 401, base+"/api/v1/me", basic("alice@example.com", "wonderland-42"))
		}
	})
}

var listening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// startInstance runs the binary and returns its base URL once it logs that
// it is listening.
func startInstance(t *testing.T, bin string, args, env []string) string {
	t.Helper()
	return startProcess(t, bin, args, env).base
}

// instance is a running examples/api process.
type instance struct {
	base string // http://127.0.0.1:PORT
	pid  int
}

// startProcess runs the binary and returns it once it logs that it is
// listening.
func startProcess(t *testing.T, bin string, args, env []string) instance {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case base := <-found:
		return instance{base: base, pid: cmd.Process.Pid}
	case <-time.After(60 * time.Second):
		t.Fatal("instance did not start listening")
		return instance{}
	}
}

// eventuallyStatus polls GET url until it answers want, and fails after a
// deadline generous enough for a loaded CI machine.
func eventuallyStatus(t *testing.T, want int, url, authz string) {
	t.Helper()
	last := 0
	if !assert.Eventually(t, func() bool {
		last = statusOf(url, authz)
		return last == want
	}, 30*time.Second, 2*time.Millisecond) {
		t.Errorf("GET %s: still %d, want %d", url, last, want)
	}
}
