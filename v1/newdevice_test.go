package v1

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strings"
	"testing"
	"time"

	"esauth/lib/audit"
	"esauth/lib/elastic"
	"esauth/lib/elastic/estest"
	"esauth/lib/mail/mailtest"
)

// newDeviceMails counts the new-sign-in notices among what was mailed.
func newDeviceMails(msgs []mailtest.Received) (to []string) {
	for _, m := range msgs {
		if strings.Contains(string(m.Data), "A new sign-in to your account") {
			to = append(to, m.To...)
		}
	}
	return to
}

func TestALoginFromANewDeviceOrNetworkIsMarkedAndMailedOnce(t *testing.T) {
	estest.Require(t)
	opt, smtp := withMail(t)
	h := newHarness(t, opt, func(d *Deps) {
		d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	from := func(ip, ua string) http.Header {
		return http.Header{"X-Forwarded-For": {ip}, "User-Agent": {ua}}
	}
	login := func(ip, ua string) {
		t.Helper()
		a := h.client().doWith("POST", "/v1/auth/login", map[string]any{"email_address": "traveller@example.com", "password": pw}, from(ip, ua))
		expectStatus(t, a, http.StatusOK)
		h.flushAudit() // the next login compares with this one
	}
	signup := h.client().doWith("POST", "/v1/users", map[string]any{
		"email_address": "traveller@example.com", "password": pw, "first_name": "Ada", "last_name": "Lovelace",
	}, from("203.0.113.7", firefox))
	expectStatus(t, signup, http.StatusCreated)
	smtp.Wait(t, 1, 10*time.Second) // the verification link
	h.flushAudit()

	login("203.0.113.99", firefox)   // the signup's browser and /24: known
	login("203.0.113.7", chrome)     // another browser: new
	login("203.0.113.8", chrome)     // now known
	login("198.51.100.1", firefox)   // another network: new
	login("2001:db8:1::5", firefox)  // IPv6: new
	login("2001:db8:1::77", firefox) // the same /64: known

	// An account with no recent login to compare with (made by an
	// operator, or dormant for 90 days) is never called new.
	h.addUser("imported@example.com", pw, false)
	expectStatus(t, h.client().doWith("POST", "/v1/auth/login", map[string]any{"email_address": "imported@example.com", "password": pw}, from("192.0.2.1", chrome)), http.StatusOK)
	h.flushAudit()

	admin := adminClient(t, h)
	h.flushAudit()
	evs, _ := eventsOf(t, admin, "new_device=true")
	var got []string
	for _, e := range evs {
		if e.Event != audit.LoginSuccess || !e.NewDevice || e.Email != "traveller@example.com" {
			t.Errorf("marked new: %+v", e)
		}
		got = append(got, e.IP)
	}
	want := []string{"2001:db8:1::5", "198.51.100.1", "203.0.113.7"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("new-device logins from %v, want %v", got, want)
	}
	known, _ := eventsOf(t, admin, "event=login_success&email=traveller@example.com&new_device=false")
	if len(known) != 3 {
		t.Errorf("%d logins not marked, want 3", len(known))
	}

	// One notice a new login, to the owner alone: 1 verification + 3.
	msgs := smtp.Wait(t, 4, 10*time.Second)
	if to := newDeviceMails(msgs); strings.Join(to, " ") != "traveller@example.com traveller@example.com traveller@example.com" {
		t.Errorf("new-device notices to %v", to)
	}
	for _, m := range msgs {
		if s := string(m.Data); strings.Contains(s, "A new sign-in") && (!strings.Contains(s, "Chrome on Windows") && !strings.Contains(s, "Firefox on Linux")) {
			t.Errorf("the notice does not name the device: %s", s)
		}
	}
}

// With ESAUTH_NEW_DEVICE_NOTICE=false a login from another device and
// network is neither marked nor mailed about.
func TestNoNewDeviceNoticeWhenTurnedOff(t *testing.T) {
	estest.Require(t)
	opt, smtp := withMail(t)
	h := newHarness(t, opt, func(d *Deps) {
		d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
		d.NoNewDeviceNotice = true
	})
	from := func(ip, ua string) http.Header { return http.Header{"X-Forwarded-For": {ip}, "User-Agent": {ua}} }
	expectStatus(t, h.client().doWith("POST", "/v1/users", map[string]any{
		"email_address": "homebody@example.com", "password": pw, "first_name": "Ada", "last_name": "Lovelace",
	}, from("203.0.113.7", firefox)), http.StatusCreated)
	h.flushAudit()
	expectStatus(t, h.client().doWith("POST", "/v1/auth/login", map[string]any{"email_address": "homebody@example.com", "password": pw}, from("198.51.100.1", chrome)), http.StatusOK)
	admin := adminClient(t, h)
	h.flushAudit()
	logins, _ := eventsOf(t, admin, "event=login_success&email=homebody@example.com")
	if len(logins) != 1 || logins[0].NewDevice {
		t.Errorf("logins %+v; want one, not marked new", logins)
	}
	// The verification mail alone, then the admin's own mails, if any:
	// none is a new-sign-in notice.
	if to := newDeviceMails(smtp.Wait(t, 1, 10*time.Second)); len(to) != 0 {
		t.Errorf("new-device notices to %v with the notice turned off", to)
	}
}

// hangingComparisons is a proxy to the test cluster that holds every
// new-device comparison (the search with the "same" aggregation) until its
// caller gives up: an audit index that does not answer.
func hangingComparisons(t *testing.T) *httptest.Server {
	t.Helper()
	target, err := url.Parse(estest.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		if strings.HasSuffix(r.URL.Path, "/_search") && bytes.Contains(body, []byte(`"same"`)) {
			<-r.Context().Done()
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// A comparison that fails or does not answer never costs the login: it
// goes on, unmarked and with no notice, within the comparison's bound.
func TestALoginGoesOnWhenTheNewDeviceComparisonFails(t *testing.T) {
	estest.Require(t)
	for _, tt := range []struct {
		name  string
		store func(t *testing.T) *elastic.Store
		fault func(t *testing.T, h *harness)
		fails int // comparisons that fail: the two logins after the fault, and the first too when the fault is there from the start
	}{
		{"audit index closed", func(t *testing.T) *elastic.Store { return estest.New(t) }, func(t *testing.T, h *harness) {
			estest.MustDo(t, "POST", "/"+estest.Concrete(t, h.store.AuditIndex())+"/_close", "")
		}, 2},
		{"audit search hangs", func(t *testing.T) *elastic.Store {
			cfg := estest.Config()
			cfg.Addresses = []string{hangingComparisons(t).URL}
			return estest.NewWith(t, cfg)
		}, func(*testing.T, *harness) {}, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarnessOn(t, tt.store(t), func(d *Deps) {
				d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
			})
			h.addUser("faulty@example.com", pw, false)
			from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}, "User-Agent": {firefox}} }
			expectStatus(t, h.client().doWith("POST", "/v1/auth/login", map[string]any{"email_address": "faulty@example.com", "password": pw}, from("203.0.113.7")), http.StatusOK)
			h.flushAudit()
			tt.fault(t, h)
			for range 2 {
				a := h.client().doWith("POST", "/v1/auth/login", map[string]any{"email_address": "faulty@example.com", "password": pw}, from("198.51.100.1"))
				expectStatus(t, a, http.StatusOK)
			}
			// Logged once a login, before the answer: the notice and the
			// mark, in the other branch, were not given.
			if n := len(h.logs.FilterMessage("could not compare the login with recent ones; no new-device notice").All()); n != tt.fails {
				t.Errorf("%d failed comparisons logged, want %d", n, tt.fails)
			}
		})
	}
}
