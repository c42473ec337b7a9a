// Command gorillamux protects gorilla/mux routes with httpauth: the
// middleware goes on a subrouter with Use, and handlers read the user
// with auth.User(r).
//
//	go run ./gorillamux [-addr 127.0.0.1:8080]
package main

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/examples/routers/internal/demo"
)

func main() { demo.Main(routes) }

func routes(auth *httpauth.Authenticator[demo.User]) http.Handler {
	r := mux.NewRouter()
	r.HandleFunc("/healthz", func(w http.ResponseWriter, r *http.Request) {
		demo.WriteJSON(w, map[string]string{"status": "ok"})
	}).Methods(http.MethodGet)

	api := r.PathPrefix("/api/v1").Subrouter()
	api.Use(auth.Middleware) // runs for every route of api that matches
	api.Handle("/tokens/", auth.TokenHandler()).Methods(http.MethodPost)
	api.Handle("/tokens/", auth.RevokeHandler()).Methods(http.MethodDelete)
	api.HandleFunc("/me", func(w http.ResponseWriter, r *http.Request) {
		u, _ := auth.User(r)
		demo.WriteJSON(w, u)
	}).Methods(http.MethodGet)
	api.Handle("/admin", auth.RequireAnyRole("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := auth.User(r)
		demo.WriteJSON(w, map[string]string{"admin": u.Name})
	}))).Methods(http.MethodGet)
	return r
}
