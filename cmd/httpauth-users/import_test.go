package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/sqlstore"
)

type fixture struct {
	Format   string `json:"format"`
	Password string `json:"password"`
	Hash     string `json:"hash"`
}

// cheapFixtures returns, per format, the last (cheapest) hash the real
// libraries made (testdata/foreignhash/make_fixtures.py).
func cheapFixtures(t *testing.T) map[string]fixture {
	t.Helper()
	f, err := os.Open("../../testdata/foreignhash/fixtures.jsonl")
	require.NoError(t, err)
	defer f.Close()
	out := map[string]fixture{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var fx fixture
		require.NoError(t, json.Unmarshal(sc.Bytes(), &fx))
		out[fx.Format] = fx
	}
	require.NoError(t, sc.Err())
	return out
}

func loginOf(format string) string { return "user-" + format + "@example.com" }

func TestImport(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	dir := t.TempDir()
	dsn := "sqlite:" + filepath.Join(dir, "users.db")
	do := func(stdin string, args ...string) (int, string, string) {
		var stdout, stderr bytes.Buffer
		code := run(ctx, append([]string{"-db", dsn}, args...), strings.NewReader(stdin), &stdout, &stderr)
		return code, stdout.String(), stderr.String()
	}
	code, _, stderr := do("", "migrate")
	require.Equal(t, 0, code, stderr)

	fixtures := cheapFixtures(t)
	formats := []string{"werkzeug-scrypt", "werkzeug-pbkdf2-sha256", "django-pbkdf2-sha256", "django-bcrypt-sha256", "passlib-pbkdf2-sha512", "bcrypt", "django-argon2i"}
	var jsonl strings.Builder
	for i, format := range formats {
		fx, ok := fixtures[format]
		require.True(t, ok, format)
		row := map[string]any{"login": loginOf(format), "hash": fx.Hash, "confirmed": i%2 == 0, "roles": []string{"user"}}
		if i == 1 {
			row["roles"] = "user,admin" // the string spelling
		}
		b, err := json.Marshal(row)
		require.NoError(t, err)
		jsonl.Write(append(b, '\n'))
	}
	// Refused: a cost past the bounds, an unknown scheme, an empty hash.
	jsonl.WriteString(`{"login":"huge@example.com","hash":"scrypt:1048576:8:1$salt$` + strings.Repeat("ab", 64) + `"}` + "\n")
	jsonl.WriteString(`{"login":"md5@example.com","hash":"md5$salt$0123456789abcdef0123456789abcdef"}` + "\n")
	jsonl.WriteString(`{"login":"nohash@example.com","hash":""}` + "\n")
	path := filepath.Join(dir, "users.jsonl")
	require.NoError(t, os.WriteFile(path, []byte(jsonl.String()), 0o600))

	// -dry-run reports and changes nothing.
	code, stdout, stderr := do("", "import", "-dry-run", path)
	assert.Equal(t, 1, code, "refused rows make the exit status 1")
	assert.Contains(t, stdout, "dry run: nothing changed")
	assert.Contains(t, stderr, `"huge@example.com": refused`)
	assert.Regexp(t, `werkzeug-scrypt\s+1\s+0\s+1\n`, stdout)
	assert.Regexp(t, `total\s+7\s+0\s+3\n`, stdout)
	for _, format := range formats {
		c, _, _ := do("", "show", loginOf(format))
		assert.Equal(t, 1, c, "dry run created %s", format)
	}

	// The import.
	code, stdout, stderr = do("", "import", path)
	assert.Equal(t, 1, code)
	assert.Regexp(t, `format\s+imported\s+existing \(skipped\)\s+refused\n`, stdout)
	assert.Regexp(t, `werkzeug-scrypt\s+1\s+0\s+1\n`, stdout)
	assert.Regexp(t, `werkzeug-pbkdf2-sha256\s+1\s+0\s+0\n`, stdout)
	assert.Regexp(t, `unknown\s+0\s+0\s+2\n`, stdout)
	assert.Regexp(t, `total\s+7\s+0\s+3\n`, stdout)
	assert.Contains(t, stderr, `line 8: "huge@example.com": refused: httpauth: untrusted password hash: werkzeug-scrypt: memory`)
	assert.Contains(t, stderr, `line 9: "md5@example.com": refused:`)
	assert.Contains(t, stderr, `line 10: "nohash@example.com": refused:`)
	assert.NotContains(t, stdout+stderr, "0123456789abcdef", "hashes are never printed")
	code, stdout, _ = do("", "show", loginOf("werkzeug-pbkdf2-sha256"))
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "confirmed:\tfalse\nroles:\tuser,admin\n")
	code, stdout, _ = do("", "show", loginOf("werkzeug-scrypt"))
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "confirmed:\ttrue\nroles:\tuser\n")
	c, _, _ := do("", "show", "huge@example.com")
	assert.Equal(t, 1, c, "a refused row is not created")

	// Idempotent: the second run imports nothing new.
	code, stdout, _ = do("", "import", path)
	assert.Equal(t, 1, code)
	assert.Regexp(t, `total\s+0\s+7\s+3\n`, stdout)

	// CSV from stdin, with a header in another order and extra columns.
	fx := fixtures["passlib-pbkdf2-sha256"]
	csvIn := "id,roles,hash,login,confirmed\n" +
		`1,"ops;user",` + fx.Hash + ",csv@example.com,yes\n" +
		"2,," + fixtures["werkzeug-scrypt"].Hash + "," + loginOf("werkzeug-scrypt") + ",no\n"
	code, stdout, stderr = do(csvIn, "import", "-")
	require.Equal(t, 0, code, stderr)
	assert.Regexp(t, `passlib-pbkdf2-sha256\s+1\s+0\s+0\n`, stdout)
	assert.Regexp(t, `werkzeug-scrypt\s+0\s+1\s+0\n`, stdout)
	code, stdout, _ = do("", "show", "csv@example.com")
	require.Equal(t, 0, code)
	assert.Contains(t, stdout, "confirmed:\ttrue\nroles:\tops,user\n")

	// Usage errors.
	code, _, _ = do("", "import")
	assert.Equal(t, 2, code)
	code, _, stderr = do("login,pw\nx,y\n", "import", "-")
	assert.Equal(t, 1, code)
	assert.Contains(t, stderr, "must name login and hash")

	// Every imported user logs in with the old password through an
	// Authenticator, and the login rehashes the stored hash to argon2id.
	store, login := loginThrough(t, filepath.Join(dir, "users.db"))
	for _, format := range formats {
		t.Run(format, func(t *testing.T) {
			fx := fixtures[format]
			before, err := store.UserByLogin(ctx, loginOf(format))
			require.NoError(t, err)
			require.Equal(t, fx.Hash, before.PasswordHash, "kept verbatim")
			assert.Equal(t, http.StatusUnauthorized, login(loginOf(format), fx.Password+"x"))
			assert.Equal(t, http.StatusOK, login(loginOf(format), fx.Password), fmt.Sprintf("%s logs in", format))
			after, err := store.UserByLogin(ctx, loginOf(format))
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(after.PasswordHash, "$argon2id$v=19$m=19456,t=2,p=1$"), "rehashed: %.20s", after.PasswordHash)
			assert.Equal(t, http.StatusOK, login(loginOf(format), fx.Password), "the new hash logs in")
		})
	}
}

// loginThrough opens the SQLite users database at path, puts an
// Authenticator in front of it, and returns the store and a function
// that sends Basic credentials through the middleware and returns the
// status.
func loginThrough(t *testing.T, path string) (*sqlstore.Store[sqlstore.User], func(user, pw string) int) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	store, err := sqlstore.New(t.Context(), db, sqlstore.Config[sqlstore.User]{Dialect: sqlstore.SQLite})
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	key, err := httpauth.KeyFromHex("k1", hex.EncodeToString(secret))
	require.NoError(t, err)
	signer, err := httpauth.NewHMACSigner(key)
	require.NoError(t, err)
	auth, err := httpauth.New(httpauth.Config[sqlstore.User]{Users: store, Signer: signer, Realm: "api", Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = auth.Close() })
	h := auth.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	return store, func(user, pw string) int {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(user, pw)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
}
