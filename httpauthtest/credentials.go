package httpauthtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gohttpauth/httpauth"
)

// CredentialHarness is what TestCredentialEvents needs: two
// Authenticators over shared state, and the host's own account writes.
type CredentialHarness[U any] struct {
	// A and B are two instances sharing their stores (users, API keys,
	// revocations, limiters), as two servers behind one balancer do. B may
	// be A, for one instance. Both need Config.APIKeys, an *HMACSigner, a
	// UserStore that is an httpauth.AccountStore, and no CheckAccount that
	// refuses an unconfirmed account.
	A, B *httpauth.Authenticator[U]

	// Create makes an enabled, unconfirmed account with the given ID,
	// login, password and roles. Required; it is also how an ID is
	// reused after Delete.
	Create func(ctx context.Context, id, login, password string, roles []string) error
	// SetPassword changes account id's password, as a logged-in user
	// changing it does. Required.
	SetPassword func(ctx context.Context, id, password string) error
	// LogoutEverywhere sets account id's TokensValidAfter to now. Required.
	LogoutEverywhere func(ctx context.Context, id string) error
	// SetDisabled disables or enables account id. Required.
	SetDisabled func(ctx context.Context, id string, disabled bool) error
	// Delete removes account id. Required.
	Delete func(ctx context.Context, id string) error
	// SetRoles replaces account id's roles. Required.
	SetRoles func(ctx context.Context, id string, roles []string) error
}

// The credentials of TestCredentialEvents, in the order of CredentialTable's
// columns.
var credentialNames = []string{
	"password", "cached password", "token", "token as Basic username",
	"API key", "confirmation token", "reset token", "email-change token",
}

// CredentialTable is the rule TestCredentialEvents enforces: for each
// account event (a row), whether each credential issued before it (a
// column, in the order the README's table lists them: password, cached
// password, token, token as Basic username, API key, confirmation token,
// reset token, email-change token) still works after it. "role removal"
// also checks that the roles a credential carries shrink with the
// account's.
var CredentialTable = []struct {
	Event string
	Works [8]bool
}{
	{"password change", [8]bool{}},
	{"password reset", [8]bool{}},
	{"log out everywhere", [8]bool{true, true}},
	{"disable", [8]bool{}},
	{"disable, then enable", [8]bool{true, true}},
	{"delete", [8]bool{}},
	{"delete, then ID reused", [8]bool{}},
	{"email change", [8]bool{false, false, true, true, true}},
	{"role removal", [8]bool{true, true, true, true, true, true, true, true}},
	// The password alone no longer logs in (it needs a code in X-OTP);
	// what was minted or mailed before stays valid: turning the factor
	// on does not say the account was compromised, and a reset link
	// still yields only a password, which again needs a code.
	{"second factor enabled", [8]bool{false, false, true, true, true, true, true, true}},
}

// credentialSet is everything an account holds before an event.
type credentialSet struct {
	id, login, password string
	token, key          string
	confirm, reset      string
	emailChange         string
}

// TestCredentialEvents checks CredentialTable: for every account event and
// every credential issued before it, whether the credential still works
// afterwards, on the instance that issued it (A) and on the other (B).
// Each cell uses a fresh account. It is the one table behind the README's
// "What ends a credential".
func TestCredentialEvents[U any](t *testing.T, h CredentialHarness[U]) {
	t.Helper()
	if h.A == nil || h.B == nil || h.Create == nil || h.SetPassword == nil || h.LogoutEverywhere == nil ||
		h.SetDisabled == nil || h.Delete == nil || h.SetRoles == nil {
		t.Fatal("httpauthtest: TestCredentialEvents needs A, B and every account write")
	}
	for _, on := range []struct {
		name string
		auth *httpauth.Authenticator[U]
	}{{"same instance", h.A}, {"other instance", h.B}} {
		for _, row := range CredentialTable {
			t.Run(on.name+"/"+row.Event, func(t *testing.T) {
				ctx := t.Context()
				// Using an account token changes the account, which ends the
				// others: each is checked on an account of its own.
				var sets [3]*credentialSet
				for k := range sets {
					sets[k] = issueCredentials(t, h, fmt.Sprintf("%s-%s-%d", on.name, row.Event, k))
				}
				c := sets[0]
				for i, name := range credentialNames[:5] {
					if ok, _ := useCredential(t, on.auth, c, i); !ok {
						t.Fatalf("%s does not work before the event", name)
					}
				}
				for _, set := range sets {
					applyEvent(t, h, row.Event, set)
				}
				// Another instance learns of a change through its stores'
				// feeds: wait (up to 10 s) for the answers to settle on
				// every account of the row, and only then spend the
				// account tokens, which read the same accounts.
				var problems []string
				for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
					problems = problems[:0]
					for k, set := range sets {
						for i, name := range credentialNames[:5] {
							ok, roles := useCredential(t, on.auth, set, i)
							if ok != row.Works[i] {
								problems = append(problems, fmt.Sprintf("account %d: %s after %q: works = %v, want %v", k, name, row.Event, ok, row.Works[i]))
							}
							if ok && row.Event == "role removal" && len(roles) > 0 {
								problems = append(problems, fmt.Sprintf("account %d: %s after role removal still carries roles %v", k, name, roles))
							}
						}
					}
					if len(problems) == 0 || time.Now().After(deadline) {
						break
					}
				}
				for _, p := range problems {
					t.Error(p)
				}
				for i := 5; i < len(credentialNames); i++ {
					if ok := useAccountToken(t, ctx, on.auth, sets[i-5], i); ok != row.Works[i] {
						t.Errorf("%s after %q: works = %v, want %v", credentialNames[i], row.Event, ok, row.Works[i])
					}
				}
			})
		}
	}
}

// issueCredentials creates an account and every credential of it, on A.
func issueCredentials[U any](t *testing.T, h CredentialHarness[U], tag string) *credentialSet {
	t.Helper()
	ctx := t.Context()
	tag = strings.NewReplacer(" ", "-", ",", "").Replace(tag)
	c := &credentialSet{
		id:       fmt.Sprintf("cred-%s-%d", tag, time.Now().UnixNano()),
		login:    fmt.Sprintf("cred-%s-%d@example.com", tag, time.Now().UnixNano()),
		password: "pw-" + tag + "-42",
	}
	if err := h.Create(ctx, c.id, c.login, c.password, []string{"admin"}); err != nil {
		t.Fatalf("Create: %v", err)
	}
	// A credential counts only if issued strictly after the account's
	// creation, to the microsecond.
	time.Sleep(2 * time.Millisecond)
	// A password login on both instances fills their credential caches.
	for _, a := range []*httpauth.Authenticator[U]{h.A, h.B} {
		if ok, _ := useCredential(t, a, c, 0); !ok {
			t.Fatal("the password does not work")
		}
	}
	c.token = mintToken(t, h.A, c.login, c.password)
	id := identityOf(t, h.A, c.login, c.password)
	key, _, err := h.A.CreateAPIKey(ctx, id, "table", []string{"admin"}, time.Time{})
	if err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	c.key = key
	if c.confirm, err = h.A.ConfirmationToken(ctx, c.id); err != nil {
		t.Fatalf("ConfirmationToken: %v", err)
	}
	if c.reset, err = h.A.PasswordResetToken(ctx, c.id); err != nil {
		t.Fatalf("PasswordResetToken: %v", err)
	}
	if c.emailChange, err = h.A.EmailChangeToken(ctx, c.id, "changed-"+c.login); err != nil {
		t.Fatalf("EmailChangeToken: %v", err)
	}
	time.Sleep(2 * time.Millisecond) // the event comes strictly later
	return c
}

// applyEvent makes the account event named event happen to c's account.
func applyEvent[U any](t *testing.T, h CredentialHarness[U], event string, c *credentialSet) {
	t.Helper()
	ctx := t.Context()
	var err error
	switch event {
	case "password change":
		err = h.SetPassword(ctx, c.id, "changed-"+c.password)
	case "password reset":
		var tok string
		if tok, err = h.A.PasswordResetToken(ctx, c.id); err == nil {
			_, err = h.A.ResetPassword(ctx, tok, "reset-"+c.password)
		}
	case "log out everywhere":
		err = h.LogoutEverywhere(ctx, c.id)
	case "disable":
		err = h.SetDisabled(ctx, c.id, true)
	case "disable, then enable":
		if err = h.SetDisabled(ctx, c.id, true); err == nil {
			time.Sleep(2 * time.Millisecond)
			err = h.SetDisabled(ctx, c.id, false)
		}
	case "delete":
		err = h.Delete(ctx, c.id)
	case "delete, then ID reused":
		if err = h.Delete(ctx, c.id); err == nil {
			err = h.Create(ctx, c.id, "reused-"+c.login, "reused-"+c.password, []string{"admin"})
		}
	case "email change":
		var tok string
		if tok, err = h.A.EmailChangeToken(ctx, c.id, "moved-"+c.login); err == nil {
			_, err = h.A.ChangeLogin(ctx, tok)
		}
	case "role removal":
		err = h.SetRoles(ctx, c.id, nil)
	case "second factor enabled":
		err = enableSecondFactor(t, h.A, c)
	default:
		t.Fatalf("unknown event %q", event)
	}
	if err != nil {
		t.Fatalf("%s: %v", event, err)
	}
}

// credentialEcho answers 200 with the roles the request authenticated with.
func credentialEcho[U any](a *httpauth.Authenticator[U]) http.Handler {
	return a.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, _ := a.Identity(r)
		_ = json.NewEncoder(w).Encode(id.Account.Roles)
	}))
}

// useCredential sends credential i (0 to 4) of c to a and reports whether
// it was accepted, with the roles it carried. A 401 (or a 429, a login
// locked by the refusals before) is a refusal; any other answer fails the
// test.
func useCredential[U any](t *testing.T, a *httpauth.Authenticator[U], c *credentialSet, i int) (bool, []string) {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	switch i {
	case 0, 1:
		r.SetBasicAuth(c.login, c.password)
	case 2:
		r.Header.Set("Authorization", "Bearer "+c.token)
	case 3:
		r.SetBasicAuth(c.token, "")
	case 4:
		r.Header.Set("Authorization", "Bearer "+c.key)
	}
	w := httptest.NewRecorder()
	credentialEcho(a).ServeHTTP(w, r)
	switch w.Code {
	case http.StatusOK:
		var roles []string
		if err := json.Unmarshal(w.Body.Bytes(), &roles); err != nil {
			t.Fatalf("%s: body %q: %v", credentialNames[i], w.Body, err)
		}
		return true, roles
	case http.StatusUnauthorized, http.StatusTooManyRequests:
		return false, nil
	}
	t.Fatalf("%s: status %d, want 200 or 401: %s", credentialNames[i], w.Code, w.Body)
	return false, nil
}

// useAccountToken spends account token i (5 to 7) of c on a and reports
// whether it was accepted. A refusal must wrap ErrTokenInvalid.
func useAccountToken[U any](t *testing.T, ctx context.Context, a *httpauth.Authenticator[U], c *credentialSet, i int) bool {
	t.Helper()
	var err error
	switch i {
	case 5:
		_, err = a.Confirm(ctx, c.confirm)
	case 6:
		_, err = a.ResetPassword(ctx, c.reset, "from-link-"+c.password)
	case 7:
		_, err = a.ChangeLogin(ctx, c.emailChange)
	}
	switch {
	case err == nil:
		return true
	case errors.Is(err, httpauth.ErrTokenInvalid):
		return false
	}
	t.Fatalf("%s: %v, want nil or an error wrapping ErrTokenInvalid", credentialNames[i], err)
	return false
}

// mintToken gets a token from a's TokenHandler with a password.
func mintToken[U any](t *testing.T, a *httpauth.Authenticator[U], login, password string) string {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/tokens", nil)
	r.SetBasicAuth(login, password)
	w := httptest.NewRecorder()
	a.TokenHandler().ServeHTTP(w, r)
	var body struct{ Token string }
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &body) != nil || body.Token == "" {
		t.Fatalf("minting a token: %d %s", w.Code, w.Body)
	}
	return body.Token
}

// identityOf is the identity a's Middleware gives a password login.
func identityOf[U any](t *testing.T, a *httpauth.Authenticator[U], login, password string) *httpauth.Identity[U] {
	t.Helper()
	var id *httpauth.Identity[U]
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.SetBasicAuth(login, password)
	a.Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		id, _ = a.Identity(r)
	})).ServeHTTP(httptest.NewRecorder(), r)
	if id == nil || !slices.Contains(id.Account.Roles, "admin") {
		t.Fatalf("no identity with the admin role for %s", login)
	}
	return id
}

// enableSecondFactor turns the second factor on for c's account, as its
// user does: StartTOTP with a password login, then ConfirmTOTP with the
// app's code. A store without it skips the test.
func enableSecondFactor[U any](t *testing.T, a *httpauth.Authenticator[U], c *credentialSet) error {
	t.Helper()
	ctx := t.Context()
	id := identityOf(t, a, c.login, c.password)
	secret, _, err := a.StartTOTP(ctx, id)
	if errors.Is(err, errors.ErrUnsupported) {
		t.Skipf("second factor: %v", err)
	}
	if err != nil {
		return err
	}
	code, err := TOTPCode(secret, time.Now())
	if err != nil {
		return err
	}
	_, err = a.ConfirmTOTP(ctx, id, code)
	return err
}
