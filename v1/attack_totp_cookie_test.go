package v1

import (
	"net/http"
	"net/url"
	"testing"

	"esauth/lib/totp"
)

// stolenCookie is a new browser holding a copy of c's cookies: what an
// attacker who stole the session cookie has, and nothing more.
func stolenCookie(h *harness, c *client) *client {
	thief := h.client()
	u, _ := url.Parse(h.srv.URL + "/")
	thief.jar.SetCookies(u, c.jar.Cookies(u))
	return thief
}

// A stolen cookie alone cannot take over the second factor: turning TOTP
// off needs the password and a code (TestTurningTOTPOffNeedsThePasswordAndACode
// covers the owner's side), enrolling needs the password, and while TOTP
// is on no new enrolment can replace the secret. After every attempt the
// owner's authenticator still works at the next login.
func TestAStolenCookieAloneCannotDisableOrReplaceTOTP(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock))
	h.addUser("owner@example.com", pw, false)
	owner := h.client()
	owner.mustLogin("owner@example.com", pw)
	secret, _ := enrolTOTP(t, owner, clock)
	// A fresh, fully authenticated session, as the thief would steal it.
	owner = h.client()
	expectStatus(t, owner.login("owner@example.com", pw), http.StatusOK)
	clock.Advance(totp.Period)
	code, _ := totp.Code(secret, clock.Now())
	expectStatus(t, owner.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusOK)
	thief := stolenCookie(h, owner)
	expectStatus(t, thief.do("GET", "/v1/test", nil), http.StatusOK) // the cookie works

	for _, tt := range []struct {
		name         string
		method, path string
		body         any
	}{
		{"disable without password or code", "DELETE", "/v1/auth/totp", map[string]string{}},
		{"disable with a wrong password", "DELETE", "/v1/auth/totp", map[string]string{"password": "a guess at the password", "code": "000000"}},
		{"disable with the password but no code", "DELETE", "/v1/auth/totp", map[string]string{"password": "a guess at the password"}},
		{"enrol a new app without the password", "POST", "/v1/auth/totp/enroll", map[string]string{}},
		{"enrol a new app with a wrong password", "POST", "/v1/auth/totp/enroll", map[string]string{"password": "a guess at the password"}},
		{"confirm an enrolment nobody started", "POST", "/v1/auth/totp/confirm", map[string]string{"code": "123456"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := thief.in(t).do(tt.method, tt.path, tt.body)
			if a.Status < 400 || a.Status >= 500 {
				t.Fatalf("%s %s with a stolen cookie: %d %s", tt.method, tt.path, a.Status, a.Raw)
			}
		})
	}
	// Even the password (say, phished too) does not replace the secret
	// while TOTP is on.
	expectStatus(t, thief.do("POST", "/v1/auth/totp/enroll", map[string]string{"password": pw}), http.StatusConflict)

	next := h.client()
	expectStatus(t, next.login("owner@example.com", pw), http.StatusOK)
	clock.Advance(totp.Period)
	code, _ = totp.Code(secret, clock.Now())
	expectStatus(t, next.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusOK)
}
