package httpauth_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/gohttpauth/httpauth"
)

// status sends one request with the Authorization value to h.
func status(h http.Handler, authorization string) int {
	req := httptest.NewRequest(http.MethodGet, "/api/v1/me", nil)
	req.Header.Set("Authorization", authorization)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

func basic(login, password string) string {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(login, password)
	return req.Header.Get("Authorization")
}

// The confirmation flow: register, mail a link, confirm. The link works
// once; the account is refused with a 403 until it is confirmed.
func ExampleAuthenticator_Confirm() {
	ctx := context.Background()
	users := httpauth.NewMemoryUserStore[User](nil)
	_ = users.Add(ctx, "bob@example.com", "builder-42", httpauth.Account[User]{ID: "2", User: User{Name: "Bob"}})
	auth, err := httpauth.New(httpauth.Config[User]{
		Users:  users,
		Signer: signer,
		Realm:  "api",
		Logger: slog.New(slog.DiscardHandler),
		CheckAccount: func(_ *http.Request, a *httpauth.Account[User]) error {
			if !a.Confirmed {
				return httpauth.Forbidden("Unconfirmed account")
			}
			return nil
		},
	})
	if err != nil {
		panic(err)
	}
	api := auth.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))

	// At registration: mail "https://example.com/confirm?token=" + token.
	token, err := auth.ConfirmationToken(ctx, "2")
	if err != nil {
		panic(err)
	}
	fmt.Println("before:", status(api, basic("bob@example.com", "builder-42")))

	// POST /confirm {"token": …}
	_, err = auth.Confirm(ctx, token)
	fmt.Println("confirm:", err)
	fmt.Println("after:", status(api, basic("bob@example.com", "builder-42")))

	_, err = auth.Confirm(ctx, token)
	fmt.Println("same link again is invalid:", errors.Is(err, httpauth.ErrTokenInvalid))
	// Output:
	// before: 403
	// confirm: <nil>
	// after: 200
	// same link again is invalid: true
}

// A password reset ends the old password, every token issued before, and
// the reset link itself.
func ExampleAuthenticator_ResetPassword() {
	ctx := context.Background()
	users := httpauth.NewMemoryUserStore[User](nil)
	_ = users.Add(ctx, "alice@example.com", "wonderland-42", httpauth.Account[User]{ID: "1"})
	auth, err := httpauth.New(httpauth.Config[User]{
		Users:  users,
		Signer: signer,
		Realm:  "api",
		Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	api := auth.Middleware(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	access, _, _ := auth.IssueToken(ctx, "1")

	// POST /password-reset {"email": …}: look the account up, mail a link.
	acct, _ := users.UserByLogin(ctx, "alice@example.com")
	token, _ := auth.PasswordResetToken(ctx, acct.ID)

	// POST /password-reset/confirm {"token": …, "password": …}
	_, err = auth.ResetPassword(ctx, token, "looking-glass-7")
	fmt.Println("reset:", err)
	_, err = auth.ResetPassword(ctx, token, "again-and-again")
	fmt.Println("second use is invalid:", errors.Is(err, httpauth.ErrTokenInvalid))
	fmt.Println("old password:", status(api, basic("alice@example.com", "wonderland-42")))
	fmt.Println("new password:", status(api, basic("alice@example.com", "looking-glass-7")))
	fmt.Println("old token:", status(api, "Bearer "+access))
	// Output:
	// reset: <nil>
	// second use is invalid: true
	// old password: 401
	// new password: 200
	// old token: 401
}

// API keys for machine clients: made by a user within their own roles,
// shown once, sent as a Bearer token (or in Config.TokenHeader).
func ExampleAuthenticator_CreateAPIKey() {
	ctx := context.Background()
	users := httpauth.NewMemoryUserStore[User](nil)
	_ = users.Add(ctx, "admin@example.com", "s3cret-42", httpauth.Account[User]{ID: "4", Roles: []string{"user", "admin"}})
	auth, err := httpauth.New(httpauth.Config[User]{
		Users:   users,
		APIKeys: httpauth.NewMemoryKeyStore(),
		Signer:  signer,
		Realm:   "api",
		Logger:  slog.New(slog.DiscardHandler),
	})
	if err != nil {
		panic(err)
	}
	defer auth.Close() // writes the keys' last-used times

	mux := http.NewServeMux()
	mux.HandleFunc("POST /keys", func(w http.ResponseWriter, r *http.Request) {
		id, _ := auth.Identity(r)
		key, k, err := auth.CreateAPIKey(r.Context(), id, "ci", []string{"user"}, time.Time{})
		if errors.Is(err, httpauth.ErrForbidden) {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		fmt.Println("created", k.Name, k.Roles, "prefix", key[:4], "length", len(key))
		fmt.Fprint(w, key) // shown once; only its SHA-256 is stored
	})
	mux.HandleFunc("DELETE /keys", func(w http.ResponseWriter, r *http.Request) {
		id, _ := auth.Identity(r)
		keys, err := auth.APIKeys(r.Context(), id) // a key may not manage keys
		if errors.Is(err, httpauth.ErrForbidden) {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		for _, k := range keys {
			_ = auth.DeleteAPIKey(r.Context(), id, k.ID)
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /me", func(w http.ResponseWriter, r *http.Request) {
		id, _ := auth.Identity(r)
		fmt.Println("me:", id.Credential, id.Account.ID, id.Account.Roles, id.APIKeyID != "")
	})
	admin := auth.RequireAnyRole("admin")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	mux.Handle("GET /admin", admin)
	h := auth.Middleware(mux)

	req := httptest.NewRequest(http.MethodPost, "/keys", nil)
	req.SetBasicAuth("admin@example.com", "s3cret-42")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	key := rec.Body.String()

	for _, path := range []string{"/me", "/admin"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer "+key)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(path, rec.Code)
	}
	req = httptest.NewRequest(http.MethodPost, "/keys", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println("a key making a key:", rec.Code)

	for _, login := range []string{"", "admin@example.com"} {
		req = httptest.NewRequest(http.MethodDelete, "/keys", nil)
		req.Header.Set("Authorization", "Bearer "+key)
		if login != "" {
			req.SetBasicAuth(login, "s3cret-42")
		}
		rec = httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println("delete keys:", rec.Code)
	}
	req = httptest.NewRequest(http.MethodGet, "/me", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println("after delete:", rec.Code)
	// Output:
	// created ci [user] prefix hak_ length 40
	// me: api_key 4 [user] true
	// /me 200
	// /admin 403
	// a key making a key: 403
	// delete keys: 403
	// delete keys: 204
	// after delete: 401
}
