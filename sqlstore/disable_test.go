package sqlstore_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/sqlstore"
)

// TestDisableWithSQLEndsTokens disables and re-enables users with plain
// SQL, as an operator in psql or sqlite3 would: the trigger that Migrate
// installs moves the cutoff when disabled becomes true, so a token from
// before the disable stays dead after the user is enabled again.
func TestDisableWithSQLEndsTokens(t *testing.T) {
	t.Parallel()
	for _, o := range openers {
		t.Run(string(o.dialect), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := o.open(t)
			s := newStore(t, db, sqlstore.Config[sqlstore.User]{Dialect: o.dialect})
			// sqlDisabled runs UPDATE ... SET disabled = <v>, plus extra SET
			// clauses, in the dialect's spelling.
			sqlDisabled := func(t *testing.T, id string, v bool, extra string) {
				t.Helper()
				q := "UPDATE httpauth_users SET disabled = $1" + extra + " WHERE id = $2"
				if o.dialect == sqlstore.SQLite {
					q = "UPDATE httpauth_users SET disabled = ?" + extra + " WHERE id = ?"
				}
				_, err := db.ExecContext(ctx, q, v, id)
				require.NoError(t, err)
			}
			cutoff := func(t *testing.T, id string) time.Time {
				t.Helper()
				a, err := s.UserByID(ctx, id)
				require.NoError(t, err)
				return a.TokensValidAfter
			}
			newUser := func(t *testing.T, disabled bool) string {
				t.Helper()
				id := randomID(t)
				_, err := s.CreateUser(ctx, sqlstore.NewUser{ID: id, Login: id + "@example.com", Disabled: disabled,
					TokensValidAfter: time.Unix(0, 1000)})
				require.NoError(t, err)
				return id
			}
			later := time.Now().Add(time.Hour)

			t.Run("a token from before the disable stays dead", func(t *testing.T) {
				auth, err := httpauth.New(httpauth.Config[sqlstore.User]{
					Users: s, Hasher: fastHasher, Realm: "api", Signer: testSigner(t),
					Logger: slog.New(slog.DiscardHandler),
				})
				require.NoError(t, err)
				h := auth.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
				status := func(tok string) int {
					req := httptest.NewRequest(http.MethodGet, "/", nil)
					req.Header.Set("Authorization", "Bearer "+tok)
					w := httptest.NewRecorder()
					h.ServeHTTP(w, req)
					return w.Code
				}
				id := newUser(t, false)
				tok, _, err := auth.IssueToken(ctx, id)
				require.NoError(t, err)
				require.Equal(t, http.StatusOK, status(tok))
				sqlDisabled(t, id, true, "")
				assert.Equal(t, http.StatusUnauthorized, status(tok), "disabled")
				sqlDisabled(t, id, false, "")
				assert.Equal(t, http.StatusUnauthorized, status(tok), "enabled again: the old token must not revive")
				// SQLite's trigger rounds the cutoff up to its millisecond:
				// mint strictly after it, whatever the clock reads now.
				time.Sleep(time.Until(cutoff(t, id)) + time.Microsecond)
				fresh, _, err := auth.IssueToken(ctx, id)
				require.NoError(t, err)
				assert.Equal(t, http.StatusOK, status(fresh), "a token minted after re-enabling works")
			})

			for _, c := range []struct {
				name     string
				disabled bool   // at creation
				to       bool   // the UPDATE's disabled
				extra    string // more SET clauses
				want     func(t *testing.T, got, before time.Time)
			}{
				{"disable moves the cutoff", false, true, "",
					func(t *testing.T, got, before time.Time) {
						assert.True(t, got.After(before), "cutoff %v not after %v", got, before)
					}},
				{"enable leaves it", true, false, "",
					func(t *testing.T, got, _ time.Time) { assert.Equal(t, time.Unix(0, 1000).UTC(), got) }},
				{"disable again leaves it", true, true, "",
					func(t *testing.T, got, _ time.Time) { assert.Equal(t, time.Unix(0, 1000).UTC(), got) }},
				{"a later cutoff in the same UPDATE wins", false, true, ", tokens_valid_after = " + itoa(later.UnixNano()),
					func(t *testing.T, got, _ time.Time) { assert.Equal(t, later.UTC(), got) }},
				{"other columns leave it", false, false, ", confirmed = " + sqlTrue(o.dialect),
					func(t *testing.T, got, _ time.Time) { assert.Equal(t, time.Unix(0, 1000).UTC(), got) }},
			} {
				t.Run(c.name, func(t *testing.T) {
					id := newUser(t, c.disabled)
					before := time.Now()
					sqlDisabled(t, id, c.to, c.extra)
					c.want(t, cutoff(t, id), before)
				})
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// sqlTrue is the literal true in d's spelling.
func sqlTrue(d sqlstore.Dialect) string {
	if d == sqlstore.SQLite {
		return "1"
	}
	return "true"
}
