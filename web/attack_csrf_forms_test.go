package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"testing"

	"esauth/lib/elastic/estest"
)

var formAction = regexp.MustCompile(`<form method="post" action="([^"?]*)`)

// crossSiteForms is every form post of the pages, with the values a
// hostile site would send to do harm if the post got through. A form that
// the pages serve and this list lacks fails the test, so a new form
// cannot escape it.
var crossSiteForms = map[string]url.Values{
	"/login":                         {"email_address": {"boss@example.com"}, "password": {pw}},
	"/signup":                        {"email_address": {"planted@example.com"}, "first_name": {"P"}, "last_name": {"P"}, "password": {pw}},
	"/forgot-password":               {"email_address": {"boss@example.com"}},
	"/reset-password":                {"token": {"x"}, "new_password": {"attacker's new password"}},
	"/verify-email":                  {"token": {"x"}},
	"/login/code":                    {"code": {"000000"}},
	"/dashboard/password":            {"old_password": {pw}, "new_password": {"attacker's new password"}},
	"/dashboard/totp/enroll":         {"password": {pw}},
	"/dashboard/totp/confirm":        {"code": {"000000"}},
	"/dashboard/totp/disable":        {"password": {pw}, "code": {"000000"}},
	"/dashboard/verification/resend": {},
	"/dashboard/sessions/revoke":     {}, // the other session's id is set below
	"/dashboard/identities/unlink":   {"provider": {"acme"}},
	"/admin/users":                   {"email": {"bob@example.com"}, "action": {"delete"}},
	"/logout":                        {},
	"/logout/all":                    {},
	"/v1/auth/oauth/{provider}/link": {}, // the dashboard's link buttons (with providers configured)
}

// CSRF on every form, from outside: each form post of the pages, sent by
// a hostile site with the victim's cookie (a browser marks it with
// Sec-Fetch-Site: cross-site or an Origin of the other site), is refused
// with the cross-origin refusal page, and changes nothing: the admin's
// sessions, password, second factor and the users they manage are as
// before. lib/httpkit.CrossOrigin refuses them before any handler.
func TestEveryFormRefusesACrossSitePost(t *testing.T) {
	store, srv := withAdminAndUsers(t, "bob")
	boss, other := newBrowser(t, srv), newBrowser(t, srv)
	for _, b := range []*browser{boss, other} {
		if a := b.post("/login", url.Values{"email_address": {"boss@example.com"}, "password": {pw}}); a.status != http.StatusSeeOther {
			t.Fatalf("login: %d", a.status)
		}
	}
	dashboard := boss.get("/dashboard")
	ids := otherSessionIDs(t, dashboard.body)
	if len(ids) != 1 {
		t.Fatalf("the dashboard lists %d other sessions; want 1", len(ids))
	}
	crossSiteForms["/dashboard/sessions/revoke"] = url.Values{"id": {ids[0]}}

	// Every form the pages serve is in the list.
	found := map[string]bool{}
	anon := newBrowser(t, srv)
	for _, p := range []answer{anon.get("/login"), anon.get("/signup"), anon.get("/forgot-password"),
		anon.get("/reset-password?token=x"), anon.get("/verify-email?token=x"), dashboard, boss.get("/admin")} {
		for _, m := range formAction.FindAllStringSubmatch(p.body, -1) {
			found[m[1]] = true
		}
	}
	var missing []string
	for action := range found {
		if _, ok := crossSiteForms[action]; !ok {
			missing = append(missing, action)
		}
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Errorf("forms the test does not attack: %v", missing)
	}
	for _, important := range []string{"/logout", "/logout/all", "/dashboard/password", "/dashboard/totp/enroll", "/admin/users", "/dashboard/sessions/revoke", "/login", "/signup"} {
		if !found[important] {
			t.Errorf("the pages served no %s form: the crawl is broken", important)
		}
	}

	hostile := []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}},
		{"Origin": {"https://evil.example"}},
		{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}, "Referer": {"https://evil.example/"}},
		{"Sec-Fetch-Site": {"same-site"}}, // a sibling subdomain, which SameSite=Lax lets the cookie through from
	}
	for action, form := range crossSiteForms {
		path := strings.Replace(action, "{provider}", "acme", 1)
		for _, h := range hostile {
			t.Run(action+" "+headerName(h), func(t *testing.T) {
				a := boss.do("POST", path, form, h)
				// The link buttons post to the API, whose refusal is its JSON
				// envelope; every page's is the HTML page.
				wantType := "text/html"
				if strings.HasPrefix(path, "/v1/") {
					wantType = "application/json"
				}
				if a.status != http.StatusForbidden || !strings.Contains(a.header.Get("Content-Type"), wantType) ||
					!strings.Contains(a.body, "Cross-origin request refused") {
					t.Errorf("%s: %d %s %.200q; want the 403 refusal page", path, a.status, a.header.Get("Content-Type"), a.body)
				}
			})
		}
		// The same post from this site, empty and from a browser of its
		// own (so it does nothing), is not refused by that check: that
		// check is what refuses the hostile ones.
		if a := newBrowser(t, srv).do("POST", path, url.Values{}, http.Header{"Sec-Fetch-Site": {"same-origin"}}); strings.Contains(a.body, "Cross-origin request refused") {
			t.Errorf("%s from this site was refused as cross-origin", path)
		}
	}

	// Nothing changed.
	if a := boss.get("/dashboard"); a.status != http.StatusOK {
		t.Errorf("the admin's session after the attacks: %d", a.status)
	}
	if a := other.get("/dashboard"); a.status != http.StatusOK {
		t.Errorf("the admin's other session after the attacks: %d", a.status)
	}
	if a := newBrowser(t, srv).post("/login", url.Values{"email_address": {"boss@example.com"}, "password": {pw}}); a.status != http.StatusSeeOther {
		t.Errorf("the admin's password after the attacks: login %d", a.status)
	}
	estest.MustDo(t, "POST", "/"+store.UsersIndex()+"/_refresh", "")
	if u, err := store.GetUser(context.Background(), "bob@example.com"); err != nil || !u.IsActive {
		t.Errorf("bob after the attacks: %+v, %v", u, err)
	}
	if u, err := store.GetUser(context.Background(), "boss@example.com"); err != nil || !u.TOTPEnabledAt.IsZero() || u.TOTPSecret != "" {
		t.Errorf("the admin's second factor after the attacks: enabled %v, secret set %v, %v", u.TOTPEnabledAt, u.TOTPSecret != "", err)
	}
	if _, err := store.GetUser(context.Background(), "planted@example.com"); err == nil {
		t.Error("a cross-site signup made an account")
	}
}

func headerName(h http.Header) string {
	var parts []string
	for k, v := range h {
		parts = append(parts, k+"="+v[0])
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}
