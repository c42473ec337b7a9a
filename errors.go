package httpauth

import (
	"errors"
	"fmt"
	"time"
)

// Sentinel errors. Test for them with errors.Is; the errors the library
// returns may wrap them with more detail.
var (
	// ErrUserNotFound is what a UserStore returns for a user that does not
	// exist. Every other store error is a failure (500).
	ErrUserNotFound = errors.New("httpauth: user not found")
	// ErrAccountExists is what a store returns for a login or ID another
	// account holds.
	ErrAccountExists = errors.New("httpauth: account exists")
	// ErrKeyNotFound is what a KeyStore returns for a key that does not
	// exist (or, from DeleteKey, belongs to another user).
	ErrKeyNotFound = errors.New("httpauth: API key not found")
	// ErrUnauthorized matches the error of every 401.
	ErrUnauthorized = errors.New("httpauth: unauthorized")
	// ErrNoCredentials matches a 401 for a request that sent no
	// credentials at all.
	ErrNoCredentials = errors.New("httpauth: no credentials")
	// ErrTokenInvalid means a token is malformed, forged, signed with an
	// unknown key, minted for another purpose, revoked, or issued in the
	// future, or names an account that is gone or has ended its tokens.
	// It is never returned together with ErrTokenExpired: a token must
	// verify before its expiry is read.
	ErrTokenInvalid = errors.New("httpauth: invalid token")
	// ErrTokenExpired means a token (or API key) verified but its expiry
	// has passed.
	ErrTokenExpired = errors.New("httpauth: token expired")
	// ErrForbidden matches the error of every 403; Forbidden makes one
	// with a message.
	ErrForbidden = errors.New("httpauth: forbidden")
	// ErrUntrustedHash means a stored password hash is malformed, uses an
	// unknown scheme, or has parameters outside the accepted bounds. A
	// PasswordHasher returns it so that such a hash is never verified
	// with a weaker fallback.
	ErrUntrustedHash = errors.New("httpauth: untrusted password hash")
	// ErrBadRequest matches errors caused by the client's input: the 400
	// for a request with two sets of credentials, a revoke request that
	// did not use a token, the input errors of CreateAPIKey and
	// ResetPassword (an empty password, or one longer than 1024 bytes or
	// than bcrypt's 72), and a login a store refuses; a handler answers
	// them with a 400. The error's text after "httpauth: bad request: "
	// says what was wrong.
	ErrBadRequest = errors.New("httpauth: bad request")
)

// errPasswordTooLong is a password longer than the hashing scheme takes
// without truncating it (72 bytes for bcrypt) or than the 1024 bytes the
// library hashes at most.
var errPasswordTooLong = fmt.Errorf("%w: password too long", ErrBadRequest)

// Errors given to an ErrorWriter for the statuses that say it all.
var (
	errMethodNotAllowed = errors.New("httpauth: method not allowed")
	errInternal         = errors.New("httpauth: internal error")
	errUnavailable      = errors.New("httpauth: busy") // no hashing slot in time
)

// forbiddenError is a 403 whose message is meant for the client.
type forbiddenError struct {
	Message string
}

// Forbidden returns an error that makes a 403 with message, such as
// "Unconfirmed account", for Config.CheckAccount to return.
// errors.Is(err, ErrForbidden) holds, and err.Error() is message, which
// the default writers send to the client.
func Forbidden(message string) error { return &forbiddenError{Message: message} }

func (e *forbiddenError) Error() string { return e.Message }

// ClientMessage is the message the default writers send.
func (e *forbiddenError) ClientMessage() string { return e.Message }

func (e *forbiddenError) Is(target error) bool { return target == ErrForbidden }

// ThrottledError is a 429 carrying how long the client should wait.
type ThrottledError struct {
	RetryAfter time.Duration

	tokenRate bool // the user's token rate, not failed logins
}

// Error says what was refused and how long to wait.
func (e *ThrottledError) Error() string {
	if e.tokenRate {
		return "httpauth: too many tokens requested; retry after " + e.RetryAfter.String()
	}
	return "httpauth: too many failed attempts; retry after " + e.RetryAfter.String()
}
