package httpauth

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxLoginLen caps a login, in bytes.
const maxLoginLen = 512

// canonicalLogin returns the canonical form of login that the memory store
// matches on, and false for a login it refuses (see MemoryUserStore): one
// that only Unicode normalization, which the core cannot do, would make
// unambiguous. Full-width ASCII forms map to ASCII, as RFC 8265's width
// mapping does, and the result is lower-cased.
func canonicalLogin(login string) (string, bool) {
	if login == "" || len(login) > maxLoginLen || !utf8.ValidString(login) {
		return "", false
	}
	ascii := true
	for i := 0; i < len(login); i++ {
		c := login[i]
		if c >= utf8.RuneSelf {
			ascii = false
			break
		}
		if c <= ' ' || c == 0x7f {
			return "", false
		}
	}
	if ascii {
		return strings.ToLower(login), true
	}
	var b strings.Builder
	b.Grow(len(login))
	for _, r := range login {
		if r >= 0xFF01 && r <= 0xFF5E { // full-width forms of '!' … '~'
			r -= 0xFF01 - '!'
		}
		if !loginRuneOK(r) {
			return "", false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String(), true
}

// loginRuneOK reports whether r may stand in a canonical login.
func loginRuneOK(r rune) bool {
	switch {
	case r < utf8.RuneSelf:
		return r > ' ' && r != 0x7f
	case unicode.IsSpace(r), unicode.IsControl(r), unicode.Is(unicode.M, r),
		!unicode.IsPrint(r), unicode.Is(unicode.Cf, r):
		return false
	case r == '\u2126', r == '\u212A', r == '\u212B': // Ohm, Kelvin, Ångström signs
		return false
	}
	// Non-ASCII letters whose case pair is ASCII ("ſ" → "S", "ı" → "I",
	// "İ" → "i") would match an ASCII login under one mapping and not
	// another.
	return unicode.ToUpper(r) >= utf8.RuneSelf && unicode.ToLower(r) >= utf8.RuneSelf
}

// loginToStore is canonicalLogin for a write: a refused login is an error
// wrapping ErrBadRequest.
func loginToStore(login string) (string, error) {
	key, ok := canonicalLogin(login)
	if !ok {
		return "", fmt.Errorf("%w: login %q is empty, too long, or not in a form this store can match unambiguously", ErrBadRequest, login)
	}
	return key, nil
}
