package httpauth_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/httpauthtest"
)

// User is the host application's own user type. Handlers get it back from
// the request, typed.
type User struct {
	Name string
}

// exampleSecret stands in for the hex key that "httpauth keygen" prints.
// Never use a constant key in production: read it from the environment.
const exampleSecret = "e3dc3292449c842af10ae12c2d6fa1760b1682f00d82a417ee7aa32483f4505d"

// signer signs the examples' tokens.
var signer = func() *httpauth.HMACSigner {
	key, err := httpauth.KeyFromHex("k1", exampleSecret) // os.Getenv("HTTPAUTH_SECRET")
	if err != nil {
		panic(err)
	}
	s, err := httpauth.NewHMACSigner(key)
	if err != nil {
		panic(err)
	}
	return s
}()

func ExampleNew() {
	ctx := context.Background()
	users := httpauth.NewMemoryUserStore[User](nil) // hashes with argon2id
	err := users.Add(ctx, "alice@example.com", "wonderland-42", httpauth.Account[User]{
		ID: "1", Roles: []string{"user"}, User: User{Name: "Alice"},
	})
	if err != nil {
		panic(err)
	}

	auth, err := httpauth.New(httpauth.Config[User]{
		Users:  users,
		Signer: signer,
		Realm:  "api",
		Logger: slog.New(slog.DiscardHandler),
	})
	fmt.Println(auth != nil, err)

	// A bad configuration fails here, never on a request.
	_, err = httpauth.New(httpauth.Config[User]{Users: users, Signer: signer})
	fmt.Println(err)
	// Output:
	// true <nil>
	// httpauth: Config.Realm is required
}

func ExampleKeyFromHex() {
	// Read the key from the environment; "httpauth keygen" makes one.
	key, err := httpauth.KeyFromHex("k1", exampleSecret)
	fmt.Println(key.ID, len(key.Secret), err)

	// A short, all-zero or made-up key is refused, never used.
	for _, bad := range []string{"", "c0ffee", strings.Repeat("00", 32), strings.Repeat("ab", 32), "not hex"} {
		_, err := httpauth.KeyFromHex("k1", bad)
		fmt.Println(err)
	}
	// Output:
	// k1 32 <nil>
	// httpauth: key is 0 bytes; at least 32 are required
	// httpauth: key is 3 bytes; at least 32 are required
	// httpauth: key has 1 distinct byte values; a random key has about 30 (use "httpauth keygen")
	// httpauth: key has 1 distinct byte values; a random key has about 30 (use "httpauth keygen")
	// httpauth: key is not valid hex
}

func ExampleAuthenticator_Middleware() {
	ctx := context.Background()
	users := httpauth.NewMemoryUserStore[User](nil)
	_ = users.Add(ctx, "alice@example.com", "wonderland-42", httpauth.Account[User]{ID: "1", User: User{Name: "Alice"}})
	auth, _ := httpauth.New(httpauth.Config[User]{
		Users: users, Signer: signer, Realm: "api",
		Logger: slog.New(slog.DiscardHandler),
	})

	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/me", func(w http.ResponseWriter, r *http.Request) {
		u, _ := auth.User(r) // a User, no type assertion
		fmt.Fprintln(w, "hello,", u.Name)
	})
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", auth.Middleware(api)) // every API route, in one place

	req := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Print(rec.Code, " ", rec.Header().Values("WWW-Authenticate"), " ", rec.Body)

	req.SetBasicAuth("alice@example.com", "wonderland-42")
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Print(rec.Code, " ", rec.Body)
	// Output:
	// 401 [Basic realm="api", charset="UTF-8" Bearer realm="api"] {"error":"unauthorized","message":"Credentials required"}
	// 200 hello, Alice
}

func ExampleAuthenticator_TokenHandler() {
	ctx := context.Background()
	users := httpauth.NewMemoryUserStore[User](nil)
	_ = users.Add(ctx, "alice@example.com", "wonderland-42", httpauth.Account[User]{ID: "1", User: User{Name: "Alice"}})
	auth, _ := httpauth.New(httpauth.Config[User]{
		Users: users, Signer: signer, Realm: "api",
		Logger: slog.New(slog.DiscardHandler),
	})

	api := http.NewServeMux()
	api.Handle("POST /api/v1/tokens/{$}", auth.TokenHandler())
	api.Handle("DELETE /api/v1/tokens/{$}", auth.RevokeHandler())
	api.HandleFunc("GET /api/v1/me", func(w http.ResponseWriter, r *http.Request) {
		id, _ := auth.Identity(r)
		fmt.Fprintln(w, id.Account.User.Name, "by", id.Credential)
	})
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", auth.Middleware(api))

	// Log in once with the password...
	req := httptest.NewRequest(http.MethodPost, "/api/v1/tokens/", nil)
	req.SetBasicAuth("alice@example.com", "wonderland-42")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	var reply struct {
		Token      string `json:"token"`
		Expiration int64  `json:"expiration"`
	}
	_ = json.NewDecoder(rec.Body).Decode(&reply)
	fmt.Println(rec.Code, rec.Header().Get("Cache-Control"), reply.Token != "", reply.Expiration)

	// ...then send the token on every request.
	bearer := "Bearer " + reply.Token
	for _, method := range []string{http.MethodGet, http.MethodDelete, http.MethodGet} {
		path := "/api/v1/me"
		if method == http.MethodDelete {
			path = "/api/v1/tokens/" // revokes the token
		}
		req := httptest.NewRequest(method, path, nil)
		req.Header.Set("Authorization", bearer)
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		fmt.Println(strings.TrimSpace(fmt.Sprint(method, " ", path, " ", rec.Code, " ", rec.Body)))
	}
	// Output:
	// 200 no-store true 3600
	// GET /api/v1/me 200 Alice by token
	// DELETE /api/v1/tokens/ 204
	// GET /api/v1/me 401 {"error":"unauthorized","message":"Invalid token"}
}

func ExampleAuthenticator_RequireAnyRole() {
	ctx := context.Background()
	users := httpauth.NewMemoryUserStore[User](nil)
	_ = users.Add(ctx, "alice", "wonderland-42", httpauth.Account[User]{ID: "1", Roles: []string{"user"}, User: User{Name: "Alice"}})
	_ = users.Add(ctx, "root", "s3cret:with:colons", httpauth.Account[User]{ID: "2", Roles: []string{"user", "admin"}, User: User{Name: "Root"}})
	auth, _ := httpauth.New(httpauth.Config[User]{
		Users: users, Signer: signer, Realm: "api",
		Logger: slog.New(slog.DiscardHandler),
	})

	admin := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := auth.User(r)
		fmt.Fprintln(w, "welcome,", u.Name)
	})
	// Middleware first, then the role check for this route only.
	h := auth.Middleware(auth.RequireAnyRole("admin", "operator")(admin))

	for _, login := range [][2]string{{"alice", "wonderland-42"}, {"root", "s3cret:with:colons"}} {
		req := httptest.NewRequest(http.MethodGet, "/admin", nil)
		req.SetBasicAuth(login[0], login[1])
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Print(login[0], " ", rec.Code, " ", rec.Body)
	}
	// Output:
	// alice 403 {"error":"forbidden","message":"Insufficient role"}
	// root 200 welcome, Root
}

func ExampleAuthenticator_Optional() {
	ctx := context.Background()
	users := httpauth.NewMemoryUserStore[User](nil)
	_ = users.Add(ctx, "alice", "wonderland-42", httpauth.Account[User]{ID: "1", User: User{Name: "Alice"}})
	auth, _ := httpauth.New(httpauth.Config[User]{
		Users: users, Signer: signer, Realm: "api",
		Logger: slog.New(slog.DiscardHandler),
	})

	// Anonymous requests get through without a user; bad credentials do not.
	h := auth.Optional(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, ok := auth.User(r); ok {
			fmt.Fprintln(w, "hello,", u.Name)
			return
		}
		fmt.Fprintln(w, "hello, guest")
	}))

	for _, password := range []string{"", "wonderland-42", "wrong"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if password != "" {
			req.SetBasicAuth("alice", password)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Body)
	}
	// Output:
	// 200 hello, guest
	// 200 hello, Alice
	// 401 {"error":"unauthorized","message":"Invalid credentials"}
}

// A public route inside a protected prefix: the more specific pattern on
// the outer mux wins, so /api/v1/status is Optional while the rest of
// /api/v1/ needs credentials.
func ExampleAuthenticator_Optional_insideProtectedPrefix() {
	users := httpauth.NewMemoryUserStore[User](nil)
	auth, _ := httpauth.New(httpauth.Config[User]{
		Users: users, Signer: signer, Realm: "api",
		Logger: slog.New(slog.DiscardHandler),
	})
	api := http.NewServeMux()
	api.HandleFunc("GET /api/v1/me", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "private")
	})
	status := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, signedIn := auth.User(r)
		fmt.Fprintln(w, "ok, signed in:", signedIn)
	})
	root := http.NewServeMux()
	root.Handle("/api/v1/", auth.Middleware(api))
	root.Handle("GET /api/v1/status", auth.Optional(status))

	for _, path := range []string{"/api/v1/status", "/api/v1/me"} {
		rec := httptest.NewRecorder()
		root.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
		fmt.Print(path, " ", rec.Code, " ", rec.Body)
	}
	// Output:
	// /api/v1/status 200 ok, signed in: false
	// /api/v1/me 401 {"error":"unauthorized","message":"Credentials required"}
}

func ExampleConfig_errorWriter() {
	users := httpauth.NewMemoryUserStore[User](nil)
	auth, _ := httpauth.New(httpauth.Config[User]{
		Users: users, Signer: signer, Realm: "api",
		Logger: slog.New(slog.DiscardHandler),
		// Plain text instead of JSON, telling an expired token from the
		// rest, as Flask-HTTPAuth's error_handler can. WWW-Authenticate,
		// Retry-After and Cache-Control are already set when it runs.
		ErrorWriter: func(w http.ResponseWriter, r *http.Request, status int, err error) {
			msg := http.StatusText(status)
			var throttled *httpauth.ThrottledError
			switch {
			case errors.Is(err, httpauth.ErrTokenExpired):
				msg = "token expired: log in again"
			case errors.Is(err, httpauth.ErrTokenInvalid):
				msg = "bad token"
			case errors.Is(err, httpauth.ErrNoCredentials):
				msg = "log in first"
			case errors.Is(err, httpauth.ErrForbidden):
				msg = err.Error() // the one message meant for the client
			case errors.As(err, &throttled):
				msg = fmt.Sprint("slow down for ", throttled.RetryAfter)
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(status)
			fmt.Fprintln(w, msg)
		},
	})
	h := auth.Middleware(http.NotFoundHandler())
	for _, authz := range []string{"", "Bearer not-a-token"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Print(rec.Code, " ", rec.Header().Get("Content-Type"), " ", rec.Body)
	}
	// Output:
	// 401 text/plain; charset=utf-8 log in first
	// 401 text/plain; charset=utf-8 bad token
}

func ExampleProblemWriter_aboutBlank() {
	users := httpauth.NewMemoryUserStore[User](nil)
	auth, _ := httpauth.New(httpauth.Config[User]{
		Users: users, Signer: signer, Realm: "api",
		Logger:      slog.New(slog.DiscardHandler),
		ErrorWriter: httpauth.ProblemWriter(""), // RFC 9457 problem details
	})

	h := auth.Middleware(http.NotFoundHandler())
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	fmt.Print(rec.Code, " ", rec.Header().Get("Content-Type"), "\n", rec.Body)
	// Output:
	// 401 application/problem+json; charset=utf-8
	// {"type":"about:blank","title":"Unauthorized","status":401,"detail":"Credentials required","code":"unauthorized"}
}

func ExampleProblemWriter() {
	rec := httptest.NewRecorder()
	w := httpauth.ProblemWriter("https://example.com/problems/")
	w(rec, httptest.NewRequest(http.MethodGet, "/", nil), http.StatusForbidden, httpauth.Forbidden("Unconfirmed account"))
	fmt.Print(rec.Code, " ", rec.Body)
	// Output:
	// 403 {"type":"https://example.com/problems/forbidden","title":"Forbidden","status":403,"detail":"Unconfirmed account","code":"forbidden"}
}

// mapStore is a UserStore over a map, standing in for a database. A real
// store queries by login and by ID, and reports a missing user with
// ErrUserNotFound; any other error fails the request closed with a 500.
type mapStore map[string]*httpauth.Account[User] // by login

func (s mapStore) UserByLogin(_ context.Context, login string) (*httpauth.Account[User], error) {
	if acct, ok := s[strings.ToLower(login)]; ok {
		return acct, nil
	}
	return nil, httpauth.ErrUserNotFound
}

func (s mapStore) UserByID(_ context.Context, id string) (*httpauth.Account[User], error) {
	for _, acct := range s {
		if acct.ID == id {
			return acct, nil
		}
	}
	return nil, fmt.Errorf("user %q: %w", id, httpauth.ErrUserNotFound)
}

func ExampleUserStore() {
	// Store hashes, never passwords: hash once, when the password is set.
	hash, _ := httpauth.DefaultHasher().Hash(context.Background(), "wonderland-42")
	store := mapStore{
		"alice@example.com": {ID: "1", PasswordHash: hash, User: User{Name: "Alice"}},
	}
	auth, _ := httpauth.New(httpauth.Config[User]{
		Users: store, Signer: signer, Realm: "api",
		Logger: slog.New(slog.DiscardHandler),
	})

	h := auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := auth.User(r)
		fmt.Fprintln(w, "hello,", u.Name)
	}))
	for _, login := range []string{"Alice@Example.com", "mallory@example.com"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.SetBasicAuth(login, "wonderland-42")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Print(login, " ", rec.Code, " ", rec.Body)
	}
	// Output:
	// Alice@Example.com 200 hello, Alice
	// mallory@example.com 401 {"error":"unauthorized","message":"Invalid credentials"}
}

// A user turns on the second factor: StartTOTP gives the secret (and its
// otpauth:// URI for a QR code), ConfirmTOTP takes the app's first code
// and returns the recovery codes. From then on the password alone is a
// 401 with "X-OTP: required", and the password with a code in X-OTP
// authenticates, once per code.
func ExampleAuthenticator_StartTOTP() {
	ctx := context.Background()
	users := httpauth.NewMemoryUserStore[User](httpauthtest.FastHasher{})
	_ = users.Add(ctx, "alice@example.com", "wonderland-42", httpauth.Account[User]{ID: "1"})
	auth, _ := httpauth.New(httpauth.Config[User]{Users: users, Signer: signer, Realm: "Example API", Hasher: httpauthtest.FastHasher{}})

	var id *httpauth.Identity[User]
	protected := auth.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { id, _ = auth.Identity(r) }))
	get := func(otp string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
		r.SetBasicAuth("alice@example.com", "wonderland-42")
		if otp != "" {
			r.Header.Set("X-OTP", otp)
		}
		w := httptest.NewRecorder()
		protected.ServeHTTP(w, r)
		return w
	}
	get("") // the identity of a password login

	secret, uri, _ := auth.StartTOTP(ctx, id)
	fmt.Println(strings.HasPrefix(uri, "otpauth://totp/Example%20API:alice@example.com?secret="+secret))
	code, _ := httpauthtest.TOTPCode(secret, time.Now()) // what the app shows
	recovery, err := auth.ConfirmTOTP(ctx, id, code)
	fmt.Println(len(recovery), err)

	w := get("")
	fmt.Println(w.Code, w.Header().Get("X-OTP"))
	fmt.Println(get(recovery[0]).Code) // a recovery code, once
	fmt.Println(get(recovery[0]).Code)
	// Output:
	// true
	// 10 <nil>
	// 401 required
	// 200
	// 401
}
