package httpauthtest

import (
	"net/http"
	"testing"
	"time"

	"github.com/gohttpauth/httpauth"
)

// Authorize makes r carry a token that a's Middleware accepts as the
// account with ID accountID: it sets "Authorization: Bearer <token>",
// minted by a.IssueToken, replacing any Authorization r had. No password
// is hashed, so it is cheap; the account must exist in a's store, enabled,
// when r is served. It fails t if a cannot mint the token.
//
// It is meant for hosts testing their own handlers behind the middleware:
//
//	r := httptest.NewRequest("GET", "/me", nil)
//	httpauthtest.Authorize(t, auth, r, "u1")
//	auth.Middleware(handler).ServeHTTP(w, r)
func Authorize[U any](t testing.TB, a *httpauth.Authenticator[U], r *http.Request, accountID string) {
	t.Helper()
	// A token counts only if issued strictly after the account's
	// TokensValidAfter (to the microsecond), which a store sets to the
	// time it creates the account: a token minted within the same
	// microsecond as a just-created account would be refused.
	time.Sleep(2 * time.Microsecond)
	token, _, err := a.IssueToken(t.Context(), accountID)
	if err != nil {
		t.Fatalf("httpauthtest.Authorize: minting a token for %q: %v", accountID, err)
	}
	r.Header.Set("Authorization", "Bearer "+token)
}
