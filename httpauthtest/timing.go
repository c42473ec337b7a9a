package httpauthtest

import (
	"fmt"
	"testing"
	"time"
)

// timedAttempts is how many times suiteTimed tries a check that must run
// within a short real-time window before it skips it as unjudgeable.
const timedAttempts = 5

// attemptAbort is the panic value that ends one attempt of suiteTimed.
type attemptAbort struct{}

// timedT is the testing.TB of one attempt of suiteTimed. It holds back
// failures reported after a section ran past its budget: on a stalled
// machine the window may have ended, so such an attempt is retried. Any
// other failure is reported on the real test.
type timedT struct {
	testing.TB
	real     *testing.T
	failures []string // genuine failures, reported on real
	late     string   // why this attempt cannot be judged, if it cannot
	start    time.Time
	budget   time.Duration // of the running section, 0 outside one
}

// within runs section, which must finish within budget of its start to
// be judged: a failure reported once budget has passed, or a section that
// finishes late, makes the attempt late.
func (a *timedT) within(budget time.Duration, section func()) {
	a.Helper()
	a.start, a.budget = time.Now(), budget
	section()
	a.budget = 0
	if took := time.Since(a.start); took >= budget {
		a.late = fmt.Sprintf("a section took %v, not under %v", took, budget)
		panic(attemptAbort{})
	}
}

func (a *timedT) record(msg string) {
	if a.budget > 0 {
		if took := time.Since(a.start); took >= a.budget {
			a.late = fmt.Sprintf("failed %v into a section of %v (%s)", took, a.budget, msg)
			return
		}
	}
	a.failures = append(a.failures, msg)
}

func (a *timedT) Error(args ...any)                 { a.record(fmt.Sprint(args...)) }
func (a *timedT) Errorf(format string, args ...any) { a.record(fmt.Sprintf(format, args...)) }
func (a *timedT) Fatal(args ...any)                 { a.record(fmt.Sprint(args...)); a.FailNow() }
func (a *timedT) Fatalf(format string, args ...any) {
	a.record(fmt.Sprintf(format, args...))
	a.FailNow()
}
func (a *timedT) Fail()        { a.record("Fail called") }
func (a *timedT) Failed() bool { return len(a.failures) > 0 || a.late != "" }

func (a *timedT) FailNow() {
	if !a.Failed() {
		a.Fail()
	}
	panic(attemptAbort{})
}

// suiteTimed runs attempt, whose checks hold only while the machine keeps
// up with real time (see timedT.within), up to timedAttempts times: again
// while an attempt was too late to judge, and skipping t if every attempt
// was. Failures of an attempt that kept to time fail t.
func suiteTimed(t *testing.T, attempt func(t *timedT)) {
	t.Helper()
	for i := 1; ; i++ {
		a := &timedT{TB: t, real: t}
		func() {
			defer func() {
				if r := recover(); r != nil {
					if _, ok := r.(attemptAbort); !ok {
						panic(r)
					}
				}
			}()
			attempt(a)
		}()
		if len(a.failures) > 0 {
			for _, f := range a.failures {
				t.Error(f)
			}
			t.FailNow()
		}
		if a.late == "" {
			return
		}
		if i == timedAttempts {
			t.Skipf("machine too slow to judge this check in %d attempts; last: %s", i, a.late)
		}
		t.Logf("attempt %d not judged, retrying: %s", i, a.late)
	}
}
