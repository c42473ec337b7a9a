package main

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// readyCheckTimeout bounds each engine's ping in /readyz.
const readyCheckTimeout = time.Second

// requestTimeout bounds every request: its context is cancelled after it,
// so a store that does not answer fails the request (a 500) instead of
// holding it. The stores' own timeouts (redisTimeouts) are shorter.
const requestTimeout = 10 * time.Second

// readiness serves GET /readyz: 200 while every engine answers a ping
// and every change feed is live, and the server is not shutting down;
// 503 otherwise. The body names each check, never an error's text.
type readiness struct {
	draining atomic.Bool
	checks   map[string]func(context.Context) error // "postgres", "redis"…
	live     map[string]func() bool                 // change feeds
}

// drain makes /readyz fail from now on (shutdown).
func (rd *readiness) drain() { rd.draining.Store(true) }

func (rd *readiness) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rd.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "shutting_down"})
		return
	}
	ok := true
	checks := make(map[string]string, len(rd.checks)+len(rd.live))
	for name, ping := range rd.checks {
		ctx, cancel := context.WithTimeout(r.Context(), readyCheckTimeout)
		err := ping(ctx)
		cancel()
		checks[name] = "ok"
		if err != nil {
			checks[name], ok = "unreachable", false
		}
	}
	for name, live := range rd.live {
		checks["feed:"+name] = "live"
		if !live() {
			checks["feed:"+name], ok = "down", false
		}
	}
	if !ok {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not_ready", "checks": checks})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "checks": checks})
}

// withDeadline gives every request a context deadline of requestTimeout.
func withDeadline(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), requestTimeout)
		defer cancel()
		h.ServeHTTP(w, r.WithContext(ctx))
	})
}

// feedPoll is how often watchFeeds looks at the change feeds.
const feedPoll = 200 * time.Millisecond

// watchFeeds logs each change feed's state changes, once each: a WARN when
// a feed is lost (the store reads through, and /readyz fails), an INFO
// when it is back. It returns the function that stops it.
func watchFeeds(live map[string]func() bool, logger *slog.Logger) (stop func()) {
	if len(live) == 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for name, f := range live {
		// One goroutine per feed, so that a slow one delays no other.
		wg.Go(func() {
			up := f()
			seen := up
			if !up {
				logger.Info("change feed not live yet", slog.String("feed", name))
			}
			t := time.NewTicker(feedPoll)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-t.C:
				}
				now := f()
				switch {
				case up && !now:
					logger.Warn("change feed lost: reading through to the store until it is back", slog.String("feed", name))
				case !up && now && !seen:
					logger.Info("change feed live", slog.String("feed", name))
				case !up && now:
					logger.Info("change feed back", slog.String("feed", name))
				}
				seen = seen || now
				up = now
			}
		})
	}
	var once atomic.Bool
	return func() {
		if once.CompareAndSwap(false, true) {
			close(done)
			wg.Wait()
		}
	}
}
