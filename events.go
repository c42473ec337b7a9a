package httpauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// Reason says why an authentication attempt ended as it did. It is the
// "reason" attribute of the auth.success and auth.failure log lines and
// Event.Reason, so metrics can count outcomes without parsing logs.

// Success reasons.
const (
	reasonPassword       = "password"                // a login and password verified
	reasonToken          = "token"                   // an access token verified
	reasonAPIKey         = "api_key"                 // an API key verified
	reasonTokenRevokedBy = "token_revoked_by_owner"  // RevokeHandler revoked the request's token
	reasonTokensCutOffBy = "tokens_cut_off_by_owner" // RevokeHandler, past the rate, moved the cutoff
)

// reasonAnonymous is neither: an Optional route let a request without
// credentials through.
const reasonAnonymous = "anonymous"

// Failure reasons.
const (
	reasonNoCredentials        = "no_credentials"
	reasonAmbiguousCredentials = "ambiguous_credentials"
	reasonMalformedCredentials = "malformed_credentials"
	reasonTokenCannotMintToken = "token_cannot_mint_token" // a token or API key at TokenHandler
	reasonTokenWithPassword    = "token_with_password"
	reasonTooLong              = "too_long"
	reasonBadCredentials       = "bad_credentials" // unknown login, wrong password or untrusted hash: one reason, on purpose
	reasonDisabled             = "disabled"
	reasonThrottled            = "throttled" // a 429: the login or client is over its Limiter budget
	reasonAccountCheck         = "account_check"
	reasonTokenExpired         = "token_expired"
	reasonTokenInvalid         = "token_invalid"
	reasonTokenRevoked         = "token_revoked"
	reasonTokenUnknownUser     = "token_unknown_user"
	reasonTokenUserCutoff      = "token_user_disabled_or_cutoff"
	reasonTokenDeletedUser     = "token_minted_for_deleted_user"
	reasonAccountChanged       = "account_changed_during_login"
	reasonTokenRateExceeded    = "token_rate_exceeded"
	reasonInsufficientRole     = "insufficient_role"
	reasonAPIKeyMalformed      = "api_key_malformed" // wrong prefix, length or checksum; no store lookup
	reasonAPIKeyUnknown        = "api_key_unknown"   // not in the KeyStore (deleted, or never made)
	reasonAPIKeyExpired        = "api_key_expired"
	reasonAPIKeyUserGone       = "api_key_user_disabled_or_deleted"
	reasonAPIKeyCutoff         = "api_key_before_cutoff" // made before the account's TokensValidAfter
)

// reasonPasswordHashed is not an outcome: its Event reports one password
// hash (HashDuration) for a latency histogram. Count outcomes on the other
// events.
const reasonPasswordHashed = "password_hashed"

// Event is one authentication outcome, given to Config.OnEvent. Events
// with Reason "password_hashed" instead report a password hash's
// duration; the outcome of that attempt follows as its own event.
type Event struct {
	// Request is the request being authenticated. Read it; do not keep it.
	Request *http.Request
	// Success is true for an authenticated request (or a revoked token).
	Success bool
	// Reason says why, as a short stable string that is also the "reason"
	// attribute of the audit log, fit for a metric label.
	//
	// Successes: "password", "token", "api_key",
	// "token_revoked_by_owner" (RevokeHandler revoked the request's token)
	// and "tokens_cut_off_by_owner" (RevokeHandler, past the user's token
	// rate, ended all of the user's tokens instead).
	//
	// Failures: "no_credentials", "ambiguous_credentials",
	// "malformed_credentials", "token_cannot_mint_token",
	// "token_with_password", "too_long", "bad_credentials" (an unknown
	// login, a wrong password and an untrusted stored hash alike, so that
	// no metric or log line tells which logins exist), "disabled", "throttled",
	// "account_check", "token_expired", "token_invalid", "token_revoked",
	// "token_unknown_user", "token_user_disabled_or_cutoff",
	// "token_minted_for_deleted_user", "account_changed_during_login",
	// "token_rate_exceeded", "insufficient_role", "api_key_malformed",
	// "api_key_unknown", "api_key_expired",
	// "api_key_user_disabled_or_deleted" and "api_key_before_cutoff".
	//
	// Neither: "anonymous" (an Optional route let a request without
	// credentials through) and "password_hashed" (see HashDuration).
	Reason string
	// Credential is how the request tried to authenticate; 0 ("none") when
	// the credentials could not be told apart (no or malformed ones).
	Credential Credential
	// transport is where the credentials came from; 0 when none.
	transport transport
	// Who is the login or the account ID, never a secret. It is what the
	// client sent: do not use it as a metric label. Before a password has
	// matched ("bad_credentials", "too_long", "throttled"), the login may be
	// a password typed into the wrong field, so Who is a keyed hash of it
	// instead, "login#" and 16 hex digits, the same for every spelling of a
	// login within one Authenticator.
	Who string
	// HashDuration is set on "password_hashed" events only.
	HashDuration time.Duration
}

// Throttled reports whether the event is a throttled login (a 429).
func (e Event) Throttled() bool { return e.Reason == reasonThrottled }

// methodOf guesses the method from the transport, for the audit calls
// that do not name one: Basic is a password, the rest are tokens.
func methodOf(t transport) Credential {
	switch t {
	case 0:
		return 0
	case transportBasic:
		return PasswordCredential
	}
	return TokenCredential
}

// emit runs Config.OnEvent. A panicking hook is reported and forgotten:
// it must never break the request.
func (a *Authenticator[U]) emit(e Event) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.cfg.Logger.LogAttrs(e.Request.Context(), levelError, "httpauth: OnEvent panicked",
				slog.String("panic", fmt.Sprint(p)))
		}
	}()
	a.cfg.OnEvent(e)
}

// hashed reports a password hash that took d, when a hook is set.
func (a *Authenticator[U]) hashed(r *http.Request, d time.Duration) {
	if a.cfg.OnEvent != nil {
		a.emit(Event{Request: r, Reason: reasonPasswordHashed, Credential: PasswordCredential, transport: transportBasic, HashDuration: d})
	}
}

const (
	levelError = slog.LevelError
	maxLogLen  = 128
)

func errAttr(err error) slog.Attr { return slog.Any("error", err) }

// audit emits one auth.success or auth.failure event. who is a login or a
// user ID, never a secret; it is escaped so CR, LF or ANSI codes in a login
// cannot forge log lines.
func (a *Authenticator[U]) audit(r *http.Request, success bool, who string, reason string, t transport) {
	a.auditMethod(r, success, who, reason, methodOf(t), t)
}

// anonymous reports a request without credentials that an Optional route
// let through: an event for metrics, and no log line, since public routes
// see many.
func (a *Authenticator[U]) anonymous(r *http.Request) {
	if a.cfg.OnEvent != nil {
		a.emit(Event{Request: r, Reason: reasonAnonymous})
	}
}

// auditMethod is audit for a method that the transport does not tell (an
// API key travels like a token). It also emits the Config.OnEvent event.
func (a *Authenticator[U]) auditMethod(r *http.Request, success bool, who string, reason string, m Credential, t transport) {
	if a.cfg.OnEvent != nil {
		a.emit(Event{Request: r, Success: success, Reason: reason, Credential: m, transport: t, Who: who})
	}
	level, msg := slog.LevelWarn, "auth.failure"
	if success {
		level, msg = slog.LevelInfo, "auth.success"
		if t != transportBasic {
			level = slog.LevelDebug // a token request is routine; a login is an event
		}
	}
	ctx := r.Context()
	if !a.cfg.Logger.Enabled(ctx, level) {
		return
	}
	a.cfg.Logger.LogAttrs(ctx, level, msg,
		slog.String("login", escapeLog(who)),
		slog.String("reason", string(reason)),
		slog.String("transport", t.String()),
		slog.String("remote", escapeLog(r.RemoteAddr)),
	)
}

// badCredentials reports a failed password check: an unknown login, a
// wrong password and an untrusted stored hash share one reason, so that
// no event, metric or log line tells which logins exist.
func (a *Authenticator[U]) badCredentials(r *http.Request, login string) {
	a.audit(r, false, a.loginRef(login), reasonBadCredentials, transportBasic)
}

// loginRef is what logs and events show of a login that has not been
// proven: a keyed hash of its canonical form, so that a password typed
// into the login field never reaches a log, while one login's failures
// can still be told apart from another's.
func (a *Authenticator[U]) loginRef(login string) string {
	m := hmac.New(sha256.New, a.logKey[:])
	m.Write([]byte(a.loginThrottleKey(login)))
	var sum [sha256.Size]byte
	return "login#" + hex.EncodeToString(m.Sum(sum[:0])[:8])
}

// escapeLog returns s unchanged when it is short printable UTF-8, and
// otherwise a Go-quoted, truncated form without the quotes.
func escapeLog(s string) string {
	clean := len(s) <= maxLogLen && utf8.ValidString(s)
	if clean {
		for _, r := range s {
			if !unicode.IsPrint(r) || r == '\\' || r == '"' {
				clean = false
				break
			}
		}
	}
	if clean {
		return s
	}
	if len(s) > maxLogLen {
		s = s[:maxLogLen]
	}
	q := strconv.QuoteToGraphic(s)
	return q[1 : len(q)-1]
}

// recoveringHandler drops a record whose handler panics (and treats a
// panicking Enabled as disabled), so that logging can never break a
// request.
type recoveringHandler struct{ h slog.Handler }

func (r recoveringHandler) Enabled(ctx context.Context, l slog.Level) (ok bool) {
	defer func() {
		if p := recover(); p != nil {
			ok = false
		}
	}()
	return r.h.Enabled(ctx, l)
}

func (r recoveringHandler) Handle(ctx context.Context, rec slog.Record) (err error) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			err = fmt.Errorf("httpauth: log handler panicked: %v", p)
		}
	}()
	return r.h.Handle(ctx, rec)
}

func (r recoveringHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return recoveringHandler{r.h.WithAttrs(as)}
}

func (r recoveringHandler) WithGroup(name string) slog.Handler {
	return recoveringHandler{r.h.WithGroup(name)}
}
