package httpauth

import (
	"context"
	"crypto/sha256"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestMemoryStoresHonourContext: every method of the memory stores that
// takes a context refuses a cancelled one with its error, never with a
// not-found (which would look like a wrong password).
func TestMemoryStoresHonourContext(t *testing.T) {
	t.Parallel()
	live := context.Background()
	users := NewMemoryUserStore[testUser](cheapHasher)
	require.NoError(t, users.Add(live, "ctx@example.com", "pw-ctx-42", Account[testUser]{ID: "c1"}))
	keys := newMemoryKeyStore()
	ctx, cancel := context.WithCancel(live)
	cancel()
	calls := map[string]error{
		"Add":              users.Add(ctx, "x@example.com", "pw", Account[testUser]{ID: "c2"}),
		"Put":              users.Put(ctx, "x@example.com", Account[testUser]{ID: "c2"}),
		"Update":           users.Update(ctx, "c1", func(*Account[testUser]) {}),
		"SetPassword":      users.SetPassword(ctx, "c1", "pw-new-42"),
		"Delete":           users.Delete(ctx, "c1"),
		"MarkConfirmed":    users.MarkConfirmed(ctx, "c1"),
		"SetLogin":         users.SetLogin(ctx, "c1", "y@example.com"),
		"SetTokensAfter":   users.SetTokensValidAfter(ctx, "c1", time.Now()),
		"SetPendingTOTP":   users.SetPendingTOTP(ctx, "c1", "sealed"),
		"DisableTOTP":      users.DisableTOTP(ctx, "c1"),
		"ResealTOTP":       users.ResealTOTP(ctx, "c1", "a", "b"),
		"SetRecoveryCodes": users.SetRecoveryCodes(ctx, "c1", nil),
		"CreateKey":        keys.CreateKey(ctx, APIKey{ID: "k", UserID: "c1"}),
		"DeleteKey":        keys.DeleteKey(ctx, "c1", "k"),
		"TouchKeys":        keys.TouchKeys(ctx, map[string]time.Time{"k": time.Now()}),
	}
	_, err := users.UserByLogin(ctx, "ctx@example.com")
	calls["UserByLogin"] = err
	_, err = users.UserByID(ctx, "c1")
	calls["UserByID"] = err
	_, err = users.SwapPasswordHash(ctx, "c1", "a", "b")
	calls["SwapPasswordHash"] = err
	_, _, _, err = users.SecondFactor(ctx, "c1")
	calls["SecondFactor"] = err
	_, err = users.EnableTOTP(ctx, "c1", "p", 1, nil)
	calls["EnableTOTP"] = err
	_, err = users.AcceptTOTPStep(ctx, "c1", 1)
	calls["AcceptTOTPStep"] = err
	_, err = users.UseRecoveryCode(ctx, "c1", "h")
	calls["UseRecoveryCode"] = err
	_, err = keys.KeyByHash(ctx, sha256.Sum256([]byte("k")))
	calls["KeyByHash"] = err
	_, err = keys.KeysByUser(ctx, "c1")
	calls["KeysByUser"] = err
	for name, err := range calls {
		assert.ErrorIs(t, err, context.Canceled, name)
		assert.NotErrorIs(t, err, ErrUserNotFound, name)
	}
	a, err := users.UserByID(live, "c1")
	require.NoError(t, err, "nothing was changed")
	assert.Equal(t, "ctx@example.com", a.Login)
}

// TestMemoryStoreWritesToMissingAccounts: a write to an account that does
// not exist is ErrUserNotFound (deleting one is not an error), and an
// account ID out of bounds is refused.
func TestMemoryStoreWritesToMissingAccounts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	users := NewMemoryUserStore[testUser](cheapHasher)
	assert.ErrorIs(t, users.Update(ctx, "nobody", func(*Account[testUser]) {}), ErrUserNotFound)
	assert.ErrorIs(t, users.SetPassword(ctx, "nobody", "pw-42-pw"), ErrUserNotFound)
	assert.ErrorIs(t, users.SetLogin(ctx, "nobody", "x@example.com"), ErrUserNotFound)
	assert.NoError(t, users.Delete(ctx, "nobody"))
	assert.NoError(t, users.UpdatePasswordHash(ctx, "nobody", "a", "b"), "a rehash of a deleted account is dropped")
	assert.Error(t, users.Put(ctx, "x@example.com", Account[testUser]{}), "an empty ID")
	assert.Error(t, users.Put(ctx, "x@example.com", Account[testUser]{ID: strings.Repeat("i", maxSubjectLen+1)}), "an overlong ID")
	assert.ErrorIs(t, users.Add(ctx, "", "pw-42-pw", Account[testUser]{ID: "e"}), ErrBadRequest, "an empty login")
	failing := NewMemoryUserStore[testUser](&countingHasher{inner: failingHasher{}})
	assert.Error(t, failing.Add(ctx, "x@example.com", "pw-42-pw", Account[testUser]{ID: "f"}), "a hasher failure")
	assert.Error(t, failing.SetPassword(ctx, "f", "pw-42-pw"), "a hasher failure")
}

// failingHasher fails every hash and verification.
type failingHasher struct{}

func (failingHasher) Hash(context.Context, string) (string, error) {
	return "", errors.New("hasher down")
}
func (failingHasher) Verify(context.Context, string, string) (bool, error) {
	return false, errors.New("hasher down")
}
func (failingHasher) NeedsRehash(context.Context, string) bool { return false }

// TestAccountTokenRefusals: what account tokens refuse to mint, and the
// email-change flow's public entry points.
func TestAccountTokenRefusals(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newEnv(t)
		_, err := f.auth.EmailChangeToken(ctx, "u-alice", "")
		assert.ErrorContains(t, err, "needs the new login")
		_, err = f.auth.EmailChangeToken(ctx, "u-alice", strings.Repeat("x", maxAccountTokenData+1))
		assert.ErrorContains(t, err, "longer than")
		_, err = f.auth.ConfirmationToken(ctx, "")
		assert.ErrorContains(t, err, "account ID")
		_, err = f.auth.accountToken(ctx, purpose("nope"), "u-alice", "")
		assert.ErrorContains(t, err, "unknown account token purpose")
		_, _, err = f.auth.verifyAccountToken(ctx, purpose("nope"), "k1.a.b")
		assert.ErrorContains(t, err, "unknown account token purpose")
		_, err = f.auth.EmailChangeToken(ctx, "nobody", "x@example.com")
		assert.ErrorIs(t, err, ErrUserNotFound)

		tok, err := f.auth.EmailChangeToken(ctx, "u-alice", "alice-new@example.com")
		require.NoError(t, err)
		time.Sleep(time.Second)
		for _, bad := range []string{"", "no-dots", "k1.only-one-dot", "k9.AAAA." + strings.Repeat("A", macB64Len), tok + "x"} {
			_, err := f.auth.ChangeLogin(ctx, bad)
			assert.ErrorIs(t, err, ErrTokenInvalid, "%q", bad)
		}
		_, err = f.auth.ChangeLogin(ctx, tok)
		require.NoError(t, err)
		a, err := f.users.UserByLogin(ctx, "alice-new@example.com")
		require.NoError(t, err)
		assert.Equal(t, "u-alice", a.ID)

		// A signer that is not an *HMACSigner mints no account tokens.
		other := newEnv(t, func(c *testSetup[testUser]) { c.Signer = signerOnly{c.Signer} })
		_, err = other.auth.ConfirmationToken(ctx, "u-alice")
		assert.ErrorContains(t, err, "*HMACSigner")
	})
}

// signerOnly hides the signer's type, as a host's own signer would.
type signerOnly struct{ TokenSigner }

// TestLogHandlerWrappers: the recovering log handler keeps attributes and
// groups, and a handler whose Enabled panics counts as disabled.
func TestLogHandlerWrappers(t *testing.T) {
	t.Parallel()
	var buf logBuffer
	h := recoveringHandler{slog.NewJSONHandler(&buf, nil)}
	slog.New(h).With("a", 1).WithGroup("g").Info("m", "b", 2)
	assert.Contains(t, buf.String(), `"a":1`)
	assert.Contains(t, buf.String(), `"g":{"b":2}`)
	assert.False(t, recoveringHandler{panicEnabled{}}.Enabled(context.Background(), slog.LevelError))
}

type panicEnabled struct{ slog.Handler }

func (panicEnabled) Enabled(context.Context, slog.Level) bool { panic("handler bug") }

func TestThrottledErrorText(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "httpauth: too many failed attempts; retry after 2s", (&ThrottledError{RetryAfter: 2 * time.Second}).Error())
	assert.Equal(t, "httpauth: too many tokens requested; retry after 1s", (&ThrottledError{RetryAfter: time.Second, tokenRate: true}).Error())
}

func TestEscapeLog(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		"alice@example.com":      "alice@example.com",
		"caf\u00e9":              "caf\u00e9",
		"a\nb":                   `a\nb`,
		`q"uote`:                 `q\"uote`,
		"\xff":                   `\xff`,
		strings.Repeat("L", 200): strings.Repeat("L", maxLogLen),
	} {
		assert.Equal(t, want, escapeLog(in), "%q", in)
	}
}

// cutoffFails is a memory store whose SetTokensValidAfter fails or panics.
type cutoffFails struct {
	*MemoryUserStore[testUser]
	panics bool
}

func (s cutoffFails) SetTokensValidAfter(context.Context, string, time.Time) error {
	if s.panics {
		panic("store bug")
	}
	return errFault
}

// TestRevokeFoldFailsClosed: past the per-user bound a logout moves the
// cutoff; a store that cannot is a 500 (never a 204 that ended nothing),
// whether it fails or panics.
func TestRevokeFoldFailsClosed(t *testing.T) {
	t.Parallel()
	for _, panics := range []bool{false, true} {
		t.Run(map[bool]string{false: "error", true: "panic"}[panics], func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				e := newEnv(t, func(c *testSetup[testUser]) {
					c.Users = cutoffFails{c.Users.(*MemoryUserStore[testUser]), panics}
				})
				for range revocationsPerTTL {
					w := e.serve(e.auth.RevokeHandler(), newReq(http.MethodDelete, "/api/tokens", "Authorization", "Bearer "+e.mint(t, "alice", alicePW)))
					require.Equal(t, http.StatusNoContent, w.Code)
					time.Sleep(time.Second) // the mint rate
				}
				tok := e.mint(t, "alice", alicePW)
				w := e.serve(e.auth.RevokeHandler(), newReq(http.MethodDelete, "/api/tokens", "Authorization", "Bearer "+tok))
				assert.Equal(t, http.StatusInternalServerError, w.Code)
				assert.Equal(t, body500, w.Body.String())
			})
		})
	}
}
