package main

import (
	"net/http"
	"strconv"

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
	errors    *prometheus.CounterVec
}

// newMetrics makes the registry; live are the change feeds, each a gauge
// (1 live, 0 down).
func newMetrics(live map[string]func() bool) *metrics {
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
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "httpauth_http_server_errors_total",
			Help: "Answers with a 5xx status, by route pattern and status code: alert on its rate.",
		}, []string{"route", "code"}),
	}
	for name, f := range live {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "httpauth_change_feed_live",
			Help:        "Whether a store's change feed is live (1) or down (0: the store reads through, /readyz fails).",
			ConstLabels: prometheus.Labels{"feed": name},
		}, func() float64 {
			if f() {
				return 1
			}
			return 0
		}))
	}
	m.reg.MustRegister(m.errors, m.outcomes, m.hash, m.throttled,
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

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// countErrors counts h's 5xx answers by the route pattern that mux
// matched (a bounded set; "none" if it matched none), so that a store
// outage shows as a rate rather than as one log line per request.
func (m *metrics) countErrors(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusRecorder{ResponseWriter: w}
		mux.ServeHTTP(rec, r)
		if rec.status >= 500 {
			route := r.Pattern
			if route == "" {
				route = "none"
			}
			m.errors.WithLabelValues(route, strconv.Itoa(rec.status)).Inc()
		}
	})
}
