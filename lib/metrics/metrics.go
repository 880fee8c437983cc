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
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	logins    *prometheus.CounterVec
	lockouts  prometheus.Counter
	sessions  *prometheus.CounterVec
	esCalls   *prometheus.CounterVec
	esLatency *prometheus.HistogramVec
	hashWait  prometheus.Histogram
	purges    *prometheus.CounterVec
}

// latencyBuckets suit both answers to clients and calls to Elasticsearch:
// a millisecond to ten seconds (the default request timeout).
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// Login outcomes.
const (
	LoginSuccess = "success"
	// LoginFailed is a wrong password and an unknown email alike: a
	// counter that told them apart would tell, to whoever reads it, which
	// of the emails just tried has an account (issue 17).
	LoginFailed   = "failed"
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
			Buckets: latencyBuckets,
		}, []string{"route"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esauth_logins_total",
			Help: "Password logins, by outcome: success, failed (a wrong password or no such account, alike), locked, disabled.",
		}, []string{"outcome"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "esauth_lockouts_total",
			Help: "Failed password checks that locked an address (ESAUTH_LOCKOUT_THRESHOLD reached).",
		}),
		sessions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esauth_sessions_total",
			Help: "Session documents by event: created, revoked (logout, revocation, replaced at login), trimmed (over ESAUTH_MAX_SESSIONS), purged (expired).",
		}, []string{"event"}),
		esCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esauth_elasticsearch_requests_total",
			Help: "Calls to Elasticsearch, by operation and outcome: ok, not_found, conflict, error (another answer of 400 or more), unavailable (no answer or a cluster failure).",
		}, []string{"op", "outcome"}),
		esLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "esauth_elasticsearch_request_duration_seconds",
			Help:    "Time of a call to Elasticsearch, by operation, answer read whole.",
			Buckets: latencyBuckets,
		}, []string{"op"}),
		hashWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "esauth_password_hash_wait_seconds",
			Help:    "Time a password hash or verification waited for a free slot (ESAUTH_HASH_CONCURRENCY), including waits that gave up.",
			Buckets: []float64{.0001, .001, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		purges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "esauth_session_purges_total",
			Help: "Runs of the expired-session purge by this instance, by outcome: done, failed, skipped (another instance holds the lease).",
		}, []string{"outcome"}),
	}
	m.registry.MustRegister(m.requests, m.latency, m.logins, m.lockouts, m.sessions,
		m.esCalls, m.esLatency, m.hashWait, m.purges,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// Every outcome and event shows, at 0 until it happens, so a dashboard's
	// rate() has a series from the start.
	for _, o := range []string{LoginSuccess, LoginFailed, LoginLocked, LoginDisabled} {
		m.logins.WithLabelValues(o)
	}
	for _, e := range []string{"created", "revoked", "trimmed", "purged"} {
		m.sessions.WithLabelValues(e)
	}
	for _, o := range []string{PurgeDone, PurgeFailed, PurgeSkipped} {
		m.purges.WithLabelValues(o)
	}
	return m
}

// Purge outcomes.
const (
	PurgeDone    = "done"
	PurgeFailed  = "failed"
	PurgeSkipped = "skipped"
)

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

// Lockout records a failed check that locked an address.
func (m *Metrics) Lockout() {
	if m == nil {
		return
	}
	m.lockouts.Inc()
}

// Call records one call to Elasticsearch (elastic.Observer).
func (m *Metrics) Call(op string, took time.Duration, outcome string) {
	if m == nil {
		return
	}
	m.esCalls.WithLabelValues(op, outcome).Inc()
	m.esLatency.WithLabelValues(op).Observe(took.Seconds())
}

// Sessions counts session documents created, revoked, trimmed or purged
// (elastic.Observer).
func (m *Metrics) Sessions(event string, n int) {
	if m == nil || n <= 0 {
		return
	}
	m.sessions.WithLabelValues(event).Add(float64(n))
}

// HashWait records how long a password hash waited for a slot.
func (m *Metrics) HashWait(d time.Duration) {
	if m == nil {
		return
	}
	m.hashWait.Observe(d.Seconds())
}

// Purge records one run of the expired-session purge.
func (m *Metrics) Purge(outcome string) {
	if m == nil {
		return
	}
	m.purges.WithLabelValues(outcome).Inc()
}

// AuditCounts is what the audit writer knows of its events.
type AuditCounts interface {
	Written() int64
	Dropped() int64
}

// WatchAudit exports the audit writer's counts, read at each scrape.
func (m *Metrics) WatchAudit(a AuditCounts) {
	if m == nil {
		return
	}
	m.registry.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "esauth_audit_events_written_total",
			Help: "Audit events stored in Elasticsearch.",
		}, func() float64 { return float64(a.Written()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "esauth_audit_events_dropped_total",
			Help: "Audit events lost: the buffer was full or Elasticsearch refused the batch (each is still in the log).",
		}, func() float64 { return float64(a.Dropped()) }),
	)
}

// MailCounts is what the mail queue knows of its mails.
type MailCounts interface {
	Sent() int64
	Failed() int64
	Dropped() int64
}

// WatchMail exports the mail queue's counts, read at each scrape.
func (m *Metrics) WatchMail(q MailCounts) {
	if m == nil {
		return
	}
	for _, c := range []struct {
		name, help string
		read       func() int64
	}{
		{"esauth_mails_sent_total", "Mails the mail server accepted.", q.Sent},
		{"esauth_mails_failed_total", "Mails given up after the last attempt (each logged and audited).", q.Failed},
		{"esauth_mails_dropped_total", "Mails dropped because the queue was full.", q.Dropped},
	} {
		read := c.read
		m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: c.name, Help: c.help},
			func() float64 { return float64(read()) }))
	}
}

// HashSlots is what the password hasher knows of its slots.
type HashSlots interface {
	InUse() int
	Slots() int
}

// WatchHasher exports the hasher's slots, read at each scrape.
func (m *Metrics) WatchHasher(h HashSlots) {
	if m == nil {
		return
	}
	m.registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "esauth_password_hash_slots_in_use",
			Help: "Password hashes and verifications running now.",
		}, func() float64 { return float64(h.InUse()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "esauth_password_hash_slots",
			Help: "How many may run at once (ESAUTH_HASH_CONCURRENCY).",
		}, func() float64 { return float64(h.Slots()) }),
	)
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
