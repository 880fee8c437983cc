package v1

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"esauth/lib/elastic"
	"esauth/lib/elastic/estest"
	"esauth/lib/metrics"
	"esauth/lib/password"
	"esauth/lib/user"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads base's /metrics with the Prometheus text parser.
func scrape(t *testing.T, base string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(res.Body)
		t.Fatalf("/metrics: %d %s", res.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return families
}

// value is the counter of family whose labels include want (0 if none).
func value(families map[string]*dto.MetricFamily, family string, want map[string]string) float64 {
	f := families[family]
	if f == nil {
		return -1
	}
	total := 0.0
	for _, m := range f.GetMetric() {
		match := true
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if match {
			if c := m.GetCounter(); c != nil {
				total += c.GetValue()
			}
			if hg := m.GetHistogram(); hg != nil {
				total += float64(hg.GetSampleCount())
			}
		}
	}
	return total
}

func TestMetricsCountRequestsAndLoginOutcomes(t *testing.T) {
	h := newHarness(t)
	h.addUser("metrics@example.com", pw, false)
	c := h.client()
	expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	expectStatus(t, c.login("metrics@example.com", "wrong password"), http.StatusUnauthorized)
	expectStatus(t, c.login("nobody@example.com", "wrong password"), http.StatusUnauthorized)
	c.mustLogin("metrics@example.com", pw)
	expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusOK)

	// A made-up method is counted, but as OTHER: clients cannot add series.
	req, _ := http.NewRequest("FOO123", h.srv.URL+"/v1/test", nil)
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
	}

	m := scrape(t, h.adminURL())
	for _, tt := range []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"esauth_http_requests_total", map[string]string{"route": "/v1/test", "method": "GET", "status": "401"}, 1},
		{"esauth_http_requests_total", map[string]string{"route": "/v1/test", "method": "GET", "status": "200"}, 1},
		{"esauth_http_requests_total", map[string]string{"route": "/v1/auth/login", "status": "401"}, 2},
		{"esauth_http_request_duration_seconds", map[string]string{"route": "/v1/test"}, 2},
		{"esauth_logins_total", map[string]string{"outcome": "success"}, 1},
		{"esauth_logins_total", map[string]string{"outcome": "failed"}, 2},
		{"esauth_logins_total", map[string]string{"outcome": "wrong_password"}, 0},
		{"esauth_logins_total", map[string]string{"outcome": "unknown"}, 0},
		{"esauth_logins_total", map[string]string{"outcome": "locked"}, 0},
		{"esauth_http_requests_total", map[string]string{"method": "OTHER"}, 1},
		{"esauth_http_requests_total", map[string]string{"method": "FOO123"}, 0},
	} {
		if got := value(m, tt.family, tt.labels); got != tt.want {
			t.Errorf("%s%v = %v; want %v", tt.family, tt.labels, got, tt.want)
		}
	}
	if m["go_goroutines"] == nil || m["process_resident_memory_bytes"] == nil {
		t.Error("the Go runtime and process metrics are missing")
	}
}

// gauge is the value of a gauge family's only series (-1 when absent).
func gauge(families map[string]*dto.MetricFamily, family string) float64 {
	f := families[family]
	if f == nil || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetGauge() == nil {
		return -1
	}
	return f.GetMetric()[0].GetGauge().GetValue()
}

func TestMetricsCountSessionsLockoutsStorageCallsAndAudit(t *testing.T) {
	m := metrics.New()
	cfg := estest.Config()
	cfg.Observer = m
	store := estest.NewWith(t, cfg)
	h := newHarnessOn(t, store, func(d *Deps) {
		d.Metrics = m
		d.Lockout = user.Lockout{Threshold: 2, Base: time.Minute, Max: time.Hour}
		d.Hasher = password.New(fastParams, 0).WithWaitObserver(m.HashWait)
	})
	m.WatchAudit(h.audit)
	m.WatchHasher(h.hasher)
	h.addUser("counted@example.com", pw, false)

	a, b := h.client(), h.client()
	a.mustLogin("counted@example.com", pw)
	b.mustLogin("counted@example.com", pw)
	expectStatus(t, b.do("POST", "/v1/auth/logout", nil), http.StatusOK) // revokes 1
	b.mustLogin("counted@example.com", pw)
	expectStatus(t, b.do("POST", "/v1/auth/logout/all", nil), http.StatusOK) // revokes a's and its own
	// Two wrong passwords reach the threshold of 2: one lockout, and the
	// third attempt is refused as locked.
	expectStatus(t, a.login("counted@example.com", "wrong password"), http.StatusUnauthorized)
	expectStatus(t, a.login("counted@example.com", "wrong password"), http.StatusUnauthorized)
	expectStatus(t, a.login("counted@example.com", pw), http.StatusTooManyRequests)
	if err := h.audit.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}

	got := scrape(t, h.adminURL())
	for _, tt := range []struct {
		family string
		labels map[string]string
		want   float64
	}{
		{"esauth_sessions_total", map[string]string{"event": "created"}, 3},
		{"esauth_sessions_total", map[string]string{"event": "revoked"}, 3},
		{"esauth_sessions_total", map[string]string{"event": "trimmed"}, 0},
		{"esauth_lockouts_total", nil, 1},
		{"esauth_logins_total", map[string]string{"outcome": "locked"}, 1},
		{"esauth_elasticsearch_requests_total", map[string]string{"op": "create session", "outcome": "ok"}, 3},
		{"esauth_elasticsearch_requests_total", map[string]string{"op": "get user", "outcome": "unavailable"}, 0},
		{"esauth_elasticsearch_request_duration_seconds", map[string]string{"op": "create session"}, 3},
		{"esauth_audit_events_dropped_total", nil, 0},
	} {
		if v := value(got, tt.family, tt.labels); v != tt.want {
			t.Errorf("%s%v = %v; want %v", tt.family, tt.labels, v, tt.want)
		}
	}
	// login ×3, logout ×2, three failed logins, one lockout, at least.
	if v := value(got, "esauth_audit_events_written_total", nil); v < 9 {
		t.Errorf("audit events written = %v; want at least 9", v)
	}
	if v := value(got, "esauth_password_hash_wait_seconds", nil); v < 5 {
		t.Errorf("hash waits observed = %v; want one per hash or verification (at least 5)", v)
	}
	if gauge(got, "esauth_password_hash_slots") < 1 || gauge(got, "esauth_password_hash_slots_in_use") != 0 {
		t.Errorf("hash slots %v, in use %v; want at least 1 and 0 at rest",
			gauge(got, "esauth_password_hash_slots"), gauge(got, "esauth_password_hash_slots_in_use"))
	}
}

func TestMetricsCountStorageCallsThatFail(t *testing.T) {
	m := metrics.New()
	store, err := elastic.New(elastic.Config{Addresses: []string{estest.DeadURL(t)}, IndexPrefix: "down-", Observer: m}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessOn(t, store, func(d *Deps) { d.Metrics = m })
	expectStatus(t, h.client().login("someone@example.com", pw), http.StatusServiceUnavailable)
	got := scrape(t, h.adminURL())
	if v := value(got, "esauth_elasticsearch_requests_total", map[string]string{"outcome": "unavailable"}); v < 1 {
		t.Errorf("unavailable calls = %v; want at least 1", v)
	}
	if v := value(got, "esauth_elasticsearch_requests_total", map[string]string{"outcome": "ok"}); v != 0 {
		t.Errorf("ok calls = %v against a dead node", v)
	}
}

func TestTheAdminAddressServesProbesAndMetricsAndThePublicOneDoesNot(t *testing.T) {
	m := metrics.New()
	separate := func(d *Deps) { d.Metrics = m; d.SeparateAdmin = true }
	h := newHarness(t, separate)
	var d Deps
	separate(&d)
	d.Store = h.store
	admin := httptest.NewServer(NewAdmin(d))
	t.Cleanup(admin.Close)

	c := h.client()
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		expectStatus(t, c.do("GET", path, nil), http.StatusNotFound)
		res, err := http.Get(admin.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("admin %s: %d", path, res.StatusCode)
		}
	}
	res, err := http.Get(admin.URL + "/v1/test")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("the admin address answers /v1/test with %d; want 404", res.StatusCode)
	}
	// The public requests show in the admin address's metrics.
	expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	if v := value(scrape(t, admin.URL), "esauth_http_requests_total", map[string]string{"route": "/v1/test", "status": "401"}); v != 1 {
		t.Errorf("the admin address's metrics count %v public 401s on /v1/test; want 1", v)
	}
}

// Issue 17: /metrics on the public address told anyone which accounts
// exist (logins by wrong_password vs unknown, mails sent after a recovery
// request). It is served on the admin address alone, and there the login
// counters count a wrong password and an unknown email alike.
func TestMetricsAreNeverServedOnThePublicAddress(t *testing.T) {
	h := newHarness(t) // no admin address: probes stay public
	c := h.client()
	a := c.do("GET", "/metrics", nil)
	expectStatus(t, a, http.StatusNotFound)
	if strings.Contains(a.Raw, "esauth_") || strings.Contains(a.Raw, "go_") {
		t.Errorf("the public 404 carries metrics: %s", a.Raw)
	}
	expectStatus(t, c.do("GET", "/healthz", nil), http.StatusOK)
	expectStatus(t, c.do("POST", "/metrics", nil), http.StatusMethodNotAllowed)
	if m := scrape(t, h.adminURL()); m["esauth_logins_total"] == nil {
		t.Error("the admin address serves no login counters")
	}
}

func TestLoginCountersDoNotTellARealAccountFromAnUnknownEmail(t *testing.T) {
	series := func(email string) map[string]float64 {
		h := newHarness(t)
		h.addUser("real@example.com", pw, false)
		expectStatus(t, h.client().login(email, "wrong password"), http.StatusUnauthorized)
		out := map[string]float64{}
		for _, m := range scrape(t, h.adminURL())["esauth_logins_total"].GetMetric() {
			for _, l := range m.GetLabel() {
				out[l.GetValue()] = m.GetCounter().GetValue()
			}
		}
		return out
	}
	real, unknown := series("real@example.com"), series("nobody@example.com")
	if !reflect.DeepEqual(real, unknown) {
		t.Errorf("esauth_logins_total after a wrong password %v, after an unknown email %v; want the same", real, unknown)
	}
}
