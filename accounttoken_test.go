package httpauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAccountTokenPurposeSeparation(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx := context.Background()
	access := f.token(t, "alice@example.com", "wonderland-42")
	tokens := map[purpose]string{}
	for _, p := range purposes {
		tok, err := f.auth.accountToken(ctx, p, "1", "new@example.com")
		require.NoError(t, err)
		tokens[p] = tok
	}
	for _, p := range purposes {
		for _, q := range purposes {
			t.Run(string(p)+"_as_"+string(q), func(t *testing.T) {
				acct, data, err := f.auth.verifyAccountToken(ctx, q, tokens[p])
				if p == q {
					require.NoError(t, err)
					assert.Equal(t, "1", acct.ID)
					assert.Equal(t, "new@example.com", data)
					return
				}
				assert.ErrorIs(t, err, ErrTokenInvalid)
			})
		}
		t.Run(string(p)+"_as_access_token", func(t *testing.T) {
			_, err := f.auth.cfg.Signer.Verify(ctx, tokens[p])
			assert.ErrorIs(t, err, ErrTokenInvalid)
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", "Bearer "+tokens[p])
			rec := httptest.NewRecorder()
			f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
			assert.Equal(t, http.StatusUnauthorized, rec.Code)
		})
		t.Run("access_token_as_"+string(p), func(t *testing.T) {
			_, _, err := f.auth.verifyAccountToken(ctx, p, access)
			assert.ErrorIs(t, err, ErrTokenInvalid)
		})
	}
	// A signer of any purpose string cannot mint account tokens.
	for _, purpose := range []string{"confirmation", "password-reset", "httpauth-account-token-v1\x00confirmation"} {
		s := newTestSigner(t, f.clock, purpose)
		tok, err := s.Sign(ctx, newClaims("1", f.clock.Now(), time.Hour))
		require.NoError(t, err)
		for _, p := range purposes {
			_, _, err := f.auth.verifyAccountToken(ctx, p, tok)
			assert.ErrorIs(t, err, ErrTokenInvalid, "signer purpose %q as %s", purpose, p)
		}
	}
}

func TestAccountTokenSingleUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	t.Run("ResetWorksOnce", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		access := f.token(t, "alice@example.com", "wonderland-42")
		tok, err := f.auth.accountToken(ctx, purposePasswordReset, "1", "")
		require.NoError(t, err)
		f.clock.Advance(time.Second)
		acct, err := f.auth.ResetPassword(ctx, tok, "new-password-42")
		require.NoError(t, err)
		assert.Equal(t, "1", acct.ID)
		_, err = f.auth.ResetPassword(ctx, tok, "another-42")
		assert.ErrorIs(t, err, ErrTokenInvalid, "second use")

		status := func(hdr string) int {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", hdr)
			rec := httptest.NewRecorder()
			f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
			return rec.Code
		}
		assert.Equal(t, http.StatusUnauthorized, status(basicHeader("alice@example.com", "wonderland-42")), "old password")
		assert.Equal(t, http.StatusOK, status(basicHeader("alice@example.com", "new-password-42")), "new password")
		assert.Equal(t, http.StatusUnauthorized, status("Bearer "+access), "token issued before the reset")
	})

	t.Run("ConfirmDiesAfterConfirming", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		tok, err := f.auth.accountToken(ctx, purposeConfirmation, "2", "")
		require.NoError(t, err)
		assert.False(t, f.users.Confirmed("2"))
		_, err = f.auth.Confirm(ctx, tok)
		require.NoError(t, err)
		assert.True(t, f.users.Confirmed("2"))
		_, err = f.auth.Confirm(ctx, tok)
		assert.ErrorIs(t, err, ErrTokenInvalid)
	})

	t.Run("HostStampBindsToo", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, func(c *testSetup[testUser]) {
			c.stamp = func(a *Account[testUser]) []byte {
				if a.User.Confirmed {
					return []byte{1}
				}
				return []byte{0}
			}
		})
		tok, err := f.auth.accountToken(ctx, purposeConfirmation, "2", "")
		require.NoError(t, err)
		require.NoError(t, f.users.Update(ctx, "2", func(a *Account[testUser]) { a.User.Confirmed = true }))
		_, _, err = f.auth.verifyAccountToken(ctx, purposeConfirmation, tok)
		assert.ErrorIs(t, err, ErrTokenInvalid)
	})

	t.Run("EmailChangeOnce", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		tok, err := f.auth.accountToken(ctx, purposeEmailChange, "1", "alice2@example.com")
		require.NoError(t, err)
		_, err = f.auth.ChangeLogin(ctx, tok)
		require.NoError(t, err)
		acct, err := f.users.UserByLogin(ctx, "alice2@example.com")
		require.NoError(t, err)
		assert.Equal(t, "1", acct.ID)
		_, err = f.users.UserByLogin(ctx, "alice@example.com")
		assert.ErrorIs(t, err, ErrUserNotFound)
		_, err = f.auth.ChangeLogin(ctx, tok)
		assert.ErrorIs(t, err, ErrTokenInvalid)
	})

	t.Run("StateChangesEndTokens", func(t *testing.T) {
		t.Parallel()
		for name, change := range map[string]func(*Account[testUser]){
			"disabled": func(a *Account[testUser]) { a.Disabled = true },
			"cutoff":   func(a *Account[testUser]) { a.TokensValidAfter = a.TokensValidAfter.Add(time.Second) },
			"password": func(a *Account[testUser]) { a.PasswordHash += "x" },
		} {
			f := newFixture(t, nil)
			tok, err := f.auth.accountToken(ctx, purposePasswordReset, "1", "")
			require.NoError(t, err)
			require.NoError(t, f.users.Update(ctx, "1", change))
			_, _, err = f.auth.verifyAccountToken(ctx, purposePasswordReset, tok)
			assert.ErrorIs(t, err, ErrTokenInvalid, name)
		}
		f := newFixture(t, nil)
		tok, err := f.auth.accountToken(ctx, purposePasswordReset, "1", "")
		require.NoError(t, err)
		require.NoError(t, f.users.Delete(ctx, "1"))
		_, _, err = f.auth.verifyAccountToken(ctx, purposePasswordReset, tok)
		assert.ErrorIs(t, err, ErrTokenInvalid, "deleted account")
	})
}

func TestAccountTokenExpiry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tc := range []struct {
		p   purpose
		ttl time.Duration
	}{{purposeConfirmation, 48 * time.Hour}, {purposePasswordReset, time.Hour}, {purposeEmailChange, 24 * time.Hour}} {
		t.Run(string(tc.p), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, nil)
			tok, err := f.auth.accountToken(ctx, tc.p, "1", "x@example.com")
			require.NoError(t, err)
			f.clock.Advance(tc.ttl - time.Nanosecond)
			_, _, err = f.auth.verifyAccountToken(ctx, tc.p, tok)
			require.NoError(t, err, "just before expiry")
			f.clock.Advance(time.Nanosecond)
			_, _, err = f.auth.verifyAccountToken(ctx, tc.p, tok)
			assert.ErrorIs(t, err, ErrTokenExpired)
			assert.NotErrorIs(t, err, ErrTokenInvalid)
		})
	}
	t.Run("Configured", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, func(c *testSetup[testUser]) { c.accountTTL[purposeCode(purposePasswordReset)] = time.Minute })
		tok, err := f.auth.accountToken(ctx, purposePasswordReset, "1", "")
		require.NoError(t, err)
		f.clock.Advance(time.Minute)
		_, _, err = f.auth.verifyAccountToken(ctx, purposePasswordReset, tok)
		assert.ErrorIs(t, err, ErrTokenExpired)
	})
	t.Run("Future", func(t *testing.T) {
		t.Parallel()
		f := newFixture(t, nil)
		tok, err := f.auth.accountToken(ctx, purposePasswordReset, "1", "")
		require.NoError(t, err)
		f.clock.Advance(-time.Second)
		_, _, err = f.auth.verifyAccountToken(ctx, purposePasswordReset, tok)
		assert.ErrorIs(t, err, ErrTokenInvalid)
	})
}

func TestAccountTokenTamperingAndDecoding(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, nil)
	tok, err := f.auth.accountToken(ctx, purposePasswordReset, "1", "data")
	require.NoError(t, err)
	_, _, err = f.auth.verifyAccountToken(ctx, purposePasswordReset, tok)
	require.NoError(t, err)
	kid, rest, _ := strings.Cut(tok, ".")
	payload, tags, _ := strings.Cut(rest, ".")

	// Every single-character change is refused.
	for i := range tok {
		for _, c := range []byte{'A', 'B', '_', '-', '.', '='} {
			if tok[i] == c {
				continue
			}
			bad := tok[:i] + string(c) + tok[i+1:]
			_, _, err := f.auth.verifyAccountToken(ctx, purposePasswordReset, bad)
			if !errors.Is(err, ErrTokenInvalid) {
				t.Fatalf("changed byte %d to %q: err = %v", i, c, err)
			}
		}
	}
	// A payload signed for another subject is not the same token.
	other, err := f.auth.accountToken(ctx, purposePasswordReset, "4", "data")
	require.NoError(t, err)
	_, orest, _ := strings.Cut(other, ".")
	opayload, _, _ := strings.Cut(orest, ".")

	for name, bad := range map[string]string{
		"empty":            "",
		"no dots":          kid + payload + tags,
		"extra dot":        tok + ".",
		"padding":          tok + "=",
		"unknown key":      "k9." + payload + "." + tags,
		"swapped payload":  kid + "." + opayload + "." + tags,
		"trailing newline": tok + "\n",
		"too long":         kid + "." + strings.Repeat("A", 1000) + "." + tags,
		"short tags":       kid + "." + payload + "." + tags[:42],
	} {
		_, _, err := f.auth.verifyAccountToken(ctx, purposePasswordReset, bad)
		assert.ErrorIs(t, err, ErrTokenInvalid, name)
	}

	// Stray bits in the last base64 character: another spelling of the
	// same bytes, refused.
	last := tags[len(tags)-1]
	alt := strings.IndexByte(base64URLAlphabet, last) ^ 1
	bad := tok[:len(tok)-1] + string(base64URLAlphabet[alt])
	_, _, err = f.auth.verifyAccountToken(ctx, purposePasswordReset, bad)
	assert.ErrorIs(t, err, ErrTokenInvalid, "non-canonical base64")
}

const base64URLAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

func TestAccountTokenErrors(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, nil)
	_, err := f.auth.accountToken(ctx, "invite", "1", "")
	assert.Error(t, err)
	_, err = f.auth.accountToken(ctx, purposeEmailChange, "1", "")
	assert.Error(t, err, "email change without a login")
	_, err = f.auth.accountToken(ctx, purposeConfirmation, "1", strings.Repeat("x", maxAccountTokenData+1))
	assert.Error(t, err)
	_, err = f.auth.accountToken(ctx, purposeConfirmation, "nobody", "")
	assert.ErrorIs(t, err, ErrUserNotFound)

	tok, err := f.auth.accountToken(ctx, purposePasswordReset, "1", "")
	require.NoError(t, err)
	_, err = f.auth.ResetPassword(ctx, tok, "")
	assert.ErrorIs(t, err, errBadRequest)
	_, err = f.auth.ResetPassword(ctx, tok, strings.Repeat("x", 2000))
	assert.ErrorIs(t, err, ErrPasswordTooLong)

	tok, err = f.auth.accountToken(ctx, purposeEmailChange, "1", "ADMIN@example.com")
	require.NoError(t, err)
	_, err = f.auth.ChangeLogin(ctx, tok)
	assert.ErrorIs(t, err, ErrAccountExists)

	// A store failure is neither invalid nor expired.
	boom := errors.New("boom")
	g := newFixture(t, nil)
	tok, err = g.auth.accountToken(ctx, purposePasswordReset, "1", "")
	require.NoError(t, err)
	g.auth.cfg.Users = failingIDStore{boom}
	_, _, err = g.auth.verifyAccountToken(ctx, purposePasswordReset, tok)
	assert.ErrorIs(t, err, boom)
	assert.NotErrorIs(t, err, ErrTokenInvalid)
	_, err = g.auth.Confirm(ctx, tok)
	assert.ErrorIs(t, err, errors.ErrUnsupported, "store without AccountStore")

	// A custom signer leaves no key ring for account tokens.
	h := newFixture(t, func(c *testSetup[testUser]) { c.Signer = struct{ TokenSigner }{newTestSigner(t, &fakeClock{t0}, "")} })
	_, err = h.auth.accountToken(ctx, purposeConfirmation, "1", "")
	assert.Error(t, err)
}

func TestAccountTokenKeyRotation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	f := newFixture(t, func(c *testSetup[testUser]) { c.Signer = mustSigner(c.now, SigningKey{ID: "old", Secret: testKey2}) })
	tok, err := f.auth.accountToken(ctx, purposeConfirmation, "2", "")
	require.NoError(t, err)
	g := newFixture(t, func(c *testSetup[testUser]) {
		c.Signer = mustSigner(c.now, SigningKey{ID: "new", Secret: testKey1}, SigningKey{ID: "old", Secret: testKey2})
		c.Users = f.users // same accounts, same hashes
	})
	_, _, err = g.auth.verifyAccountToken(ctx, purposeConfirmation, tok)
	assert.NoError(t, err, "a token of the old key verifies during rotation")
	h := newFixture(t, func(c *testSetup[testUser]) {
		c.Signer = mustSigner(c.now, SigningKey{ID: "old", Secret: testKey1})
		c.Users = f.users
	})
	_, _, err = h.auth.verifyAccountToken(ctx, purposeConfirmation, tok)
	assert.ErrorIs(t, err, ErrTokenInvalid, "same key ID, other secret")
}

// failingIDStore fails every lookup with err.
type failingIDStore struct{ err error }

func (s failingIDStore) UserByLogin(context.Context, string) (*Account[testUser], error) {
	return nil, s.err
}
func (s failingIDStore) UserByID(context.Context, string) (*Account[testUser], error) {
	return nil, s.err
}
