package v1

import (
	"encoding/json"
	"esauth/lib/httpkit"
	"esauth/lib/reqlog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestAPanicBecomesA500EnvelopeWithoutTheStack(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	h := httpkit.AccessLog(zap.New(core), 0, nil)(httpkit.RecoverPanics(writeError)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("secret internal state")
	})))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/x", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.Code)
	}
	var env envelope
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || env.Success || env.Error != "500: Internal Server Error" {
		t.Fatalf("body %q", rec.Body.String())
	}
	if strings.Contains(rec.Body.String(), "secret") || strings.Contains(rec.Body.String(), "goroutine") {
		t.Errorf("the answer leaks the panic: %q", rec.Body.String())
	}
	if logs.FilterMessage("panic").Len() != 1 {
		t.Error("the panic was not logged")
	}
	access := logs.FilterMessage("request").All()
	if len(access) != 1 || access[0].ContextMap()["status"] != int64(500) {
		t.Errorf("access log = %+v", access)
	}
}

// Every request carries ESAUTH_REQUEST_TIMEOUT as its context's deadline
// (what bounds all of its storage calls and hashing together), and the
// request info the inner middleware use; without a timeout it carries no
// deadline.
func TestEveryRequestCarriesItsDeadline(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
	}{
		{"a timeout gives a deadline", 3 * time.Second},
		{"no timeout gives none", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var deadline time.Time
			var hasDeadline, hasInfo bool
			h := httpkit.AccessLog(zap.NewNop(), tt.timeout, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				deadline, hasDeadline = r.Context().Deadline()
				hasInfo = reqlog.SourceOf(r.Context()) != nil
			}))
			before := time.Now()
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
			after := time.Now()
			if !hasInfo {
				t.Error("the request carries no request info")
			}
			if hasDeadline != (tt.timeout > 0) {
				t.Fatalf("deadline %v (set: %v) with timeout %v", deadline, hasDeadline, tt.timeout)
			}
			if hasDeadline && (deadline.Before(before.Add(tt.timeout)) || deadline.After(after.Add(tt.timeout))) {
				t.Errorf("deadline %v, want the request's start plus %v (between %v and %v)",
					deadline, tt.timeout, before.Add(tt.timeout), after.Add(tt.timeout))
			}
		})
	}
}

func TestLogsNeverCarrySecrets(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	expectStatus(t, c.signup("log@example.com", pw), http.StatusCreated)
	c.mustLogin("log@example.com", pw)
	expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusOK)
	expectStatus(t, c.login("log@example.com", "wrong password"), http.StatusUnauthorized)
	expectStatus(t, c.do("POST", "/v1/auth/password", map[string]any{"old_password": pw, "new_password": "fresh secret pw"}), http.StatusOK)
	cookie := c.cookie()
	u, _ := h.store.GetUser(t.Context(), "log@example.com")

	entries := h.logs.All()
	if len(entries) < 5 {
		t.Fatalf("only %d log entries", len(entries))
	}
	routes := map[string]bool{}
	for _, e := range entries {
		b, _ := json.Marshal(e.ContextMap())
		line := e.Message + " " + string(b)
		for _, secret := range []string{pw, "wrong password", "fresh secret pw", cookie, u.PasswordHash, "$argon2id$"} {
			if strings.Contains(line, secret) {
				t.Errorf("log line carries a secret (%q): %s", secret, line)
			}
		}
		if e.Message == "request" {
			routes[e.ContextMap()["route"].(string)] = true
			if id, _ := e.ContextMap()["request_id"].(string); id == "" {
				t.Errorf("access line without request id: %s", line)
			}
		}
	}
	for _, want := range []string{"/v1/users", "/v1/auth/login", "/v1/test", "/v1/auth/password"} {
		if !routes[want] {
			t.Errorf("no access line for route %s (got %v)", want, routes)
		}
	}
}

// TestEveryLogLineOfARequestCarriesItsID checks that what a handler logs
// (here the loader refusing a tampered cookie, logged through the
// request's logger, which is made on first use) and the access line both
// carry the request id the client got in X-Request-Id.
func TestEveryLogLineOfARequestCarriesItsID(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	a := c.doWith("GET", "/v1/test", nil, http.Header{"Cookie": {"session=not-a-valid-cookie"}})
	expectStatus(t, a, http.StatusUnauthorized)
	id := a.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("no X-Request-Id in the answer")
	}
	seen := map[string]bool{}
	for _, e := range h.logs.All() {
		got, _ := e.ContextMap()["request_id"].(string)
		if got == id {
			seen[e.Message] = true
		}
	}
	for _, want := range []string{"session cookie refused", "request"} {
		if !seen[want] {
			t.Errorf("no %q log line with request id %s (lines with it: %v)", want, id, seen)
		}
	}
}
