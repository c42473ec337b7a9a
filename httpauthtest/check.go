package httpauthtest

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// The suites' checks, on the testing package alone, so that a host that
// runs them takes on no assertion library. Each names what it checked:
// what is a format and its arguments, such as "KeyByHash(%q)", id. The
// must* helpers stop the test (call them from the test's goroutine only);
// the others report and let it go on.

// describe formats what and its arguments.
func describe(what string, args ...any) string { return fmt.Sprintf(what, args...) }

// mustOK stops the test if err is not nil.
func mustOK(t testing.TB, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", describe(what, args...), err)
	}
}

// checkOK reports an error that is not nil.
func checkOK(t testing.TB, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Errorf("%s: unexpected error: %v", describe(what, args...), err)
	}
}

// mustFail stops the test if err is nil.
func mustFail(t testing.TB, err error, what string, args ...any) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want one", describe(what, args...))
	}
}

// checkFail reports a nil err.
func checkFail(t testing.TB, err error, what string, args ...any) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: no error, want one", describe(what, args...))
	}
}

// checkIs reports an err that does not match target (errors.Is).
func checkIs(t testing.TB, err, target error, what string, args ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: error %v, want %v", describe(what, args...), err, target)
	}
}

// checkIsNot reports an err that matches target (errors.Is).
func checkIsNot(t testing.TB, err, target error, what string, args ...any) {
	t.Helper()
	if errors.Is(err, target) {
		t.Errorf("%s: error %v, want one that is not %v", describe(what, args...), err, target)
	}
}

// checkEqual reports a got that is not deeply equal to want.
func checkEqual[T any](t testing.TB, got, want T, what string, args ...any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s: got %#v, want %#v", describe(what, args...), got, want)
	}
}

// checkNear reports a got more than TimePrecision away from want.
func checkNear(t testing.TB, got, want time.Time, what string, args ...any) {
	t.Helper()
	if d := got.Sub(want).Abs(); d > TimePrecision {
		t.Errorf("%s: got %v, want within %v of %v (off by %v)", describe(what, args...), got, TimePrecision, want, d)
	}
}
