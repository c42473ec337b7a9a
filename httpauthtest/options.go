package httpauthtest

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// Option adapts a conformance suite to what a host's store legitimately
// does differently. Every suite (TestUserStore, TestLifecycleStore,
// TestRevocationStore, TestLimiter, TestKeyStore) takes options as its
// last, variadic, argument; with none, the suite checks the full contract.
// A suite fails before running anything if an option names a subtest it
// does not have or does not apply to it, so a typo never skips silently.
type Option func(*options)

// options is what the Options of one suite run add up to.
type options struct {
	skip []string
	// derive, if set, maps the roles the suite gives Add or Update to
	// those the store then reports.
	derive         func(given []string) []string
	deriveSet      bool
	ignoresContext bool
}

// Skip skips the named top-level subtests of a suite (each suite's doc
// lists its subtests' names; "go test -v" shows them too). They still
// appear in the output, as skipped. A name the suite does not have fails
// the suite before it runs anything. Default: none skipped.
//
// Prefer a narrower option when one fits: IgnoresContext keeps the
// context subtests' other checks, which Skip throws away.
func Skip(names ...string) Option {
	return func(o *options) { o.skip = append(o.skip, names...) }
}

// DerivedRoles says that the store derives an account's roles from its own
// fields instead of storing the list it is given, as a store with an Admin
// bool does: the harness's Add (and Update) maps the roles the suite asks
// for onto the store's fields, and derive maps the roles the suite asked
// for to the ones the store then reports, in the order it reports them.
// The suite compares what the store reports with derive(given); nil and
// empty lists are equal. For an Admin bool:
//
//	httpauthtest.DerivedRoles(func(given []string) []string {
//		if slices.Contains(given, "admin") {
//			return []string{"admin"}
//		}
//		return nil
//	})
//
// It applies to TestUserStore and, since they share a harness, is
// accepted by TestLifecycleStore (which checks no roles). derive must not
// be nil. Default: the store reports the roles it was given, as given.
func DerivedRoles(derive func(given []string) []string) Option {
	return func(o *options) { o.derive, o.deriveSet = derive, true }
}

// IgnoresContext says that the store does not check its context where it
// does no I/O (a map lookup, say), so a call with a cancelled or expired
// context may answer as if the context were live. The context subtests
// then accept, from each call, either that live answer or an error, and
// still require that an error never wraps the not-found sentinel
// ([httpauth.ErrUserNotFound], [httpauth.ErrKeyNotFound]) for something that exists, and that a
// limiter never allows on an error. Default: every call with a cancelled
// or expired context must fail.
func IgnoresContext() Option {
	return func(o *options) { o.ignoresContext = true }
}

// subtest is one top-level subtest of a suite.
type subtest struct {
	name string
	run  func(t *testing.T)
}

// suiteSpec describes a suite to the option checks.
type suiteSpec struct {
	name  string // "TestUserStore"
	roles bool   // whether DerivedRoles applies
}

// newOptions applies opts and checks them against the suite's subtests.
func newOptions(spec suiteSpec, names []string, opts []Option) (options, error) {
	var o options
	for _, opt := range opts {
		if opt == nil {
			return o, fmt.Errorf("httpauthtest: %s: nil Option", spec.name)
		}
		opt(&o)
	}
	for _, s := range o.skip {
		if !slices.Contains(names, s) {
			return o, fmt.Errorf("httpauthtest: %s: Skip(%q): no such subtest; its subtests are %s",
				spec.name, s, strings.Join(names, ", "))
		}
	}
	if o.deriveSet {
		if !spec.roles {
			return o, fmt.Errorf("httpauthtest: %s: DerivedRoles does not apply to it, as it checks no account roles", spec.name)
		}
		if o.derive == nil {
			return o, fmt.Errorf("httpauthtest: %s: DerivedRoles(nil); give the function that derives the roles", spec.name)
		}
	}
	return o, nil
}

// runSuite checks opts and stores them in *o, where tests read them, then
// runs tests as subtests of t, skipping those that opts name.
func runSuite(t *testing.T, spec suiteSpec, opts []Option, o *options, tests []subtest) {
	t.Helper()
	names := make([]string, len(tests))
	for i, st := range tests {
		names[i] = st.name
	}
	got, err := newOptions(spec, names, opts)
	if err != nil {
		t.Fatal(err)
	}
	*o = got
	for _, st := range tests {
		if slices.Contains(o.skip, st.name) {
			t.Run(st.name, func(t *testing.T) { t.Skip("skipped by httpauthtest.Skip") })
			continue
		}
		t.Run(st.name, st.run)
	}
}

// roles returns the roles the store reports for an account given roles.
func (o *options) roles(given []string) []string {
	if o.derive == nil {
		return given
	}
	return o.derive(slices.Clone(given))
}
