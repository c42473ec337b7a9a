package sqlstore

// Test seams, for the black-box tests in package sqlstore_test.

// Queries returns how many lookups reached the database.
func (s *Store[U]) Queries() int64 { return s.queries.Load() }

// ListenerPID returns the backend PID of the cache's LISTEN connection,
// or 0 while it is down.
func (s *Store[U]) ListenerPID() uint32 {
	if s.cache == nil {
		return 0
	}
	return s.cache.pid.Load()
}

// SetListenerHook makes the listener call h with "reconnect" before each
// reconnection attempt and with "wait" before each wait for a
// notification; h may block to hold the listener there.
func (s *Store[U]) SetListenerHook(h func(event string)) { s.cache.hook.Store(&h) }

// HeartbeatEchoes returns how many of its heartbeats the listener heard
// back.
func (s *Store[U]) HeartbeatEchoes() uint64 { return s.cache.echoes.Load() }

// SecondFactorQueries returns how many SecondFactor calls reached the
// database.
func (s *Store[U]) SecondFactorQueries() int64 { return s.sfQueries.Load() }

// SecondFactorEchoes returns how many heartbeat echoes for the second
// factor's triggers the listener heard.
func (s *Store[U]) SecondFactorEchoes() uint64 { return s.cache.sfEchoes.Load() }

// SecondFactorTrusted reports whether the second factor's echo came
// within CacheMaxSilence: whether a cached "off" may be served.
func (s *Store[U]) SecondFactorTrusted() bool { return s.cache.secondFactorLive() }
