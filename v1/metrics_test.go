package v1

import (
	"io"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics with the Prometheus text parser.
func scrape(t *testing.T, h *harness) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(h.srv.URL + "/metrics")
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

	m := scrape(t, h)
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
		{"esauth_logins_total", map[string]string{"outcome": "wrong_password"}, 1},
		{"esauth_logins_total", map[string]string{"outcome": "unknown"}, 1},
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
