package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/gohttpauth/httpauth"
	"github.com/gohttpauth/httpauth/sqlstore"
)

// maxPasswordLen is the authenticator's default cap, applied to new
// passwords too, so that every accepted password can log in.
const maxPasswordLen = 1024

// maxBody caps the JSON bodies of the account routes.
const maxBody = 16 << 10

// mailer "sends" the account e-mails: it writes each link to stderr, one
// line each, as a real server would mail it. The links point at the
// address the server listens on, never at the request's Host header,
// which a client chooses (a classic reset-link poisoning).
type mailer struct {
	mu   sync.Mutex
	out  io.Writer
	base atomic.Pointer[string] // "http://ADDR", or -public-url
	// Set by configure (smtp.go) before the server starts.
	public bool        // base is -public-url: setAddr keeps it
	smtp   *smtpSender // -smtp: links are mailed, never written to out
}

func newMailer(out io.Writer) *mailer {
	if out == nil {
		out = io.Discard
	}
	m := &mailer{out: out}
	m.setAddr("127.0.0.1:8080")
	return m
}

// setAddr sets the links' host from the listening address; an unspecified
// host (":8080", "[::]:8080") becomes localhost.
func (m *mailer) setAddr(addr string) {
	if m.public {
		return
	}
	if host, port, err := net.SplitHostPort(addr); err == nil {
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			addr = net.JoinHostPort("localhost", port)
		}
	}
	base := "http://" + addr
	m.base.Store(&base)
}

func (m *mailer) send(ctx context.Context, what, email, path, token string) {
	if m.smtp != nil { // -smtp (smtp.go)
		m.smtp.send(ctx, what, email, *m.base.Load()+path+"?token="+token)
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	fmt.Fprintf(m.out, "%s link for %s: %s%s?token=%s\n", what, email, *m.base.Load(), path, token)
}

// registrar creates unconfirmed accounts in whichever store holds users.
// A taken login is an error wrapping httpauth.ErrAccountExists.
type registrar func(ctx context.Context, email, hash string) (id string, err error)

func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// newUserRoles are the roles of a registered user.
var newUserRoles = []string{"user"}

func sqlRegistrar(s *sqlstore.Store[sqlstore.User]) registrar {
	return func(ctx context.Context, email, hash string) (string, error) {
		return s.CreateUser(ctx, sqlstore.NewUser{Login: email, PasswordHash: hash, Roles: newUserRoles})
	}
}

func memoryRegistrar(s *memoryAccounts) registrar {
	return func(ctx context.Context, email, hash string) (string, error) {
		id := newID()
		login := strings.ToLower(email)
		return id, s.Put(ctx, email, httpauth.Account[User]{
			ID: id, PasswordHash: hash, Roles: newUserRoles,
			User: User{ID: id, Login: login},
		})
	}
}

// memoryAccounts is the memory store with the example's User kept in
// step: the store keeps its own confirmed flag and login, while
// CheckAccount and /api/v1/me read User.Confirmed and User.Login.
type memoryAccounts struct {
	*httpauth.MemoryUserStore[User]
}

// newMemoryAccounts wraps users, whose accounts confirmed in User are
// marked confirmed in the store too, so both views agree.
func newMemoryAccounts(ctx context.Context, users *httpauth.MemoryUserStore[User]) (*memoryAccounts, error) {
	for _, d := range demoUsers {
		if d.confirmed {
			if err := users.MarkConfirmed(ctx, d.id); err != nil {
				return nil, err
			}
		}
	}
	return &memoryAccounts{users}, nil
}

// MarkConfirmed implements httpauth.AccountStore.
func (s *memoryAccounts) MarkConfirmed(ctx context.Context, id string) error {
	if err := s.MemoryUserStore.MarkConfirmed(ctx, id); err != nil {
		return err
	}
	return s.Update(ctx, id, func(a *httpauth.Account[User]) { a.User.Confirmed = true })
}

// SetLogin implements httpauth.AccountStore.
func (s *memoryAccounts) SetLogin(ctx context.Context, id, login string) error {
	if err := s.MemoryUserStore.SetLogin(ctx, id, login); err != nil {
		return err
	}
	return s.Update(ctx, id, func(a *httpauth.Account[User]) { a.User.Login = strings.ToLower(login) })
}

// accounts serves the account routes outside /api/v1: registration,
// confirmation and password reset.
type accounts struct {
	auth     *httpauth.Authenticator[User]
	users    httpauth.UserStore[User]
	register registrar
	hasher   httpauth.PasswordHasher
	mail     *mailer
	queue    *mailQueue // the e-mails' lookups, minting and sending run here
	limits   mailLimits
	logger   *slog.Logger
	// hashes bounds concurrent registration hashes: each costs the
	// hasher's memory, and anyone may register.
	hashes chan struct{}
}

func newAccounts(auth *httpauth.Authenticator[User], users httpauth.UserStore[User], reg registrar, hasher httpauth.PasswordHasher,
	mail *mailer, queue *mailQueue, limits mailLimits, logger *slog.Logger) *accounts {
	return &accounts{
		auth: auth, users: users, register: reg, hasher: hasher, mail: mail, queue: queue, limits: limits, logger: logger,
		hashes: make(chan struct{}, runtime.GOMAXPROCS(0)),
	}
}

// resendConfirmationPath is the route on which an unconfirmed account
// may authenticate (see checkAccount): it asks for a new confirmation link.
const resendConfirmationPath = "/api/v1/account/confirmation"

// routes adds the open account routes to root, and the one for a
// logged-in user to api, the /api/v1 mux behind the authenticator.
func (a *accounts) routes(root, api *http.ServeMux) {
	root.Handle("/register", methods{http.MethodPost: http.HandlerFunc(a.handleRegister)})
	// GET: the pages the mailed links open (pages.go); they change nothing.
	root.Handle("/confirm", methods{http.MethodGet: confirmPage, http.MethodPost: http.HandlerFunc(a.handleConfirm)})
	root.Handle("/password-reset", methods{http.MethodGet: resetPage, http.MethodPost: http.HandlerFunc(a.handleResetRequest)})
	pageRoutes(root)
	root.Handle("/password-reset/confirm", methods{http.MethodPost: http.HandlerFunc(a.handleResetConfirm)})
	api.Handle(resendConfirmationPath, methods{http.MethodPost: http.HandlerFunc(a.handleResendConfirmation)})
}

// writeError writes the example's JSON error shape.
func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	writeJSON(w, status, map[string]string{"error": code, "message": message})
}

// decode reads a JSON object into v, answering 400 itself on failure.
func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	if err := dec.Decode(v); err != nil || dec.More() {
		writeError(w, http.StatusBadRequest, "bad_request", "Malformed JSON body")
		return false
	}
	return true
}

// validEmail accepts a bare address (no display name, no comments).
func validEmail(s string) bool {
	if len(s) > 254 {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s && a.Name == ""
}

func (a *accounts) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	a.logger.LogAttrs(r.Context(), slog.LevelError, what, slog.Any("error", err))
	writeError(w, http.StatusInternalServerError, "internal_error", "Internal server error")
}

// mailLink mints an account token for account id and mails the link to
// path carrying it to the address the store holds for the account (never
// the address as the client typed it: a look-alike spelling that the
// lookup matches must not receive the link), if the address is within its
// limit. It runs on the mail queue's worker; failures are logged, without
// the address, since the client has had its answer.
func (a *accounts) mailLink(ctx context.Context, kind, id, path string, mint func(context.Context, string) (string, error)) {
	acct, err := a.users.UserByID(ctx, id)
	if err != nil {
		a.logger.LogAttrs(ctx, slog.LevelError, kind+" e-mail: account", slog.Any("error", err))
		return
	}
	to := acct.User.Login
	if to == "" || !a.allowMail(ctx, kind, to) {
		return
	}
	token, err := mint(ctx, id)
	if err != nil {
		a.logger.LogAttrs(ctx, slog.LevelError, kind+" e-mail: token", slog.Any("error", err))
		return
	}
	a.mail.send(ctx, kind, to, path, token)
}

// accepted answers 202 {"status":"pending"}, the answer of every request
// that may send an e-mail, whatever happens to the e-mail.
func accepted(w http.ResponseWriter) {
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "pending"})
}

// handleRegister creates an unconfirmed user and has a confirmation link
// mailed. A taken email gets the same answer, after the same work (a hash,
// an insert and a queued job), and no link: registration reveals nothing.
func (a *accounts) handleRegister(w http.ResponseWriter, r *http.Request) {
	if !a.allowClient(w, r) {
		return
	}
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if !decode(w, r, &req) {
		return
	}
	switch {
	case !validEmail(req.Email):
		writeError(w, http.StatusBadRequest, "bad_request", "A valid email address is required")
		return
	case req.Password == "":
		writeError(w, http.StatusBadRequest, "bad_request", "A password is required")
		return
	case len(req.Password) > maxPasswordLen:
		writeError(w, http.StatusBadRequest, "bad_request", "The password is too long")
		return
	}
	ctx := r.Context()
	select {
	case a.hashes <- struct{}{}:
	case <-ctx.Done():
		return
	}
	hash, err := a.hasher.Hash(ctx, req.Password)
	<-a.hashes
	if err != nil {
		a.internal(w, r, "register: hash", err)
		return
	}
	id, err := a.register(ctx, req.Email, hash)
	switch {
	case errors.Is(err, httpauth.ErrAccountExists):
		// The owner may have asked again: they can reset the password.
		// A job that does nothing, so that the queue sees the same.
		a.queue.enqueue(func(context.Context) {})
	case errors.Is(err, httpauth.ErrBadRequest):
		// A spelling the store refuses as a login (a look-alike such as
		// the Kelvin sign, or a decomposed accent): about the form, so it
		// tells nothing of which addresses exist.
		writeError(w, http.StatusBadRequest, "bad_request", "This email address cannot be used as a login")
		return
	case err != nil:
		a.internal(w, r, "register: create user", err)
		return
	default:
		a.queue.enqueue(func(ctx context.Context) {
			a.mailLink(ctx, "confirmation", id, "/confirm", a.auth.ConfirmationToken)
		})
	}
	accepted(w)
}

// handleResendConfirmation has a new confirmation link mailed to the
// logged-in user, whose first link was lost or expired. It is the one
// route that checkAccount opens to unconfirmed accounts; a confirmed one
// gets a 409.
func (a *accounts) handleResendConfirmation(w http.ResponseWriter, r *http.Request) {
	if !a.allowClient(w, r) {
		return
	}
	id, _ := a.auth.Identity(r)
	if id.Account.User.Confirmed {
		writeError(w, http.StatusConflict, "already_confirmed", "The account is already confirmed")
		return
	}
	acctID := id.Account.ID
	a.queue.enqueue(func(ctx context.Context) {
		a.mailLink(ctx, "confirmation", acctID, "/confirm", a.auth.ConfirmationToken)
	})
	accepted(w)
}

// tokenError answers a failed Confirm or ResetPassword.
func (a *accounts) tokenError(w http.ResponseWriter, r *http.Request, what string, err error) {
	switch {
	case errors.Is(err, httpauth.ErrTokenInvalid), errors.Is(err, httpauth.ErrTokenExpired):
		writeError(w, http.StatusBadRequest, "invalid_token", "The link is invalid, expired or already used")
	case errors.Is(err, httpauth.ErrBadRequest):
		writeError(w, http.StatusBadRequest, "bad_request", "The password must be 1 to 1024 bytes")
	case r.Context().Err() != nil:
		// The request ended (the client left, or the server is shutting
		// down) while waiting for a hashing slot: nothing was changed.
		writeError(w, http.StatusServiceUnavailable, "unavailable", "Service busy; try again later")
	default:
		a.internal(w, r, what, err)
	}
}

func (a *accounts) handleConfirm(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token string `json:"token"`
	}
	if !decode(w, r, &req) {
		return
	}
	if _, err := a.auth.Confirm(r.Context(), req.Token); err != nil {
		a.tokenError(w, r, "confirm", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// handleResetRequest has a reset link mailed for a known, enabled
// account; the answer is the same for an unknown one, and so is the work
// done before it: the lookup, minting and mailing run on the mail queue.
func (a *accounts) handleResetRequest(w http.ResponseWriter, r *http.Request) {
	if !a.allowClient(w, r) {
		return
	}
	var req struct {
		Email string `json:"email"`
	}
	if !decode(w, r, &req) {
		return
	}
	if !validEmail(req.Email) {
		writeError(w, http.StatusBadRequest, "bad_request", "A valid email address is required")
		return
	}
	email := req.Email
	a.queue.enqueue(func(ctx context.Context) { a.mailReset(ctx, email) })
	accepted(w)
}

// mailReset mails a reset link to the account that email names, if any
// and enabled (a reset would not enable it).
func (a *accounts) mailReset(ctx context.Context, email string) {
	acct, err := a.users.UserByLogin(ctx, email)
	switch {
	case errors.Is(err, httpauth.ErrUserNotFound):
	case err != nil:
		a.logger.LogAttrs(ctx, slog.LevelError, "password reset e-mail: lookup", slog.Any("error", err))
	case acct.Disabled:
	default:
		a.mailLink(ctx, "password reset", acct.ID, "/password-reset", a.auth.PasswordResetToken)
	}
}

func (a *accounts) handleResetConfirm(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if !decode(w, r, &req) {
		return
	}
	// ResetPassword checks the token, then the password (empty or too
	// long); tokenError answers each.
	if _, err := a.auth.ResetPassword(r.Context(), req.Token, req.Password); err != nil {
		a.tokenError(w, r, "password reset", err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
