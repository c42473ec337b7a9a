// Command chi protects go-chi/chi routes with httpauth: the middleware
// goes in with r.Use, and handlers read the user with auth.User(r).
//
//	go run ./chi [-addr 127.0.0.1:8080]
package main

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/examples/routers/internal/demo"
)

func main() { demo.Main(routes) }

func routes(auth *httpauth.Authenticator[demo.User]) http.Handler {
	r := chi.NewRouter()
	r.Get("/healthz", func(w http.ResponseWriter, r *http.Request) {
		demo.WriteJSON(w, map[string]string{"status": "ok"})
	})
	r.Route("/api/v1", func(r chi.Router) {
		r.Use(auth.Middleware) // every route below needs a password or a token
		r.Method(http.MethodPost, "/tokens/", auth.TokenHandler())
		r.Method(http.MethodDelete, "/tokens/", auth.RevokeHandler())
		r.Get("/me", func(w http.ResponseWriter, r *http.Request) {
			u, _ := auth.User(r)
			demo.WriteJSON(w, u)
		})
		r.With(auth.RequireAnyRole("admin")).Get("/admin", func(w http.ResponseWriter, r *http.Request) {
			u, _ := auth.User(r)
			demo.WriteJSON(w, map[string]string{"admin": u.Name})
		})
	})
	return r
}
