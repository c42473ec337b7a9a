package httpauthtest

import (
	"strings"
	"testing"
)

func TestNewOptions(t *testing.T) {
	t.Parallel()
	names := []string{"RoundTrip", "NotFound"}
	users := suiteSpec{name: "TestUserStore", roles: true}
	limiter := suiteSpec{name: "TestLimiter"}
	admin := func([]string) []string { return []string{"admin"} }
	cases := []struct {
		name    string
		spec    suiteSpec
		opts    []Option
		wantErr string // "" for none
	}{
		{"none", users, nil, ""},
		{"all", users, []Option{Skip("NotFound"), Skip("RoundTrip", "NotFound"), DerivedRoles(admin), IgnoresContext()}, ""},
		{"misspelled skip", users, []Option{Skip("RoundTrip", "Notfound")}, `Skip("Notfound"): no such subtest; its subtests are RoundTrip, NotFound`},
		{"empty skip name", users, []Option{Skip("")}, `Skip(""): no such subtest`},
		{"subtest of a subtest", users, []Option{Skip("RoundTrip/plain")}, `Skip("RoundTrip/plain"): no such subtest`},
		{"nil option", users, []Option{nil}, "nil Option"},
		{"nil derive", users, []Option{DerivedRoles(nil)}, "DerivedRoles(nil)"},
		{"roles on a suite without roles", limiter, []Option{DerivedRoles(admin)}, "TestLimiter: DerivedRoles does not apply"},
		{"context on a suite without roles", limiter, []Option{IgnoresContext()}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := newOptions(c.spec, names, c.opts)
			switch {
			case c.wantErr == "" && err != nil:
				t.Fatalf("newOptions: %v, want no error", err)
			case c.wantErr != "" && err == nil:
				t.Fatalf("newOptions: no error, want one with %q", c.wantErr)
			case c.wantErr != "" && !strings.Contains(err.Error(), c.wantErr):
				t.Fatalf("newOptions: %v, want an error with %q", err, c.wantErr)
			}
		})
	}
}

func TestOptionsRoles(t *testing.T) {
	t.Parallel()
	var o options
	if got := o.roles([]string{"a"}); len(got) != 1 || got[0] != "a" {
		t.Errorf("default roles([a]) = %q, want [a]", got)
	}
	// derive gets a copy: a derivation that reuses its input cannot
	// change the suite's own account.
	given := []string{"a", "b"}
	o.derive = func(r []string) []string { r[0] = "x"; return r[:1] }
	if got := o.roles(given); len(got) != 1 || got[0] != "x" || given[0] != "a" {
		t.Errorf("roles = %q and given = %q, want [x] and [a b]", got, given)
	}
}
