package main

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/sqlstore"
)

// User is the example's user type, the one sqlstore keeps; handlers get it
// back typed, whichever store holds the users.
type User = sqlstore.User

// demoUser is one of the demo credentials listed in the README.
type demoUser struct {
	id, email, password string
	confirmed           bool
	roles               []string
}

var demoUsers = []demoUser{
	{"1", "alice@example.com", "wonderland-42", true, []string{"user"}},
	{"2", "bob@example.com", "builder-42", false, nil},
	{"3", "carol@example.com", "pässwörd-ü42", true, []string{"user"}},
	{"4", "admin@example.com", "s3cret:with:colons", true, []string{"user", "admin"}},
}

// checkAccount refuses unconfirmed accounts everywhere but on the route
// that re-sends the confirmation link, which exists for them. It sees the
// request, so the exception needs no second authenticator.
func checkAccount(r *http.Request, a *httpauth.Account[User]) error {
	resend := r.Method == http.MethodPost && r.URL.Path == resendConfirmationPath
	if !a.Confirmed && !resend { // the store's one confirmed flag

		return httpauth.Forbidden("Unconfirmed account")
	}
	return nil
}

// app is what newServer builds: the public handler, the metrics handler
// for a listener of its own, and what to close at shutdown.
type app struct {
	handler http.Handler // the public API
	metrics http.Handler // GET /metrics; served only on -metrics-addr
	mail    *mailQueue   // the account e-mails' worker; nil when the account-link routes are off
	close   func() error // drains the mail queue, then closes the authenticator and the stores
	ready   *readiness   // /readyz; drain() fails it at shutdown
}

// accountLinkRoutesOff is logged at startup when the account-link routes
// are not mounted.
const accountLinkRoutesOff = "account-link routes are off (/register, /confirm, /password-reset, " +
	"/password-reset/confirm, " + resendConfirmationPath + "): with -db their links would be live " +
	"secrets in the log; give -smtp (with -public-url) to e-mail them, or -log-links to write them to stderr anyway"

// newServer builds the whole HTTP handler: /healthz and the account
// routes in the open, and everything under /api/v1/ behind the
// authenticator, in one place; and the metrics handler apart.
func newServer(ctx context.Context, o options, logger *slog.Logger) (*app, error) {
	st, err := openStores(ctx, o, logger)
	if err != nil {
		return nil, err
	}
	signer, err := httpauth.NewHMACSigner(o.keys...)
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	keys, register := lifecycleStores(st.users)
	hasher, m := httpauth.DefaultHasher(), newMetrics(st.live)
	auth, err := httpauth.New(httpauth.Config[User]{
		Users:        st.users,
		Signer:       signer,
		Realm:        "httpauth example",
		Hasher:       hasher,
		TokenTTL:     o.tokenTTL,
		TokenHeader:  "X-API-Key",
		CheckAccount: checkAccount,
		Logger:       logger,
		OnEvent:      m.observe,
		Throttle: httpauth.Throttle{
			Logins:         st.limiter, // nil: in memory
			Clients:        st.clients, // nil: no per-client limit
			TrustedProxies: o.proxies,
		},
		Revocations: st.revocations,
		APIKeys:     keys,
	})
	if err != nil {
		_ = st.Close()
		return nil, err
	}
	lc := &lifecycle{auth: auth, logger: logger}
	var queue *mailQueue
	if o.linksDelivered() {
		mail := o.links
		if mail == nil {
			mail = newMailer(nil)
		}
		queue = newMailQueue(mailQueueSize, logger)
		queue.start()
		lc.accounts = newAccounts(auth, st.users, register, hasher, mail, queue, st.mail, logger)
	} else {
		logger.Warn(accountLinkRoutesOff)
	}
	ready := &readiness{checks: st.pings, live: st.live}
	stopWatch := watchFeeds(st.live, logger)
	closeAll := func() error {
		stopWatch()
		if queue != nil {
			queue.close() // sends what is queued, while the stores are open
		}
		_ = auth.Close() // writes the API keys' last-used times
		return st.Close()
	}
	h := routes(auth, st.live, lc, ready, m)
	return &app{handler: h, metrics: m.handler(), mail: queue, close: closeAll, ready: ready}, nil
}

// routes builds the handler. live names the stores with process-local
// state and reports whether each is trusted now; /healthz shows them,
// and /readyz fails while one is not. m counts the 5xx answers; every
// request gets a deadline (requestTimeout).
func routes(auth *httpauth.Authenticator[User], live map[string]func() bool, lc *lifecycle, ready *readiness, m *metrics) http.Handler {
	api := http.NewServeMux()
	api.Handle("/api/v1/tokens/{$}", methods{
		http.MethodPost:   auth.TokenHandler(),
		http.MethodDelete: auth.RevokeHandler(),
	})
	api.Handle("/api/v1/me", methods{http.MethodGet: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := auth.User(r)
		writeJSON(w, http.StatusOK, map[string]string{"id": u.ID, "email": u.Login})
	})})
	api.Handle("/api/v1/admin", methods{http.MethodGet: auth.RequireAnyRole("admin")(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u, _ := auth.User(r)
		writeJSON(w, http.StatusOK, map[string]string{"id": u.ID, "email": u.Login, "role": "admin"})
	}))})
	api.HandleFunc("/", notFound)

	root := http.NewServeMux()
	root.Handle("/readyz", methods{http.MethodGet: ready})
	root.Handle("/healthz", methods{http.MethodGet: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Liveness: the process serves. Not live is still healthy (the
		// store reads through meanwhile); readiness is /readyz.
		body := map[string]any{"status": "ok"}
		if len(live) > 0 {
			state := make(map[string]bool, len(live))
			for name, f := range live {
				state[name] = f()
			}
			body["live"] = state
		}
		writeJSON(w, http.StatusOK, body)
	})})
	root.Handle("/api/v1/", auth.Middleware(api))
	root.HandleFunc("/", notFound)
	lc.routes(root, api)
	return crossOriginProtection(withDeadline(m.countErrors(root)))
}

// crossOriginProtection refuses cross-site browser requests that change
// state (POST, DELETE…): a browser resends cached Basic credentials, so a
// cross-site form could otherwise mint tokens or create keys. Browsers
// mark such requests (Sec-Fetch-Site: cross-site, or an Origin that is not
// the Host); requests from non-browser clients (curl, SDKs), which send
// neither header, and same-origin ones pass. The 403 is the example's
// JSON error.
func crossOriginProtection(h http.Handler) http.Handler {
	p := http.NewCrossOriginProtection()
	p.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusForbidden, "cross_origin", "Cross-origin request refused")
	}))
	return p.Handler(h)
}

// notFound is the JSON 404 of paths no route matches.
func notFound(w http.ResponseWriter, _ *http.Request) {
	writeError(w, http.StatusNotFound, "not_found", "Not found")
}

var errMethodNotAllowed = errors.New("method not allowed")

// methods routes by method and answers others with a JSON 405, which
// ServeMux's method patterns would answer in plain text.
type methods map[string]http.Handler

func (m methods) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h, ok := m[r.Method]; ok {
		h.ServeHTTP(w, r)
		return
	}
	if h, ok := m[http.MethodGet]; ok && r.Method == http.MethodHead {
		h.ServeHTTP(w, r)
		return
	}
	allow := ""
	for _, meth := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		if _, ok := m[meth]; ok {
			if allow != "" {
				allow += ", "
			}
			allow += meth
		}
	}
	w.Header().Set("Allow", allow)
	// The library's own JSON 405, as TokenHandler answers.
	httpauth.WriteJSONError(w, r, http.StatusMethodNotAllowed, errMethodNotAllowed)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
