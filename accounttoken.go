package httpauth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"time"
	"unicode/utf8"
)

// purpose names what an account token is for. A token of one purpose never
// verifies as another, nor as an access token, and access tokens never
// verify as account tokens: each purpose has its own MAC key, derived from
// the HMACSigner's secrets.
type purpose string

// The account-token purposes.
const (
	// purposeConfirmation proves that the user owns the login (an email
	// address). Default lifetime 48 hours; Confirm consumes it.
	purposeConfirmation purpose = "confirmation"
	// purposePasswordReset lets the user set a new password. Default
	// lifetime 1 hour; ResetPassword consumes it.
	purposePasswordReset purpose = "password-reset"
	// purposeEmailChange carries a new login, as its data, that the user
	// proved to own. Default lifetime 24 hours; ChangeLogin consumes it.
	purposeEmailChange purpose = "email-change"
)

// maxAccountTokenData caps the data an account token carries, in bytes.
const maxAccountTokenData = 256

// Account token layout, the access token's shape with its own version:
//
//	kid "." base64url(payload) "." base64url(tag1[:16] | tag2[:16])
//	payload: version(1) | purpose(1) | iat ns(8) | exp ns(8) | len(1) | subject | data
//
// tag1 authenticates the text before the second dot, so the payload is
// read only once it is genuine; tag2 binds tag1 to the account's current
// state, which the verifier re-reads through the subject.
const (
	acctTokenVersion = 0x81
	acctFixed        = 1 + 1 + 8 + 8 + 1
	acctTagLen       = 16
	acctMaxPayload   = acctFixed + maxSubjectLen + maxAccountTokenData
	acctMaxPayloadB  = (acctMaxPayload*8 + 5) / 6
	acctMaxTokenLen  = maxKeyIDLen + 1 + acctMaxPayloadB + 1 + macB64Len
)

// purposes lists the purposes in their payload order (code = index+1).
var purposes = [...]purpose{purposeConfirmation, purposePasswordReset, purposeEmailChange}

func purposeCode(p purpose) int {
	for i, q := range purposes {
		if q == p {
			return i + 1
		}
	}
	return 0
}

// lifecycle holds what New derives for account tokens and API keys.
type lifecycle struct {
	keys     []acctKey   // keys[0] signs; nil when Config.Signer is not an *HMACSigner
	touch    *keyToucher // nil without Config.APIKeys
	keyLocks stripedLocks
}

type acctKey struct {
	id  string
	mac [len(purposes) + 1][]byte // per purpose code
}

// deriveAccountKeys derives a MAC key per purpose from every key of the
// ring. The label differs from deriveKey's, so no access token can ever
// share a key with an account token.
func deriveAccountKeys(keys []SigningKey) []acctKey {
	var out []acctKey
	for _, k := range keys {
		ak := acctKey{id: k.ID}
		for i, p := range purposes {
			m := hmac.New(sha256.New, k.Secret)
			m.Write([]byte("httpauth-account-token-v1\x00"))
			m.Write([]byte(p))
			ak.mac[i+1] = m.Sum(nil)
		}
		out = append(out, ak)
	}
	return out
}

func newLifecycle[U any](cfg Config[U]) *lifecycle {
	l := &lifecycle{}
	if s, ok := cfg.Signer.(*HMACSigner); ok {
		l.keys = s.accountKeys
	}
	if cfg.APIKeys != nil {
		l.touch = newKeyToucher(cfg.APIKeys, cfg.Logger)
	}
	return l
}

var (
	// The rest are those of tokencodec.go.
	errAcctPurpose = fmt.Errorf("%w: account token of another purpose", ErrTokenInvalid)
	errAcctState   = fmt.Errorf("%w: account token already used, or the account changed", ErrTokenInvalid)
	errAcctNoUser  = fmt.Errorf("%w: account token names no account", ErrTokenInvalid)
	errNoAcctStore = fmt.Errorf("httpauth: Config.Users is not an AccountStore: %w", errors.ErrUnsupported)
)

// ConfirmationToken returns a token that Confirm accepts for account id,
// for a link that proves the user owns the login (an email address). It
// lives 48 hours.
//
// Account tokens are bearer secrets until they expire or are used. Each
// is bound to the account's current state (its Login, Confirmed flag,
// password hash, Disabled flag and TokensValidAfter): once any of them
// changes, it no longer verifies, so it works once and needs no table. A missing
// account is an error wrapping ErrUserNotFound. They need Config.Signer to
// be an *HMACSigner, whose secrets they are derived from (under another
// label, so they never pass for access tokens), and a UserStore that is
// an AccountStore.
func (a *Authenticator[U]) ConfirmationToken(ctx context.Context, id string) (string, error) {
	return a.accountToken(ctx, purposeConfirmation, id, "")
}

// PasswordResetToken returns a token that ResetPassword accepts for
// account id, for a "forgot password" link. It lives 1 hour. See
// ConfirmationToken.
func (a *Authenticator[U]) PasswordResetToken(ctx context.Context, id string) (string, error) {
	return a.accountToken(ctx, purposePasswordReset, id, "")
}

// EmailChangeToken returns a token that ChangeLogin accepts to move account
// id to newLogin (at most 256 bytes), for a link sent to the new address.
// It lives 24 hours. See ConfirmationToken.
func (a *Authenticator[U]) EmailChangeToken(ctx context.Context, id, newLogin string) (string, error) {
	return a.accountToken(ctx, purposeEmailChange, id, newLogin)
}

// accountToken returns a token for purpose that names account id and
// carries data (at most maxAccountTokenData bytes).
func (a *Authenticator[U]) accountToken(ctx context.Context, purpose purpose, id, data string) (string, error) {
	return a.accountTokenAt(ctx, purpose, id, data, time.Now())
}

// accountTokenAt is accountToken issued at iat; tests mint future tokens
// with it, which a synctest bubble's clock cannot.
func (a *Authenticator[U]) accountTokenAt(ctx context.Context, purpose purpose, id, data string, iat time.Time) (string, error) {
	code := purposeCode(purpose)
	switch {
	case code == 0:
		return "", fmt.Errorf("httpauth: unknown account token purpose %q", purpose)
	case len(a.life.keys) == 0:
		return "", errors.New("httpauth: account tokens need Config.Signer to be an *HMACSigner")
	case id == "" || len(id) > maxSubjectLen || !utf8.ValidString(id):
		return "", fmt.Errorf("httpauth: account ID must be 1 to %d bytes of UTF-8", maxSubjectLen)
	case len(data) > maxAccountTokenData:
		return "", fmt.Errorf("httpauth: account token data is longer than %d bytes", maxAccountTokenData)
	case purpose == purposeEmailChange && data == "":
		return "", errors.New("httpauth: an email change token needs the new login as its data")
	}
	acct, err := a.cfg.Users.UserByID(ctx, id)
	if err != nil {
		return "", err
	}
	payload := make([]byte, acctFixed, acctFixed+len(id)+len(data))
	payload[0] = acctTokenVersion
	payload[1] = byte(code)
	binary.BigEndian.PutUint64(payload[2:], uint64(iat.UnixNano()))
	binary.BigEndian.PutUint64(payload[10:], uint64(iat.Add(a.opt.accountTTL[code]).UnixNano()))
	payload[18] = byte(len(id))
	payload = append(append(payload, id...), data...)

	k := a.life.keys[0]
	signed := k.id + "." + tokenB64.EncodeToString(payload)
	m := hmac.New(sha256.New, k.mac[code])
	tags := a.acctTags(m, signed, acct)
	return signed + "." + tokenB64.EncodeToString(tags), nil
}

// acctTags returns tag1 | tag2 for the signed text and the account.
func (a *Authenticator[U]) acctTags(m hash.Hash, signed string, acct *Account[U]) []byte {
	m.Write([]byte{1})
	m.Write([]byte(signed))
	tag1 := m.Sum(nil)[:acctTagLen]
	m.Reset()
	m.Write([]byte{2})
	m.Write(tag1)
	a.writeState(m, acct)
	return append(tag1, m.Sum(nil)[:acctTagLen]...)
}

// writeState feeds the account state a token is bound to into m, each
// field length-prefixed so no two states write the same bytes.
func (a *Authenticator[U]) writeState(m hash.Hash, acct *Account[U]) {
	field := func(b []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		m.Write(n[:])
		m.Write(b)
	}
	field([]byte(acct.ID))
	field([]byte(acct.Login))
	field([]byte(acct.PasswordHash))
	var cutoff [10]byte
	if !acct.TokensValidAfter.IsZero() {
		// Microseconds: what SQL stores keep, so a round trip changes nothing.
		binary.BigEndian.PutUint64(cutoff[:], uint64(acct.TokensValidAfter.Truncate(time.Microsecond).UnixNano()))
	}
	if acct.Disabled {
		cutoff[8] = 1
	}
	if acct.Confirmed {
		cutoff[9] = 1
	}
	field(cutoff[:])
}

// verifyAccountToken checks a token of purpose and returns the account it
// names, as it is now, and the data it carries. It checks the length
// before decoding, the first MAC before reading the payload, the purpose
// and the expiry, then reads the account ([UserStore.UserByID]) and checks
// that its state is still the one the token was bound to.
//
// The error wraps [ErrTokenInvalid] (malformed, forged, another purpose,
// issued in the future, already used or outdated, a disabled or missing
// account) or [ErrTokenExpired]; any other error is a store failure.
// [Authenticator.Confirm], [Authenticator.ResetPassword] and
// [Authenticator.ChangeLogin] call it, and then write.
func (a *Authenticator[U]) verifyAccountToken(ctx context.Context, purpose purpose, token string) (*Account[U], string, error) {
	code := purposeCode(purpose)
	if code == 0 {
		return nil, "", fmt.Errorf("httpauth: unknown account token purpose %q", purpose)
	}
	kid, payloadB64, tagB64, ok := splitToken(token, acctMaxTokenLen, acctMaxPayloadB)
	if !ok {
		return nil, "", errMalformed
	}
	var k *acctKey
	for i := range a.life.keys {
		if a.life.keys[i].id == kid {
			k = &a.life.keys[i]
		}
	}
	if k == nil {
		return nil, "", errUnknownKey
	}
	tags, err := tokenB64.DecodeString(tagB64)
	if err != nil || len(tags) != 2*acctTagLen {
		return nil, "", errMalformed
	}
	signed := token[:len(kid)+1+len(payloadB64)]
	m := hmac.New(sha256.New, k.mac[code])
	m.Write([]byte{1})
	m.Write([]byte(signed))
	if !hmac.Equal(m.Sum(nil)[:acctTagLen], tags[:acctTagLen]) {
		return nil, "", errBadMAC // also every token of another purpose
	}

	// Genuine from here on; decode strictly all the same.
	p, err := tokenB64.DecodeString(payloadB64)
	if err != nil || len(p) < acctFixed || p[0] != acctTokenVersion {
		return nil, "", errMalformed
	}
	if int(p[1]) != code {
		return nil, "", errAcctPurpose // unreachable: the keys differ
	}
	iat := int64(binary.BigEndian.Uint64(p[2:]))
	exp := int64(binary.BigEndian.Uint64(p[10:]))
	n := int(p[18])
	if iat <= 0 || exp <= iat || n == 0 || len(p) < acctFixed+n || !utf8.Valid(p[acctFixed:acctFixed+n]) {
		return nil, "", errMalformed
	}
	now := time.Now().UnixNano()
	if iat > now {
		return nil, "", errFuture
	}
	if now >= exp {
		return nil, "", errExpired
	}
	subject, data := string(p[acctFixed:acctFixed+n]), string(p[acctFixed+n:])
	acct, err := a.cfg.Users.UserByID(ctx, subject)
	if err != nil {
		if isNotFound(err) {
			return nil, "", errAcctNoUser
		}
		return nil, "", err
	}
	m.Reset()
	m.Write([]byte{2})
	m.Write(tags[:acctTagLen])
	a.writeState(m, acct)
	if !hmac.Equal(m.Sum(nil)[:acctTagLen], tags[acctTagLen:]) {
		return nil, "", errAcctState
	}
	if acct.Disabled {
		return nil, "", errAcctState // never reached: Disabled is bound
	}
	return acct, data, nil
}

func (a *Authenticator[U]) accountStore() (AccountStore[U], error) {
	s, ok := a.cfg.Users.(AccountStore[U])
	if !ok {
		return nil, errNoAcctStore
	}
	return s, nil
}

// Confirm verifies a token from [Authenticator.ConfirmationToken] and
// marks its account confirmed through the store's
// [AccountStore.MarkConfirmed]; the token dies with it. It returns the
// account as it was before.
//
// An invalid token is an error wrapping [ErrTokenInvalid] (malformed,
// forged, made for another purpose, already used, or its account changed,
// disabled or gone) and an expired one an error wrapping
// [ErrTokenExpired]; both are the client's fault. Any other error is a
// store failure, or wraps [errors.ErrUnsupported] when [Config.Users] is
// not an [AccountStore].
func (a *Authenticator[U]) Confirm(ctx context.Context, token string) (*Account[U], error) {
	s, err := a.accountStore()
	if err != nil {
		return nil, err
	}
	acct, _, err := a.verifyAccountToken(ctx, purposeConfirmation, token)
	if err != nil {
		return nil, err
	}
	return acct, s.MarkConfirmed(ctx, acct.ID)
}

// ResetPassword verifies a token from [Authenticator.PasswordResetToken],
// then hashes password with [Config.Hasher] and stores it through
// [AccountStore.SwapPasswordHash], which also ends every token and API key
// issued before (access tokens included) and this reset token. Apply your
// password policy first. The write is a compare-and-set on the hash the
// token was bound to, so of two requests racing with one token, one sets
// the password and the other gets the error of a used token.
//
// Errors, checked in this order:
//   - an invalid token wraps [ErrTokenInvalid]: malformed, forged, made for
//     another purpose, already used (the password changed since it was
//     made, including by a racing reset), or its account changed, disabled
//     or gone;
//   - an expired token wraps [ErrTokenExpired];
//   - an empty password, or one longer than 1024 bytes, wraps
//     [ErrBadRequest] (the token stays valid);
//   - anything else is a failure of the store or the hasher, or of ctx, or
//     wraps [errors.ErrUnsupported] when [Config.Users] is not an
//     [AccountStore].
//
// The first three are the client's fault; answer them with a 400 (or ask
// for a new link), and the others with a 500.
func (a *Authenticator[U]) ResetPassword(ctx context.Context, token, password string) (*Account[U], error) {
	s, err := a.accountStore()
	if err != nil {
		return nil, err
	}
	acct, _, err := a.verifyAccountToken(ctx, purposePasswordReset, token)
	if err != nil {
		return nil, err
	}
	switch {
	case password == "":
		return nil, fmt.Errorf("%w: empty password", ErrBadRequest)
	case len(password) > maxPasswordLen:
		return nil, errPasswordTooLong
	}
	h, err := a.hashWithSlot(ctx, password)
	if err != nil {
		return nil, err
	}
	swapped, err := s.SwapPasswordHash(ctx, acct.ID, acct.PasswordHash, h)
	switch {
	case err != nil:
		return nil, err
	case !swapped:
		return nil, errAcctState
	}
	return acct, nil
}

// hashWithSlot hashes a new password within the hash-slot bound, like a
// login's hash.
func (a *Authenticator[U]) hashWithSlot(ctx context.Context, password string) (string, error) {
	release, err := a.acquireHashSlot(ctx)
	if err != nil {
		return "", err
	}
	defer release() // even if the hasher panics
	return a.cfg.Hasher.Hash(ctx, password)
}

// ChangeLogin verifies a token from [Authenticator.EmailChangeToken] and
// moves its account to the login the token carries
// ([AccountStore.SetLogin]); the token dies with the old login. It returns
// the account as it was before.
//
// Errors:
//   - an invalid token wraps [ErrTokenInvalid]: malformed, forged, made for
//     another purpose, without a login, already used (the login changed
//     since it was made), or its account changed, disabled or gone;
//   - an expired token wraps [ErrTokenExpired];
//   - a login taken meanwhile wraps [ErrAccountExists];
//   - anything else is a store failure, or wraps [errors.ErrUnsupported]
//     when [Config.Users] is not an [AccountStore].
func (a *Authenticator[U]) ChangeLogin(ctx context.Context, token string) (*Account[U], error) {
	s, err := a.accountStore()
	if err != nil {
		return nil, err
	}
	acct, login, err := a.verifyAccountToken(ctx, purposeEmailChange, token)
	if err != nil {
		return nil, err
	}
	if login == "" {
		return nil, fmt.Errorf("%w: email change token without a login", ErrTokenInvalid)
	}
	return acct, s.SetLogin(ctx, acct.ID, login)
}
