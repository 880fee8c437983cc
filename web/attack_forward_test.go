package web_test

import (
	"context"
	"html"
	"net/http"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"esauth/lib/access"
	"esauth/lib/elastic/estest"
	"esauth/lib/user"
	"esauth/v1"
)

var returnToField = regexp.MustCompile(`name="return_to" value="([^"]*)"`)

// Forward-auth's login redirect from outside: whatever URI a client makes
// the proxy forward, the chain forward-auth → login page → login ends on
// this site (the redirect's return_to goes through the login's
// SafeReturnTo), and a user disabled after logging in is refused by
// forward-auth at once.
func TestForwardAuthsLoginRedirectEndsOnThisSiteAndRefusesDisabledUsers(t *testing.T) {
	store := estest.New(t)
	rules, err := access.Parse(strings.NewReader(`[]`))
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := newServerOn(t, store, func(d *v1.Deps) {
		d.ForwardRules = rules
		d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
	})
	addUser(t, store, "walker@example.com", "Walker", user.RoleUser)
	forward := func(b *browser, uri string) answer {
		return b.do("GET", "/v1/auth/forward?redirect=true", nil, http.Header{
			"X-Original-Method": {"GET"}, "X-Original-Uri": {uri}, "X-Original-Host": {"app.example.com"},
		})
	}
	for _, uri := range []string{
		"//evil.example/x", "/\\evil.example", "/%2F%2Fevil.example", "/%5Cevil.example", "/\tevil.example",
		"https:evil.example", "https://evil.example/", "/app?next=//evil.example", "/.//evil.example",
	} {
		t.Run(uri, func(t *testing.T) {
			b := newBrowser(t, srv)
			a := forward(b, uri)
			if a.status != http.StatusFound {
				if a.status != http.StatusBadRequest {
					t.Fatalf("forward-auth for %q: %d; want 302 to the login page or 400", uri, a.status)
				}
				return
			}
			if !strings.HasPrefix(a.location, "/login?") {
				t.Fatalf("forward-auth sends the browser to %q; want the login page of this site", a.location)
			}
			page := b.get(a.location)
			m := returnToField.FindStringSubmatch(page.body)
			returnTo := ""
			if m != nil {
				returnTo = html.UnescapeString(m[1])
			}
			done := b.post("/login", url.Values{"email_address": {"walker@example.com"}, "password": {pw}, "return_to": {returnTo}})
			if done.status != http.StatusSeeOther {
				t.Fatalf("login: %d %s", done.status, done.body)
			}
			loc := done.location
			if !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") || strings.ContainsAny(loc, "\t\r\n") {
				t.Errorf("forwarded %q, the login sent the browser to %q: not a path on this site", uri, loc)
			}
		})
	}

	// Disabled after logging in: forward-auth refuses the very next request.
	b := newBrowser(t, srv)
	if a := b.post("/login", url.Values{"email_address": {"walker@example.com"}, "password": {pw}}); a.status != http.StatusSeeOther {
		t.Fatalf("login: %d", a.status)
	}
	if a := forward(b, "/app"); a.status != http.StatusOK {
		t.Fatalf("forward-auth for a logged-in user: %d", a.status)
	}
	// As an operator's esauth user disable would (the admin page's way is tested elsewhere).
	if _, err := store.UpdateUser(context.Background(), "walker@example.com", func(u *user.User) error {
		u.IsActive = false
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a := forward(b, "/app")
	if a.status == http.StatusOK || a.header.Get("X-Auth-Email") != "" {
		t.Errorf("forward-auth for a disabled user: %d, X-Auth-Email %q; want a refusal and no user", a.status, a.header.Get("X-Auth-Email"))
	}
}
