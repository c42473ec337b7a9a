package main

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gohttpauth/httpauth"
)

// metrics turns the authenticator's events (Config.OnEvent) into
// Prometheus series, on a registry of the server's own so that several
// servers in one process (the tests) do not collide.
type metrics struct {
	reg       *prometheus.Registry
	outcomes  *prometheus.CounterVec
	hash      prometheus.Histogram
	throttled prometheus.Counter
}

func newMetrics() *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "httpauth_auth_outcomes_total",
			Help: "Authentication outcomes by method, result and reason.",
		}, []string{"credential", "result", "reason"}),
		hash: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "httpauth_password_hash_duration_seconds",
			Help: "Time to verify a login's password hash.",
			// 1 ms to about 4 s: argon2id and bcrypt live in the middle.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 13),
		}),
		throttled: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "httpauth_throttled_logins_total",
			Help: "Logins refused with a 429 because the login or client was over its budget.",
		}),
	}
	m.reg.MustRegister(m.outcomes, m.hash, m.throttled,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// observe is the Config.OnEvent hook. Labels are bounded sets (the
// httpauth.Reason constants and Credential's names); Event.Who, which
// the client chooses, is never one. An unknown login and a wrong password
// share one reason, ReasonBadCredentials, so that the counters cannot be
// used to enumerate accounts.
func (m *metrics) observe(e httpauth.Event) {
	if e.Reason == httpauth.ReasonPasswordHashed {
		m.hash.Observe(e.HashDuration.Seconds())
		return
	}
	result := "failure"
	if e.Success {
		result = "success"
	}
	m.outcomes.WithLabelValues(e.Credential.String(), result, string(e.Reason)).Inc()
	if e.Reason == httpauth.ReasonThrottled {
		m.throttled.Inc()
	}
}

// handler serves GET /metrics in the Prometheus text format, and JSON 404s
// elsewhere. It needs no credentials, as scrapers expect, so it is served
// only on its own listener (-metrics-addr, a loopback or internal
// address), never on the public API port.
func (m *metrics) handler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", methods{http.MethodGet: promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})})
	mux.HandleFunc("/", notFound)
	return mux
}
