package httpauth

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"
)

// credentials are what a request presented, parsed but not yet checked.
type credentials struct {
	// Transport is where the credentials came from.
	Transport transport
	// Login and Password are set for transportBasic.
	Login, Password string
	// Token is set for the token transports.
	Token string
}

// Errors from parseCredentials, besides ErrNoCredentials.
var (
	// errMalformedCredentials means the credentials could not be parsed,
	// or used a scheme other than Basic and Bearer.
	errMalformedCredentials = errors.New("httpauth: malformed credentials")
	// errAmbiguousCredentials means the request carried more than one set
	// of credentials (two Authorization lines, or a header and a token
	// header). It is a 400: neither is used.
	errAmbiguousCredentials = errors.New("httpauth: more than one set of credentials")
)

// parseCredentials reads the credentials of r: Authorization (Basic or
// Bearer, ASCII case-insensitively, with exactly one space after the
// scheme) and, if tokenHeader (canonical) is not empty, that header.
// maxLen caps the header before anything is decoded. It never
// authenticates anything, and does not check a Bearer value's grammar:
// the signer's strict parse, and the API key's, refuse every value
// outside theirs with the same 401 invalid_token.
func parseCredentials(r *http.Request, tokenHeader string, maxLen int) (credentials, error) {
	auth := r.Header["Authorization"]
	var alt []string
	if tokenHeader != "" {
		alt = r.Header[tokenHeader]
	}
	switch {
	case len(auth)+len(alt) == 0:
		return credentials{}, ErrNoCredentials
	case len(auth)+len(alt) > 1,
		r.URL != nil && hasAccessTokenParam(r.URL.RawQuery):
		// RFC 6750 §2: one method only. The query is never read for a
		// token, but a token there beside a header is a 400.
		return credentials{}, errAmbiguousCredentials
	case len(alt) == 1:
		if len(alt[0]) > maxLen || alt[0] == "" {
			return credentials{Transport: transportHeader}, errMalformedCredentials
		}
		return credentials{Transport: transportHeader, Token: alt[0]}, nil
	}
	return parseAuthorizationValue(auth[0], maxLen)
}

// hasAccessTokenParam reports whether the raw query has an access_token
// parameter under any spelling that a query parser would decode to it
// (access%5Ftoken, %61ccess_token, ...), even in a pair that url.ParseQuery
// would drop as malformed.
func hasAccessTokenParam(raw string) bool {
	if raw == "" || !strings.Contains(raw, "access_token") && !strings.Contains(raw, "%") {
		return false // the common case, without a scan
	}
	for raw != "" {
		var pair string
		if i := strings.IndexAny(raw, "&;"); i >= 0 {
			pair, raw = raw[:i], raw[i+1:]
		} else {
			pair, raw = raw, ""
		}
		key, _, _ := strings.Cut(pair, "=")
		if key == "access_token" {
			return true
		}
		if strings.Contains(key, "%") {
			if k, err := url.QueryUnescape(key); err == nil && k == "access_token" {
				return true
			}
		}
	}
	return false
}

// asciiEqualFold is strings.EqualFold for ASCII only: schemes are ASCII
// tokens, and Unicode folding would let "Baſic" (long s) pass as Basic.
func asciiEqualFold(s, t string) bool {
	if s == t {
		return true // the usual spelling, without the loop
	}
	if len(s) != len(t) {
		return false
	}
	for i := 0; i < len(s); i++ {
		a, b := s[i], t[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

func parseAuthorizationValue(v string, maxLen int) (credentials, error) {
	if v == "" {
		return credentials{}, ErrNoCredentials
	}
	if len(v) > maxLen {
		if len(v) > 7 && asciiEqualFold(v[:7], "Bearer ") {
			return credentials{Transport: transportBearer}, errMalformedCredentials
		}
		return credentials{}, errMalformedCredentials
	}
	scheme, rest, _ := strings.Cut(v, " ")
	switch {
	case asciiEqualFold(scheme, "Bearer"):
		if rest == "" {
			return credentials{Transport: transportBearer}, errMalformedCredentials
		}
		return credentials{Transport: transportBearer, Token: rest}, nil
	case asciiEqualFold(scheme, "Basic"):
		login, password, err := decodeBasic(rest)
		if err != nil {
			return credentials{Transport: transportBasic}, err
		}
		if password == "" {
			// Flask-HTTPAuth's convention: the token as the username.
			return credentials{Transport: transportBasicToken, Token: login}, nil
		}
		return credentials{Transport: transportBasic, Login: login, Password: password}, nil
	}
	return credentials{}, errMalformedCredentials
}

// validCredentialText rejects invalid UTF-8 and control characters
// (RFC 7617: no CTLs), so that NUL can never truncate a comparison.
func validCredentialText(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f {
			return false
		}
	}
	return utf8.ValidString(s)
}

// b64tokenChar marks the bytes of RFC 6750's b64token, before any "=".
var b64tokenChar = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/'
	}
	return t
}()

// isB64Token reports whether s matches RFC 6750's b64token.
func isB64Token(s string) bool {
	i := 0
	for i < len(s) && b64tokenChar[s[i]] {
		i++
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}
