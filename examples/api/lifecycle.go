package main

import (
	"log/slog"
	"net/http"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/sqlstore"
)

// lifecycle holds the account-lifecycle routes (registration,
// confirmation, password reset, API keys).
type lifecycle struct {
	auth     *httpauth.Authenticator[User]
	accounts *accounts
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

// routes adds the lifecycle routes: the account ones to root (when
// account links can be delivered; see options.linksDelivered), the key
// ones to the /api/v1 mux behind the authenticator. /metrics is not
// among them: it has a listener of its own (-metrics-addr).
func (l *lifecycle) routes(root, api *http.ServeMux) {
	if l == nil {
		return
	}
	if l.accounts != nil {
		l.accounts.routes(root, api)
	}
	keyRoutes(api, l.auth, l.logger)
	twoFactorRoutes(api, l.auth, l.logger) // second factor: twofactor.go
}
