package v1

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"esauth/lib/elastic/estest"
	"esauth/lib/totp"
)

// Issue 22: a native client logs in with "token": true, gets the session
// in the answer and no cookie, calls a protected route with the token as
// a bearer token, and logs out with it; the token is then dead, and it
// was never written to a log line.
func TestANativeClientLogsInCallsAndLogsOutWithABearerToken(t *testing.T) {
	h := newHarness(t)
	h.addUser("app@example.com", pw, false)
	c := h.native()
	in := c.tokenLogin("app@example.com", pw)
	expectStatus(t, in, http.StatusOK)
	if ck := in.Header.Get("Set-Cookie"); ck != "" {
		t.Errorf("a token login set a cookie: %s", ck)
	}
	var got struct {
		Email     string    `json:"email_address"`
		Token     string    `json:"session_token"`
		ExpiresAt time.Time `json:"session_expires_at"`
	}
	in.data(t, &got)
	if got.Email != "app@example.com" || !regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`).MatchString(got.Token) || time.Until(got.ExpiresAt) < time.Hour {
		t.Fatalf("the token login answered %s", in.Raw)
	}
	// A cookie login answers no token.
	if a := h.client().login("app@example.com", pw); strings.Contains(a.Raw, "session_token") {
		t.Errorf("a cookie login answered a token: %s", a.Raw)
	}

	test := c.do("GET", "/v1/test", nil)
	expectStatus(t, test, http.StatusOK)
	if !strings.Contains(test.Raw, "app@example.com") {
		t.Errorf("/v1/test with the token: %s", test.Raw)
	}
	out := c.do("POST", "/v1/auth/logout", nil)
	expectStatus(t, out, http.StatusOK)
	if ck := out.Header.Get("Set-Cookie"); ck != "" {
		t.Errorf("a bearer logout set a cookie: %s", ck)
	}
	after := c.do("GET", "/v1/test", nil)
	expectStatus(t, after, http.StatusUnauthorized)
	if wa := after.Header.Get("WWW-Authenticate"); wa != `Bearer error="invalid_token"` {
		t.Errorf("the 401 of a dead token says WWW-Authenticate %q", wa)
	}
	// The logout is recorded under the token's owner.
	if err := h.audit.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	estest.MustDo(t, "POST", "/"+h.store.AuditIndex()+"/_refresh", "")
	admin := h.client()
	h.addUser("boss@example.com", pw, true)
	admin.mustLogin("boss@example.com", pw)
	if a := admin.do("GET", "/v1/admin/events?event=logout&email=app@example.com", nil); !strings.Contains(a.Raw, `"event":"logout"`) {
		t.Errorf("the bearer logout was not recorded under its owner: %s", a.Raw)
	}
	for _, e := range h.logs.All() {
		if line, _ := json.Marshal(e.ContextMap()); strings.Contains(string(line), got.Token) || strings.Contains(e.Message, got.Token) {
			t.Errorf("a log line carries the token: %s %s", e.Message, line)
		}
	}
}

// Every route that takes the cookie takes the bearer token: each one the
// OpenAPI document marks with both schemes answers a bearer request as
// logged in (anything but 401) and an anonymous one 401. The routes come
// from the document, so a new route is covered when it is described.
func TestEveryProtectedRouteTakesTheBearerToken(t *testing.T) {
	h := newHarness(t)
	h.addUser("boss@example.com", pw, true)
	h.addUser("other@example.com", pw, false)
	var doc struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatal(err)
	}
	// Routes that would end the token's own session are checked last.
	ending := map[string]bool{"POST /v1/auth/logout": true, "POST /v1/auth/logout/all": true}
	// The second factor's steps answer a half-authenticated session; an
	// anonymous request gets their own refusals (their tests check them).
	secondFactor := map[string]bool{"POST /v1/auth/totp/verify": true, "POST /v1/auth/passkeys/verify/begin": true, "POST /v1/auth/passkeys/verify/finish": true}
	vars := strings.NewReplacer("{email}", "other@example.com", "{id}", strings.Repeat("0", 64), "{provider}", "nowhere")
	n := 0
	for path, item := range doc.Paths {
		for method, raw := range item {
			var op struct {
				Security []map[string][]string `json:"security"`
			}
			if json.Unmarshal(raw, &op) != nil {
				continue
			}
			needs, bearer := len(op.Security) > 0, false
			for _, s := range op.Security {
				if len(s) == 0 {
					needs = false // anonymous allowed
				}
				if _, ok := s["bearerAuth"]; ok {
					bearer = true
				}
			}
			name := strings.ToUpper(method) + " " + path
			if !bearer || !needs || ending[name] {
				continue
			}
			n++
			t.Run(name, func(t *testing.T) {
				c := h.native().in(t)
				c.tokenLogin("boss@example.com", pw)
				url := vars.Replace(path)
				var body any
				if method != "get" {
					body = map[string]any{}
				}
				if a := c.do(strings.ToUpper(method), url, body); a.Status == http.StatusUnauthorized {
					t.Errorf("with the bearer token: 401 %s", a.Raw)
				}
				if a := h.native().in(t).do(strings.ToUpper(method), url, body); a.Status != http.StatusUnauthorized && !secondFactor[name] {
					t.Errorf("without a credential: %d, want 401", a.Status)
				}
			})
		}
	}
	if n < 25 {
		t.Errorf("only %d routes take the bearer token in the OpenAPI document", n)
	}
}

// Whatever ends a cookie session ends a bearer session on its next
// request: its revocation from another session, logout everywhere, a
// password change, and an admin disabling the account.
func TestBearerSessionsEndLikeCookieSessions(t *testing.T) {
	h := newHarness(t)
	h.addUser("boss@example.com", pw, true)
	admin := h.client()
	admin.mustLogin("boss@example.com", pw)
	tests := []struct {
		name string
		end  func(t *testing.T, email string, app, web *client)
	}{
		{"revoked from the browser", func(t *testing.T, _ string, app, web *client) {
			var list []struct {
				ID      string `json:"id"`
				Current bool   `json:"current"`
			}
			app.do("GET", "/v1/auth/sessions", nil).data(t, &list)
			for _, s := range list {
				if s.Current {
					expectStatus(t, web.do("DELETE", "/v1/auth/sessions/"+s.ID, nil), http.StatusOK)
					return
				}
			}
			t.Fatal("the bearer session is not marked current in its own list")
		}},
		{"logout everywhere from the browser", func(t *testing.T, _ string, _, web *client) {
			expectStatus(t, web.do("POST", "/v1/auth/logout/all", nil), http.StatusOK)
		}},
		{"a password change in the browser", func(t *testing.T, _ string, _, web *client) {
			expectStatus(t, web.do("POST", "/v1/auth/password", map[string]string{"old_password": pw, "new_password": "a brand new passphrase 9"}), http.StatusOK)
		}},
		{"disabled by an admin", func(t *testing.T, email string, _, _ *client) {
			expectStatus(t, admin.in(t).do("PATCH", "/v1/users/"+email, map[string]any{"is_active": false}), http.StatusOK)
		}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			email := strings.ReplaceAll(strings.ToLower(tt.name), " ", "-")[:8] + string(rune('a'+i)) + "@example.com"
			h.addUser(email, pw, false)
			app, web := h.native().in(t), h.client().in(t)
			app.tokenLogin(email, pw)
			web.mustLogin(email, pw)
			expectStatus(t, app.do("GET", "/v1/test", nil), http.StatusOK)
			tt.end(t, email, app, web)
			expectStatus(t, app.do("GET", "/v1/test", nil), http.StatusUnauthorized)
		})
	}
}

// A password change made with a bearer token replaces the session with a
// new token in the answer (no cookie); the old token is dead.
func TestAPasswordChangeByBearerAnswersTheNewToken(t *testing.T) {
	h := newHarness(t)
	h.addUser("change@example.com", pw, false)
	app := h.native()
	app.tokenLogin("change@example.com", pw)
	old := app.bearer
	a := app.do("POST", "/v1/auth/password", map[string]string{"old_password": pw, "new_password": "another fine passphrase 3"})
	expectStatus(t, a, http.StatusOK)
	var got struct {
		Token string `json:"session_token"`
	}
	a.data(t, &got)
	if got.Token == "" || got.Token == old || a.Header.Get("Set-Cookie") != "" {
		t.Fatalf("the change answered %s (Set-Cookie %q)", a.Raw, a.Header.Get("Set-Cookie"))
	}
	expectStatus(t, app.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	app.bearer = got.Token
	expectStatus(t, app.do("GET", "/v1/test", nil), http.StatusOK)
}

// A token login of an account with TOTP answers a half-authenticated
// token that reaches nothing; the code sent with it answers the whole
// session's new token, and the half one is dead.
func TestATokenLoginOwesTheSecondFactorLikeACookieLogin(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock))
	h.addUser("two@example.com", pw, false)
	web := h.client()
	web.mustLogin("two@example.com", pw)
	secret, _ := enrolTOTP(t, web, clock)

	app := h.native()
	in := app.tokenLogin("two@example.com", pw)
	if !strings.Contains(in.Raw, `"second_factor_required":true`) {
		t.Fatalf("the token login of a TOTP account: %s", in.Raw)
	}
	pending := app.bearer
	expectStatus(t, app.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	clock.Advance(31 * time.Second) // the enrolment's code is spent
	code, _ := totp.Code(secret, clock.Now())
	v := app.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code})
	expectStatus(t, v, http.StatusOK)
	var got struct {
		Token string `json:"session_token"`
	}
	v.data(t, &got)
	if got.Token == "" || got.Token == pending || v.Header.Get("Set-Cookie") != "" {
		t.Fatalf("the code answered %s (Set-Cookie %q)", v.Raw, v.Header.Get("Set-Cookie"))
	}
	app.bearer = got.Token
	expectStatus(t, app.do("GET", "/v1/test", nil), http.StatusOK)
	app.bearer = pending
	expectStatus(t, app.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusUnauthorized)
}

// Credentials are refused where they are ambiguous or exposed: a cookie
// and a bearer token together, and a token in the query string, are 400
// on any route; a malformed or unknown bearer token is anonymous (401 on
// a protected route, with WWW-Authenticate).
func TestAmbiguousOrExposedCredentialsAreRefused(t *testing.T) {
	h := newHarness(t)
	h.addUser("both@example.com", pw, false)
	web, app := h.client(), h.native()
	web.mustLogin("both@example.com", pw)
	app.tokenLogin("both@example.com", pw)
	bearer := http.Header{"Authorization": {"Bearer " + app.bearer}}
	tests := []struct {
		name   string
		c      *client
		path   string
		header http.Header
		want   int
	}{
		{"the cookie and the bearer token", web, "/v1/test", bearer, 400},
		{"the cookie and a malformed bearer token", web, "/v1/test", http.Header{"Authorization": {"Bearer nope"}}, 400},
		{"the cookie and a bearer token, on login", web, "/v1/auth/logout", bearer, 400},
		{"a token as access_token", app, "/v1/test?access_token=" + app.bearer, nil, 400},
		{"a token as session_token", h.native(), "/v1/test?session_token=" + app.bearer, nil, 400},
		{"a malformed bearer token", h.native(), "/v1/test", http.Header{"Authorization": {"Bearer " + app.bearer + "x"}}, 401},
		{"an unknown bearer token", h.native(), "/v1/test", http.Header{"Authorization": {"Bearer " + strings.Repeat("A", 43)}}, 401},
		{"another scheme is no credential", h.native(), "/v1/test", http.Header{"Authorization": {"Basic Ym90aEBleGFtcGxlLmNvbTpwdw=="}}, 401},
		{"the bearer scheme in any case", h.native(), "/v1/test", http.Header{"Authorization": {"bEaReR " + app.bearer}}, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.c.in(t).doWith("GET", tt.path, nil, tt.header)
			if tt.path == "/v1/auth/logout" {
				a = tt.c.in(t).doWith("POST", tt.path, nil, tt.header)
			}
			expectStatus(t, a, tt.want)
			if strings.Contains(a.Raw, app.bearer) {
				t.Errorf("the answer echoes the token: %s", a.Raw)
			}
		})
	}
	// The refused logout ended nothing.
	expectStatus(t, web.do("GET", "/v1/test", nil), http.StatusOK)
}

// A bearer request carries no ambient credential, so the cross-origin
// check that guards the cookie does not apply to it; a cookie request
// from another site is still refused.
func TestBearerRequestsPassTheCrossOriginCheck(t *testing.T) {
	h := newHarness(t)
	h.addUser("xo@example.com", pw, false)
	web, app := h.client(), h.native()
	web.mustLogin("xo@example.com", pw)
	app.tokenLogin("xo@example.com", pw)
	cross := http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://elsewhere.example"}}
	body := map[string]string{"first_name": "Cross"}
	expectStatus(t, web.doWith("PATCH", "/v1/users/xo@example.com", body, cross), http.StatusForbidden)
	expectStatus(t, app.doWith("PATCH", "/v1/users/xo@example.com", body, cross), http.StatusOK)
}

// Forward-auth takes the bearer token: a native client's request through
// the proxy is judged as its cookie's would be.
func TestForwardAuthTakesTheBearerToken(t *testing.T) {
	h := newHarness(t, withForwardRules(t, `[{"paths": ["/admin"], "policy": "admin"}]`))
	h.addUser("fw@example.com", pw, false)
	app := h.native()
	app.tokenLogin("fw@example.com", pw)
	a := app.forward("", asNginx("/app"))
	expectStatus(t, a, http.StatusOK)
	if a.Header.Get("X-Auth-Email") != "fw@example.com" {
		t.Errorf("X-Auth-Email = %q", a.Header.Get("X-Auth-Email"))
	}
	expectStatus(t, app.forward("", asNginx("/admin")), http.StatusForbidden)
	expectStatus(t, app.do("POST", "/v1/auth/logout", nil), http.StatusOK)
	expectStatus(t, app.forward("", asNginx("/app")), http.StatusUnauthorized)
}

// CORS for single-page apps (ESAUTH_CORS_ORIGINS): a preflight from an
// allowed origin is answered with that exact origin and credentials; one
// from any other origin gets no CORS header, so its browser keeps the
// answer from the page; every answer varies by Origin. The allowed origin
// passes the cross-origin check with the cookie too. The pages answer no
// origin.
func TestCORSLetsOnlyTheAllowedOriginsRead(t *testing.T) {
	const app = "https://app.example.com"
	h := newHarness(t, func(d *Deps) { d.CORSOrigins = []string{app} })
	h.addUser("spa@example.com", pw, false)
	preflight := func(path, origin string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodOptions, h.srv.URL+path, nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type") // as browsers send it: sorted, lower case
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	ok := preflight("/v1/auth/login", app)
	if ok.StatusCode != http.StatusNoContent || ok.Header.Get("Access-Control-Allow-Origin") != app ||
		ok.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(strings.ToLower(ok.Header.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Errorf("the allowed origin's preflight: %d %v", ok.StatusCode, ok.Header)
	}
	for _, origin := range []string{"https://evil.example.com", "https://app.example.com.evil.example", "null"} {
		if res := preflight("/v1/auth/login", origin); res.Header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("the preflight of %s is allowed: %v", origin, res.Header)
		}
	}
	if res := preflight("/login", app); res.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("a page answers CORS: %v", res.Header)
	}

	// The SPA's own calls, with the cookie, from its origin (a same-site
	// app: the browser sends the Lax cookie to a sibling host).
	web := h.client()
	from := http.Header{"Origin": {app}, "Sec-Fetch-Site": {"same-site"}}
	in := web.doWith("POST", "/v1/auth/login", map[string]string{"email_address": "spa@example.com", "password": pw}, from)
	expectStatus(t, in, http.StatusOK)
	if in.Header.Get("Access-Control-Allow-Origin") != app || !strings.Contains(in.Header.Get("Vary"), "Origin") {
		t.Errorf("the login's answer to the app: %v", in.Header)
	}
	test := web.doWith("GET", "/v1/test", nil, from)
	expectStatus(t, test, http.StatusOK)
	if test.Header.Get("Access-Control-Allow-Origin") != app {
		t.Errorf("/v1/test's answer to the app: %v", test.Header)
	}
	evil := web.doWith("POST", "/v1/auth/logout/all", nil, http.Header{"Origin": {"https://evil.example.com"}, "Sec-Fetch-Site": {"cross-site"}})
	expectStatus(t, evil, http.StatusForbidden)
	if evil.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("another origin may read the refusal: %v", evil.Header)
	}
}

// A bad day for the store never reads as "logged out" for a bearer
// client: with the sessions index closed, a token whose owner is known
// (used before) and one never seen are both 503, and once the index is
// back both work. With Elasticsearch unreachable, a token is 503 too.
func TestABearerTokenWithTheStoreFailingIs503(t *testing.T) {
	h := newHarness(t)
	h.addUser("bad-day@example.com", pw, false)
	seen, fresh := h.native(), h.native()
	seen.tokenLogin("bad-day@example.com", pw)
	fresh.tokenLogin("bad-day@example.com", pw)
	expectStatus(t, seen.do("GET", "/v1/test", nil), http.StatusOK)

	index := estest.Concrete(t, h.store.SessionsIndex())
	estest.MustDo(t, "POST", "/"+index+"/_close", "")
	for name, c := range map[string]*client{"a token used before": seen, "a token never used": fresh} {
		if a := c.in(t).do("GET", "/v1/test", nil); a.Status != http.StatusServiceUnavailable {
			t.Errorf("%s, the sessions index closed: %d %s", name, a.Status, a.Raw)
		}
	}
	estest.MustDo(t, "POST", "/"+index+"/_open?wait_for_active_shards=1", "")
	expectStatus(t, seen.do("GET", "/v1/test", nil), http.StatusOK)
	expectStatus(t, fresh.do("GET", "/v1/test", nil), http.StatusOK)

	down := newHarnessOn(t, storeAt(t, estest.DeadURL(t), 500*time.Millisecond))
	c := down.native()
	c.bearer = fresh.bearer
	if a, err := c.try("GET", "/v1/test", nil); err != nil || a.Status != http.StatusServiceUnavailable {
		t.Errorf("a token with Elasticsearch down: %d %v", a.Status, err)
	}
}
