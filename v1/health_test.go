package v1

import (
	"net/http"
	"strings"
	"testing"

	"go.uber.org/zap"

	"esauth/lib/elastic"
	"esauth/lib/elastic/estest"
)

func TestHealthAndReadiness(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	expectStatus(t, c.do("GET", "/healthz", nil), http.StatusOK)
	expectStatus(t, c.do("GET", "/readyz", nil), http.StatusOK)

	// An index with a wrong mapping: not ready. The admin address says
	// which; the public one only that it is not (issue 19: it named the
	// index to anyone), and the log has the reason.
	admin := h.client()
	admin.base = h.adminURL()
	estest.MustDo(t, "DELETE", "/"+estest.Concrete(t, h.store.SessionsIndex()), "")
	estest.MustDo(t, "PUT", "/"+h.store.SessionsIndex(), `{"mappings":{"properties":{"id":{"type":"text"}}}}`)
	a := admin.do("GET", "/readyz", nil)
	expectStatus(t, a, http.StatusServiceUnavailable)
	if !strings.Contains(a.Message, h.store.SessionsIndex()) || !strings.Contains(a.Message, "wrong mapping") || a.Header.Get("Retry-After") == "" {
		t.Errorf("readyz with a wrong mapping: %q (Retry-After %q)", a.Message, a.Header.Get("Retry-After"))
	}
	pub := c.do("GET", "/readyz", nil)
	if pub.Status != http.StatusServiceUnavailable || pub.Message != "Not ready." || pub.Header.Get("Retry-After") == "" {
		t.Errorf("public readyz with a wrong mapping: %d %q; want 503 \"Not ready.\" with Retry-After", pub.Status, pub.Message)
	}
	if !strings.Contains(h.logs.FilterMessage("request failed").All()[0].ContextMap()["error"].(string), "wrong mapping") {
		t.Error("the log does not say why it is not ready")
	}
	// A missing index.
	estest.MustDo(t, "DELETE", "/"+estest.Concrete(t, h.store.SessionsIndex()), "")
	if a := admin.do("GET", "/readyz", nil); a.Status != http.StatusServiceUnavailable || !strings.Contains(a.Message, "does not exist") {
		t.Errorf("readyz with a missing index: %d %q", a.Status, a.Message)
	}
	// The process itself is still healthy.
	expectStatus(t, c.do("GET", "/healthz", nil), http.StatusOK)
}

func TestReadinessWithElasticsearchDown(t *testing.T) {
	store, err := elastic.New(elastic.Config{Addresses: []string{estest.DeadURL(t)}, IndexPrefix: "down-"}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	h := newHarnessOn(t, store)
	c := h.client()
	expectStatus(t, c.do("GET", "/healthz", nil), http.StatusOK)
	admin := h.client()
	admin.base = h.adminURL()
	a := admin.do("GET", "/readyz", nil)
	if a.Status != http.StatusServiceUnavailable || !strings.Contains(a.Message, "does not answer") || strings.Contains(a.Message, "127.0.0.1") {
		t.Errorf("readyz with Elasticsearch down: %d %q", a.Status, a.Message)
	}
}

// The probes' paths with another method get the API's 405, not the pages'
// 404, even though the pages take every other path outside /v1.
func TestProbesAnswerAWrongMethodWith405(t *testing.T) {
	h := newHarness(t, func(d *Deps) {
		d.Pages = func(Services) http.Handler { return http.NotFoundHandler() }
	})
	c := h.client()
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		for _, method := range []string{"POST", "TRACE", "DELETE"} {
			a, err := c.try(method, path, nil)
			if err != nil || a.Status != http.StatusMethodNotAllowed || a.Header.Get("Allow") != "GET" {
				t.Errorf("%s %s: %d (Allow %q), %v; want the JSON 405 allowing GET", method, path, a.Status, a.Header.Get("Allow"), err)
			}
		}
	}
	if a, _ := c.try("GET", "/elsewhere", nil); a.Status != http.StatusNotFound {
		t.Errorf("another path: %d; want the pages' 404", a.Status)
	}
}
