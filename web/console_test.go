package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"esauth/lib/audit"
	"esauth/lib/elastic/estest"
	"esauth/lib/user"
	"esauth/v1"

	"go.uber.org/zap"
)

// logInAs logs b in with the test password or fails.
func logInAs(t *testing.T, b *browser, email string) {
	t.Helper()
	if a := b.post("/login", url.Values{"email_address": {email}, "password": {pw}}); a.status != http.StatusSeeOther {
		t.Fatalf("login %s: %d %s", email, a.status, a.body)
	}
}

func TestTheConsolePagesAreForAdminsOnly(t *testing.T) {
	_, srv := withAdminAndUsers(t, "bob", "carol")
	admin, bob, carol := newBrowser(t, srv), newBrowser(t, srv), newBrowser(t, srv)
	logInAs(t, admin, "boss@example.com")
	logInAs(t, bob, "bob@example.com")
	logInAs(t, carol, "carol@example.com")
	for _, path := range []string{"/admin/events", "/admin/sessions", "/admin/lockouts"} {
		expect(t, admin.get(path), http.StatusOK, `aria-current="page"`)
		if a := bob.get(path); a.status != http.StatusForbidden || strings.Contains(a.body, "carol@example.com") {
			t.Errorf("%s for a user: %d", path, a.status)
		}
		if a := bob.another().get(path); a.status != http.StatusSeeOther || !strings.HasPrefix(a.location, "/login") {
			t.Errorf("%s logged out: %d to %q", path, a.status, a.location)
		}
	}
	// A user's revocation of everyone's sessions ends none.
	expect(t, bob.post("/admin/sessions/revoke", url.Values{"ip": {"127.0.0.0/8"}, "action": {"revoke"}}), http.StatusForbidden)
	expect(t, bob.post("/admin/lockouts/clear", url.Values{"email": {"carol@example.com"}}), http.StatusForbidden)
	expect(t, carol.get("/dashboard"), http.StatusOK)
	expect(t, admin.get("/dashboard"), http.StatusOK, `href="/admin/events"`)
	if a := bob.get("/dashboard"); strings.Contains(a.body, `href="/admin/events"`) {
		t.Error("a user's header links to the console")
	}
}

func TestTheEventsPageFiltersChartsAndRefusesHostileFilters(t *testing.T) {
	store := estest.New(t)
	auditLog := audit.NewWriter(store, zap.NewNop().Sugar(), 1024, 100, time.Hour)
	t.Cleanup(func() { _ = auditLog.Close(context.Background()) })
	srv, _ := newServerOn(t, store, func(d *v1.Deps) { d.Audit = auditLog })
	addUser(t, store, "boss@example.com", "Boss", user.RoleAdmin)
	addUser(t, store, "bob@example.com", "Bob", user.RoleUser)
	admin := newBrowser(t, srv)
	logInAs(t, admin, "boss@example.com")
	for range 3 {
		admin.another().post("/login", url.Values{"email_address": {"bob@example.com"}, "password": {"wrong password 12"}})
	}
	logInAs(t, newBrowser(t, srv), "bob@example.com")
	if err := auditLog.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	estest.MustDo(t, "POST", "/"+store.AuditIndex()+"/_refresh", "")

	a := admin.get("/admin/events?event=login_failure&email=bob@example.com")
	expect(t, a, http.StatusOK, "<svg", `class="bar-failure"`, "3 events", "bob@example.com", `<option value="login_failure" selected>`)
	if strings.Contains(a.body, "<td>login_success") || strings.Contains(a.body, "boss@example.com</td>") {
		t.Errorf("the filtered page shows other events:\n%s", a.body)
	}
	// Every event: both logins among them, the chart drawn.
	expect(t, admin.get("/admin/events"), http.StatusOK, "login_success", "login_failure", `class="bar-success"`)
	// Query syntax and wildcards are literal text: nothing matches, no error.
	for _, ua := range []string{"*", "(a OR b)", `/.*/`, `\`, "ua:*"} {
		expect(t, admin.get("/admin/events?user_agent="+url.QueryEscape(ua)), http.StatusOK, "No event matches.")
	}

	hostile := []struct{ query, field string }{
		{"ip=*", "ip"},
		{"ip=10.0.0.0/33", "ip"},
		{"from=yesterday", "from"},
		{"from=2026-12-02&to=2026-12-01", "to"},
		{"outcome=maybe", "outcome"},
		{"event=drop_table", "event"},
		{"email=" + strings.Repeat("a", 400) + "@example.com", "email"},
	}
	for _, h := range hostile {
		a := admin.get("/admin/events?" + h.query)
		expect(t, a, http.StatusUnprocessableEntity, `id="`+h.field+`-error"`, `aria-invalid="true"`)
		if strings.Contains(a.body, "<svg") {
			t.Errorf("%s: the page searched anyway", h.query)
		}
	}
	// A tampered cursor is refused, not a 500.
	if a := admin.get("/admin/events?cursor=" + url.QueryEscape(`WyIqIl0`)); a.status/100 != 4 {
		t.Errorf("a tampered cursor: %d", a.status)
	}
}

func TestTheSessionsPageCountsThenEndsWhatTheFilterSelects(t *testing.T) {
	_, srv := withAdminAndUsers(t, "bob", "carol")
	admin := newBrowser(t, srv)
	logInAs(t, admin, "boss@example.com")
	bobs := []*browser{newBrowser(t, srv), newBrowser(t, srv)}
	for _, b := range bobs {
		logInAs(t, b, "bob@example.com")
	}
	carol := newBrowser(t, srv)
	logInAs(t, carol, "carol@example.com")

	expect(t, admin.get("/admin/sessions?email=bob@example.com"), http.StatusOK, "bob@example.com")
	// A dry run counts and ends nothing.
	a := admin.post("/admin/sessions/revoke", url.Values{"email": {"bob@example.com"}, "action": {"count"}})
	expect(t, a, http.StatusOK, "select 2 sessions of 1 account; nothing was ended")
	for _, b := range bobs {
		expect(t, b.get("/dashboard"), http.StatusOK)
	}
	a = admin.post("/admin/sessions/revoke", url.Values{"email": {"bob@example.com"}, "action": {"revoke"}})
	expect(t, a, http.StatusOK, "Ended 2 sessions of 1 account")
	for _, b := range bobs {
		if a := b.get("/dashboard"); a.status != http.StatusSeeOther {
			t.Errorf("bob after the revocation: %d", a.status)
		}
	}
	expect(t, carol.get("/dashboard"), http.StatusOK)

	// Every session from this address: carol's, not the admin's own.
	a = admin.post("/admin/sessions/revoke", url.Values{"ip": {"127.0.0.0/8"}, "action": {"revoke"}})
	expect(t, a, http.StatusOK, "Ended 1 session of 1 account")
	if a := carol.get("/dashboard"); a.status != http.StatusSeeOther {
		t.Errorf("carol after the revocation by address: %d", a.status)
	}
	expect(t, admin.get("/admin/sessions"), http.StatusOK, "(this session)")

	// Hostile or empty filters end nothing and say why.
	logInAs(t, carol, "carol@example.com")
	for _, form := range []url.Values{
		{"action": {"revoke"}},
		{"ip": {"*"}, "action": {"revoke"}},
		{"user_agent": {"*"}, "created_from": {"never"}, "action": {"revoke"}},
	} {
		a := admin.post("/admin/sessions/revoke", form)
		if a.status == http.StatusOK && !strings.Contains(a.body, `class="error"`) || a.status >= 500 {
			t.Errorf("%v: %d %s", form, a.status, a.body)
		}
	}
	expect(t, carol.get("/dashboard"), http.StatusOK)
	expect(t, admin.get("/admin/sessions?seen_from=2026-13-01"), http.StatusUnprocessableEntity, `id="seen_from-error"`)
}

func TestTheLockoutsPageListsAndLiftsALock(t *testing.T) {
	store := estest.New(t)
	srv, _ := newServerOn(t, store, func(d *v1.Deps) { d.Lockout = user.Lockout{Threshold: 2, Base: time.Minute, Max: time.Hour} })
	addUser(t, store, "boss@example.com", "Boss", user.RoleAdmin)
	addUser(t, store, "bob@example.com", "Bob", user.RoleUser)
	admin := newBrowser(t, srv)
	logInAs(t, admin, "boss@example.com")
	expect(t, admin.get("/admin/lockouts"), http.StatusOK, "0 emails locked now")

	anon := newBrowser(t, srv)
	for _, email := range []string{"bob@example.com", "ghost@example.com"} {
		for range 2 {
			anon.post("/login", url.Values{"email_address": {email}, "password": {"wrong password 12"}})
		}
	}
	if a := anon.post("/login", url.Values{"email_address": {"bob@example.com"}, "password": {pw}}); a.status != http.StatusTooManyRequests {
		t.Fatalf("bob is not locked: %d", a.status)
	}
	a := admin.get("/admin/lockouts")
	expect(t, a, http.StatusOK, "2 emails locked now", `aria-label="Lift the lock of bob@example.com"`, "an email no account has")
	if strings.Contains(a.body, "ghost@") {
		t.Error("the lockouts page names an email no account has")
	}
	// Lifted: bob logs in, the page says so.
	a = admin.post("/admin/lockouts/clear", url.Values{"email": {"bob@example.com"}})
	if a.status != http.StatusSeeOther || a.location != "/admin/lockouts" {
		t.Fatalf("lift: %d to %q: %s", a.status, a.location, a.body)
	}
	expect(t, admin.get("/admin/lockouts"), http.StatusOK, "The lockout is lifted", "1 email locked now")
	logInAs(t, anon, "bob@example.com")
	// The unknown email by its address; then nothing is left to lift.
	if a := admin.post("/admin/lockouts/clear", url.Values{"email": {"ghost@example.com"}}); a.status != http.StatusSeeOther {
		t.Errorf("lift ghost: %d %s", a.status, a.body)
	}
	expect(t, admin.post("/admin/lockouts/clear", url.Values{"email": {"bob@example.com"}}), http.StatusNotFound, `value="bob@example.com"`)
	expect(t, admin.post("/admin/lockouts/clear", url.Values{"email": {"  "}}), http.StatusUnprocessableEntity, "Give the email")
}

var facetOption = regexp.MustCompile(`<option value="admin"[^>]*>admins \((\d+)\)`)

func TestTheUsersPageFiltersByFacetsAndCountsThem(t *testing.T) {
	_, srv := withAdminAndUsers(t, "bob", "carol")
	admin := newBrowser(t, srv)
	logInAs(t, admin, "boss@example.com")
	a := admin.get("/admin?role=admin")
	expect(t, a, http.StatusOK, "boss@example.com", "1 user match", `<option value="admin" selected>admins (1)</option>`, `users (2)`)
	if strings.Contains(a.body, "bob@example.com") {
		t.Error("the admins' list has bob")
	}
	a = admin.get("/admin?role=user&q=car")
	expect(t, a, http.StatusOK, "carol@example.com")
	if strings.Contains(a.body, "bob@example.com") {
		t.Error("the search for car lists bob")
	}
	// Each facet counts under the other filters: one admin among all.
	if m := facetOption.FindStringSubmatch(a.body); m == nil || m[1] != "0" {
		t.Errorf("the admins' count beside q=car: %v", m)
	}
	for _, h := range []struct{ query, field string }{
		{"totp=maybe", "totp"},
		{"created_from=last-week", "created_from"},
		{"role=root", "role"},
	} {
		a := admin.get("/admin?" + h.query)
		if a.status != http.StatusUnprocessableEntity || !strings.Contains(a.body, h.field) || strings.Contains(a.body, "bob@example.com") {
			t.Errorf("%s: %d\n%s", h.query, a.status, a.body)
		}
	}
}
