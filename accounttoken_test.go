package httpauth

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAccountTokenPurposeSeparation(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// inEnv runs f in a bubble with a new environment and an account token
	// of purpose p.
	inEnv := func(t *testing.T, p purpose, f func(e *env, tok string)) {
		synctest.Test(t, func(t *testing.T) {
			e := newEnv(t)
			tok, err := e.auth.accountToken(ctx, p, "u-alice", "new@example.com")
			require.NoError(t, err)
			f(e, tok)
		})
	}
	for _, p := range purposes {
		for _, q := range purposes {
			t.Run(string(p)+"_as_"+string(q), func(t *testing.T) {
				t.Parallel()
				inEnv(t, p, func(e *env, tok string) {
					acct, data, err := e.auth.verifyAccountToken(ctx, q, tok)
					if p == q {
						require.NoError(t, err)
						assert.Equal(t, "u-alice", acct.ID)
						assert.Equal(t, "new@example.com", data)
						return
					}
					assert.ErrorIs(t, err, ErrTokenInvalid)
				})
			})
		}
		t.Run(string(p)+"_as_access_token", func(t *testing.T) {
			t.Parallel()
			inEnv(t, p, func(e *env, tok string) {
				_, err := e.auth.cfg.Signer.Verify(ctx, tok)
				assert.ErrorIs(t, err, ErrTokenInvalid)
				assert.Equal(t, http.StatusUnauthorized, e.status("Bearer "+tok))
			})
		})
		t.Run("access_token_as_"+string(p), func(t *testing.T) {
			t.Parallel()
			inEnv(t, p, func(e *env, _ string) {
				_, _, err := e.auth.verifyAccountToken(ctx, p, e.mint(t, "alice", alicePW))
				assert.ErrorIs(t, err, ErrTokenInvalid)
			})
		})
	}
	// A signer of any purpose string cannot mint account tokens.
	t.Run("signers of other purposes", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newEnv(t)
			for _, purpose := range []string{"confirmation", "password-reset", "httpauth-account-token-v1\x00confirmation"} {
				s := newTestSigner(t, purpose)
				tok, err := s.Sign(ctx, newClaims("u-alice", time.Now(), time.Hour))
				require.NoError(t, err)
				for _, p := range purposes {
					_, _, err := f.auth.verifyAccountToken(ctx, p, tok)
					assert.ErrorIs(t, err, ErrTokenInvalid, "signer purpose %q as %s", purpose, p)
				}
			}
		})
	})
}

func TestAccountTokenSingleUse(t *testing.T) {
	t.Parallel()
	ctx := context.Background()

	// Two requests with one reset token that both verify it before either
	// writes: the write is a compare-and-set, so exactly one sets its
	// password and the other gets the used-token error.
	t.Run("RacingResetsSetThePasswordOnce", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newEnv(t)
			tok, err := f.auth.accountToken(ctx, purposePasswordReset, "u-alice", "")
			require.NoError(t, err)
			time.Sleep(time.Second)
			// Each new password's hash waits until both requests hash.
			var arrived sync.WaitGroup
			arrived.Add(2)
			f.hasher.hook = func(op string) {
				if op == "hash" {
					arrived.Done()
					arrived.Wait()
				}
			}
			errs := make(chan error, 2)
			for _, pw := range []string{"first-password-42", "second-password-42"} {
				go func() {
					_, err := f.auth.ResetPassword(ctx, tok, pw)
					errs <- err
				}()
			}
			var ok, used int
			for range 2 {
				switch err := <-errs; {
				case err == nil:
					ok++
				case errors.Is(err, ErrTokenInvalid):
					used++
				default:
					t.Fatalf("ResetPassword: %v", err)
				}
			}
			assert.Equal(t, 1, ok, "one reset wins")
			assert.Equal(t, 1, used, "the other finds the token used")
		})
	})

	t.Run("ResetWorksOnce", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newEnv(t)
			access := f.mint(t, "alice", alicePW)
			tok, err := f.auth.accountToken(ctx, purposePasswordReset, "u-alice", "")
			require.NoError(t, err)
			time.Sleep(time.Second)
			acct, err := f.auth.ResetPassword(ctx, tok, "new-password-42")
			require.NoError(t, err)
			assert.Equal(t, "u-alice", acct.ID)
			_, err = f.auth.ResetPassword(ctx, tok, "another-42")
			assert.ErrorIs(t, err, ErrTokenInvalid, "second use")

			status := func(hdr string) int {
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.Header.Set("Authorization", hdr)
				rec := httptest.NewRecorder()
				f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
				return rec.Code
			}
			assert.Equal(t, http.StatusUnauthorized, status(basicHeader("alice", alicePW)), "old password")
			assert.Equal(t, http.StatusOK, status(basicHeader("alice", "new-password-42")), "new password")
			assert.Equal(t, http.StatusUnauthorized, status("Bearer "+access), "token issued before the reset")
		})
	})

	t.Run("ConfirmDiesAfterConfirming", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newEnv(t)
			tok, err := f.auth.accountToken(ctx, purposeConfirmation, "u-unconfirmed", "")
			require.NoError(t, err)
			confirmed := func() bool {
				a, err := f.users.UserByID(ctx, "u-unconfirmed")
				require.NoError(t, err)
				return a.Confirmed
			}
			assert.False(t, confirmed())
			_, err = f.auth.Confirm(ctx, tok)
			require.NoError(t, err)
			assert.True(t, confirmed())
			_, err = f.auth.Confirm(ctx, tok)
			assert.ErrorIs(t, err, ErrTokenInvalid)
		})
	})

	// The store's Confirmed flag is the only one: Confirm sets it, and a
	// CheckAccount that reads it admits the user at once (no second flag
	// to keep in step, as a host's own User field once was).
	t.Run("ConfirmSetsTheOneFlag", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newEnv(t)
			tok, err := f.auth.accountToken(ctx, purposeConfirmation, "u-unconfirmed", "")
			require.NoError(t, err)
			status := func() int {
				rec := httptest.NewRecorder()
				f.auth.Middleware(&spy{}).ServeHTTP(rec, getReq("Authorization", basicHeader("unconfirmed", "pw-unconfirmed")))
				return rec.Code
			}
			require.Equal(t, http.StatusForbidden, status())
			_, err = f.auth.Confirm(ctx, tok)
			require.NoError(t, err)
			acct, err := f.users.UserByID(ctx, "u-unconfirmed")
			require.NoError(t, err)
			assert.True(t, acct.Confirmed)
			assert.Equal(t, http.StatusOK, status(), "confirmed means admitted")
		})
	})

	t.Run("EmailChangeOnce", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newEnv(t)
			tok, err := f.auth.accountToken(ctx, purposeEmailChange, "u-alice", "alice2@example.com")
			require.NoError(t, err)
			_, err = f.auth.ChangeLogin(ctx, tok)
			require.NoError(t, err)
			acct, err := f.users.UserByLogin(ctx, "alice2@example.com")
			require.NoError(t, err)
			assert.Equal(t, "u-alice", acct.ID)
			_, err = f.users.UserByLogin(ctx, "alice")
			assert.ErrorIs(t, err, ErrUserNotFound)
			_, err = f.auth.ChangeLogin(ctx, tok)
			assert.ErrorIs(t, err, ErrTokenInvalid)
		})
	})

	t.Run("StateChangesEndTokens", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			for name, change := range map[string]func(*Account[testUser]){
				"disabled": func(a *Account[testUser]) { a.Disabled = true },
				"cutoff":   func(a *Account[testUser]) { a.TokensValidAfter = a.TokensValidAfter.Add(time.Second) },
				"password": func(a *Account[testUser]) { a.PasswordHash += "x" },
			} {
				f := newEnv(t)
				tok, err := f.auth.accountToken(ctx, purposePasswordReset, "u-alice", "")
				require.NoError(t, err)
				require.NoError(t, f.users.Update(ctx, "u-alice", change))
				_, _, err = f.auth.verifyAccountToken(ctx, purposePasswordReset, tok)
				assert.ErrorIs(t, err, ErrTokenInvalid, name)
			}
			f := newEnv(t)
			tok, err := f.auth.accountToken(ctx, purposePasswordReset, "u-alice", "")
			require.NoError(t, err)
			require.NoError(t, f.users.Delete(ctx, "u-alice"))
			_, _, err = f.auth.verifyAccountToken(ctx, purposePasswordReset, tok)
			assert.ErrorIs(t, err, ErrTokenInvalid, "deleted account")
		})
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
			synctest.Test(t, func(t *testing.T) {
				f := newEnv(t)
				tok, err := f.auth.accountToken(ctx, tc.p, "u-alice", "x@example.com")
				require.NoError(t, err)
				time.Sleep(tc.ttl - time.Nanosecond)
				_, _, err = f.auth.verifyAccountToken(ctx, tc.p, tok)
				require.NoError(t, err, "just before expiry")
				time.Sleep(time.Nanosecond)
				_, _, err = f.auth.verifyAccountToken(ctx, tc.p, tok)
				assert.ErrorIs(t, err, ErrTokenExpired)
				assert.NotErrorIs(t, err, ErrTokenInvalid)
			})
		})
	}
	t.Run("Configured", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			f := newEnv(t, func(c *testSetup[testUser]) { c.accountTTL[purposeCode(purposePasswordReset)] = time.Minute })
			tok, err := f.auth.accountToken(ctx, purposePasswordReset, "u-alice", "")
			require.NoError(t, err)
			time.Sleep(time.Minute)
			_, _, err = f.auth.verifyAccountToken(ctx, purposePasswordReset, tok)
			assert.ErrorIs(t, err, ErrTokenExpired)
		})
	})
	t.Run("Future", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			// A bubble's clock cannot go back: mint a second ahead instead.
			f := newEnv(t)
			tok, err := f.auth.accountTokenAt(ctx, purposePasswordReset, "u-alice", "", time.Now().Add(time.Second))
			require.NoError(t, err)
			_, _, err = f.auth.verifyAccountToken(ctx, purposePasswordReset, tok)
			assert.ErrorIs(t, err, ErrTokenInvalid)
			time.Sleep(time.Second)
			_, _, err = f.auth.verifyAccountToken(ctx, purposePasswordReset, tok)
			assert.NoError(t, err, "valid once its issue time comes")
		})
	})
}

func TestAccountTokenTamperingAndDecoding(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newEnv(t)
		tok, err := f.auth.accountToken(ctx, purposePasswordReset, "u-alice", "data")
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
		other, err := f.auth.accountToken(ctx, purposePasswordReset, "u-admin", "data")
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
	})
}

func TestAccountTokenErrors(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newEnv(t)
		_, err := f.auth.accountToken(ctx, "invite", "u-alice", "")
		assert.Error(t, err)
		_, err = f.auth.accountToken(ctx, purposeEmailChange, "u-alice", "")
		assert.Error(t, err, "email change without a login")
		_, err = f.auth.accountToken(ctx, purposeConfirmation, "u-alice", strings.Repeat("x", maxAccountTokenData+1))
		assert.Error(t, err)
		_, err = f.auth.accountToken(ctx, purposeConfirmation, "nobody", "")
		assert.ErrorIs(t, err, ErrUserNotFound)

		tok, err := f.auth.accountToken(ctx, purposePasswordReset, "u-alice", "")
		require.NoError(t, err)
		_, err = f.auth.ResetPassword(ctx, tok, "")
		assert.ErrorIs(t, err, ErrBadRequest)
		_, err = f.auth.ResetPassword(ctx, tok, strings.Repeat("x", 2000))
		assert.ErrorIs(t, err, errPasswordTooLong)

		tok, err = f.auth.accountToken(ctx, purposeEmailChange, "u-alice", "ADMIN")
		require.NoError(t, err)
		_, err = f.auth.ChangeLogin(ctx, tok)
		assert.ErrorIs(t, err, ErrAccountExists)

		// A store failure is neither invalid nor expired.
		g := newEnv(t)
		tok, err = g.auth.accountToken(ctx, purposePasswordReset, "u-alice", "")
		require.NoError(t, err)
		g.auth.cfg.Users = &faultyStore{byLogin: "error", byID: "error"}
		_, _, err = g.auth.verifyAccountToken(ctx, purposePasswordReset, tok)
		assert.ErrorIs(t, err, errFault)
		assert.NotErrorIs(t, err, ErrTokenInvalid)
		_, err = g.auth.Confirm(ctx, tok)
		assert.ErrorIs(t, err, errors.ErrUnsupported, "store without AccountStore")

		// A custom signer leaves no key ring for account tokens.
		h := newEnv(t, func(c *testSetup[testUser]) { c.Signer = struct{ TokenSigner }{newTestSigner(t, "")} })
		_, err = h.auth.accountToken(ctx, purposeConfirmation, "u-alice", "")
		assert.Error(t, err)
	})
}

func TestAccountTokenKeyRotation(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		f := newEnv(t, func(c *testSetup[testUser]) { c.Signer = mustSigner(SigningKey{ID: "old", Secret: testKey2}) })
		tok, err := f.auth.accountToken(ctx, purposeConfirmation, "u-unconfirmed", "")
		require.NoError(t, err)
		g := newEnv(t, func(c *testSetup[testUser]) {
			c.Signer = mustSigner(SigningKey{ID: "new", Secret: testKey1}, SigningKey{ID: "old", Secret: testKey2})
			c.Users = f.users // same accounts, same hashes
		})
		_, _, err = g.auth.verifyAccountToken(ctx, purposeConfirmation, tok)
		assert.NoError(t, err, "a token of the old key verifies during rotation")
		h := newEnv(t, func(c *testSetup[testUser]) {
			c.Signer = mustSigner(SigningKey{ID: "old", Secret: testKey1})
			c.Users = f.users
		})
		_, _, err = h.auth.verifyAccountToken(ctx, purposeConfirmation, tok)
		assert.ErrorIs(t, err, ErrTokenInvalid, "same key ID, other secret")
	})
}
