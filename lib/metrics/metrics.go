// Package metrics is esauth's Prometheus metrics: one registry per server
// (no global state), the collectors the handlers update, and the handler
// that serves them in the text format.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the server's collectors. A nil *Metrics records nothing, so
// code under test needs none.
type Metrics struct {
	registry *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	logins   *prometheus.CounterVec
}

// Login outcomes.
const (
	LoginSuccess  = "success"
	LoginWrong    = "wrong_password"
	LoginUnknown  = "unknown"
	LoginLocked   = "locked"
	LoginDisabled = "disabled"
)

// New returns the collectors, with Go's runtime and the process's own.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esauth_http_requests_total",
			Help: "HTTP requests answered, by route template, method and status.",
		}, []string{"route", "method", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "esauth_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by route template.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esauth_logins_total",
			Help: "Password logins, by outcome: success, wrong_password, unknown (no such account), locked, disabled.",
		}, []string{"outcome"}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.logins,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, o := range []string{LoginSuccess, LoginWrong, LoginUnknown, LoginLocked, LoginDisabled} {
		m.logins.WithLabelValues(o) // every outcome shows, at 0 until it happens
	}
	return m
}

// Request records one answered request.
func (m *Metrics) Request(route, method string, status int, took time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, knownMethod(method), strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(took.Seconds())
}

// Login records the outcome of a password login.
func (m *Metrics) Login(outcome string) {
	if m == nil {
		return
	}
	m.logins.WithLabelValues(outcome).Inc()
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}

// knownMethod bounds the method label: a client may send any token as its
// method, and each would otherwise become a series of its own.
func knownMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}
