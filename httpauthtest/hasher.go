package httpauthtest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strings"

	"github.com/gohttpauth/httpauth"
)

// FastHasher is an httpauth.PasswordHasher for tests only: one salted
// SHA-256, so that tests which create accounts or log in with a password
// cost microseconds instead of argon2id's tens of milliseconds and 19 MiB
// per hash. Never use it in production: a SHA-256 of a password is
// brute-forced in moments.
//
// Give it to both the store and the authenticator, so that New's dummy
// hash for unknown logins is cheap too:
//
//	users := httpauth.NewMemoryUserStore[User](httpauthtest.FastHasher{})
//	auth, err := httpauth.New(httpauth.Config[User]{Users: users, Hasher: httpauthtest.FastHasher{}, ...})
//
// Its hashes read "$test$<salt>$<sum>" (unpadded base64), so one can never
// pass for a real hash, nor a real one for it: Verify refuses any other
// form with an error wrapping httpauth.ErrUntrustedHash. NeedsRehash is
// always false. It is safe for concurrent use.
type FastHasher struct{}

const (
	fastPrefix  = "$test$"
	fastSaltLen = 16
)

var fastB64 = base64.RawStdEncoding

// Hash implements httpauth.PasswordHasher.
func (FastHasher) Hash(ctx context.Context, password string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	salt := make([]byte, fastSaltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails (Go 1.24+)
	sum := fastSum(salt, password)
	return fastPrefix + fastB64.EncodeToString(salt) + "$" + fastB64.EncodeToString(sum[:]), nil
}

// Verify implements httpauth.PasswordHasher.
func (FastHasher) Verify(ctx context.Context, hash, password string) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	rest, ok := strings.CutPrefix(hash, fastPrefix)
	if !ok {
		return false, fmt.Errorf("%w: not a httpauthtest.FastHasher hash", httpauth.ErrUntrustedHash)
	}
	s, m, ok := strings.Cut(rest, "$")
	salt, err1 := fastB64.Strict().DecodeString(s)
	sum, err2 := fastB64.Strict().DecodeString(m)
	if !ok || err1 != nil || err2 != nil || len(salt) != fastSaltLen || len(sum) != sha256.Size {
		return false, fmt.Errorf("%w: malformed httpauthtest.FastHasher hash", httpauth.ErrUntrustedHash)
	}
	want := fastSum(salt, password)
	return subtle.ConstantTimeCompare(sum, want[:]) == 1, nil
}

// NeedsRehash implements httpauth.PasswordHasher: never.
func (FastHasher) NeedsRehash(context.Context, string) bool { return false }

func fastSum(salt []byte, password string) [sha256.Size]byte {
	h := sha256.New()
	h.Write(salt)
	h.Write([]byte(password))
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}
