package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gohttpauth/httpauth"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/paths"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"github.com/stretchr/testify/require"
)

// openAPIPath is the document that describes this server.
const openAPIPath = "../../docs/openapi.yaml"

// unreachableInMemory are the documented statuses that an in-memory
// server answers only when something fails (a store, the signer, a
// hashing slot); the fault tests cover those answers, not this one.
var unreachableInMemory = []int{http.StatusInternalServerError, http.StatusServiceUnavailable}

// openAPIDoc is the parsed document with its validator.
type openAPIDoc struct {
	model *v3.Document
	v     validator.Validator
	opts  *config.ValidationOptions
}

func loadOpenAPI(t *testing.T) *openAPIDoc {
	t.Helper()
	spec, err := os.ReadFile(openAPIPath)
	require.NoError(t, err)
	doc, err := libopenapi.NewDocument(spec)
	require.NoError(t, err)
	require.Equal(t, "3.1.0", doc.GetVersion())
	m, err := doc.BuildV3Model()
	require.NoError(t, err, "building the model")
	opts := []config.Option{config.WithFormatAssertions()}
	v, errs := validator.NewValidator(doc, opts...)
	require.Empty(t, errs, "creating the validator")
	return &openAPIDoc{model: &m.Model, v: v, opts: config.NewValidationOptions(opts...)}
}

// describe renders validation errors for a failure message.
func describe(errs []*liberrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  %s: %s", e.Message, e.Reason)
		for _, s := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n    %s at %s (%s)", s.Reason, s.FieldPath, s.KeywordLocation)
		}
	}
	return b.String()
}

func TestOpenAPIDocument(t *testing.T) {
	d := loadOpenAPI(t)
	ok, errs := d.v.ValidateDocument()
	require.True(t, ok, "docs/openapi.yaml is not a valid OpenAPI 3.1 document:%s", describe(errs))
}

// apiCase is one request to the real handler, and the status it must get.
// Strings may hold {name}s, replaced by what earlier cases stored (vars).
type apiCase struct {
	name    string
	method  string
	path    string
	authz   string            // the Authorization header; "": none
	header  map[string]string // other headers
	body    string            // JSON; "": none
	client  string            // RemoteAddr; "": a new client per request
	metrics bool              // to the metrics listener's handler
	want    int
	// after reads what later cases need from the response body.
	after func(t *testing.T, body []byte)
}

// openAPIHarness drives one in-memory server and validates every answer.
type openAPIHarness struct {
	doc     *openAPIDoc
	app     *app
	logs    *syncBuffer // where account links are "mailed"
	vars    map[string]string
	clients int
	// seen is every status answered, by operation ("POST /register").
	seen map[string]map[int]bool
}

func newOpenAPIHarness(t *testing.T, doc *openAPIDoc) *openAPIHarness {
	t.Helper()
	logs := &syncBuffer{}
	a, err := newServer(context.Background(),
		options{tokenTTL: time.Hour, keys: []httpauth.SigningKey{testKey(t)}, links: newMailer(logs)}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	t.Cleanup(func() { _ = a.close() })
	return &openAPIHarness{doc: doc, app: a, logs: logs, vars: map[string]string{}, seen: map[string]map[int]bool{}}
}

var varRef = regexp.MustCompile(`\{[a-z_]+\}`)

// expand replaces the {name}s that vars holds.
func (h *openAPIHarness) expand(t *testing.T, s string) string {
	t.Helper()
	return varRef.ReplaceAllStringFunc(s, func(ref string) string {
		v, ok := h.vars[strings.Trim(ref, "{}")]
		require.True(t, ok, "%s is not set by an earlier case", ref)
		return v
	})
}

func (h *openAPIHarness) request(t *testing.T, c apiCase) *http.Request {
	t.Helper()
	var r *http.Request
	if c.body != "" {
		r = httptest.NewRequest(c.method, h.expand(t, c.path), strings.NewReader(h.expand(t, c.body)))
		r.Header.Set("Content-Type", "application/json")
	} else {
		r = httptest.NewRequest(c.method, h.expand(t, c.path), nil)
	}
	if c.authz != "" {
		r.Header.Set("Authorization", h.expand(t, c.authz))
	}
	for k, v := range c.header {
		r.Header.Set(k, h.expand(t, v))
	}
	r.RemoteAddr = c.client
	return r
}

// run sends c to the server and checks its answer: the status c wants,
// and the response as the document describes it.
func (h *openAPIHarness) run(t *testing.T, c apiCase) {
	t.Helper()
	if c.client == "" {
		h.clients++
		c.client = fmt.Sprintf("10.0.%d.%d:40000", h.clients/250, h.clients%250+1)
	}
	handler := h.app.handler
	if c.metrics {
		handler = h.app.metrics
	}
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, h.request(t, c))
	resp := rec.Result()
	body := rec.Body.Bytes()
	require.Equal(t, c.want, resp.StatusCode, "body: %s", body)
	require.NoError(t, resp.Body.Close())

	// The methods whose operation documents the answer: the request's,
	// or, for a 405 (a method the path has no operation for), each that
	// Allow names, since every operation of the path documents the 405.
	methods := []string{c.method}
	if resp.StatusCode == http.StatusMethodNotAllowed {
		methods = strings.Split(resp.Header.Get("Allow"), ", ")
		require.NotEmpty(t, methods[0], "a 405 without Allow")
	}
	for _, m := range methods {
		vreq := h.request(t, c)
		vreq.Method = m
		h.validate(t, vreq, rec.Result(), body)
	}
	if resp.StatusCode < 300 {
		// What the server took must be what the document asks for.
		ok, errs := h.doc.v.ValidateHttpRequest(h.request(t, c))
		require.True(t, ok, "the document refuses a request the server accepts:%s", describe(errs))
	}
	if c.after != nil {
		c.after(t, body)
	}
}

// validate checks resp against the operation of req in the document.
func (h *openAPIHarness) validate(t *testing.T, req *http.Request, resp *http.Response, body []byte) {
	t.Helper()
	item, errs, template := paths.FindPath(req, h.doc.model, h.doc.opts)
	require.Empty(t, errs, "%s %s is not in the document:%s", req.Method, req.URL.Path, describe(errs))
	op := item.GetOperations().GetOrZero(strings.ToLower(req.Method))
	require.NotNil(t, op, "%s %s is not in the document", req.Method, template)
	key := req.Method + " " + template
	if h.seen[key] == nil {
		h.seen[key] = map[int]bool{}
	}
	h.seen[key][resp.StatusCode] = true

	// The validator reads the body; it gets its own copy.
	resp.Body = http.NoBody
	if len(body) > 0 {
		resp.Body = readCloser{strings.NewReader(string(body))}
	}
	ok, verrs := h.doc.v.ValidateHttpResponse(req, resp)
	require.True(t, ok, "%s %s answered %d, not as documented:%s\nbody: %s",
		req.Method, template, resp.StatusCode, describe(verrs), body)

	// The validator skips the body of a response that declares no
	// content; such a response must have none.
	documented := op.Responses.Codes.GetOrZero(strconv.Itoa(resp.StatusCode))
	require.NotNil(t, documented, "%d is not documented for %s", resp.StatusCode, key)
	if documented.Content == nil || documented.Content.Len() == 0 {
		require.Empty(t, body, "%s answered %d with a body it does not document", key, resp.StatusCode)
	} else {
		require.NotEmpty(t, body, "%s answered %d without the body it documents", key, resp.StatusCode)
	}
}

type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }

// link waits for the mail queue and returns the token of the newest
// account link of kind ("confirmation", "password reset") sent to email.
func (h *openAPIHarness) link(t *testing.T, kind, email string) string {
	t.Helper()
	require.NoError(t, h.app.mail.flush(context.Background()))
	re := regexp.MustCompile(regexp.QuoteMeta(kind+" link for "+email+": ") + `\S+\?token=(\S+)`)
	m := re.FindAllStringSubmatch(h.logs.String(), -1)
	require.NotEmpty(t, m, "no %s link for %s in %q", kind, email, h.logs.String())
	return m[len(m)-1][1]
}

// store returns an after hook that keeps the JSON member field as var.
func (h *openAPIHarness) store(field, name string) func(*testing.T, []byte) {
	return func(t *testing.T, body []byte) {
		var m map[string]any
		require.NoError(t, json.Unmarshal(body, &m))
		s, ok := m[field].(string)
		require.True(t, ok, "no %s in %s", field, body)
		h.vars[name] = s
	}
}

func TestOpenAPIResponses(t *testing.T) {
	doc := loadOpenAPI(t)
	h := newOpenAPIHarness(t, doc)

	const (
		alicePw = "wonderland-42"
		adminPw = "s3cret:with:colons"
		bobPw   = "builder-42"
		mallory = "mallory@example.com" // throttled: ten failed passwords
		limited = "198.51.100.7:40000"  // a client over the e-mail routes' limit
	)
	alice := basic("alice@example.com", alicePw)
	admin := basic("admin@example.com", adminPw)
	bob := basic("bob@example.com", bobPw)
	crossSite := map[string]string{"Sec-Fetch-Site": "cross-site"}
	twoCredentials := map[string]string{"X-API-Key": "hak_000000000000000000000000000000000000"}

	// Set-up: what later cases use, validated like every other answer.
	setup := []apiCase{
		{name: "alice's token", method: "POST", path: "/api/v1/tokens/", authz: alice, want: 200,
			after: h.store("token", "alice_token")},
		{name: "alice's second token, to revoke", method: "POST", path: "/api/v1/tokens/", authz: alice, want: 200,
			after: h.store("token", "revoked_token")},
		{name: "admin's token", method: "POST", path: "/api/v1/tokens/", authz: admin, want: 200,
			after: h.store("token", "admin_token")},
		{name: "alice's API key", method: "POST", path: "/api/v1/keys", authz: alice,
			body: `{"name":"ci","roles":["user"]}`, want: 201,
			after: func(t *testing.T, body []byte) {
				h.store("key", "key")(t, body)
				h.store("id", "key_id")(t, body)
			}},
		{name: "a key to delete", method: "POST", path: "/api/v1/keys", authz: "Bearer {alice_token}",
			body: `{"name":"old","expires":"2999-01-01T00:00:00Z"}`, want: 201, after: h.store("id", "old_key_id")},
		{name: "register dave", method: "POST", path: "/register",
			body: `{"email":"dave@example.com","password":"dave-pw-42"}`, want: 202,
			after: func(t *testing.T, _ []byte) { h.vars["confirm_token"] = h.link(t, "confirmation", "dave@example.com") }},
		{name: "carol asks for a reset", method: "POST", path: "/password-reset",
			body: `{"email":"carol@example.com"}`, want: 202,
			after: func(t *testing.T, _ []byte) { h.vars["reset_token"] = h.link(t, "password reset", "carol@example.com") }},
	}
	for i := range 10 {
		setup = append(setup, apiCase{name: fmt.Sprintf("mallory's failed password %d", i+1),
			method: "POST", path: "/api/v1/tokens/", authz: basic(mallory, "guess"), want: 401})
	}
	for i := range mailRequestsPerClient {
		setup = append(setup, apiCase{name: fmt.Sprintf("e-mail request %d of the limited client", i+1),
			method: "POST", path: "/password-reset", body: `{"email":"nobody@example.com"}`, client: limited, want: 202})
	}
	t.Run("setup", func(t *testing.T) {
		for _, c := range setup {
			h.run(t, c)
		}
	})
	if t.Failed() {
		return
	}

	// What every route behind the authenticator answers before the
	// route is reached: 401 without credentials, 400 with two sets, 429
	// for a throttled login.
	protected := []struct{ method, path string }{
		{"POST", "/api/v1/tokens/"},
		{"DELETE", "/api/v1/tokens/"},
		{"GET", "/api/v1/me"},
		{"GET", "/api/v1/admin"},
		{"POST", "/api/v1/account/confirmation"},
		{"GET", "/api/v1/keys"},
		{"POST", "/api/v1/keys"},
		{"DELETE", "/api/v1/keys/{old_key_id}"},
	}
	var tests []apiCase
	for _, p := range protected {
		tests = append(tests,
			apiCase{name: p.method + " " + p.path + " without credentials", method: p.method, path: p.path, want: 401},
			apiCase{name: p.method + " " + p.path + " with two sets of credentials", method: p.method, path: p.path,
				authz: "Bearer {alice_token}", header: twoCredentials, want: 400},
			apiCase{name: p.method + " " + p.path + " for a throttled login", method: p.method, path: p.path,
				authz: basic(mallory, "guess"), want: 429},
		)
	}
	tests = append(tests, []apiCase{
		// Tokens.
		{name: "a token cannot mint a token", method: "POST", path: "/api/v1/tokens/", authz: "Bearer {alice_token}", want: 401},
		{name: "unconfirmed bob gets no token", method: "POST", path: "/api/v1/tokens/", authz: bob, want: 403},
		{name: "GET on the token endpoint", method: "GET", path: "/api/v1/tokens/", authz: alice, want: 405},
		{name: "revoke with a password", method: "DELETE", path: "/api/v1/tokens/", authz: alice, want: 400},
		{name: "revoke, cross-site", method: "DELETE", path: "/api/v1/tokens/", authz: "Bearer {revoked_token}", header: crossSite, want: 403},
		{name: "revoke", method: "DELETE", path: "/api/v1/tokens/", authz: "Bearer {revoked_token}", want: 204},
		{name: "a revoked token", method: "GET", path: "/api/v1/me", authz: "Bearer {revoked_token}", want: 401},

		// The caller.
		{name: "me with a password", method: "GET", path: "/api/v1/me", authz: alice, want: 200},
		{name: "me with a token", method: "GET", path: "/api/v1/me", authz: "Bearer {alice_token}", want: 200},
		{name: "me with an API key", method: "GET", path: "/api/v1/me", header: map[string]string{"X-API-Key": "{key}"}, want: 200},
		{name: "me with a token in X-API-Key", method: "GET", path: "/api/v1/me", header: map[string]string{"X-API-Key": "{alice_token}"}, want: 200},
		{name: "me with a wrong password", method: "GET", path: "/api/v1/me", authz: basic("alice@example.com", "nope"), want: 401},
		{name: "me as unconfirmed bob", method: "GET", path: "/api/v1/me", authz: bob, want: 403},
		{name: "DELETE on me", method: "DELETE", path: "/api/v1/me", authz: "Bearer {alice_token}", want: 405},
		{name: "admin as admin", method: "GET", path: "/api/v1/admin", authz: "Bearer {admin_token}", want: 200},
		{name: "admin as alice, with a token", method: "GET", path: "/api/v1/admin", authz: "Bearer {alice_token}", want: 403},
		{name: "admin as alice, with a password", method: "GET", path: "/api/v1/admin", authz: alice, want: 403},
		{name: "POST on admin", method: "POST", path: "/api/v1/admin", authz: "Bearer {admin_token}", want: 405},

		// The confirmation link, again.
		{name: "resend to unconfirmed bob", method: "POST", path: "/api/v1/account/confirmation", authz: bob, want: 202},
		{name: "resend to confirmed alice", method: "POST", path: "/api/v1/account/confirmation", authz: "Bearer {alice_token}", want: 409},
		{name: "resend, cross-site", method: "POST", path: "/api/v1/account/confirmation", authz: "Bearer {alice_token}", header: crossSite, want: 403},
		{name: "resend from the limited client", method: "POST", path: "/api/v1/account/confirmation", authz: bob, client: limited, want: 429},
		{name: "GET on resend", method: "GET", path: "/api/v1/account/confirmation", authz: "Bearer {alice_token}", want: 405},

		// API keys.
		{name: "list keys", method: "GET", path: "/api/v1/keys", authz: "Bearer {alice_token}", want: 200},
		{name: "list keys with an API key", method: "GET", path: "/api/v1/keys", header: map[string]string{"X-API-Key": "{key}"}, want: 403},
		{name: "list keys as unconfirmed bob", method: "GET", path: "/api/v1/keys", authz: bob, want: 403},
		{name: "create a key without a name", method: "POST", path: "/api/v1/keys", authz: "Bearer {alice_token}", body: `{"name":""}`, want: 400},
		{name: "create a key, malformed JSON", method: "POST", path: "/api/v1/keys", authz: "Bearer {alice_token}", body: `{"name":`, want: 400},
		{name: "create a key beyond one's roles", method: "POST", path: "/api/v1/keys", authz: "Bearer {alice_token}", body: `{"name":"x","roles":["admin"]}`, want: 403},
		{name: "create a key, cross-site", method: "POST", path: "/api/v1/keys", authz: "Bearer {alice_token}", body: `{"name":"x"}`, header: crossSite, want: 403},
		{name: "DELETE on the key list", method: "DELETE", path: "/api/v1/keys", authz: "Bearer {alice_token}", want: 405},
		{name: "delete a key", method: "DELETE", path: "/api/v1/keys/{old_key_id}", authz: "Bearer {alice_token}", want: 204},
		{name: "delete it again", method: "DELETE", path: "/api/v1/keys/{old_key_id}", authz: "Bearer {alice_token}", want: 404},
		{name: "delete another user's key", method: "DELETE", path: "/api/v1/keys/{key_id}", authz: "Bearer {admin_token}", want: 404},
		{name: "delete a key with an API key", method: "DELETE", path: "/api/v1/keys/{key_id}", header: map[string]string{"X-API-Key": "{key}"}, want: 403},
		{name: "GET on a key", method: "GET", path: "/api/v1/keys/{key_id}", authz: "Bearer {alice_token}", want: 405},

		// Registration and confirmation.
		{name: "register, malformed JSON", method: "POST", path: "/register", body: `{"email":`, want: 400},
		{name: "register, not an address", method: "POST", path: "/register", body: `{"email":"dave","password":"x"}`, want: 400},
		{name: "register, cross-site", method: "POST", path: "/register", body: `{"email":"eve@example.com","password":"x"}`, header: crossSite, want: 403},
		{name: "register from the limited client", method: "POST", path: "/register", body: `{"email":"eve@example.com","password":"x"}`, client: limited, want: 429},
		{name: "GET on register", method: "GET", path: "/register", want: 405},
		{name: "dave before confirming", method: "GET", path: "/api/v1/me", authz: basic("dave@example.com", "dave-pw-42"), want: 403},
		{name: "confirm, a forged token", method: "POST", path: "/confirm", body: `{"token":"k1.forged.token"}`, want: 400},
		{name: "confirm, cross-site", method: "POST", path: "/confirm", body: `{"token":"{confirm_token}"}`, header: crossSite, want: 403},
		{name: "confirm dave", method: "POST", path: "/confirm", body: `{"token":"{confirm_token}"}`, want: 204},
		{name: "confirm dave again", method: "POST", path: "/confirm", body: `{"token":"{confirm_token}"}`, want: 400},
		{name: "the confirmation page, no token", method: "GET", path: "/confirm", want: 400},
		{name: "the confirmation page", method: "GET", path: "/confirm?token=k1.abc.def", want: 200},
		{name: "DELETE on confirm", method: "DELETE", path: "/confirm", want: 405},
		{name: "dave, confirmed", method: "GET", path: "/api/v1/me", authz: basic("dave@example.com", "dave-pw-42"), want: 200},

		// Password reset.
		{name: "reset, not an address", method: "POST", path: "/password-reset", body: `{"email":"carol"}`, want: 400},
		{name: "reset, an unknown address", method: "POST", path: "/password-reset", body: `{"email":"nobody@example.com"}`, want: 202},
		{name: "reset, cross-site", method: "POST", path: "/password-reset", body: `{"email":"carol@example.com"}`, header: crossSite, want: 403},
		{name: "reset from the limited client", method: "POST", path: "/password-reset", body: `{"email":"carol@example.com"}`, client: limited, want: 429},
		{name: "the reset page, no token", method: "GET", path: "/password-reset", want: 400},
		{name: "the reset page", method: "GET", path: "/password-reset?token=k1.abc.def", want: 200},
		{name: "DELETE on reset", method: "DELETE", path: "/password-reset", want: 405},
		{name: "set a password, empty", method: "POST", path: "/password-reset/confirm", body: `{"token":"{reset_token}","password":""}`, want: 400},
		{name: "set a password, cross-site", method: "POST", path: "/password-reset/confirm", body: `{"token":"{reset_token}","password":"new-42"}`, header: crossSite, want: 403},
		{name: "set a password", method: "POST", path: "/password-reset/confirm", body: `{"token":"{reset_token}","password":"carol-new-42"}`, want: 204},
		{name: "set a password with a used token", method: "POST", path: "/password-reset/confirm", body: `{"token":"{reset_token}","password":"carol-new-43"}`, want: 400},
		{name: "GET on set a password", method: "GET", path: "/password-reset/confirm", want: 405},

		// Operations.
		{name: "healthz", method: "GET", path: "/healthz", want: 200},
		{name: "POST on healthz", method: "POST", path: "/healthz", want: 405},
		{name: "metrics", method: "GET", path: "/metrics", metrics: true, want: 200},
		{name: "POST on metrics", method: "POST", path: "/metrics", metrics: true, want: 405},
	}...)
	for _, c := range tests {
		t.Run(c.name, func(t *testing.T) { h.run(t, c) })
	}
	if t.Failed() {
		return
	}

	// Every documented operation was driven, through every status it
	// documents except those only a failure answers.
	for template, item := range doc.model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			key := strings.ToUpper(method) + " " + template
			for code := range op.Responses.Codes.KeysFromOldest() {
				status, err := strconv.Atoi(code)
				require.NoError(t, err, "%s documents %q", key, code)
				if !h.seen[key][status] && !slices.Contains(unreachableInMemory, status) {
					t.Errorf("%s documents %d, which no case drove", key, status)
				}
			}
		}
	}
}

// TestOpenAPIRefusesUndocumented shows that the validator refuses what
// the document does not say, so that TestOpenAPIResponses cannot pass by
// accepting everything.
func TestOpenAPIRefusesUndocumented(t *testing.T) {
	doc := loadOpenAPI(t)
	tests := []struct {
		name   string
		path   string
		status int
		header http.Header
		body   string
	}{
		{"undocumented status", "/healthz", http.StatusTeapot, http.Header{"Content-Type": {"application/json"}}, `{"status":"ok"}`},
		{"body off its schema", "/healthz", http.StatusOK, http.Header{"Content-Type": {"application/json"}}, `{"status":"fine"}`},
		{"undocumented member", "/healthz", http.StatusOK, http.Header{"Content-Type": {"application/json"}}, `{"status":"ok","up":true}`},
		{"undocumented media type", "/healthz", http.StatusOK, http.Header{"Content-Type": {"text/html"}}, `ok`},
		{"401 without WWW-Authenticate", "/api/v1/me", http.StatusUnauthorized,
			http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"}},
			`{"error":"unauthorized","message":"Invalid credentials"}`},
		{"401 with another code", "/api/v1/me", http.StatusUnauthorized,
			http.Header{"Content-Type": {"application/json"}, "Cache-Control": {"no-store"},
				"Www-Authenticate": {`Bearer realm="httpauth example"`}},
			`{"error":"forbidden","message":"Invalid credentials"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, tt.path, nil)
			resp := &http.Response{StatusCode: tt.status, Header: tt.header,
				Body: readCloser{strings.NewReader(tt.body)}, Request: req}
			ok, errs := doc.v.ValidateHttpResponse(req, resp)
			require.False(t, ok, "the validator accepted it")
			require.NotEmpty(t, errs)
		})
	}
}
