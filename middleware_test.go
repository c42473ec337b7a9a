package httpauth

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type testUser struct {
	Email     string
	Confirmed bool
}

// cheapHasher keeps tests fast; the real parameters are tested in
// password tests.
var cheapHasher = &argon2idHasher{Memory: 64, Time: 1}

type fixture struct {
	auth  *Authenticator[testUser]
	users *MemoryUserStore[testUser]
	clock *fakeClock
}

func newFixture(t *testing.T, mutate func(*testSetup[testUser])) *fixture {
	t.Helper()
	ctx := context.Background()
	clock := &fakeClock{t0}
	users := NewMemoryUserStore[testUser](cheapHasher)
	users.setClock(clock.Now) // accounts are created at t0 (their token cutoff)
	add := func(id, login, pw string, confirmed, disabled bool, roles ...string) {
		require.NoError(t, users.Add(ctx, login, pw, Account[testUser]{
			ID: id, Roles: roles, Disabled: disabled, User: testUser{Email: login, Confirmed: confirmed},
		}))
	}
	add("1", "alice@example.com", "wonderland-42", true, false, "user")
	add("2", "bob@example.com", "builder-42", false, false)
	add("4", "admin@example.com", "s3cret:with:colons", true, false, "user", "admin")
	add("5", "dave@example.com", "disabled-42", true, true, "user")
	add("6", "ops@example.com", "ops-42", true, false, "ops")
	clock.Advance(time.Second) // tokens are issued strictly after creation
	s := testSetup[testUser]{Config: Config[testUser]{
		Users:  users,
		Signer: mustSigner(clock.Now, SigningKey{ID: "k1", Secret: testKey1}),
		Realm:  "test",
		Hasher: cheapHasher,
		Logger: slog.New(slog.DiscardHandler),
		CheckAccount: func(_ *http.Request, a *Account[testUser]) error {
			if !a.User.Confirmed {
				return Forbidden("Unconfirmed account")
			}
			return nil
		},
	}, options: options[testUser]{now: clock.Now}}
	if mutate != nil {
		mutate(&s)
	}
	return &fixture{auth: s.build(t), users: users, clock: clock}
}

func basicHeader(login, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(login+":"+password))
}

func (f *fixture) token(t *testing.T, login, password string) string {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/tokens/", nil)
	req.Header.Set("Authorization", basicHeader(login, password))
	f.auth.TokenHandler().ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	var reply struct {
		Token      string `json:"token"`
		Expiration int64  `json:"expiration"`
	}
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &reply))
	return reply.Token
}

// spy is the protected handler: it records what the middleware let through.
type spy struct {
	called   int
	identity *Identity[testUser]
}

func (s *spy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.called++
	s.identity, _ = identityFrom[testUser](r.Context())
	w.WriteHeader(http.StatusOK)
}

const (
	bodyUnauthorized = `{"error":"unauthorized","message":"Invalid credentials"}` + "\n"
	bodyUnconfirmed  = `{"error":"forbidden","message":"Unconfirmed account"}` + "\n"
	bodyBadRequest   = `{"error":"bad_request","message":"Malformed authentication request"}` + "\n"
)

var (
	challengePlain   = []string{`Basic realm="test", charset="UTF-8"`, `Bearer realm="test"`}
	challengeInvalid = []string{`Basic realm="test", charset="UTF-8"`, `Bearer realm="test", error="invalid_token"`}
)

// TestMiddlewareEntryPoints runs one table of requests through Middleware
// and Optional: they differ only for requests without credentials.
func TestMiddlewareEntryPoints(t *testing.T) {
	f := newFixture(t, func(c *testSetup[testUser]) { c.TokenHeader = "X-API-Key" })
	alice := f.token(t, "alice@example.com", "wonderland-42")

	tests := []struct {
		name          string
		headers       map[string][]string
		status        int
		optStatus     int // Optional's status when it differs
		body          string
		challenge     []string
		wantMethod    Credential
		wantTransport transport
		wantID        string
	}{
		{name: "no credentials", status: 401, optStatus: 200, body: bodyUnauthorized, challenge: challengePlain},
		{name: "empty Authorization", headers: h("Authorization", ""), status: 401, optStatus: 200, body: bodyUnauthorized, challenge: challengePlain},
		{name: "password", headers: h("Authorization", basicHeader("alice@example.com", "wonderland-42")), status: 200, wantMethod: PasswordCredential, wantTransport: transportBasic, wantID: "1"},
		{name: "password, login case differs", headers: h("Authorization", basicHeader("Alice@Example.com", "wonderland-42")), status: 200, wantMethod: PasswordCredential, wantTransport: transportBasic, wantID: "1"},
		{name: "lower-case scheme", headers: h("Authorization", "basic "+base64.StdEncoding.EncodeToString([]byte("alice@example.com:wonderland-42"))), status: 200, wantMethod: PasswordCredential, wantTransport: transportBasic, wantID: "1"},
		{name: "password with colons", headers: h("Authorization", basicHeader("admin@example.com", "s3cret:with:colons")), status: 200, wantMethod: PasswordCredential, wantTransport: transportBasic, wantID: "4"},
		{name: "wrong password", headers: h("Authorization", basicHeader("alice@example.com", "wrong")), status: 401, body: bodyUnauthorized, challenge: challengePlain},
		{name: "password case differs", headers: h("Authorization", basicHeader("alice@example.com", "Wonderland-42")), status: 401, body: bodyUnauthorized, challenge: challengePlain},
		{name: "unknown login", headers: h("Authorization", basicHeader("nobody@example.com", "wonderland-42")), status: 401, body: bodyUnauthorized, challenge: challengePlain},
		{name: "disabled user", headers: h("Authorization", basicHeader("dave@example.com", "disabled-42")), status: 401, body: bodyUnauthorized, challenge: challengePlain},
		{name: "unconfirmed user", headers: h("Authorization", basicHeader("bob@example.com", "builder-42")), status: 403, body: bodyUnconfirmed},
		{name: "bearer", headers: h("Authorization", "Bearer "+alice), status: 200, wantMethod: TokenCredential, wantTransport: transportBearer, wantID: "1"},
		{name: "BEARER upper-case", headers: h("Authorization", "BEARER "+alice), status: 200, wantMethod: TokenCredential, wantTransport: transportBearer, wantID: "1"},
		{name: "token as Basic username", headers: h("Authorization", basicHeader(alice, "")), status: 200, wantMethod: TokenCredential, wantTransport: transportBasicToken, wantID: "1"},
		{name: "token as Basic username with a password", headers: h("Authorization", basicHeader(alice, "x")), status: 401, body: bodyUnauthorized, challenge: challengePlain},
		{name: "token header", headers: h("X-API-Key", alice), status: 200, wantMethod: TokenCredential, wantTransport: transportHeader, wantID: "1"},
		{name: "token header and Authorization", headers: map[string][]string{"X-Api-Key": {alice}, "Authorization": {"Bearer " + alice}}, status: 400, body: bodyBadRequest, challenge: []string{`Bearer realm="test", error="invalid_request"`}},
		{name: "two Authorization lines", headers: map[string][]string{"Authorization": {"Bearer " + alice, "Bearer " + alice}}, status: 400, body: bodyBadRequest, challenge: []string{`Bearer realm="test", error="invalid_request"`}},
		{name: "garbage bearer", headers: h("Authorization", "Bearer abc.def.ghi"), status: 401, body: bodyUnauthorized, challenge: challengeInvalid},
		{name: "bare Bearer", headers: h("Authorization", "Bearer"), status: 401, body: bodyUnauthorized, challenge: challengeInvalid},
		{name: "bearer with a quote", headers: h("Authorization", `Bearer a"b`), status: 401, body: bodyUnauthorized, challenge: challengeInvalid},
		{name: "unknown scheme", headers: h("Authorization", "Digest username=x"), status: 401, body: bodyUnauthorized, challenge: challengePlain},
		{name: "scheme glued to value", headers: h("Authorization", "Basicx"), status: 401, body: bodyUnauthorized, challenge: challengePlain},
		{name: "two spaces after scheme", headers: h("Authorization", "Bearer  "+alice), status: 401, body: bodyUnauthorized, challenge: challengeInvalid},
		{name: "tab after scheme", headers: h("Authorization", "Basic\t"+base64.StdEncoding.EncodeToString([]byte("alice@example.com:wonderland-42"))), status: 401, body: bodyUnauthorized, challenge: challengePlain},
		{name: "invalid base64", headers: h("Authorization", "Basic =a="), status: 401, body: bodyUnauthorized, challenge: challengePlain},
		{name: "unpadded base64", headers: h("Authorization", "Basic "+base64.RawStdEncoding.EncodeToString([]byte("alice@example.com:wonderland-42"))), status: 401, body: bodyUnauthorized, challenge: challengePlain},
		{name: "no colon", headers: h("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte("alice@example.com"))), status: 401, body: bodyUnauthorized, challenge: challengePlain},
		{name: "oversized bearer", headers: h("Authorization", "Bearer "+strings.Repeat("a", 9000)), status: 401, body: bodyUnauthorized, challenge: challengeInvalid},
		{name: "oversized basic", headers: h("Authorization", "Basic "+strings.Repeat("a", 9000)), status: 401, body: bodyUnauthorized, challenge: challengePlain},
	}
	for _, tt := range tests {
		for _, optional := range []bool{false, true} {
			entry, wrap := "Middleware", f.auth.Middleware
			want := tt.status
			if optional {
				entry, wrap = "Optional", f.auth.Optional
				if tt.optStatus != 0 {
					want = tt.optStatus
				}
			}
			t.Run(entry+"/"+tt.name, func(t *testing.T) {
				s := &spy{}
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				for k, vs := range tt.headers {
					for _, v := range vs {
						req.Header.Add(k, v)
					}
				}
				rec := httptest.NewRecorder()
				wrap(s).ServeHTTP(rec, req)
				require.Equal(t, want, rec.Code, rec.Body.String())
				if want != http.StatusOK {
					assert.Equal(t, 0, s.called, "next handler must not run")
					assert.Equal(t, tt.body, rec.Body.String())
					assert.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))
					assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
					assert.Equal(t, tt.challenge, rec.Header().Values("Www-Authenticate"))
					assert.NotContains(t, rec.Body.String(), alice)
					return
				}
				require.Equal(t, 1, s.called)
				if tt.wantID == "" {
					assert.Nil(t, s.identity, "optional mode without credentials has no user")
					return
				}
				require.NotNil(t, s.identity)
				assert.Equal(t, tt.wantID, s.identity.Account.ID)
				assert.Equal(t, tt.wantMethod, s.identity.Credential)
				assert.Equal(t, tt.wantTransport, s.identity.transport)
				if tt.wantMethod == TokenCredential {
					assert.NotEqual(t, [16]byte{}, s.identity.Claims.ID)
				}
			})
		}
	}
}

func h(k, v string) map[string][]string { return map[string][]string{k: {v}} }

func TestUnknownUserAndWrongPasswordRepliesAreIdentical(t *testing.T) {
	f := newFixture(t, nil)
	reply := func(login string) (int, http.Header, string) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", basicHeader(login, "not-the-password"))
		rec := httptest.NewRecorder()
		f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
		return rec.Code, rec.Header(), rec.Body.String()
	}
	s1, h1, b1 := reply("alice@example.com")
	s2, h2, b2 := reply("nobody@example.com")
	assert.Equal(t, http.StatusUnauthorized, s1)
	assert.Equal(t, s1, s2)
	assert.Equal(t, h1, h2)
	assert.Equal(t, b1, b2)
}

func TestTypedUserGetters(t *testing.T) {
	f := newFixture(t, nil)
	var got testUser
	var ok bool
	handler := f.auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, ok = f.auth.User(r)
		_, wrongType := identityFrom[string](r.Context())
		assert.False(t, wrongType, "another user type finds nothing")
	}))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", basicHeader("alice@example.com", "wonderland-42"))
	handler.ServeHTTP(httptest.NewRecorder(), req)
	require.True(t, ok)
	assert.Equal(t, "alice@example.com", got.Email)

	_, ok = f.auth.User(httptest.NewRequest(http.MethodGet, "/", nil))
	assert.False(t, ok)
}

func TestTokenHandler(t *testing.T) {
	f := newFixture(t, func(c *testSetup[testUser]) { c.TokenTTL = 90 * time.Second })
	tok := f.token(t, "alice@example.com", "wonderland-42")
	tests := []struct {
		name       string
		method     string
		authz      string
		behind     bool // mounted behind Middleware
		status     int
		allow      string
		wantsToken bool
	}{
		{"POST with password", http.MethodPost, basicHeader("alice@example.com", "wonderland-42"), false, 200, "", true},
		{"POST with password behind middleware", http.MethodPost, basicHeader("alice@example.com", "wonderland-42"), true, 200, "", true},
		{"GET", http.MethodGet, basicHeader("alice@example.com", "wonderland-42"), false, 405, "POST", false},
		{"PUT behind middleware", http.MethodPut, basicHeader("alice@example.com", "wonderland-42"), true, 405, "POST", false},
		{"bearer token cannot mint", http.MethodPost, "Bearer " + tok, false, 401, "", false},
		{"bearer token cannot mint behind middleware", http.MethodPost, "Bearer " + tok, true, 401, "", false},
		{"basic token cannot mint", http.MethodPost, basicHeader(tok, ""), true, 401, "", false},
		{"no credentials", http.MethodPost, "", false, 401, "", false},
		{"wrong password", http.MethodPost, basicHeader("alice@example.com", "nope"), false, 401, "", false},
		{"unconfirmed", http.MethodPost, basicHeader("bob@example.com", "builder-42"), false, 403, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var handler http.Handler = f.auth.TokenHandler()
			if tt.behind {
				handler = f.auth.Middleware(handler)
			}
			req := httptest.NewRequest(tt.method, "/tokens/", nil)
			if tt.authz != "" {
				req.Header.Set("Authorization", tt.authz)
			}
			rec := httptest.NewRecorder()
			handler.ServeHTTP(rec, req)
			require.Equal(t, tt.status, rec.Code, rec.Body.String())
			assert.Equal(t, tt.allow, rec.Header().Get("Allow"))
			assert.Equal(t, "no-store", rec.Header().Get("Cache-Control"))
			assert.Equal(t, "application/json; charset=utf-8", rec.Header().Get("Content-Type"))
			var reply map[string]any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &reply))
			if !tt.wantsToken {
				assert.NotContains(t, reply, "token")
				return
			}
			assert.Equal(t, "no-cache", rec.Header().Get("Pragma"))
			assert.Len(t, reply, 2)
			assert.Equal(t, float64(90), reply["expiration"])
			newTok, _ := reply["token"].(string)
			c, err := f.auth.cfg.Signer.Verify(context.Background(), newTok)
			require.NoError(t, err)
			assert.Equal(t, "1", c.Subject)
			assert.Equal(t, 90*time.Second, c.ExpiresAt.Sub(c.IssuedAt))
			assert.NotEqual(t, tok, newTok, "every login mints a fresh token")
		})
	}
}

func TestTokenLifecycle(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	get := func(authz string) int {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", authz)
		rec := httptest.NewRecorder()
		f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
		return rec.Code
	}
	revoke := func(authz string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodDelete, "/tokens/", nil)
		req.Header.Set("Authorization", authz)
		rec := httptest.NewRecorder()
		f.auth.Middleware(f.auth.RevokeHandler()).ServeHTTP(rec, req)
		return rec
	}

	t.Run("expiry", func(t *testing.T) {
		tok := f.token(t, "alice@example.com", "wonderland-42")
		f.clock.Advance(time.Hour - time.Second)
		assert.Equal(t, 200, get("Bearer "+tok))
		f.clock.Advance(time.Second)
		assert.Equal(t, 401, get("Bearer "+tok))
		f.clock.t = t0.Add(time.Second)
	})
	t.Run("revoke only that token, in every transport", func(t *testing.T) {
		tok1 := f.token(t, "alice@example.com", "wonderland-42")
		tok2 := f.token(t, "alice@example.com", "wonderland-42")
		rec := revoke("Bearer " + tok1)
		require.Equal(t, http.StatusNoContent, rec.Code, rec.Body.String())
		assert.Equal(t, 401, get("Bearer "+tok1))
		assert.Equal(t, 401, get(basicHeader(tok1, "")))
		assert.Equal(t, 200, get("Bearer "+tok2), "other tokens keep working")
	})
	t.Run("revoke with a password is a 400", func(t *testing.T) {
		rec := revoke(basicHeader("alice@example.com", "wonderland-42"))
		assert.Equal(t, http.StatusBadRequest, rec.Code)
		assert.JSONEq(t, `{"error":"bad_request","message":"Request did not authenticate with a token"}`, rec.Body.String())
	})
	t.Run("revoke handler method", func(t *testing.T) {
		req := httptest.NewRequest(http.MethodPost, "/tokens/", nil)
		rec := httptest.NewRecorder()
		f.auth.RevokeHandler().ServeHTTP(rec, req)
		assert.Equal(t, http.StatusMethodNotAllowed, rec.Code)
		assert.Equal(t, "DELETE", rec.Header().Get("Allow"))
	})
	t.Run("password change cuts off older tokens", func(t *testing.T) {
		tok := f.token(t, "admin@example.com", "s3cret:with:colons")
		f.clock.Advance(time.Second)
		require.NoError(t, f.users.Update(ctx, "4", func(a *Account[testUser]) { a.TokensValidAfter = f.clock.Now() }))
		assert.Equal(t, 401, get("Bearer "+tok))
		f.clock.Advance(time.Second) // a token issued at the cutoff itself is refused too
		assert.Equal(t, 200, get("Bearer "+f.token(t, "admin@example.com", "s3cret:with:colons")))
		f.clock.t = t0.Add(time.Second)
	})
	t.Run("disabled and deleted users lose their tokens", func(t *testing.T) {
		tok := f.token(t, "ops@example.com", "ops-42")
		require.Equal(t, 200, get("Bearer "+tok))
		require.NoError(t, f.users.Update(ctx, "6", func(a *Account[testUser]) { a.Disabled = true }))
		assert.Equal(t, 401, get("Bearer "+tok))
		require.NoError(t, f.users.Update(ctx, "6", func(a *Account[testUser]) { a.Disabled = false }))
		assert.Equal(t, 200, get("Bearer "+tok))
		require.NoError(t, f.users.Delete(ctx, "6"))
		assert.Equal(t, 401, get("Bearer "+tok))
	})
	t.Run("unconfirmed user's token is a 403", func(t *testing.T) {
		tok, _, err := f.auth.IssueToken(ctx, "2")
		require.NoError(t, err)
		assert.Equal(t, 403, get("Bearer "+tok))
	})
}

func TestRoles(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name   string
		guard  func(http.Handler) http.Handler
		login  string
		pw     string
		status int
	}{
		{"any-of: has one", f.auth.RequireAnyRole("admin", "ops"), "ops@example.com", "ops-42", 200},
		{"any-of: has none", f.auth.RequireAnyRole("admin", "ops"), "alice@example.com", "wonderland-42", 403},
		{"all-of: has all", f.auth.RequireAllRoles("user", "admin"), "admin@example.com", "s3cret:with:colons", 200},
		{"all-of: has one", f.auth.RequireAllRoles("user", "admin"), "alice@example.com", "wonderland-42", 403},
	}
	for _, tt := range tests {
		for _, viaToken := range []bool{false, true} {
			name := tt.name + "/password"
			authz := basicHeader(tt.login, tt.pw)
			if viaToken {
				name = tt.name + "/token"
				authz = "Bearer " + f.token(t, tt.login, tt.pw)
			}
			t.Run(name, func(t *testing.T) {
				s := &spy{}
				req := httptest.NewRequest(http.MethodGet, "/", nil)
				req.Header.Set("Authorization", authz)
				rec := httptest.NewRecorder()
				f.auth.Middleware(tt.guard(s)).ServeHTTP(rec, req)
				require.Equal(t, tt.status, rec.Code)
				if tt.status == 200 {
					assert.Equal(t, 1, s.called)
					return
				}
				assert.Equal(t, 0, s.called)
				assert.Equal(t, `{"error":"forbidden","message":"Insufficient role"}`+"\n", rec.Body.String())
				if viaToken {
					assert.Regexp(t, `^Bearer realm="test", error="insufficient_scope", scope="[a-z ]+"$`, rec.Header().Get("Www-Authenticate"))
				} else {
					assert.Empty(t, rec.Header().Values("Www-Authenticate"), "a Basic 403 has no challenge")
				}
			})
		}
	}
	t.Run("role guard without middleware is a 401", func(t *testing.T) {
		rec := httptest.NewRecorder()
		f.auth.RequireAnyRole("admin")(&spy{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		assert.Equal(t, 401, rec.Code)
	})
}

func TestConfigValidation(t *testing.T) {
	users := NewMemoryUserStore[testUser](cheapHasher)
	signer := mustSigner(nil, SigningKey{ID: "k1", Secret: testKey1})
	tests := []struct {
		name  string
		setup testSetup[testUser]
		want  string
	}{
		{"no store", testSetup[testUser]{Config: Config[testUser]{Signer: signer, Realm: "r"}}, "Users"},
		{"no signer", testSetup[testUser]{Config: Config[testUser]{Users: users, Realm: "r"}}, "Signer"},
		{"empty realm", testSetup[testUser]{Config: Config[testUser]{Users: users, Signer: signer}}, "Realm"},
		{"realm with newline", testSetup[testUser]{Config: Config[testUser]{Users: users, Signer: signer, Realm: "a\nb"}}, "Realm"},
		{"bad scheme", testSetup[testUser]{Config: Config[testUser]{Users: users, Signer: signer, Realm: "r", BasicScheme: "x y"}}, "BasicScheme"},
		{"bad token header", testSetup[testUser]{Config: Config[testUser]{Users: users, Signer: signer, Realm: "r", TokenHeader: "X:Key"}}, "TokenHeader"},
		{"token header is Authorization", testSetup[testUser]{Config: Config[testUser]{Users: users, Signer: signer, Realm: "r", TokenHeader: "authorization"}}, "TokenHeader"},
		{"negative TTL", testSetup[testUser]{Config: Config[testUser]{Users: users, Signer: signer, Realm: "r", TokenTTL: -1}}, "TokenTTL"},
		{"negative cache TTL", testSetup[testUser]{Config: Config[testUser]{Users: users, Signer: signer, Realm: "r"}, options: options[testUser]{cacheTTL: -1}}, "negative"},
		{"negative hashes", testSetup[testUser]{Config: Config[testUser]{Users: users, Signer: signer, Realm: "r"}, options: options[testUser]{maxConcurrentHashes: -1}}, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := build(tt.setup.Config, tt.setup.options)
			require.Error(t, err)
			assert.Nil(t, a)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	t.Run("minimal config works", func(t *testing.T) {
		a, err := New(Config[testUser]{Users: users, Signer: signer, Realm: "r", Hasher: cheapHasher})
		require.NoError(t, err)
		assert.Equal(t, time.Hour, a.cfg.TokenTTL)
		assert.NotNil(t, a.cfg.Throttle.Logins, "throttling is on by default")
	})
}

func TestRealmEscapingAndCustomScheme(t *testing.T) {
	f := newFixture(t, func(c *testSetup[testUser]) {
		c.Realm = `my "api" \ v1`
		c.BasicScheme = "xBasic"
	})
	rec := httptest.NewRecorder()
	f.auth.Middleware(&spy{}).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	assert.Equal(t, []string{
		`xBasic realm="my \"api\" \\ v1", charset="UTF-8"`,
		`Bearer realm="my \"api\" \\ v1"`,
	}, rec.Header().Values("Www-Authenticate"))
	// Requests still use the Basic scheme.
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", basicHeader("alice@example.com", "wonderland-42"))
	rec = httptest.NewRecorder()
	f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
	assert.Equal(t, 200, rec.Code)
}

func TestCustomErrorWriter(t *testing.T) {
	var gotStatus int
	var gotErr error
	f := newFixture(t, func(c *testSetup[testUser]) {
		c.ErrorWriter = func(w http.ResponseWriter, r *http.Request, status int, err error) {
			gotStatus, gotErr = status, err
			w.WriteHeader(status)
			_, _ = w.Write([]byte("custom"))
		}
	})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", basicHeader("bob@example.com", "builder-42"))
	rec := httptest.NewRecorder()
	f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
	assert.Equal(t, 403, rec.Code)
	assert.Equal(t, "custom", rec.Body.String())
	assert.Equal(t, 403, gotStatus)
	assert.ErrorIs(t, gotErr, ErrForbidden)
	var fe *forbiddenError
	require.ErrorAs(t, gotErr, &fe)
	assert.Equal(t, "Unconfirmed account", fe.Message)
}

// countingHasher counts verifications, to see what the cache saves.
type countingHasher struct {
	PasswordHasher
	verifies atomic.Int32
}

func (c *countingHasher) Verify(ctx context.Context, hash, pw string) (bool, error) {
	c.verifies.Add(1)
	return c.PasswordHasher.Verify(ctx, hash, pw)
}

func TestCredentialCache(t *testing.T) {
	counter := &countingHasher{PasswordHasher: cheapHasher}
	f := newFixture(t, func(c *testSetup[testUser]) { c.Hasher = counter })
	ctx := context.Background()
	get := func(login, pw string) int {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", basicHeader(login, pw))
		rec := httptest.NewRecorder()
		f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
		return rec.Code
	}
	verifies := func() int32 { return counter.verifies.Swap(0) }

	require.Equal(t, 200, get("alice@example.com", "wonderland-42"))
	assert.EqualValues(t, 1, verifies(), "first login hashes")
	require.Equal(t, 200, get("alice@example.com", "wonderland-42"))
	assert.EqualValues(t, 0, verifies(), "second login is a cache hit")

	assert.Equal(t, 401, get("alice@example.com", "wrong"))
	assert.Equal(t, 401, get("alice@example.com", "wrong"))
	assert.EqualValues(t, 2, verifies(), "failures are never cached")

	f.clock.Advance(5*time.Minute + time.Second)
	require.Equal(t, 200, get("alice@example.com", "wonderland-42"))
	assert.EqualValues(t, 1, verifies(), "TTL expired")

	require.NoError(t, f.users.SetPassword(ctx, "1", "new-password-42"))
	assert.Equal(t, 401, get("alice@example.com", "wonderland-42"), "old password stops at once")
	assert.EqualValues(t, 1, verifies())
	require.Equal(t, 200, get("alice@example.com", "new-password-42"))
	require.Equal(t, 200, get("alice@example.com", "new-password-42"))
	assert.EqualValues(t, 1, verifies())

	require.NoError(t, f.users.Update(ctx, "1", func(a *Account[testUser]) { a.Disabled = true }))
	assert.Equal(t, 401, get("alice@example.com", "new-password-42"), "disabled stops at once")
	require.NoError(t, f.users.Update(ctx, "1", func(a *Account[testUser]) { a.User.Confirmed = false }))
	require.NoError(t, f.users.Update(ctx, "1", func(a *Account[testUser]) { a.Disabled = false }))
	assert.Equal(t, 403, get("alice@example.com", "new-password-42"), "account check runs on hits too")
	verifies()

	t.Run("bounded", func(t *testing.T) {
		c := newCredCache(32, time.Minute, time.Now)
		for i := range 1000 {
			c.put(c.key("u", strings.Repeat("p", i)), "id", "hash")
		}
		assert.LessOrEqual(t, c.len(), 32)
	})
	t.Run("keys separate login and password", func(t *testing.T) {
		c := newCredCache(32, time.Minute, time.Now)
		assert.NotEqual(t, c.key("ab", "c"), c.key("a", "bc"))
	})
	t.Run("off", func(t *testing.T) {
		counter := &countingHasher{PasswordHasher: cheapHasher}
		f := newFixture(t, func(c *testSetup[testUser]) { c.Hasher = counter; c.cacheSize = -1 })
		for range 2 {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.Header.Set("Authorization", basicHeader("alice@example.com", "wonderland-42"))
			rec := httptest.NewRecorder()
			f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
			require.Equal(t, 200, rec.Code)
		}
		assert.EqualValues(t, 2, counter.verifies.Load())
	})
}

func TestThrottling(t *testing.T) {
	f := newFixture(t, func(c *testSetup[testUser]) {
		c.Throttle.Logins = newMemoryLimiter(3, time.Minute, nil)
	})
	do := func(authz string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", authz)
		rec := httptest.NewRecorder()
		f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
		return rec
	}
	tok := f.token(t, "alice@example.com", "wonderland-42")
	for _, login := range []string{"alice@example.com", "ghost@example.com"} {
		t.Run(login, func(t *testing.T) {
			for range 3 {
				require.Equal(t, 401, do(basicHeader(login, "guess")).Code)
			}
			rec := do(basicHeader(login, "wonderland-42"))
			require.Equal(t, http.StatusTooManyRequests, rec.Code)
			assert.JSONEq(t, `{"error":"too_many_requests","message":"Too many failed attempts; try again later"}`, rec.Body.String())
			assert.Regexp(t, `^[1-9][0-9]*$`, rec.Header().Get("Retry-After"))
			rec = do(basicHeader(strings.ToUpper(login), "guess"))
			assert.Equal(t, http.StatusTooManyRequests, rec.Code, "login case does not dodge the throttle")
		})
	}
	assert.Equal(t, 200, do("Bearer "+tok).Code, "tokens keep working")
	assert.Equal(t, 200, do(basicHeader("admin@example.com", "s3cret:with:colons")).Code, "other users unaffected")
}

func TestClientIP(t *testing.T) {
	f := newFixture(t, func(c *testSetup[testUser]) {
		c.Throttle.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	})
	plain := newFixture(t, nil)
	tests := []struct {
		name, remote, xff, want, wantPlain string
	}{
		{"direct", "192.0.2.1:1234", "", "192.0.2.1", "192.0.2.1"},
		{"untrusted proxy's header ignored", "192.0.2.1:1234", "198.51.100.7", "192.0.2.1", "192.0.2.1"},
		{"trusted proxy", "10.1.1.1:1234", "198.51.100.7", "198.51.100.7", "10.1.1.1"},
		{"chain of trusted proxies", "10.1.1.1:1234", "203.0.113.9, 198.51.100.7, 10.2.2.2", "198.51.100.7", "10.1.1.1"},
		// Issue 9: a garbled chain gets a bucket of its own, not the proxy's.
		{"garbage hop", "10.1.1.1:1234", "junk", clientKeyInvalidChain, "10.1.1.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = tt.remote
			if tt.xff != "" {
				req.Header.Set("X-Forwarded-For", tt.xff)
			}
			assert.Equal(t, tt.want, f.auth.clientIP(req))
			assert.Equal(t, tt.wantPlain, plain.auth.clientIP(req), "X-Forwarded-For is not trusted by default")
		})
	}
}

func TestClientLimiter(t *testing.T) {
	f := newFixture(t, func(c *testSetup[testUser]) {
		c.Throttle.Clients = newMemoryLimiter(2, time.Minute, nil)
		c.disableThrottling = true
	})
	do := func(remote, login, pw string) int {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.RemoteAddr = remote
		req.Header.Set("Authorization", basicHeader(login, pw))
		rec := httptest.NewRecorder()
		f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
		return rec.Code
	}
	assert.Equal(t, 401, do("192.0.2.1:1", "a@example.com", "x"))
	assert.Equal(t, 401, do("192.0.2.1:2", "b@example.com", "x"))
	assert.Equal(t, 429, do("192.0.2.1:3", "alice@example.com", "wonderland-42"), "the client is throttled across logins")
	assert.Equal(t, 200, do("192.0.2.2:1", "alice@example.com", "wonderland-42"), "other clients are not")
}

func TestWrapsWholeMux(t *testing.T) {
	f := newFixture(t, nil)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /a", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("a")) })
	mux.HandleFunc("GET /b", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("b")) })
	srv := httptest.NewServer(f.auth.Middleware(mux))
	defer srv.Close()
	for _, path := range []string{"/a", "/b", "/missing"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, 401, resp.StatusCode, path)
		req.Header.Set("Authorization", basicHeader("alice@example.com", "wonderland-42"))
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		if path == "/missing" {
			assert.Equal(t, 404, resp.StatusCode)
		} else {
			assert.Equal(t, 200, resp.StatusCode, path)
		}
	}
}

func TestStoreFailureIsA500(t *testing.T) {
	log := newErrorLog(slog.DiscardHandler)
	f := newFixture(t, func(c *testSetup[testUser]) {
		c.Users = failingStore{}
		c.Logger = slog.New(log)
	})
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Authorization", basicHeader("alice@example.com", "wonderland-42"))
	rec := httptest.NewRecorder()
	f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
	assert.Equal(t, 500, rec.Code)
	assert.Equal(t, `{"error":"internal_error","message":"Internal server error"}`+"\n", rec.Body.String())
	assert.NotContains(t, rec.Body.String(), "db on fire")
	reported := log.list()
	require.Len(t, reported, 1)
	assert.Contains(t, reported[0].Error(), "db on fire")
}

type failingStore struct{}

func (failingStore) UserByLogin(context.Context, string) (*Account[testUser], error) {
	return nil, errors.New("db on fire")
}

func (failingStore) UserByID(context.Context, string) (*Account[testUser], error) {
	return nil, errors.New("db on fire")
}

// panickyStore panics on every lookup.
type panickyStore struct{}

func (panickyStore) UserByLogin(context.Context, string) (*Account[testUser], error) {
	panic("store exploded")
}

func (panickyStore) UserByID(context.Context, string) (*Account[testUser], error) {
	panic("store exploded")
}

func TestPanicReleasesHashSlot(t *testing.T) {
	var store UserStore[testUser] = panickyStore{}
	f := newFixture(t, func(c *testSetup[testUser]) {
		c.maxConcurrentHashes = 1
		c.Users = UserStoreFunc(func() UserStore[testUser] { return store })
	})
	do := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx)
		req.Header.Set("Authorization", basicHeader("alice@example.com", "wonderland-42"))
		rec := httptest.NewRecorder()
		f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
		return rec.Code
	}
	for range 3 {
		require.Equal(t, http.StatusInternalServerError, do())
	}
	store = f.users
	assert.Equal(t, http.StatusOK, do(), "the slot was released after each panic")
}

// UserStoreFunc picks the store per call, so a test can swap it.
type UserStoreFunc func() UserStore[testUser]

func (f UserStoreFunc) UserByLogin(ctx context.Context, login string) (*Account[testUser], error) {
	return f().UserByLogin(ctx, login)
}

func (f UserStoreFunc) UserByID(ctx context.Context, id string) (*Account[testUser], error) {
	return f().UserByID(ctx, id)
}

// A cached credential is no way around a failing store: the hit still
// loads the account, and a store error is a 500.
func TestCachedCredentialStoreFailureIsA500(t *testing.T) {
	var store UserStore[testUser]
	f := newFixture(t, func(c *testSetup[testUser]) {
		c.Users = UserStoreFunc(func() UserStore[testUser] { return store })
	})
	store = f.users
	do := func() int {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("Authorization", basicHeader("alice@example.com", "wonderland-42"))
		rec := httptest.NewRecorder()
		f.auth.Middleware(&spy{}).ServeHTTP(rec, req)
		return rec.Code
	}
	require.Equal(t, http.StatusOK, do())
	require.Equal(t, 1, f.auth.cache.len(), "the login is cached")
	store = failingStore{}
	assert.Equal(t, http.StatusInternalServerError, do())
}
