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

// Reason says why an authentication attempt ended as it did: Event.Reason,
// and the "reason" attribute of the auth.success and auth.failure log
// lines, fit for a metric label. An unknown login and a wrong password
// share one reason, ReasonBadCredentials, so that no event, metric or log
// line tells which logins exist.
type Reason string

// The reasons. Successes: ReasonPassword, ReasonPasswordAndTOTP,
// ReasonPasswordAndRecoveryCode, ReasonToken, ReasonAPIKey,
// ReasonTokenRevokedBy and ReasonTokensCutOffBy. ReasonAnonymous and
// ReasonPasswordHashed are neither; every other reason is a failure.
const (
	ReasonPassword       Reason = "password"                // a login and password verified
	ReasonToken          Reason = "token"                   // an access token verified
	ReasonAPIKey         Reason = "api_key"                 // an API key verified
	ReasonTokenRevokedBy Reason = "token_revoked_by_owner"  // RevokeHandler revoked the request's token
	ReasonTokensCutOffBy Reason = "tokens_cut_off_by_owner" // RevokeHandler, past its bound, moved the user's cutoff

	// Second factor (secondfactor.go). A wrong or replayed code is
	// ReasonBadCredentials, like a wrong password, on purpose.
	ReasonPasswordAndTOTP         Reason = "password_and_totp"          // a password and a TOTP code in X-OTP verified
	ReasonPasswordAndRecoveryCode Reason = "password_and_recovery_code" // a password and an unused recovery code verified
	ReasonSecondFactorRequired    Reason = "second_factor_required"     // the right password, no X-OTP code: a 401 with X-OTP: required

	ReasonAnonymous Reason = "anonymous" // an Optional route let a request without credentials through
	// ReasonPasswordHashed is not an outcome: its Event reports one
	// password hash (HashDuration) for a latency histogram; the outcome of
	// that attempt follows as its own event.
	ReasonPasswordHashed Reason = "password_hashed"

	ReasonNoCredentials        Reason = "no_credentials"
	ReasonAmbiguousCredentials Reason = "ambiguous_credentials" // two Authorization lines, or two kinds of credentials
	ReasonMalformedCredentials Reason = "malformed_credentials"
	ReasonTokenCannotMintToken Reason = "token_cannot_mint_token" // a token or API key at TokenHandler
	ReasonTokenWithPassword    Reason = "token_with_password"     // a token or key as a Basic login, with a password
	ReasonTooLong              Reason = "too_long"
	ReasonBadCredentials       Reason = "bad_credentials" // unknown login, wrong password or untrusted hash: one reason, on purpose
	ReasonDisabled             Reason = "disabled"
	ReasonThrottled            Reason = "throttled" // a 429: the login or client is over its Limiter budget
	ReasonAccountCheck         Reason = "account_check"
	ReasonTokenExpired         Reason = "token_expired"
	ReasonTokenInvalid         Reason = "token_invalid"
	ReasonTokenRevoked         Reason = "token_revoked"
	ReasonTokenUnknownUser     Reason = "token_unknown_user"
	ReasonTokenUserCutoff      Reason = "token_user_disabled_or_cutoff"
	ReasonTokenDeletedUser     Reason = "token_minted_for_deleted_user"
	ReasonAccountChanged       Reason = "account_changed_during_login"
	ReasonTokenRateExceeded    Reason = "token_rate_exceeded"
	ReasonInsufficientRole     Reason = "insufficient_role"
	ReasonAPIKeyMalformed      Reason = "api_key_malformed" // wrong prefix, length or checksum; no store lookup
	ReasonAPIKeyUnknown        Reason = "api_key_unknown"   // not in the KeyStore (deleted, or never made)
	ReasonAPIKeyExpired        Reason = "api_key_expired"
	ReasonAPIKeyUserGone       Reason = "api_key_user_disabled_or_deleted"
	ReasonAPIKeyCutoff         Reason = "api_key_before_cutoff" // made before the account's TokensValidAfter
)

// Event is one authentication outcome, given to Config.OnEvent. Events
// with Reason "password_hashed" instead report a password hash's
// duration; the outcome of that attempt follows as its own event.
type Event struct {
	// Request is the request being authenticated. Read it; do not keep it.
	Request *http.Request
	// Success is true for an authenticated request (or a revoked token).
	Success bool
	// Reason says why (see the Reason constants).
	Reason Reason
	// Credential is how the request tried to authenticate; 0 ("none") when
	// the credentials could not be told apart (no or malformed ones).
	Credential Credential
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

// credentialOf guesses the credential from the transport, for the audit calls
// that do not name one: Basic is a password, the rest are tokens.
func credentialOf(t transport) Credential {
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
		a.emit(Event{Request: r, Reason: ReasonPasswordHashed, Credential: PasswordCredential, HashDuration: d})
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
func (a *Authenticator[U]) audit(r *http.Request, success bool, who string, reason Reason, t transport) {
	a.auditCredential(r, success, who, reason, credentialOf(t), t)
}

// anonymous reports a request without credentials that an Optional route
// let through: an event for metrics, and no log line, since public routes
// see many.
func (a *Authenticator[U]) anonymous(r *http.Request) {
	if a.cfg.OnEvent != nil {
		a.emit(Event{Request: r, Reason: ReasonAnonymous})
	}
}

// auditCredential is audit for a credential that the transport does not tell (an
// API key travels like a token). It also emits the Config.OnEvent event.
func (a *Authenticator[U]) auditCredential(r *http.Request, success bool, who string, reason Reason, m Credential, t transport) {
	if a.cfg.OnEvent != nil {
		a.emit(Event{Request: r, Success: success, Reason: reason, Credential: m, Who: who})
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
	attrs := [5]slog.Attr{
		slog.String("login", escapeLog(who)),
		slog.String("reason", string(reason)),
		slog.String("transport", t.String()),
		slog.String("remote", escapeLog(r.RemoteAddr)),
	}
	n := 4
	if len(a.cfg.Throttle.TrustedProxies) > 0 {
		// Behind a trusted proxy the peer is the proxy: name the client
		// the limits count, by the same rule (clientip.go).
		attrs[n] = slog.String("client", escapeLog(a.clientIP(r)))
		n++
	}
	a.cfg.Logger.LogAttrs(ctx, level, msg, attrs[:n]...)
}

// badCredentials reports a failed password check: an unknown login, a
// wrong password and an untrusted stored hash share one reason, so that
// no event, metric or log line tells which logins exist.
func (a *Authenticator[U]) badCredentials(r *http.Request, login string) {
	a.audit(r, false, a.loginRef(login), ReasonBadCredentials, transportBasic)
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
