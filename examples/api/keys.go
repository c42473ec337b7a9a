package main

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gohttpauth/httpauth"
)

// keyJSON is an API key as GET /api/v1/keys shows it: never the secret
// nor its hash. last_used is null for a key never used.
type keyJSON struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Roles    []string   `json:"roles"`
	Created  time.Time  `json:"created"`
	LastUsed *time.Time `json:"last_used"`
	Expires  *time.Time `json:"expires,omitempty"`
}

// newKeyJSON is the answer to the key's creation, the one time the secret
// is shown.
type newKeyJSON struct {
	ID      string     `json:"id"`
	Name    string     `json:"name"`
	Key     string     `json:"key"`
	Roles   []string   `json:"roles"`
	Created time.Time  `json:"created"`
	Expires *time.Time `json:"expires,omitempty"`
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// validKeyRequest checks what CreateAPIKey refuses as a bad request, so
// that it gets a 400 with a message: a name of 1 to 100 bytes of printable
// UTF-8, no empty role, and an expiry, if any, in the future.
func validKeyRequest(name string, roles []string, expires time.Time) bool {
	if name == "" || len(name) > 100 || !utf8.ValidString(name) || strings.ContainsFunc(name, unicode.IsControl) {
		return false
	}
	for _, role := range roles {
		if role == "" || !utf8.ValidString(role) {
			return false
		}
	}
	return expires.IsZero() || expires.After(time.Now())
}

// keyRoutes adds the API-key management routes to the /api/v1 mux, which
// the authenticator guards.
func keyRoutes(api *http.ServeMux, auth *httpauth.Authenticator[User], logger *slog.Logger) {
	internal := func(w http.ResponseWriter, r *http.Request, what string, err error) {
		logger.LogAttrs(r.Context(), slog.LevelError, what, slog.Any("error", err))
		writeError(w, http.StatusInternalServerError, "internal_error", "Internal server error")
	}
	create := func(w http.ResponseWriter, r *http.Request) {
		id, _ := auth.Identity(r)
		var req struct {
			Name    string     `json:"name"`
			Roles   []string   `json:"roles"`
			Expires *time.Time `json:"expires"`
		}
		if !decode(w, r, &req) {
			return
		}
		var expires time.Time
		if req.Expires != nil {
			expires = *req.Expires
		}
		if !validKeyRequest(req.Name, req.Roles, expires) {
			writeError(w, http.StatusBadRequest, "bad_request",
				"A key needs a name (1 to 100 printable characters), non-empty roles and an expiry in the future")
			return
		}
		key, k, err := auth.CreateAPIKey(r.Context(), id, req.Name, req.Roles, expires)
		switch {
		case errors.Is(err, httpauth.ErrForbidden):
			// A Forbidden error's text is the message for the client.
			writeError(w, http.StatusForbidden, "forbidden", err.Error())
		case err != nil:
			internal(w, r, "create API key", err)
		default:
			roles := k.Roles
			if roles == nil {
				roles = []string{}
			}
			w.Header().Set("Cache-Control", "no-store") // the secret is in the body
			writeJSON(w, http.StatusCreated, newKeyJSON{
				ID: k.ID, Name: k.Name, Key: key, Roles: roles, Created: k.Created, Expires: optTime(k.Expires),
			})
		}
	}
	list := func(w http.ResponseWriter, r *http.Request) {
		id, _ := auth.Identity(r)
		keys, err := auth.APIKeys(r.Context(), id)
		if errors.Is(err, httpauth.ErrForbidden) {
			writeError(w, http.StatusForbidden, "forbidden", err.Error())
			return
		}
		if err != nil {
			internal(w, r, "list API keys", err)
			return
		}
		out := make([]keyJSON, 0, len(keys))
		for _, k := range keys {
			roles := k.Roles
			if roles == nil {
				roles = []string{}
			}
			out = append(out, keyJSON{
				ID: k.ID, Name: k.Name, Roles: roles, Created: k.Created,
				LastUsed: optTime(k.LastUsed), Expires: optTime(k.Expires),
			})
		}
		writeJSON(w, http.StatusOK, out)
	}
	del := func(w http.ResponseWriter, r *http.Request) {
		id, _ := auth.Identity(r)
		err := auth.DeleteAPIKey(r.Context(), id, r.PathValue("id"))
		switch {
		case errors.Is(err, httpauth.ErrForbidden):
			writeError(w, http.StatusForbidden, "forbidden", err.Error())
		case errors.Is(err, httpauth.ErrKeyNotFound):
			writeError(w, http.StatusNotFound, "not_found", "No such API key")
		case err != nil:
			internal(w, r, "delete API key", err)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}
	api.Handle("/api/v1/keys", methods{http.MethodPost: http.HandlerFunc(create), http.MethodGet: http.HandlerFunc(list)})
	api.Handle("/api/v1/keys/{id}", methods{http.MethodDelete: http.HandlerFunc(del)})
}
