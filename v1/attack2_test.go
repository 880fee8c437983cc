package v1

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"esauth/lib/totp"
)

// Issue 19, item 7: the newer surface attacked from outside, each class a
// test that fails when its protection is removed.

// A half-authenticated session (the password was right, the code is owed)
// opens nothing: no route but the code's, and not forward-auth, which
// would otherwise let it into every application behind the proxy.
func TestAHalfAuthenticatedSessionPassesNoRouteAndNoForwardAuth(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock), withForwardRules(t, `[]`))
	h.addUser("half@example.com", pw, false)
	owner := h.client()
	owner.mustLogin("half@example.com", pw)
	enrolTOTP(t, owner, clock)
	thief := h.client()
	if a := thief.login("half@example.com", pw); a.Status != http.StatusOK || !strings.Contains(a.Raw, `"second_factor_required":true`) {
		t.Fatalf("the password login: %d %s", a.Status, a.Raw)
	}
	for _, r := range []struct{ method, path string }{
		{"GET", "/v1/test"}, {"GET", "/v1/auth/verify"}, {"GET", "/v1/auth/sessions"},
		{"GET", "/v1/users/half@example.com"}, {"POST", "/v1/auth/logout/all"},
		{"DELETE", "/v1/auth/totp"}, {"POST", "/v1/auth/totp/enroll"},
	} {
		if a := thief.do(r.method, r.path, nil); a.Status != http.StatusUnauthorized {
			t.Errorf("%s %s with a half-authenticated session: %d, want 401", r.method, r.path, a.Status)
		}
	}
	if a := thief.forward("", asNginx("/app")); a.Status != http.StatusUnauthorized {
		t.Errorf("forward-auth with a half-authenticated session: %d, want 401", a.Status)
	}
	if a := owner.forward("", asNginx("/app")); a.Status != http.StatusOK {
		t.Errorf("forward-auth with the owner's full session: %d", a.Status)
	}
}

// The mailed link's address is ESAUTH_PUBLIC_URL's, whatever Host or
// X-Forwarded-Host the request that asked for it carried: a link pointing
// at the attacker's host would hand over the token (password-reset
// poisoning).
func TestTheRecoveryLinksHostIsNeverTheRequests(t *testing.T) {
	opt, smtp := withMail(t)
	h := newHarness(t, opt)
	h.addUser("poison@example.com", pw, false)
	c := h.client()
	a := c.doWith("POST", "/v1/auth/recovery", map[string]string{"email_address": "poison@example.com"},
		http.Header{"X-Forwarded-Host": {"evil.example"}, "X-Forwarded-Proto": {"https"}, "Forwarded": {"host=evil.example"}})
	expectStatus(t, a, http.StatusAccepted)
	msgs := smtp.Wait(t, 1, 10*time.Second)
	body := string(msgs[0].Data)
	if strings.Contains(body, "evil.example") || !strings.Contains(body, testPublicURL+ResetPasswordPath+"?token=") {
		t.Errorf("the recovery mail links elsewhere than %s:\n%s", testPublicURL, body)
	}
}

// Pages whose address holds a token, and pages with personal data, are
// never sent in a Referer nor kept in a cache.
func TestTokenAndPersonalPagesSetNoReferrerAndNoStore(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	for _, path := range []string{ResetPasswordPath + "?token=abc", VerifyEmailPath + "?token=abc", "/v1/test", "/v1/auth/sessions"} {
		a := c.do("GET", path, nil)
		if got := a.Header.Get("Referrer-Policy"); got != "no-referrer" {
			t.Errorf("%s: Referrer-Policy %q", path, got)
		}
		if got := a.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s: Cache-Control %q", path, got)
		}
	}
}

// return_to is a path on this site in every encoding an attacker tries:
// the OAuth start refuses the others (422) rather than redirecting there.
func TestReturnToIsNeverAnotherSite(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	c := h.client()
	for _, evil := range []string{"//evil.example", "/\\evil.example", "/\tevil.example", "https:evil.example",
		"https://evil.example", "\\\\evil.example", "/\r\nLocation: https://evil.example", " //evil.example", "javascript:alert(1)"} {
		a := c.doWith("GET", "/v1/auth/oauth/acme?return_to="+url.QueryEscape(evil), nil, http.Header{"Accept": {"application/json"}})
		if a.Status != http.StatusUnprocessableEntity {
			t.Errorf("return_to=%q: %d, want 422", evil, a.Status)
		}
	}
	// Encoded slashes stay a path on this site: the browser asks this host.
	a := c.doWith("GET", "/v1/auth/oauth/acme?return_to="+url.QueryEscape("/%2F%2Fevil.example"), nil, http.Header{"Accept": {"application/json"}})
	expectStatus(t, a, http.StatusOK)
}

// A code works once, and a recovery code once: replaying either is refused.
func TestCodesAndRecoveryCodesCannotBeReplayed(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock))
	h.addUser("replay@example.com", pw, false)
	c := h.client()
	c.mustLogin("replay@example.com", pw)
	secret, recovery := enrolTOTP(t, c, clock)
	clock.Advance(totp.Period)
	code, _ := totp.Code(secret, clock.Now())
	first, second := h.client(), h.client()
	expectStatus(t, first.login("replay@example.com", pw), http.StatusOK)
	expectStatus(t, second.login("replay@example.com", pw), http.StatusOK)
	expectStatus(t, first.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusOK)
	expectStatus(t, second.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusUnauthorized)
	third := h.client()
	expectStatus(t, third.login("replay@example.com", pw), http.StatusOK)
	expectStatus(t, third.do("POST", "/v1/auth/totp/verify", map[string]string{"recovery_code": recovery[0]}), http.StatusOK)
	fourth := h.client()
	expectStatus(t, fourth.login("replay@example.com", pw), http.StatusOK)
	expectStatus(t, fourth.do("POST", "/v1/auth/totp/verify", map[string]string{"recovery_code": recovery[0]}), http.StatusUnauthorized)
}
