package httpauth

// TOTP (RFC 6238 over RFC 4226) with the parameters every authenticator
// app accepts: HMAC-SHA1, 6 digits, 30-second steps, a 160-bit secret,
// and one step of drift each way. The rest of the second factor (the
// store, enrolment, the check at login) is in secondfactor.go; recovery
// codes are in recoverycodes.go.

import (
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

const (
	totpDigits    = 6
	totpPeriod    = 30 // seconds
	totpSecretLen = 20 // bytes: 160 bits, RFC 4226's recommendation
	totpSkew      = 1  // steps accepted each way for clock drift
	totpModulus   = 1_000_000
)

// totpB32 is the secret's text form: unpadded RFC 4648 base32, as the Key
// URI Format and authenticator apps exchange it.
var totpB32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// totpStep is the RFC 6238 counter at t: floor(unix seconds / 30).
func totpStep(t time.Time) int64 {
	s := t.Unix()
	if s < 0 {
		return (s - totpPeriod + 1) / totpPeriod
	}
	return s / totpPeriod
}

// hotp is RFC 4226's HOTP value of secret at counter, as 6 digits.
func hotp(secret []byte, counter uint64) [totpDigits]byte {
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m := hmac.New(sha1.New, secret)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	v %= totpModulus
	var out [totpDigits]byte
	for i := totpDigits - 1; i >= 0; i-- {
		out[i] = '0' + byte(v%10)
		v /= 10
	}
	return out
}

// matchTOTP returns the step, among now-1, now and now+1 and later than
// last, whose code is code. Every candidate is computed and compared in
// constant time; which steps are candidates depends only on the clock and
// on last, neither of them secret.
func matchTOTP(secret []byte, code [totpDigits]byte, now time.Time, last int64) (int64, bool) {
	step := totpStep(now)
	found, match := int64(0), 0
	for s := step - totpSkew; s <= step+totpSkew; s++ {
		want := hotp(secret, uint64(s))
		eq := subtle.ConstantTimeCompare(want[:], code[:])
		if s > last && s >= 0 && eq == 1 && match == 0 {
			found, match = s, 1
		}
	}
	return found, match == 1
}

// otpKind is what an X-OTP value or a confirm code holds.
type otpKind uint8

const (
	otpInvalid  otpKind = iota
	otpTOTP             // six digits
	otpRecovery         // a recovery code, normalized
)

// maxOTPLen caps an X-OTP value before it is looked at.
const maxOTPLen = 64

// parseOTP reads a one-time code as a person or a client sends it: six
// ASCII digits (spaces between them allowed, as apps show "123 456"), or
// a recovery code (recoverycodes.go). Anything else is otpInvalid.
func parseOTP(s string) (otpKind, [totpDigits]byte, string) {
	var digits [totpDigits]byte
	if len(s) == 0 || len(s) > maxOTPLen {
		return otpInvalid, digits, ""
	}
	n, allDigits := 0, true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ':
		case c >= '0' && c <= '9':
			if n < totpDigits {
				digits[n] = c
			}
			n++
		default:
			allDigits = false
		}
	}
	if allDigits {
		if n == totpDigits {
			return otpTOTP, digits, ""
		}
		return otpInvalid, [totpDigits]byte{}, ""
	}
	if rc, ok := normalizeRecoveryCode(s); ok {
		return otpRecovery, [totpDigits]byte{}, rc
	}
	return otpInvalid, [totpDigits]byte{}, ""
}

// newTOTPSecret returns a fresh 160-bit secret.
func newTOTPSecret() []byte {
	b := make([]byte, totpSecretLen)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return b
}

// totpURI is the Key URI Format's otpauth://totp/ISSUER:LOGIN?secret=…
// URI that authenticator apps read from a QR code. The label and the
// issuer are percent-encoded (a space as %20, which every app decodes;
// "+" would be read literally by some). The default parameters are
// spelled out, since some apps read them and none is confused by them.
// The format forbids a colon in the issuer or the login (a login cannot
// hold one: Basic splits at it), so colons are dropped from the issuer.
func totpURI(issuer, login string, secret []byte) string {
	issuer = strings.ReplaceAll(issuer, ":", "")
	var b strings.Builder
	b.WriteString("otpauth://totp/")
	b.WriteString(uriEscape(issuer))
	b.WriteString(":")
	b.WriteString(uriEscape(login))
	b.WriteString("?secret=")
	b.WriteString(totpB32.EncodeToString(secret))
	b.WriteString("&issuer=")
	b.WriteString(uriEscape(issuer))
	b.WriteString("&algorithm=SHA1&digits=" + strconv.Itoa(totpDigits) + "&period=" + strconv.Itoa(totpPeriod))
	return b.String()
}

// uriEscape percent-encodes every byte but RFC 3986's unreserved ones and
// "@" (common in a login): ":" separates the issuer from the login, so it
// must be encoded inside either.
func uriEscape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '@' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// Secrets at rest. The server must read a TOTP secret back, so it is
// encrypted rather than hashed: XChaCha20-Poly1305 under a key derived
// from each signing key of the HMACSigner's ring, with its own label, so
// it is never a MAC key of any token. The sealed form names the key:
//
//	"v1." kid "." base64url(nonce(24) | ciphertext | tag(16))
//
// and the account ID is the additional data, so a sealed secret copied to
// another account does not open. keys[0] seals; every key of the ring
// opens, and a secret sealed under an older key is sealed again under
// keys[0] at its next accepted code (SecondFactorStore.ResealTOTP).

// totpKey is one sealing key, derived from the ring key id.
type totpKey struct {
	id   string
	aead cipher.AEAD
}

// deriveTOTPKeys derives the sealing keys from the ring's secrets.
func deriveTOTPKeys(keys []SigningKey) []totpKey {
	out := make([]totpKey, 0, len(keys))
	for _, k := range keys {
		m := hmac.New(sha256.New, k.Secret)
		m.Write([]byte("httpauth-totp-secret-v1\x00"))
		aead, err := chacha20poly1305.NewX(m.Sum(nil))
		if err != nil {
			panic(err) // a 32-byte key never fails
		}
		out = append(out, totpKey{id: k.ID, aead: aead})
	}
	return out
}

var (
	errSealedMalformed = errors.New("httpauth: malformed sealed TOTP secret")
	errSealedKey       = errors.New("httpauth: sealed TOTP secret names a key not in the ring")
	errSealedOpen      = errors.New("httpauth: sealed TOTP secret does not open (wrong account or tampered)")
	errNoTOTPKeys      = errors.New("httpauth: the second factor needs Config.Signer to be an *HMACSigner: " + errors.ErrUnsupported.Error())
)

var sealB64 = base64.RawURLEncoding.Strict()

// sealTOTP encrypts secret for account id under keys[0].
func sealTOTP(keys []totpKey, id string, secret []byte) string {
	var nonce [chacha20poly1305.NonceSizeX]byte
	_, _ = rand.Read(nonce[:]) // never fails (crypto/rand); 192 bits never repeat
	return sealTOTPWith(keys, id, secret, nonce)
}

// sealTOTPWith is sealTOTP with the nonce given, for the fuzz target's
// deterministic seed.
func sealTOTPWith(keys []totpKey, id string, secret []byte, nonce [chacha20poly1305.NonceSizeX]byte) string {
	k := keys[0]
	ct := k.aead.Seal(nonce[:], nonce[:], secret, []byte(id))
	return "v1." + k.id + "." + sealB64.EncodeToString(ct)
}

// openTOTP decrypts a sealed secret of account id. primary reports
// whether it was sealed under keys[0]; otherwise it should be sealed again.
func openTOTP(keys []totpKey, id, sealed string) (secret []byte, primary bool, err error) {
	rest, ok := strings.CutPrefix(sealed, "v1.")
	if !ok {
		return nil, false, errSealedMalformed
	}
	kid, body, ok := strings.Cut(rest, ".")
	// The base64 decoders skip CR and LF even in Strict mode: refuse them,
	// so a sealed secret has exactly one accepted spelling.
	if !ok || len(body) > 256 || strings.ContainsAny(body, "\r\n") {
		return nil, false, errSealedMalformed
	}
	raw, err := sealB64.DecodeString(body)
	if err != nil || len(raw) < chacha20poly1305.NonceSizeX+chacha20poly1305.Overhead {
		return nil, false, errSealedMalformed
	}
	for i, k := range keys {
		if k.id != kid {
			continue
		}
		nonce, ct := raw[:chacha20poly1305.NonceSizeX], raw[chacha20poly1305.NonceSizeX:]
		secret, err := k.aead.Open(nil, nonce, ct, []byte(id))
		if err != nil {
			return nil, false, errSealedOpen
		}
		return secret, i == 0, nil
	}
	return nil, false, errSealedKey
}
