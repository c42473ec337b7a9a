package main

import (
	"log/slog"
	"net/http"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/sqlstore"
)

// lifecycle holds the account-lifecycle routes (registration,
// confirmation, password reset, API keys) and the metrics.
type lifecycle struct {
	auth     *httpauth.Authenticator[User]
	accounts *accounts
	metrics  *metrics
	logger   *slog.Logger
}

// lifecycleStores returns the key store and the registrar that go with
// the user store: the same SQL store, or memory ones.
func lifecycleStores(users httpauth.UserStore[User]) (httpauth.KeyStore, registrar) {
	switch s := users.(type) {
	case *sqlstore.Store[sqlstore.User]:
		return s, sqlRegistrar(s)
	case *memoryAccounts:
		return httpauth.NewMemoryKeyStore(), memoryRegistrar(s)
	}
	panic("lifecycleStores: unknown user store") // openStores makes one of the two
}

// routes adds the lifecycle routes: the account ones and /metrics to root,
// the key ones to the /api/v1 mux behind the authenticator.
func (l *lifecycle) routes(root, api *http.ServeMux) {
	if l == nil {
		return
	}
	l.accounts.routes(root, api)
	keyRoutes(api, l.auth, l.logger)
	root.Handle("/metrics", l.metrics.handler())
}
