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

// TestMultiInstance runs two real examples/api processes that share
// PostgreSQL, Redis and HTTPAUTH_SECRET, and checks that they serve as one.
func TestMultiInstance(t *testing.T) {
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

	bin := filepath.Join(t.TempDir(), "api")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	args := []string{"-addr", "127.0.0.1:0", "-db", dsn, "-redis", redisURL, "-redis-prefix", "test:" + schema + ":"}
	env := append(os.Environ(), "HTTPAUTH_SECRET="+hex.EncodeToString(secret))
	a := startInstance(t, bin, args, env)
	b := startInstance(t, bin, args, env)

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
		assert.Equal(t, 401, call(t, http.MethodGet, a+"/api/v1/me", "Bearer "+tok).status)
		assert.Equal(t, 401, call(t, http.MethodGet, a+"/api/v1/me", basic(tok, "")).status)
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
		db, err := sql.Open("pgx", dsn)
		require.NoError(t, err)
		defer db.Close()
		store, err := sqlstore.New(ctx, db, sqlstore.Config{Dialect: sqlstore.Postgres})
		require.NoError(t, err)
		defer store.Close()
		require.NoError(t, store.SetDisabled(ctx, "1", true))
		for _, base := range []string{a, b} {
			assert.Equal(t, 401, call(t, http.MethodGet, base+"/api/v1/me", "Bearer "+tok).status, base)
			assert.Equal(t, 401, call(t, http.MethodGet, base+"/api/v1/me", basic("alice@example.com", "wonderland-42")).status, base)
		}
	})
}

var listening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// startInstance runs the binary and returns its base URL once it logs that
// it is listening.
func startInstance(t *testing.T, bin string, args, env []string) string {
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
		return base
	case <-time.After(60 * time.Second):
		t.Fatal("instance did not start listening")
		return ""
	}
}
