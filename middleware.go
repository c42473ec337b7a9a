package httpauth

import (
	"net/http"
)

// Middleware requires every request to authenticate, with a password or a
// token, before it reaches next. It wraps single handlers and whole muxes,
// and fits r.Use(auth.Middleware). OPTIONS requests are not exempt: put a
// CORS handler in front of it.
func (a *Authenticator[U]) Middleware(next http.Handler) http.Handler {
	return a.wrap(next, false)
}

// Optional lets requests without any credentials through without a user;
// bad credentials are still a 401.
func (a *Authenticator[U]) Optional(next http.Handler) http.Handler {
	return a.wrap(next, true)
}

func (a *Authenticator[U]) wrap(next http.Handler, optional bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, f := a.authenticate(r, false)
		if f != nil {
			if f.noCredentials && optional {
				a.anonymous(r) // a public route's visitor, not a failure
				next.ServeHTTP(w, r)
				return
			}
			a.fail(w, r, f)
			return
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// RequireAnyRole returns middleware that lets through users holding at
// least one of roles (Flask-HTTPAuth's role=[a, b]). Put it behind
// Middleware; a user without the roles gets a 403, and a token user's
// challenge names them as the insufficient scope. It panics when roles is
// empty: a guard naming no role is a bug that would let everyone through.
func (a *Authenticator[U]) RequireAnyRole(roles ...string) func(http.Handler) http.Handler {
	return a.requireRoles(roles, false)
}

// RequireAllRoles returns middleware that lets through users holding every
// one of roles (Flask-HTTPAuth's role=[[a, b]]). Like RequireAnyRole, it
// panics when roles is empty.
func (a *Authenticator[U]) RequireAllRoles(roles ...string) func(http.Handler) http.Handler {
	return a.requireRoles(roles, true)
}

var errInsufficientRole = &forbiddenError{Message: "Insufficient role"}

func (a *Authenticator[U]) requireRoles(roles []string, all bool) func(http.Handler) http.Handler {
	if len(roles) == 0 {
		panic("httpauth: RequireAnyRole/RequireAllRoles needs at least one role")
	}
	roles = append([]string(nil), roles...)
	scopeChallenge := a.challenges.scoped(roles)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ac, ok := authFrom[U](r.Context())
			if !ok {
				a.fail(w, r, failNoCredentials)
				return
			}
			acct := ac.account() // read only: no copy for a guard
			if !hasRoles(acct, roles, all) {
				f := &failure{status: http.StatusForbidden, err: errInsufficientRole}
				if ac.cred != PasswordCredential { // tokens and API keys
					f.bearerError = "insufficient_scope"
					f.challenge = scopeChallenge
				}
				a.auditCredential(r, false, acct.ID, ReasonInsufficientRole, ac.cred, ac.transport)
				a.fail(w, r, f)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

func hasRoles[U any](acct *Account[U], roles []string, all bool) bool {
	if len(roles) == 0 {
		return false // never reached: requireRoles refuses an empty list
	}
	for _, role := range roles {
		has := acct.HasRole(role)
		if has && !all {
			return true
		}
		if !has && all {
			return false
		}
	}
	return all
}
