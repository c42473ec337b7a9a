package httpauthtest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gohttpauth/httpauth"
)

// TimePrecision is the precision contract for Account.TokensValidAfter that
// TestUserStore checks: a store must give back a stored time within
// TimePrecision of the time written (a store may round either way, since
// stores differ: nanoseconds, microseconds, ...), and a time that is a whole
// multiple of TimePrecision since the Unix epoch must come back exactly
// (time.Time.Equal; the location may differ). A zero time written by an
// update must come back as the zero time; a zero time given at creation
// comes back as the creation time (see TestUserStore).
const TimePrecision = time.Microsecond

// UserStoreHarness is what TestUserStore needs to drive one store under
// test. Store and Add are required; the other fields enable more subtests.
type UserStoreHarness[U any] struct {
	// Store is the store under test. If it also has the optional
	// UpdatePasswordHash method of httpauth.UserStore, its
	// compare-and-swap contract is tested too.
	Store httpauth.UserStore[U]

	// Add creates a user reachable by login whose stored fields are those
	// of acct: ID, PasswordHash (stored as given, never re-hashed), Roles,
	// Disabled and TokensValidAfter, which the store sets to the creation
	// time when acct's is zero. acct.User is ignored. Add must fail if
	// login, compared by the store's own rule (case-insensitively for the
	// stores this suite knows), or the ID is taken. Required. For a store
	// that derives roles, Add sets the fields they come from according
	// to acct.Roles (see DerivedRoles).
	//
	// Add must call the store's own create operation and nothing else: a
	// harness that checks for a taken ID itself and then upserts hides a
	// store whose create replaces an account (as MemoryUserStore.Add once
	// did, unnoticed, because its harness did exactly that).
	Add func(ctx context.Context, login string, acct httpauth.Account[U]) error

	// Update applies fn to a copy of the stored account id and writes back
	// PasswordHash, Roles, Disabled and TokensValidAfter; it must report a
	// missing id with an error wrapping httpauth.ErrUserNotFound. It has
	// MemoryUserStore.Update's signature. Optional: nil skips the subtests
	// that change accounts.
	Update func(ctx context.Context, id string, fn func(*httpauth.Account[U])) error

	// Delete removes account id. Optional.
	Delete func(ctx context.Context, id string) error

	// CheckUser, when set, checks the host's own user value of an account
	// that Add created with login. Optional.
	CheckUser func(t *testing.T, login string, acct *httpauth.Account[U])

	// Break, when set, makes every later call of Store fail with an error
	// that is not a "not found" (for example by closing its database). It
	// is called at most once per harness, as the last act of a subtest.
	Break func(t *testing.T)
}

// TestUserStore runs the httpauth.UserStore conformance suite. newHarness is
// called once per subtest and must return a harness around a new, empty
// store (a fresh table, schema or database), so subtests may run in any
// order. The suite checks:
//
//   - UserByLogin and UserByID find what Add stored, with ID, PasswordHash,
//     Roles, Disabled and TokensValidAfter round-tripped (see
//     [TimePrecision]);
//   - a missing user is an error for which errors.Is(err,
//     httpauth.ErrUserNotFound) holds, from both methods;
//   - logins match case-insensitively, and exactly otherwise (no trimming,
//     no SQL wildcards); logins that differ only by case cannot both exist;
//   - creating an account with a taken ID fails and leaves the existing
//     account as it was, under its own login;
//   - creating an account without a TokensValidAfter sets it to the
//     creation time, also when the ID was used before and deleted, so no
//     earlier token can name the new account;
//   - a cancelled or expired context, or a broken store, is an error that is
//     NOT ErrUserNotFound (a failure must not look like a wrong password);
//   - updates are visible to the next lookup, and an account returned
//     earlier is not mutated by them; disabling an account moves its
//     TokensValidAfter to the time of the write, so that enabling it
//     again revives no token or API key;
//   - UpdatePasswordHash, if the store has it, is a compare-and-swap;
//   - many goroutines may read (and one write) at once; run with -race.
//
// Its subtests, for [Skip], are RoundTrip, NotFound, LoginMatching,
// DuplicateLogin, TakenIDKeepsAccount, CreationSetsCutoff,
// FailureIsNotNotFound (cancelled and expired contexts), UpdateVisible,
// Delete, Rehash, ConcurrentReads and BrokenStore. It takes [Skip],
// [DerivedRoles] and [IgnoresContext].
func TestUserStore[U any](t *testing.T, newHarness func(t *testing.T) UserStoreHarness[U], opts ...Option) {
	t.Helper()
	var o options
	h := func(t *testing.T) userSuite[U] {
		t.Helper()
		hs := newHarness(t)
		if hs.Store == nil || hs.Add == nil {
			t.Fatal("httpauthtest: UserStoreHarness needs Store and Add")
		}
		return userSuite[U]{UserStoreHarness: hs, opts: &o}
	}
	runSuite(t, suiteSpec{name: "TestUserStore", roles: true}, opts, &o, []subtest{
		{"RoundTrip", func(t *testing.T) { testRoundTrip(t, h(t)) }},
		{"NotFound", func(t *testing.T) { testNotFound(t, h(t)) }},
		{"LoginMatching", func(t *testing.T) { testLoginMatching(t, h(t)) }},
		{"DuplicateLogin", func(t *testing.T) { testDuplicate(t, h(t)) }},
		{"TakenIDKeepsAccount", func(t *testing.T) { testTakenID(t, h(t)) }},
		{"CreationSetsCutoff", func(t *testing.T) { testCreationCutoff(t, h(t)) }},
		{"FailureIsNotNotFound", func(t *testing.T) { testFailure(t, h(t)) }},
		{"UpdateVisible", func(t *testing.T) { testUpdateVisible(t, h(t)) }},
		{"Delete", func(t *testing.T) { testDelete(t, h(t)) }},
		{"Rehash", func(t *testing.T) { testRehash(t, h(t)) }},
		{"ConcurrentReads", func(t *testing.T) { testConcurrent(t, h(t)) }},
		{"BrokenStore", func(t *testing.T) { testBroken(t, h(t)) }},
	})
}

// userSuite is a harness with the options of the suite run it serves.
type userSuite[U any] struct {
	UserStoreHarness[U]
	opts *options
}

// Hashes that look real; stores must keep them byte for byte.
const (
	hashArgon = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	hashBcr   = "$2b$10$abcdefghijklmnopqrstuuq8eqQ3Vb5D1e0rO3Yi1R3oEj8Q2r6Lm"
	hashNew   = "$argon2id$v=19$m=19456,t=2,p=1$bmV3c2FsdG5ld3NhbHQ$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
)

func ctxT(t *testing.T) context.Context {
	t.Helper()
	return t.Context()
}

func mustAdd[U any](t *testing.T, h userSuite[U], login string, acct httpauth.Account[U]) {
	t.Helper()
	if err := h.Add(ctxT(t), login, acct); err != nil {
		t.Fatalf("Add(%q, ID %q): %v", login, acct.ID, err)
	}
}

// checkAccount compares the stored fields of got with want, whose Roles
// are those the suite gave the store (see DerivedRoles).
func (h userSuite[U]) checkAccount(t *testing.T, what string, got *httpauth.Account[U], want httpauth.Account[U]) {
	t.Helper()
	checkFields(t, what, got, want, h.opts.roles(want.Roles))
}

// checkFields compares the stored fields of got with want's, and got's
// roles with wantRoles.
func checkFields[U any](t *testing.T, what string, got *httpauth.Account[U], want httpauth.Account[U], wantRoles []string) {
	t.Helper()
	if got == nil {
		t.Fatalf("%s: nil account with nil error", what)
	}
	if got.ID != want.ID {
		t.Errorf("%s: ID = %q, want %q", what, got.ID, want.ID)
	}
	if got.PasswordHash != want.PasswordHash {
		t.Errorf("%s: PasswordHash = %q, want %q", what, got.PasswordHash, want.PasswordHash)
	}
	// nil and empty roles are the same: no roles.
	if !slices.Equal(got.Roles, wantRoles) {
		t.Errorf("%s: Roles = %q, want %q", what, got.Roles, wantRoles)
	}
	if got.Disabled != want.Disabled {
		t.Errorf("%s: Disabled = %v, want %v", what, got.Disabled, want.Disabled)
	}
	checkTime(t, what, got.TokensValidAfter, want.TokensValidAfter)
}

// creationSlack bounds how far after Add returns a store's creation time
// may be: a database server's clock may run a little ahead of the tests'.
const creationSlack = time.Minute

// checkCreated is checkAccount for an account just created: a zero
// TokensValidAfter in want may come back as a creation time in
// [since, until].
func (h userSuite[U]) checkCreated(t *testing.T, what string, got *httpauth.Account[U], want httpauth.Account[U], since, until time.Time) {
	t.Helper()
	if got != nil && want.TokensValidAfter.IsZero() && !got.TokensValidAfter.IsZero() {
		checkCreationTime(t, what, got.TokensValidAfter, since, until)
		want.TokensValidAfter = got.TokensValidAfter
	}
	h.checkAccount(t, what, got, want)
}

func checkCreationTime(t *testing.T, what string, got, since, until time.Time) {
	t.Helper()
	if got.IsZero() {
		t.Errorf("%s: TokensValidAfter is the zero time; creating an account must set it to the creation time", what)
		return
	}
	if got.Before(since.Add(-TimePrecision)) || got.After(until.Add(creationSlack)) {
		t.Errorf("%s: TokensValidAfter = %v, want the creation time, between %v and %v", what, got, since, until)
	}
}

func checkTime(t *testing.T, what string, got, want time.Time) {
	t.Helper()
	switch {
	case want.IsZero():
		if !got.IsZero() {
			t.Errorf("%s: TokensValidAfter = %v, want the zero time", what, got)
		}
	case want.Equal(want.Truncate(TimePrecision)):
		if !got.Equal(want) {
			t.Errorf("%s: TokensValidAfter = %v, want exactly %v (a whole %v)", what, got, want, TimePrecision)
		}
	default:
		if d := got.Sub(want).Abs(); got.IsZero() || d >= TimePrecision {
			t.Errorf("%s: TokensValidAfter = %v, want within %v of %v", what, got, TimePrecision, want)
		}
	}
}

func testRoundTrip[U any](t *testing.T, h userSuite[U]) {
	cutoff := time.Date(2031, 5, 17, 8, 30, 12, 123456000, time.UTC)
	cases := []struct {
		name  string
		login string
		acct  httpauth.Account[U]
	}{
		{"plain", "alice", httpauth.Account[U]{ID: "u-1", PasswordHash: hashArgon}},
		{"roles", "bob@example.com", httpauth.Account[U]{ID: "u-2", PasswordHash: hashBcr, Roles: []string{"admin", "ops", "read:all"}}},
		{"one role", "carol", httpauth.Account[U]{ID: "u-3", PasswordHash: hashArgon, Roles: []string{"viewer"}}},
		{"disabled", "dave", httpauth.Account[U]{ID: "u-4", PasswordHash: hashArgon, Disabled: true}},
		{"cutoff microseconds", "erin", httpauth.Account[U]{ID: "u-5", PasswordHash: hashArgon, TokensValidAfter: cutoff}},
		{"cutoff nanoseconds", "frank", httpauth.Account[U]{ID: "u-6", PasswordHash: hashArgon, TokensValidAfter: cutoff.Add(789 * time.Nanosecond)}},
		{"cutoff other zone", "grace", httpauth.Account[U]{ID: "u-7", PasswordHash: hashArgon, TokensValidAfter: cutoff.In(time.FixedZone("X", -7*3600))}},
		{"cutoff before 1970", "heidi", httpauth.Account[U]{ID: "u-8", PasswordHash: hashArgon, TokensValidAfter: time.Date(1969, 7, 20, 20, 17, 40, 0, time.UTC)}},
		{"empty hash", "ivan", httpauth.Account[U]{ID: "u-9"}},
		{"everything", "judy.O'Hara@Example.org", httpauth.Account[U]{ID: "a-long-id-" + fmt.Sprint(time.Duration(1<<40)), PasswordHash: hashBcr, Roles: []string{"a", "b"}, Disabled: true, TokensValidAfter: cutoff}},
		{"unicode", "Zoë-Łukasz", httpauth.Account[U]{ID: "ü-11", PasswordHash: hashArgon, Roles: []string{"rôle"}}},
	}
	since := time.Now()
	for _, c := range cases {
		mustAdd(t, h, c.login, c.acct)
	}
	until := time.Now()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			byLogin, err := h.Store.UserByLogin(ctxT(t), c.login)
			if err != nil {
				t.Fatalf("UserByLogin(%q): %v", c.login, err)
			}
			h.checkCreated(t, "UserByLogin", byLogin, c.acct, since, until)
			byID, err := h.Store.UserByID(ctxT(t), c.acct.ID)
			if err != nil {
				t.Fatalf("UserByID(%q): %v", c.acct.ID, err)
			}
			h.checkCreated(t, "UserByID", byID, c.acct, since, until)
			if h.CheckUser != nil {
				h.CheckUser(t, c.login, byLogin)
				h.CheckUser(t, c.login, byID)
			}
		})
	}
}

func wantNotFound(t *testing.T, what string, acct any, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: found %+v, want ErrUserNotFound", what, acct)
		return
	}
	if !errors.Is(err, httpauth.ErrUserNotFound) {
		t.Errorf("%s: error %v, want one wrapping ErrUserNotFound", what, err)
	}
}

func testNotFound[U any](t *testing.T, h userSuite[U]) {
	ctx := ctxT(t)
	// Empty store first.
	a, err := h.Store.UserByLogin(ctx, "nobody")
	wantNotFound(t, "empty store UserByLogin", a, err)
	a, err = h.Store.UserByID(ctx, "nobody")
	wantNotFound(t, "empty store UserByID", a, err)

	mustAdd(t, h, "alice", httpauth.Account[U]{ID: "id-alice", PasswordHash: hashArgon})
	for _, c := range []struct{ name, login, id string }{
		{"unknown", "mallory", "id-mallory"},
		{"login is not an ID", "id-alice", "alice"},
		{"empty", "", ""},
		{"NUL", "alice\x00", "id-alice\x00"},
		{"invalid UTF-8", "alice\xff", "id-alice\xff"},
		{"prefix", "alic", "id-alic"},
		{"longer", "alicea", "id-alicea"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := h.Store.UserByLogin(ctxT(t), c.login)
			wantNotFound(t, fmt.Sprintf("UserByLogin(%q)", c.login), a, err)
			a, err = h.Store.UserByID(ctxT(t), c.id)
			wantNotFound(t, fmt.Sprintf("UserByID(%q)", c.id), a, err)
		})
	}
}

func testLoginMatching[U any](t *testing.T, h userSuite[U]) {
	mustAdd(t, h, "Alice.Smith@Example.COM", httpauth.Account[U]{ID: "id-alice", PasswordHash: hashArgon})
	mustAdd(t, h, "bob_1", httpauth.Account[U]{ID: "id-bob", PasswordHash: hashArgon})
	for _, c := range []struct {
		login  string
		wantID string // "" means not found
	}{
		{"Alice.Smith@Example.COM", "id-alice"},
		{"alice.smith@example.com", "id-alice"},
		{"ALICE.SMITH@EXAMPLE.COM", "id-alice"},
		{"aLiCe.SmItH@eXaMpLe.CoM", "id-alice"},
		{"bob_1", "id-bob"},
		{"BOB_1", "id-bob"},
		{" alice.smith@example.com", ""},
		{"alice.smith@example.com ", ""},
		{"alice.smith@example.com\x00", ""},
		{"alice.smith@example.com\xff", ""}, // invalid UTF-8
		{"\x00", ""},
		{"alice_smith@example.com", ""}, // '_' is no wildcard
		{"alice%", ""},                  // nor is '%'
		{"%", ""},
		{"bob?1", ""},
		{"bob*", ""},
		{"bob_", ""},
		{"alice.smith@example.co", ""},
	} {
		t.Run(fmt.Sprintf("%q", c.login), func(t *testing.T) {
			a, err := h.Store.UserByLogin(ctxT(t), c.login)
			if c.wantID == "" {
				wantNotFound(t, fmt.Sprintf("UserByLogin(%q)", c.login), a, err)
				return
			}
			if err != nil {
				t.Fatalf("UserByLogin(%q): %v", c.login, err)
			}
			if a == nil || a.ID != c.wantID {
				t.Fatalf("UserByLogin(%q) = %+v, want ID %q", c.login, a, c.wantID)
			}
		})
	}
}

func testDuplicate[U any](t *testing.T, h userSuite[U]) {
	ctx := ctxT(t)
	since := time.Now()
	mustAdd(t, h, "Carol", httpauth.Account[U]{ID: "id-carol", PasswordHash: hashArgon})
	until := time.Now()
	for _, c := range []struct{ name, login, id string }{
		{"same login", "Carol", "id-other-1"},
		{"login differing by case", "cAROL", "id-other-2"},
		{"same ID", "someone-else", "id-carol"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := h.Add(ctx, c.login, httpauth.Account[U]{ID: c.id, PasswordHash: hashBcr})
			if err == nil {
				t.Errorf("Add(%q, ID %q) succeeded, want an error: login or ID taken", c.login, c.id)
			}
		})
	}
	a, err := h.Store.UserByLogin(ctx, "carol")
	if err != nil {
		t.Fatalf("UserByLogin: %v", err)
	}
	h.checkCreated(t, "after failed Adds", a, httpauth.Account[U]{ID: "id-carol", PasswordHash: hashArgon}, since, until)
}

// testTakenID: creating an account with a taken ID is refused, and the
// existing account keeps its login, its hash and its cutoff, so neither
// its password nor its tokens start answering as someone else.
func testTakenID[U any](t *testing.T, h userSuite[U]) {
	ctx := ctxT(t)
	cutoff := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	orig := httpauth.Account[U]{ID: "id-alice", PasswordHash: hashArgon, Roles: []string{"user"}, TokensValidAfter: cutoff}
	mustAdd(t, h, "alice", orig)
	for _, c := range []struct {
		name string
		acct httpauth.Account[U]
	}{
		{"zero cutoff", httpauth.Account[U]{ID: "id-alice", PasswordHash: hashBcr, Roles: []string{"admin"}}},
		{"later cutoff", httpauth.Account[U]{ID: "id-alice", PasswordHash: hashNew, Disabled: true, TokensValidAfter: cutoff.Add(time.Hour)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := h.Add(ctx, "mallory", c.acct); err == nil {
				t.Fatalf("Add(%q, taken ID %q) succeeded, want an error", "mallory", c.acct.ID)
			}
			a, err := h.Store.UserByLogin(ctx, "mallory")
			wantNotFound(t, "UserByLogin(new login) after a refused Add", a, err)
			a, err = h.Store.UserByLogin(ctx, "alice")
			if err != nil {
				t.Fatalf("UserByLogin(alice) after a refused Add: %v", err)
			}
			h.checkAccount(t, "UserByLogin(alice) after a refused Add", a, orig)
			a, err = h.Store.UserByID(ctx, "id-alice")
			if err != nil {
				t.Fatalf("UserByID after a refused Add: %v", err)
			}
			h.checkAccount(t, "UserByID after a refused Add", a, orig)
		})
	}
}

// testCreationCutoff: an account created without a cutoff gets the
// creation time as its cutoff, so a token minted before it existed (for a
// deleted account with the same ID, say) never names it.
func testCreationCutoff[U any](t *testing.T, h userSuite[U]) {
	ctx := ctxT(t)
	since := time.Now()
	mustAdd(t, h, "nick", httpauth.Account[U]{ID: "id-nick", PasswordHash: hashArgon})
	until := time.Now()
	a, err := h.Store.UserByID(ctx, "id-nick")
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	checkCreationTime(t, "new account", a.TokensValidAfter, since, until)
	if h.Delete == nil {
		return
	}
	t.Run("ID used before", func(t *testing.T) {
		if err := h.Delete(ctx, "id-nick"); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		since := time.Now()
		mustAdd(t, h, "nick-2", httpauth.Account[U]{ID: "id-nick", PasswordHash: hashBcr})
		until := time.Now()
		a, err := h.Store.UserByID(ctx, "id-nick")
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		checkCreationTime(t, "account re-created with a deleted ID", a.TokensValidAfter, since, until)
	})
}

func wantFailure(t *testing.T, what string, acct any, err error) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error (account %+v), want a failure", what, acct)
		return
	}
	if errors.Is(err, httpauth.ErrUserNotFound) {
		t.Errorf("%s: error %v wraps ErrUserNotFound; a failure must not look like a missing user", what, err)
	}
}

// wantContextFailure checks a lookup made with a dead context: it must
// fail with an error that is not ErrUserNotFound or, if the store
// IgnoresContext, may give the live answer: the account wantID, or
// ErrUserNotFound when wantID is "".
func (h userSuite[U]) wantContextFailure(t *testing.T, what string, acct *httpauth.Account[U], err error, wantID string) {
	t.Helper()
	if !h.opts.ignoresContext {
		wantFailure(t, what, acct, err)
		return
	}
	switch {
	case err == nil && wantID == "":
		t.Errorf("%s: found %+v, want ErrUserNotFound or a failure", what, acct)
	case err == nil && (acct == nil || acct.ID != wantID):
		t.Errorf("%s: got %+v, want ID %q or a failure", what, acct, wantID)
	case errors.Is(err, httpauth.ErrUserNotFound) && wantID != "":
		t.Errorf("%s: error %v wraps ErrUserNotFound; a failure must not look like a missing user", what, err)
	}
}

func testFailure[U any](t *testing.T, h userSuite[U]) {
	mustAdd(t, h, "dave", httpauth.Account[U]{ID: "id-dave", PasswordHash: hashArgon})
	cancelled, cancel := context.WithCancel(ctxT(t))
	cancel()
	expired, cancel2 := context.WithDeadline(ctxT(t), time.Unix(1, 0))
	defer cancel2()
	for _, c := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"cancelled", cancelled, context.Canceled},
		{"deadline exceeded", expired, context.DeadlineExceeded},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, q := range []struct{ login, id, wantID string }{{"dave", "id-dave", "id-dave"}, {"nobody", "id-nobody", ""}} {
				a, err := h.Store.UserByLogin(c.ctx, q.login)
				h.wantContextFailure(t, fmt.Sprintf("UserByLogin(%q)", q.login), a, err, q.wantID)
				a, err = h.Store.UserByID(c.ctx, q.id)
				h.wantContextFailure(t, fmt.Sprintf("UserByID(%q)", q.id), a, err, q.wantID)
			}
		})
	}
}

func testUpdateVisible[U any](t *testing.T, h userSuite[U]) {
	if h.Update == nil {
		t.Skip("harness has no Update")
	}
	ctx := ctxT(t)
	orig := httpauth.Account[U]{ID: "id-erin", PasswordHash: hashArgon, Roles: []string{"a", "b"}}
	since := time.Now()
	mustAdd(t, h, "Erin", orig)
	until := time.Now()
	before, err := h.Store.UserByID(ctx, "id-erin")
	if err != nil {
		t.Fatalf("UserByID: %v", err)
	}
	h.checkCreated(t, "created", before, orig, since, until)
	orig.TokensValidAfter = before.TokensValidAfter // the creation time
	snapshot := *before
	snapshot.Roles = slices.Clone(before.Roles)

	cutoff := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.UTC)
	steps := []struct {
		name string
		fn   func(*httpauth.Account[U])
	}{
		{"disable", func(a *httpauth.Account[U]) { a.Disabled = true }},
		{"roles", func(a *httpauth.Account[U]) { a.Roles = []string{"c"} }},
		{"cutoff", func(a *httpauth.Account[U]) { a.TokensValidAfter = cutoff }},
		{"hash", func(a *httpauth.Account[U]) { a.PasswordHash = hashNew }},
		{"no roles", func(a *httpauth.Account[U]) { a.Roles = nil }},
		{"enable", func(a *httpauth.Account[U]) { a.Disabled = false }},
		{"clear cutoff", func(a *httpauth.Account[U]) { a.TokensValidAfter = time.Time{} }},
	}
	want := orig
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			since := time.Now()
			if err := h.Update(ctx, "id-erin", s.fn); err != nil {
				t.Fatalf("Update: %v", err)
			}
			until := time.Now()
			s.fn(&want)
			a, err := h.Store.UserByID(ctx, "id-erin")
			if err != nil {
				t.Fatalf("UserByID: %v", err)
			}
			if s.name == "disable" && a != nil {
				// Disabling moves the cutoff to the time of the write, so
				// that enabling again revives no token or API key.
				checkCreationTime(t, "TokensValidAfter after disable", a.TokensValidAfter, since, until)
				want.TokensValidAfter = a.TokensValidAfter
			}
			h.checkAccount(t, "UserByID after "+s.name, a, want)
			a, err = h.Store.UserByLogin(ctx, "erin")
			if err != nil {
				t.Fatalf("UserByLogin: %v", err)
			}
			h.checkAccount(t, "UserByLogin after "+s.name, a, want)
		})
	}
	t.Run("earlier account not mutated", func(t *testing.T) {
		checkFields(t, "account returned before the updates", before, snapshot, snapshot.Roles)
	})
	t.Run("missing", func(t *testing.T) {
		err := h.Update(ctx, "id-nobody", func(a *httpauth.Account[U]) { a.Disabled = true })
		if !errors.Is(err, httpauth.ErrUserNotFound) {
			t.Errorf("Update(missing) = %v, want ErrUserNotFound", err)
		}
	})
}

func testDelete[U any](t *testing.T, h userSuite[U]) {
	if h.Delete == nil {
		t.Skip("harness has no Delete")
	}
	ctx := ctxT(t)
	mustAdd(t, h, "Frank", httpauth.Account[U]{ID: "id-frank", PasswordHash: hashArgon})
	mustAdd(t, h, "grace", httpauth.Account[U]{ID: "id-grace", PasswordHash: hashArgon})
	if err := h.Delete(ctx, "id-frank"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	a, err := h.Store.UserByLogin(ctx, "frank")
	wantNotFound(t, "UserByLogin after Delete", a, err)
	a, err = h.Store.UserByID(ctx, "id-frank")
	wantNotFound(t, "UserByID after Delete", a, err)
	if _, err := h.Store.UserByID(ctx, "id-grace"); err != nil {
		t.Errorf("other user after Delete: %v", err)
	}
	// The login is free again.
	since := time.Now()
	mustAdd(t, h, "FRANK", httpauth.Account[U]{ID: "id-frank-2", PasswordHash: hashBcr})
	until := time.Now()
	a2, err := h.Store.UserByLogin(ctx, "frank")
	if err != nil {
		t.Fatalf("UserByLogin after re-Add: %v", err)
	}
	h.checkCreated(t, "re-added", a2, httpauth.Account[U]{ID: "id-frank-2", PasswordHash: hashBcr}, since, until)
}

func testRehash[U any](t *testing.T, h userSuite[U]) {
	rh, ok := h.Store.(httpauth.PasswordRehasher)
	if !ok {
		t.Skip("store has no UpdatePasswordHash method")
	}
	ctx := ctxT(t)
	cutoff := time.Date(2029, 9, 9, 9, 9, 9, 9000, time.UTC)
	acct := httpauth.Account[U]{ID: "id-heidi", PasswordHash: hashBcr, Roles: []string{"r"}, TokensValidAfter: cutoff}
	mustAdd(t, h, "heidi", acct)
	other := httpauth.Account[U]{ID: "id-ivan", PasswordHash: hashBcr, TokensValidAfter: cutoff}
	mustAdd(t, h, "ivan", other)

	t.Run("swap", func(t *testing.T) {
		if err := rh.UpdatePasswordHash(ctx, acct.ID, hashBcr, hashNew); err != nil {
			t.Fatalf("UpdatePasswordHash: %v", err)
		}
		want := acct
		want.PasswordHash = hashNew
		a, err := h.Store.UserByID(ctx, acct.ID)
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		h.checkAccount(t, "after rehash", a, want) // other fields, the cutoff too, untouched
		a, err = h.Store.UserByID(ctx, other.ID)
		if err != nil {
			t.Fatalf("UserByID(other): %v", err)
		}
		h.checkAccount(t, "other user after rehash", a, other)
	})
	t.Run("stale old hash loses", func(t *testing.T) {
		// hashBcr is no longer stored: a concurrent change won.
		if err := rh.UpdatePasswordHash(ctx, acct.ID, hashBcr, hashArgon); err != nil {
			t.Fatalf("UpdatePasswordHash with a stale old hash = %v, want nil", err)
		}
		a, err := h.Store.UserByID(ctx, acct.ID)
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		if a.PasswordHash != hashNew {
			t.Errorf("PasswordHash = %q after a stale swap, want %q kept", a.PasswordHash, hashNew)
		}
	})
	t.Run("missing user", func(t *testing.T) {
		if err := rh.UpdatePasswordHash(ctx, "id-nobody", hashBcr, hashNew); err != nil {
			t.Errorf("UpdatePasswordHash(missing) = %v, want nil", err)
		}
		a, err := h.Store.UserByID(ctx, "id-nobody")
		wantNotFound(t, "UserByID after rehash of a missing user", a, err)
	})
	t.Run("cancelled", func(t *testing.T) {
		c, cancel := context.WithCancel(ctx)
		cancel()
		want := other
		switch err := rh.UpdatePasswordHash(c, other.ID, hashBcr, hashNew); {
		case err == nil && h.opts.ignoresContext:
			want.PasswordHash = hashNew // the live answer
		case err == nil:
			t.Errorf("UpdatePasswordHash with a cancelled context = nil, want an error")
		}
		a, err := h.Store.UserByID(ctx, other.ID)
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		h.checkAccount(t, "after cancelled rehash", a, want)
	})
	t.Run("concurrent swaps", func(t *testing.T) {
		// Many logins of the same user race to replace the same old hash:
		// all succeed (nil), and the stored hash is one of theirs.
		mustAdd(t, h, "judy", httpauth.Account[U]{ID: "id-judy", PasswordHash: hashBcr})
		const n = 8
		news := make([]string, n)
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for i := range n {
			news[i] = fmt.Sprintf("%s-%d", hashNew, i)
			wg.Go(func() { errs <- rh.UpdatePasswordHash(ctx, "id-judy", hashBcr, news[i]) })
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("concurrent UpdatePasswordHash: %v", err)
			}
		}
		a, err := h.Store.UserByID(ctx, "id-judy")
		if err != nil {
			t.Fatalf("UserByID: %v", err)
		}
		if !slices.Contains(news, a.PasswordHash) {
			t.Errorf("PasswordHash = %q, want one of the concurrent new hashes", a.PasswordHash)
		}
	})
}

func testConcurrent[U any](t *testing.T, h userSuite[U]) {
	ctx := ctxT(t)
	const users = 8
	wantRoles := make([][]string, users)
	for i := range users {
		roles := []string{fmt.Sprint("role", i)}
		wantRoles[i] = h.opts.roles(roles)
		mustAdd(t, h, fmt.Sprintf("User%d", i), httpauth.Account[U]{
			ID: fmt.Sprintf("id-%d", i), PasswordHash: hashArgon, Roles: roles,
		})
	}
	const readers, reads = 16, 25
	var wg sync.WaitGroup
	errs := make(chan error, readers+1)
	stop := make(chan struct{})
	if h.Update != nil {
		// One writer flips a field of user 0 while the others read.
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if err := h.Update(ctx, "id-0", func(a *httpauth.Account[U]) { a.Disabled = i%2 == 0 }); err != nil {
					errs <- fmt.Errorf("update: %w", err)
					return
				}
			}
		})
	}
	var rg sync.WaitGroup
	for r := range readers {
		rg.Go(func() {
			for j := range reads {
				i := (r + j) % users
				var a *httpauth.Account[U]
				var err error
				if j%2 == 0 {
					a, err = h.Store.UserByLogin(ctx, fmt.Sprintf("user%d", i))
				} else {
					a, err = h.Store.UserByID(ctx, fmt.Sprintf("id-%d", i))
				}
				if err != nil {
					errs <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
				if a.ID != fmt.Sprintf("id-%d", i) || !slices.Equal(a.Roles, wantRoles[i]) {
					errs <- fmt.Errorf("reader %d: got ID %q roles %q for user %d", r, a.ID, a.Roles, i)
					return
				}
			}
		})
	}
	rg.Wait()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testBroken[U any](t *testing.T, h userSuite[U]) {
	if h.Break == nil {
		t.Skip("harness has no Break")
	}
	mustAdd(t, h, "kate", httpauth.Account[U]{ID: "id-kate", PasswordHash: hashArgon})
	h.Break(t)
	ctx := ctxT(t)
	for _, q := range []struct{ login, id string }{{"kate", "id-kate"}, {"nobody", "id-nobody"}} {
		a, err := h.Store.UserByLogin(ctx, q.login)
		wantFailure(t, fmt.Sprintf("broken UserByLogin(%q)", q.login), a, err)
		a, err = h.Store.UserByID(ctx, q.id)
		wantFailure(t, fmt.Sprintf("broken UserByID(%q)", q.id), a, err)
	}
}
