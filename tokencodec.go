package httpauth

import (
	"encoding/base64"
	"fmt"
	"strings"
)

// Both kinds of token (access tokens, hmac.go, and account tokens,
// accounttoken.go) share one layout and this one codec:
//
//	kid "." base64url(payload) "." base64url(mac)
//
// The MAC part is 32 bytes (43 characters) in both. splitToken checks the
// shape and lengths only; each verifier then finds the key by kid, checks
// the MAC over the text before the second dot with hmac.Equal, and only
// then decodes the payload, strictly, so that a token has one accepted
// spelling and nothing in it is trusted before its MAC is.

// tokenB64 is the strict unpadded base64url of every token part.
var tokenB64 = base64.RawURLEncoding.Strict()

// The errors of a token that fails to verify, whatever its kind.
var (
	errMalformed  = fmt.Errorf("%w: malformed", ErrTokenInvalid)
	errUnknownKey = fmt.Errorf("%w: unknown key", ErrTokenInvalid)
	errBadMAC     = fmt.Errorf("%w: signature mismatch", ErrTokenInvalid)
	errFuture     = fmt.Errorf("%w: issued in the future", ErrTokenInvalid)
	errExpired    = fmt.Errorf("%w", ErrTokenExpired)
)

// splitToken cuts token into its key ID, payload and MAC parts, refusing
// a token longer than maxLen, a payload part empty or longer than
// maxPayloadB64, and a MAC part of any length but macB64Len. It decodes
// nothing and allocates nothing.
func splitToken(token string, maxLen, maxPayloadB64 int) (kid, payload, mac string, ok bool) {
	if len(token) > maxLen {
		return "", "", "", false
	}
	kid, rest, ok := strings.Cut(token, ".")
	if !ok {
		return "", "", "", false
	}
	payload, mac, ok = strings.Cut(rest, ".")
	if !ok || len(mac) != macB64Len || payload == "" || len(payload) > maxPayloadB64 {
		return "", "", "", false
	}
	return kid, payload, mac, true
}
