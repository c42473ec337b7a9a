package httpauth

import (
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// Reason says why an authentication attempt ended as it did. It is the
// "reason" attribute of the auth.success and auth.failure log lines and
// Event.Reason, so metrics can count outcomes without parsing logs.
type Reason string

// Success reasons.
const (
	ReasonPassword       Reason = "password"               // a login and password verified
	ReasonToken          Reason = "token"                  // an access token verified
	ReasonAPIKey         Reason = "api_key"                // an API key verified
	ReasonTokenRevokedBy Reason = "token_revoked_by_owner" // RevokeHandler revoked the request's token
)

// Failure reasons.
const (
	ReasonNoCredentials        Reason = "no_credentials"
	ReasonAmbiguousCredentials Reason = "ambiguous_credentials"
	ReasonMalformedCredentials Reason = "malformed_credentials"
	ReasonTokenCannotMintToken Reason = "token_cannot_mint_token" // a token or API key at TokenHandler
	ReasonTokenWithPassword    Reason = "token_with_password"
	ReasonTooLong              Reason = "too_long"
	ReasonUnknownLogin         Reason = "unknown_login"
	ReasonUntrustedHash        Reason = "untrusted_hash"
	ReasonWrongPassword        Reason = "wrong_password"
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
)

// ReasonPasswordHashed is not an outcome: its Event reports one password
// hash (HashDuration) for a latency histogram. Count outcomes on the other
// events.
const ReasonPasswordHashed Reason = "password_hashed"

// Event is one authentication outcome, given to Config.OnEvent. Events
// with Reason ReasonPasswordHashed instead report a password hash's
// duration; the outcome of that attempt follows as its own event.
type Event struct {
	// Request is the request being authenticated. Read it; do not keep it.
	Request *http.Request
	// Success is true for an authenticated request (or a revoked token).
	Success bool
	// Reason says why; see the Reason constants.
	Reason Reason
	// Method is how the request tried to authenticate; 0 ("none") when
	// the credentials could not be told apart (no or malformed ones).
	Method Method
	// Transport is where the credentials came from; 0 when none.
	Transport Transport
	// Who is the login or the account ID, never a secret. It is what the
	// client sent: do not use it as a metric label.
	Who string
	// HashDuration is set on ReasonPasswordHashed events only.
	HashDuration time.Duration
}

// Throttled reports whether the event is a throttled login (a 429).
func (e Event) Throttled() bool { return e.Reason == ReasonThrottled }

// methodOf guesses the method from the transport, for the audit calls
// that do not name one: Basic is a password, the rest are tokens.
func methodOf(t Transport) Method {
	switch t {
	case 0:
		return 0
	case TransportBasic:
		return MethodPassword
	}
	return MethodToken
}

// emit runs Config.OnEvent. A panicking hook is reported and forgotten:
// it must never break the request.
func (a *Authenticator[U]) emit(e Event) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			a.logger.LogAttrs(e.Request.Context(), levelError, "httpauth: OnEvent panicked",
				slog.String("panic", fmt.Sprint(p)))
		}
	}()
	a.cfg.OnEvent(e)
}

// hashed reports a password hash that took d, when a hook is set.
func (a *Authenticator[U]) hashed(r *http.Request, d time.Duration) {
	if a.cfg.OnEvent != nil {
		a.emit(Event{Request: r, Reason: ReasonPasswordHashed, Method: MethodPassword, Transport: TransportBasic, HashDuration: d})
	}
}
