package v1

import (
	"net/http"
	"strings"
	"testing"

	"esauth/lib/access"
)

func withForwardRules(t *testing.T, rules string) harnessOption {
	t.Helper()
	r, err := access.Parse(strings.NewReader(rules))
	if err != nil {
		t.Fatal(err)
	}
	return func(d *Deps) { d.ForwardRules = r }
}

// forward asks /v1/auth/forward about a request as a proxy would.
func (c *client) forward(query string, headers map[string]string) answer {
	c.t.Helper()
	h := http.Header{}
	for k, v := range headers {
		h.Set(k, v)
	}
	return c.doWith("GET", "/v1/auth/forward"+query, nil, h)
}

func TestForwardAuthAnswersForTheRequestThatWillBeForwarded(t *testing.T) {
	h := newHarness(t, withForwardRules(t, `[
		{"paths": ["/public"], "policy": "anyone"},
		{"paths": ["/admin"], "policy": "admin"},
		{"hosts": ["closed.example.com"], "policy": "deny"}
	]`))
	h.addUser("member@example.com", pw, false)
	h.addUser("boss@example.com", pw, true)
	anon, member, boss := h.client(), h.client(), h.client()
	member.mustLogin("member@example.com", pw)
	boss.mustLogin("boss@example.com", pw)

	nginx := func(uri string) map[string]string { return map[string]string{"X-Original-URI": uri} }
	traefik := func(host, uri string) map[string]string {
		return map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https", "X-Forwarded-Host": host, "X-Forwarded-Uri": uri}
	}
	for _, tt := range []struct {
		name    string
		c       *client
		query   string
		headers map[string]string
		want    int
	}{
		{"nobody logged in: 401", anon, "", nginx("/app"), http.StatusUnauthorized},
		{"a user: 200", member, "", nginx("/app"), http.StatusOK},
		{"a public path lets nobody through", anon, "", nginx("/public/logo.png"), http.StatusOK},
		{"an admin path refuses a user", member, "", nginx("/admin/users"), http.StatusForbidden},
		{"an admin path asks nobody to log in", anon, "", nginx("/admin/users"), http.StatusUnauthorized},
		{"an admin path lets an admin through", boss, "", nginx("/admin/users"), http.StatusOK},
		{"a dot-dot walk from the public path to the admin path is the admin path", member, "", nginx("/public/../admin/users"), http.StatusForbidden},
		{"an escaped walk too", anon, "", nginx("/public/%2e%2e/admin"), http.StatusUnauthorized},
		{"a Tomcat path-parameter walk too", member, "", nginx("/public/..;/admin"), http.StatusForbidden},
		{"the admin path in capitals too", member, "", nginx("/ADMIN/users"), http.StatusForbidden},
		{"a path encoded twice is refused", anon, "", nginx("/public/%252e%252e/admin"), http.StatusBadRequest},
		{"Traefik's headers are read", member, "", traefik("app.example.com", "/admin"), http.StatusForbidden},
		{"a denied host refuses an admin", boss, "", traefik("closed.example.com", "/"), http.StatusForbidden},
		{"?role=admin refuses a user", member, "?role=admin", nginx("/app"), http.StatusForbidden},
		{"?role=admin lets an admin through", boss, "?role=admin", nginx("/app"), http.StatusOK},
		{"?role=admin raises a public path", anon, "?role=admin", nginx("/public/x"), http.StatusUnauthorized},
		{"?redirect=true sends nobody to log in", anon, "?redirect=true", nginx("/app?x=1&y=2"), http.StatusFound},
		{"?redirect=true lets a user through", member, "?redirect=true", nginx("/app"), http.StatusOK},
		{"?redirect=true still forbids", member, "?redirect=true", nginx("/admin"), http.StatusForbidden},
		{"a redirect that is not true or false is a client error", anon, "?redirect=AAA", nginx("/app"), http.StatusUnprocessableEntity},
		{"an unknown role is a client error", boss, "?role=root", nginx("/app"), http.StatusUnprocessableEntity},
		{"a forwarded URI that is not a path is refused", boss, "", nginx("http://evil.example/"), http.StatusBadRequest},
		{"a malformed escape is refused", boss, "", nginx("/a%zz"), http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.want == http.StatusFound {
				req, _ := http.NewRequest("GET", h.srv.URL+"/v1/auth/forward"+tt.query, nil)
				for k, v := range tt.headers {
					req.Header.Set(k, v)
				}
				res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/login?return_to=%2Fapp%3Fx%3D1%26y%3D2" {
					t.Errorf("%d to %q; want 302 to /login?return_to=%%2Fapp%%3Fx%%3D1%%26y%%3D2", res.StatusCode, res.Header.Get("Location"))
				}
				return
			}
			a := tt.c.in(t).forward(tt.query, tt.headers)
			expectStatus(t, a, tt.want)
			if email := a.Header.Get("X-Auth-Email"); tt.want != http.StatusOK && email != "" {
				t.Errorf("a %d carries X-Auth-Email %q", tt.want, email)
			}
		})
	}
}

func TestForwardAuthNamesTheUserInHeaders(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	expectStatus(t, c.signup("zoë@example.com", pw), http.StatusCreated)
	c.mustLogin("zoë@example.com", pw)
	expectStatus(t, c.do("PATCH", "/v1/users/zoë@example.com", map[string]string{"first_name": "Zoë Anne", "last_name": "O'Brien"}), http.StatusOK)
	a := c.forward("", map[string]string{"X-Original-URI": "/"})
	expectStatus(t, a, http.StatusOK)
	for k, want := range map[string]string{
		"X-Auth-Email":      "zoë@example.com",
		"X-Auth-Role":       "user",
		"X-Auth-First-Name": "Zo%C3%AB%20Anne",
		"X-Auth-Last-Name":  "O%27Brien",
	} {
		if got := a.Header.Get(k); got != want {
			t.Errorf("%s = %q; want %q", k, got, want)
		}
	}
	h.checkNoSecrets(t, a)
	if strings.Contains(a.Raw, c.cookie()) {
		t.Error("the answer echoes the cookie")
	}
}

func TestForwardAuthRefusesARevokedSessionOnTheNextRequest(t *testing.T) {
	h := newHarness(t)
	h.addUser("revoked@example.com", pw, false)
	a, b := h.client(), h.client()
	a.mustLogin("revoked@example.com", pw)
	b.mustLogin("revoked@example.com", pw)
	uri := map[string]string{"X-Original-URI": "/app"}
	expectStatus(t, a.forward("", uri), http.StatusOK)
	expectStatus(t, b.do("POST", "/v1/auth/logout/all", nil), http.StatusOK)
	expectStatus(t, a.forward("", uri), http.StatusUnauthorized)
}
