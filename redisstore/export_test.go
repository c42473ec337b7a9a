package redisstore

import "time"

// SetLostHook makes the subscriber of s (a *RevocationStore or *Limiter)
// call f each time it notices a lost subscription, before it resubscribes,
// so tests can hold it disconnected. nil removes the hook.
func SetLostHook(s any, f func()) {
	var sub *subscriber
	switch v := s.(type) {
	case *RevocationStore:
		sub = v.sub
	case *Limiter:
		sub = v.sub
	}
	if f == nil {
		sub.testLost.Store(nil)
		return
	}
	sub.testLost.Store(&f)
}

// The limiter's defaults, for TestLimiterDefaults.
const (
	DefaultMaxFailures   = defaultMaxFailures
	DefaultFailureWindow = defaultFailureWindow
)

// The SHA1s of the scripts a resync runs, for TestLimiterOverflowReadsNoLocks.
var (
	CountScriptHash  = countScript.Hash()
	ResyncScriptHash = resyncScript.Hash()
)

// ClusterRecheckOf returns the ClusterRecheck in force in s (a
// *RevocationStore or *Limiter): 0 when it never rechecks.
func ClusterRecheckOf(s any) time.Duration {
	switch v := s.(type) {
	case *RevocationStore:
		return time.Duration(v.cache.MaxAge())
	case *Limiter:
		return v.recheck
	}
	return -1
}
