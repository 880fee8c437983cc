package v1

import (
	"net/http"
	"net/netip"
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
	return func(d *Deps) {
		d.ForwardRules = r
		d.TrustedProxies = loopback
	}
}

// loopback is where the tests' proxies (and clients) connect from.
var loopback = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}

// asNginx and asTraefik are the headers each kind of proxy sends about
// a GET of uri on app.example.com.
func asNginx(uri string) map[string]string {
	return map[string]string{"X-Original-Method": "GET", "X-Original-URI": uri, "X-Original-Host": "app.example.com"}
}

func asTraefik(host, uri string) map[string]string {
	return map[string]string{"X-Forwarded-Method": "GET", "X-Forwarded-Proto": "https", "X-Forwarded-Host": host, "X-Forwarded-Uri": uri}
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

	nginx := asNginx
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
		{"a denied host refuses an admin", boss, "", map[string]string{"X-Original-Method": "GET", "X-Original-URI": "/", "X-Original-Host": "closed.example.com"}, http.StatusForbidden},
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
	h := newHarness(t, withForwardRules(t, `[]`))
	c := h.client()
	expectStatus(t, c.signup("zoë@example.com", pw), http.StatusCreated)
	c.mustLogin("zoë@example.com", pw)
	expectStatus(t, c.do("PATCH", "/v1/users/zoë@example.com", map[string]string{"first_name": "Zoë Anne", "last_name": "O'Brien"}), http.StatusOK)
	a := c.forward("", asNginx("/"))
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
	h := newHarness(t, withForwardRules(t, `[]`))
	h.addUser("revoked@example.com", pw, false)
	a, b := h.client(), h.client()
	a.mustLogin("revoked@example.com", pw)
	b.mustLogin("revoked@example.com", pw)
	uri := asNginx("/app")
	expectStatus(t, a.forward("", uri), http.StatusOK)
	expectStatus(t, b.do("POST", "/v1/auth/logout/all", nil), http.StatusOK)
	expectStatus(t, a.forward("", uri), http.StatusUnauthorized)
}

// Issue 17: nginx copies the client's own headers into its auth_request
// subrequest, and esauth read X-Forwarded-Uri and -Method before nginx's
// X-Original-URI and -Method, so one header sent by the client changed
// the request esauth judged. Now only the configured kind's headers are
// read, only from a trusted proxy, and the other kind's headers with
// other values are refused.
func TestForwardAuthBelievesOnlyTheConfiguredProxysHeaders(t *testing.T) {
	rules := `[
		{"paths": ["/public"], "policy": "anyone"},
		{"paths": ["/admin"], "policy": "admin"},
		{"methods": ["DELETE"], "policy": "deny"}
	]`
	with := func(kv ...string) func(map[string]string) map[string]string {
		return func(h map[string]string) map[string]string {
			for i := 0; i < len(kv); i += 2 {
				h[kv[i]] = kv[i+1]
			}
			return h
		}
	}
	nginxDelete := func(uri string) map[string]string {
		h := asNginx(uri)
		h["X-Original-Method"] = "DELETE"
		return h
	}
	for _, tt := range []struct {
		name    string
		proxy   string
		headers map[string]string
		want    int
	}{
		{"behind nginx a client's X-Forwarded-Uri cannot move an admin path to a public one", "nginx",
			with("X-Forwarded-Uri", "/public/x")(asNginx("/admin/secret")), http.StatusBadRequest},
		{"behind nginx a client's X-Forwarded-Method cannot turn a DELETE into a GET", "nginx",
			with("X-Forwarded-Method", "GET")(nginxDelete("/thing")), http.StatusBadRequest},
		{"behind nginx a client's X-Forwarded-Host cannot move the request to another host", "nginx",
			with("X-Forwarded-Host", "other.example.com")(asNginx("/admin/secret")), http.StatusBadRequest},
		{"behind nginx the other kind's headers with the same values are harmless", "nginx",
			with("X-Forwarded-Uri", "/public/x", "X-Forwarded-Method", "GET")(asNginx("/public/x")), http.StatusOK},
		{"behind nginx Traefik's headers alone are not read", "nginx",
			asTraefik("app.example.com", "/public/x"), http.StatusBadRequest},
		{"behind nginx a DELETE is denied", "nginx", nginxDelete("/thing"), http.StatusForbidden},
		{"behind nginx a request without X-Original-Method is refused", "nginx",
			map[string]string{"X-Original-URI": "/public/x", "X-Original-Host": "app.example.com"}, http.StatusBadRequest},
		{"behind nginx a request without X-Original-Host is refused", "nginx",
			map[string]string{"X-Original-URI": "/public/x", "X-Original-Method": "GET"}, http.StatusBadRequest},
		{"behind Traefik its headers are read", "traefik", asTraefik("app.example.com", "/public/x"), http.StatusOK},
		{"behind Traefik an admin path asks nobody to log in", "traefik", asTraefik("app.example.com", "/admin"), http.StatusUnauthorized},
		{"behind Traefik a client's X-Original-URI cannot move the path", "traefik",
			with("X-Original-URI", "/public/x")(asTraefik("app.example.com", "/admin")), http.StatusBadRequest},
		{"behind Caddy nginx's headers alone are not read", "caddy", asNginx("/public/x"), http.StatusBadRequest},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withForwardRules(t, rules), func(d *Deps) { d.ForwardProxy = tt.proxy })
			expectStatus(t, h.client().forward("", tt.headers), tt.want)
		})
	}

	t.Run("a header sent twice is refused", func(t *testing.T) {
		h := newHarness(t, withForwardRules(t, rules))
		hd := http.Header{}
		for k, v := range asNginx("/public/x") {
			hd.Set(k, v)
		}
		hd.Add("X-Original-URI", "/admin")
		expectStatus(t, h.client().doWith("GET", "/v1/auth/forward", nil, hd), http.StatusBadRequest)
	})
}

func TestForwardAuthAnswersOnlyTrustedProxies(t *testing.T) {
	for _, tt := range []struct {
		name    string
		trusted []netip.Prefix
		want    int
	}{
		{"no trusted proxy configured: every caller is refused", nil, http.StatusForbidden},
		{"a caller outside the trusted proxies is refused", []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}, http.StatusForbidden},
		{"a trusted proxy is answered", loopback, http.StatusOK},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withForwardRules(t, `[{"paths": ["/"], "policy": "anyone"}]`), func(d *Deps) { d.TrustedProxies = tt.trusted })
			headers := asNginx("/")
			// A client claiming, through X-Forwarded-For, to be a proxy is
			// still the peer it is.
			headers["X-Forwarded-For"] = "192.0.2.1"
			expectStatus(t, h.client().forward("", headers), tt.want)
		})
	}
}
