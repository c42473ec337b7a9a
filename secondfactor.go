package httpauth

// The second factor: TOTP (totp.go) and recovery codes (recoverycodes.go)
// for accounts that turn it on, kept by a UserStore that is also a
// SecondFactorStore.
//
// Where it applies: once an account has it on, a password alone
// authenticates nothing. Basic with the right password and no X-OTP
// request header is a 401 with "X-OTP: required"; with a valid code (or
// an unused recovery code) in X-OTP, the request authenticates, and
// TokenHandler mints a token for it. Each code works once per account.
// Tokens and API keys are not affected: the ones minted before keep
// working, and so do the ones minted after.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"
)

// SecondFactorStore is an optional interface for a UserStore: it keeps
// each account's second factor, which StartTOTP, ConfirmTOTP,
// DisableTOTP and RegenerateRecoveryCodes manage and every password login
// checks. MemoryUserStore and sqlstore implement it;
// [httpauthtest.TestSecondFactorStore] is its conformance suite.
// Implementations must be safe for concurrent use, and several instances sharing one store must
// see each other's writes at once: the compare-and-set methods below are
// what make a code single-use across instances.
//
// Secrets reach the store sealed (encrypted and bound to the account):
// the store keeps the strings it is given, verbatim, and never reads
// them. Recovery codes reach it as hashes (64 hex characters).
//
// Contract for every method: a missing account is an error for which
// errors.Is(err, ErrUserNotFound) holds; any other error is a store
// failure (a 500, and the login fails closed). A write is visible to the
// next SecondFactor, on every instance.
type SecondFactorStore interface {
	// SecondFactor returns account id's state: secret is its sealed TOTP
	// secret, "" while the factor is off; pending is the sealed secret of
	// an enrolment not yet confirmed, or ""; lastStep is the last TOTP
	// step accepted (0 if none).
	SecondFactor(ctx context.Context, id string) (secret, pending string, lastStep int64, err error)

	// SetPendingTOTP stores sealed as account id's pending secret,
	// replacing any other. Nothing else changes: an account with the
	// factor on keeps its secret and its recovery codes.
	SetPendingTOTP(ctx context.Context, id, sealed string) error

	// EnableTOTP turns the factor on, if account id's pending secret is
	// still pending (a compare-and-set: a concurrent SetPendingTOTP wins,
	// and then it returns false and changes nothing). The pending secret
	// becomes the secret, pending is cleared, lastStep becomes step, and
	// the recovery codes become exactly recoveryHashes.
	EnableTOTP(ctx context.Context, id, pending string, step int64, recoveryHashes []string) (enabled bool, err error)

	// DisableTOTP turns the factor off: the secret, the pending secret,
	// the last step and the recovery codes are all cleared. Disabling a
	// factor that is off is not an error.
	DisableTOTP(ctx context.Context, id string) error

	// AcceptTOTPStep records step as account id's last accepted step, but
	// only if it is greater than the one stored, in one atomic write (a
	// compare-and-set, such as UPDATE … WHERE last_step < step): of two
	// instances accepting the same code, exactly one gets true.
	AcceptTOTPStep(ctx context.Context, id string, step int64) (accepted bool, err error)

	// ResealTOTP replaces account id's secret with sealed, but only if it
	// is still old (a compare-and-set; otherwise it changes nothing and
	// returns nil). The authenticator calls it after a signing-key
	// rotation, to seal the secret under the new key.
	ResealTOTP(ctx context.Context, id, old, sealed string) error

	// UseRecoveryCode removes hash from account id's recovery codes and
	// reports whether it was there, in one atomic write (DELETE … WHERE
	// hash = …): of two requests with one code, exactly one gets true.
	UseRecoveryCode(ctx context.Context, id, hash string) (used bool, err error)

	// SetRecoveryCodes replaces all of account id's recovery codes with
	// hashes.
	SetRecoveryCodes(ctx context.Context, id string, hashes []string) error
}

// otpHeader is the request header that carries a one-time code, and the
// response header whose value "required" asks for one.
const otpHeader = "X-Otp"

// Errors of the second factor's methods.
var (
	errNoSecondFactorStore = fmt.Errorf("httpauth: Config.Users is not a SecondFactorStore: %w", errors.ErrUnsupported)
	errInvalidCode         = fmt.Errorf("%w: invalid code", ErrBadRequest)
	errNoPendingTOTP       = fmt.Errorf("%w: no second factor is being set up (StartTOTP first)", ErrBadRequest)
	errTOTPAlreadyOn       = fmt.Errorf("%w: the second factor is already on (turn it off first)", ErrBadRequest)
	errTOTPOff             = fmt.Errorf("%w: the second factor is off", ErrBadRequest)
	errAPIKeyNoSecondFctr  = &forbiddenError{Message: "API keys cannot manage the second factor"}
	// errFreshCodeRequired is what a change that needs the password and a
	// fresh code returns for a request that did not send both.
	errFreshCodeRequired = fmt.Errorf("%w: the password and a fresh second-factor code (X-OTP) are required", ErrUnauthorized)
	errOTPRequired401    = fmt.Errorf("%w: a second-factor code (X-OTP) is required", ErrUnauthorized)
)

// failOTPRequired is the 401 of a right password without a code.
var failOTPRequired = &failure{status: http.StatusUnauthorized, err: errOTPRequired401, otpRequired: true}

// secondFactorStore returns the store and the sealing keys, or why the
// second factor is not available.
func (a *Authenticator[U]) secondFactorStore() (SecondFactorStore, []totpKey, error) {
	sf, ok := a.cfg.Users.(SecondFactorStore)
	if !ok {
		return nil, nil, errNoSecondFactorStore
	}
	s, ok := a.cfg.Signer.(*HMACSigner)
	if !ok || len(s.totpKeys) == 0 {
		return nil, nil, errNoTOTPKeys
	}
	return sf, s.totpKeys, nil
}

// checkSecondFactor runs, in finishPassword, for an account whose
// password matched. An account with the factor on needs a valid X-OTP
// code, which is spent; ac's identity then records it. A failed code
// looks exactly like a wrong password (the same 401, body, headers and
// event) so that no answer tells which of the two was wrong; only a
// missing code, after the right password, is "X-OTP: required".
func (a *Authenticator[U]) checkSecondFactor(at *passwordAttempt, ac *authContext[U]) (f *failure) {
	sf, ok := a.cfg.Users.(SecondFactorStore)
	if !ok {
		return nil
	}
	r, login := at.r, at.login
	defer recoverFailure(&f)
	ctx, id := r.Context(), ac.acct.ID
	secret, _, last, err := sf.SecondFactor(ctx, id)
	switch {
	case isNotFound(err):
		a.badCredentials(r, login) // deleted since the password check
		return failUnauthorized
	case err != nil:
		return internalFailure(err)
	case secret == "":
		return nil // the factor is off: X-OTP, if any, is ignored
	}
	vals := r.Header[otpHeader]
	if len(vals) == 0 {
		a.audit(r, false, login, ReasonSecondFactorRequired, transportBasic)
		return failOTPRequired
	}
	kind, digits, recovery := otpInvalid, [totpDigits]byte{}, ""
	if len(vals) == 1 {
		kind, digits, recovery = parseOTP(vals[0])
	}
	if kind == otpInvalid {
		return a.badCode(r, login, "malformed")
	}
	// Reserved before the check, like a password guess, on its own key.
	if a.cfg.Throttle.Logins != nil {
		if f := a.throttleVerdict(at, a.cfg.Throttle.Logins.Reserve, otpThrottleKey(id)); f != nil {
			return f
		}
	}
	if kind == otpRecovery {
		used, err := sf.UseRecoveryCode(ctx, id, hashRecoveryCode(id, recovery))
		switch {
		case err != nil && !isNotFound(err):
			return internalFailure(err)
		case err != nil || !used:
			return a.badCode(r, login, "recovery code unknown or used")
		}
		ac.details.secondFactor = ReasonPasswordAndRecoveryCode
		return a.codeAccepted(r, id)
	}
	_, keys, err := a.secondFactorStore()
	if err != nil {
		return internalFailure(err)
	}
	raw, primary, err := openTOTP(keys, id, secret)
	if err != nil {
		return internalFailure(err) // fail closed: a secret that does not open is no pass
	}
	step, ok := matchTOTP(raw, digits, time.Now(), last)
	if !ok {
		return a.badCode(r, login, "wrong or replayed code")
	}
	accepted, err := sf.AcceptTOTPStep(ctx, id, step)
	switch {
	case err != nil && !isNotFound(err):
		return internalFailure(err)
	case err != nil || !accepted:
		return a.badCode(r, login, "code already used")
	}
	if !primary {
		if err := sf.ResealTOTP(ctx, id, secret, sealTOTP(keys, id, raw)); err != nil {
			a.reportError(r, err) // the login stands; the next one tries again
		}
	}
	ac.details.secondFactor = ReasonPasswordAndTOTP
	return a.codeAccepted(r, id)
}

// codeAccepted resets the account's code budget after a valid code.
func (a *Authenticator[U]) codeAccepted(r *http.Request, id string) *failure {
	if a.cfg.Throttle.Logins != nil {
		if err := a.cfg.Throttle.Logins.Reset(r.Context(), otpThrottleKey(id)); err != nil {
			return internalFailure(err)
		}
	}
	return nil
}

// badCode answers a wrong, replayed or malformed code as a wrong password
// is answered: the same 401 and the same event, with the login as a keyed
// hash. Only a Debug log line says what was wrong with the code.
func (a *Authenticator[U]) badCode(r *http.Request, login, detail string) *failure {
	a.badCredentials(r, login)
	if ctx := r.Context(); a.cfg.Logger.Enabled(ctx, slog.LevelDebug) {
		a.cfg.Logger.LogAttrs(ctx, slog.LevelDebug, "auth.second_factor",
			slog.String("login", a.loginRef(login)), slog.String("detail", detail))
	}
	return failUnauthorized
}

// otpThrottleKey is the Throttle.Logins key that counts an account's code
// guesses, apart from its password guesses.
func otpThrottleKey(id string) string { return "otp:" + id }

// passwordReason is the reason of a successful password login: whether a
// second factor came with it.
func passwordReason[U any](ac *authContext[U]) Reason {
	if ac.details.secondFactor != "" {
		return ac.details.secondFactor
	}
	return ReasonPassword
}

// manageable refuses API keys, which may not manage the second factor,
// and returns the store and keys.
func (a *Authenticator[U]) manageable(id *Identity[U]) (SecondFactorStore, []totpKey, error) {
	if id == nil || id.Account == nil {
		return nil, nil, errors.New("httpauth: no identity")
	}
	if id.Credential == APIKeyCredential {
		return nil, nil, errAPIKeyNoSecondFctr
	}
	return a.secondFactorStore()
}

// StartTOTP begins turning on the second factor for id's account (step
// one of two): it makes a new 160-bit secret, stores it sealed as the
// account's pending secret (replacing any earlier pending one), and
// returns it in base32 and as an otpauth://totp/ISSUER:LOGIN URI (the Key
// URI Format, Config.Realm as the issuer) for an authenticator app, which
// reads it from a QR code. Nothing changes for the account until
// ConfirmTOTP. Show the secret to the user only: it is the factor.
//
// id is the request's Identity: a token or a password, never an API key
// (an error wrapping ErrForbidden). An account with the factor already on
// gets an error wrapping ErrBadRequest. The UserStore must be a
// SecondFactorStore and Config.Signer an *HMACSigner, whose keys seal the
// secret; otherwise the error wraps errors.ErrUnsupported.
func (a *Authenticator[U]) StartTOTP(ctx context.Context, id *Identity[U]) (secret, uri string, err error) {
	sf, keys, err := a.manageable(id)
	if err != nil {
		return "", "", err
	}
	acctID := id.Account.ID
	on, _, _, err := sf.SecondFactor(ctx, acctID)
	switch {
	case err != nil:
		return "", "", err
	case on != "":
		return "", "", errTOTPAlreadyOn
	}
	raw := newTOTPSecret()
	if err := sf.SetPendingTOTP(ctx, acctID, sealTOTP(keys, acctID, raw)); err != nil {
		return "", "", err
	}
	return totpB32.EncodeToString(raw), totpURI(a.cfg.Realm, id.Account.Login, raw), nil
}

// PendingTOTP returns the otpauth:// URI of id's pending secret (see
// StartTOTP), for drawing it as a QR code, or "" when no enrolment is
// pending. Errors are StartTOTP's.
func (a *Authenticator[U]) PendingTOTP(ctx context.Context, id *Identity[U]) (uri string, err error) {
	sf, keys, err := a.manageable(id)
	if err != nil {
		return "", err
	}
	_, pending, _, err := sf.SecondFactor(ctx, id.Account.ID)
	if err != nil || pending == "" {
		return "", err
	}
	raw, _, err := openTOTP(keys, id.Account.ID, pending)
	if err != nil {
		return "", err
	}
	return totpURI(a.cfg.Realm, id.Account.Login, raw), nil
}

// ConfirmTOTP ends the enrolment StartTOTP began (step two): if code is
// valid for the pending secret, the factor is on, that code is spent,
// and the ten recovery codes are returned, to be shown once (the store
// keeps only their hashes). A wrong code is an error wrapping
// ErrBadRequest and leaves the factor off; so does a missing enrolment.
// Code guesses count against Throttle.Logins per account, as at login
// (an error matching *ThrottledError past the limit). Errors otherwise
// are StartTOTP's.
func (a *Authenticator[U]) ConfirmTOTP(ctx context.Context, id *Identity[U], code string) (recoveryCodes []string, err error) {
	sf, keys, err := a.manageable(id)
	if err != nil {
		return nil, err
	}
	acctID := id.Account.ID
	on, pending, last, err := sf.SecondFactor(ctx, acctID)
	switch {
	case err != nil:
		return nil, err
	case on != "":
		return nil, errTOTPAlreadyOn
	case pending == "":
		return nil, errNoPendingTOTP
	}
	kind, digits, _ := parseOTP(code)
	if kind != otpTOTP {
		return nil, errInvalidCode
	}
	if err := a.reserveCode(ctx, acctID); err != nil {
		return nil, err
	}
	raw, _, err := openTOTP(keys, acctID, pending)
	if err != nil {
		return nil, err
	}
	step, ok := matchTOTP(raw, digits, time.Now(), last)
	if !ok {
		return nil, errInvalidCode
	}
	codes, hashes := newRecoveryCodes(acctID, recoveryCodeCount)
	enabled, err := sf.EnableTOTP(ctx, acctID, pending, step, hashes)
	switch {
	case err != nil:
		return nil, err
	case !enabled:
		return nil, fmt.Errorf("%w: the enrolment was restarted meanwhile", errInvalidCode)
	}
	if a.cfg.Throttle.Logins != nil {
		if err := a.cfg.Throttle.Logins.Reset(ctx, otpThrottleKey(acctID)); err != nil {
			return nil, err
		}
	}
	return codes, nil
}

// reserveCode counts one code guess for account id outside a request.
func (a *Authenticator[U]) reserveCode(ctx context.Context, id string) error {
	if a.cfg.Throttle.Logins == nil {
		return nil
	}
	ok, wait, err := a.cfg.Throttle.Logins.Reserve(ctx, otpThrottleKey(id))
	switch {
	case err != nil:
		return err
	case !ok:
		return &ThrottledError{RetryAfter: wait}
	}
	return nil
}

// CheckFreshSecondFactor reports whether id may make a change that an
// account with the second factor on allows only with the password and a
// fresh code: turning the factor off, regenerating recovery codes,
// changing the password or the login (call it before EmailChangeToken,
// or before storing a new password). It is nil for an account with the
// factor off, and for a request that authenticated with the password and
// a code (or a recovery code) in X-OTP; otherwise an error wrapping
// ErrUnauthorized, which a handler answers with a 401 and
// "X-OTP: required". A store without the second factor is nil too.
func (a *Authenticator[U]) CheckFreshSecondFactor(ctx context.Context, id *Identity[U]) error {
	if id == nil || id.Account == nil {
		return errFreshCodeRequired
	}
	if id.Credential == PasswordCredential && id.secondFactor != "" {
		return nil
	}
	sf, ok := a.cfg.Users.(SecondFactorStore)
	if !ok {
		return nil
	}
	on, _, _, err := sf.SecondFactor(ctx, id.Account.ID)
	switch {
	case err != nil:
		return err
	case on != "":
		return errFreshCodeRequired
	}
	return nil
}

// DisableTOTP turns id's second factor off, with its recovery codes. It
// needs the password and a fresh code in this request (see
// CheckFreshSecondFactor); a factor that is off is an error wrapping
// ErrBadRequest. Afterwards the password alone logs in again.
func (a *Authenticator[U]) DisableTOTP(ctx context.Context, id *Identity[U]) error {
	sf, err := a.freshManageable(ctx, id)
	if err != nil {
		return err
	}
	return sf.DisableTOTP(ctx, id.Account.ID)
}

// RegenerateRecoveryCodes replaces id's recovery codes with ten new ones,
// returned to be shown once; the old ones stop working. It needs the
// password and a fresh code in this request (see CheckFreshSecondFactor);
// a factor that is off is an error wrapping ErrBadRequest.
func (a *Authenticator[U]) RegenerateRecoveryCodes(ctx context.Context, id *Identity[U]) ([]string, error) {
	sf, err := a.freshManageable(ctx, id)
	if err != nil {
		return nil, err
	}
	codes, hashes := newRecoveryCodes(id.Account.ID, recoveryCodeCount)
	if err := sf.SetRecoveryCodes(ctx, id.Account.ID, hashes); err != nil {
		return nil, err
	}
	return codes, nil
}

// freshManageable is manageable for the changes that need the factor on
// and the password and a fresh code.
func (a *Authenticator[U]) freshManageable(ctx context.Context, id *Identity[U]) (SecondFactorStore, error) {
	sf, _, err := a.manageable(id)
	if err != nil {
		return nil, err
	}
	on, _, _, err := sf.SecondFactor(ctx, id.Account.ID)
	switch {
	case err != nil:
		return nil, err
	case on == "":
		return nil, errTOTPOff
	case id.Credential != PasswordCredential || id.secondFactor == "":
		return nil, errFreshCodeRequired
	}
	return sf, nil
}

// SecondFactorEnabled reports whether account accountID has the second
// factor on. A store that is not a SecondFactorStore reports false.
func (a *Authenticator[U]) SecondFactorEnabled(ctx context.Context, accountID string) (bool, error) {
	sf, ok := a.cfg.Users.(SecondFactorStore)
	if !ok {
		return false, nil
	}
	on, _, _, err := sf.SecondFactor(ctx, accountID)
	return on != "", err
}
