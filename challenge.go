package httpauth

import "strings"

// challenges are the precomputed WWW-Authenticate values; fail hands each
// response a copy.
type challenges struct {
	plain, invalidToken, invalidRequest, insufficientScope []string
	bearer                                                 string // Bearer realm="…"
}

// scoped returns the insufficient_scope challenge naming roles as the
// scope needed (RFC 6750 §3). Roles that are not scope-tokens (a space,
// a quote, a backslash, non-ASCII) cannot be named and are left out.
func (c challenges) scoped(roles []string) []string {
	var names []string
	for _, r := range roles {
		if isScopeToken(r) {
			names = append(names, r)
		}
	}
	if len(names) == 0 {
		return c.insufficientScope
	}
	return []string{c.bearer + `, error="insufficient_scope", scope="` + strings.Join(names, " ") + `"`}
}

// isScopeToken reports whether s is an RFC 6749 scope-token:
// 1*( %x21 / %x23-5B / %x5D-7E ).
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func newChallenges(basicScheme, realm string) challenges {
	q := quoteString(realm)
	basic := basicScheme + " realm=" + q + `, charset="UTF-8"`
	bearer := "Bearer realm=" + q
	full := func(v ...string) []string { return v[:len(v):len(v)] }
	return challenges{
		plain:             full(basic, bearer),
		invalidToken:      full(basic, bearer+`, error="invalid_token"`),
		invalidRequest:    full(bearer + `, error="invalid_request"`),
		insufficientScope: full(bearer + `, error="insufficient_scope"`),
		bearer:            bearer,
	}
}

// quoteString writes s as an RFC 9110 quoted-string.
func quoteString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}
