package v1

import (
	"context"
	"net/http"
	"net/url"
	"testing"
	"time"

	"esauth/lib/totp"
)

// linkedTOTPUser makes a password user email with TOTP on, whose account
// is linked to username's account at acme, and returns the TOTP secret.
func linkedTOTPUser(t *testing.T, h *harness, clock *fakeClock, email, username string) string {
	t.Helper()
	h.addUser(email, pw, false)
	c := h.client()
	c.mustLogin(email, pw)
	secret, _ := enrolTOTP(t, c, clock)
	q := atProvider(t, c.oauthStart("/v1/auth/oauth/acme/link"), username)
	expectStatus(t, c.doWith("GET", "/v1/auth/oauth/acme/callback?"+q, nil, asJSON), http.StatusOK)
	return secret
}

type oauthPendingAnswer struct {
	Email                string `json:"email_address"`
	SecondFactorRequired bool   `json:"second_factor_required"`
}

// A provider account is one factor, as a password is: the provider login
// of a user with TOTP ends half-authenticated, exactly as a password
// login does, and the session reaches nothing until the code (issue 17).
func TestAProviderLoginOfATOTPUserOwesTheCode(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withOIDC(t), withClock(clock))
	secret := linkedTOTPUser(t, h, clock, "bob@example.com", "ada")

	since := time.Now() // the audit trail's clock is the real one
	c := h.client()
	a := c.oauthLogin("ada")
	expectStatus(t, a, http.StatusOK)
	var in oauthPendingAnswer
	a.data(t, &in)
	if in.Email != "bob@example.com" || !in.SecondFactorRequired || c.cookie() == "" {
		t.Errorf("provider login of a TOTP user: %s", a.Raw)
	}
	for _, path := range []string{"/v1/test", "/v1/auth/verify", "/v1/auth/sessions", "/v1/auth/identities"} {
		expectStatus(t, c.do("GET", path, nil), http.StatusUnauthorized)
	}
	expectStatus(t, c.do("POST", "/v1/auth/oauth/acme/link", nil), http.StatusUnauthorized)
	expectStatus(t, c.do("POST", "/v1/auth/totp/verify", map[string]string{"code": "000000"}), http.StatusUnauthorized)
	clock.Advance(30 * time.Second) // the code that confirmed the enrolment is spent
	code, _ := totp.Code(secret, clock.Now())
	expectStatus(t, c.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusOK)
	expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusOK)

	// The trail reads as a password login that owed its code: the code
	// was asked for, a wrong one failed, the right one passed and the
	// login succeeded; no oauth_login claims a login before the code.
	h.flushAudit()
	events, _, err := h.store.ListEvents(context.Background(), "bob@example.com", since, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range events {
		seen[e.Event+" "+e.Outcome]++
	}
	for _, want := range []string{"second_factor_required success", "second_factor_failed failure", "second_factor_passed success", "login_success success"} {
		if seen[want] != 1 {
			t.Errorf("%d events %q, want 1, in %v", seen[want], want, seen)
		}
	}
	if seen["oauth_login success"] != 0 {
		t.Errorf("an oauth_login event for a login that still owed its code: %v", seen)
	}

	t.Run("a browser is sent to the code page, return_to kept", func(t *testing.T) {
		b := h.client().in(t)
		b.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		get := func(path string) *http.Response {
			res, err := b.c.Get(h.srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			return res
		}
		res := get("/v1/auth/oauth/acme?return_to=" + url.QueryEscape("/dashboard?tab=sessions"))
		if res.StatusCode != http.StatusFound {
			t.Fatalf("start: %d", res.StatusCode)
		}
		res = get("/v1/auth/oauth/acme/callback?" + atProvider(t, res.Header.Get("Location"), "ada"))
		want := "/login/code?return_to=" + url.QueryEscape("/dashboard?tab=sessions")
		if res.StatusCode != http.StatusFound || res.Header.Get("Location") != want {
			t.Fatalf("callback: %d to %q; want 302 to %q", res.StatusCode, res.Header.Get("Location"), want)
		}
		expectStatus(t, b.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	})
}

// With ESAUTH_OAUTH_TRUST_PROVIDER_MFA the provider is trusted to have
// asked for a second factor of its own: the same login is a full one.
func TestAProviderTrustedForMFALogsATOTPUserInFully(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withOIDC(t), withClock(clock), func(d *Deps) { d.OAuth.TrustProviderMFA = true })
	linkedTOTPUser(t, h, clock, "bob@example.com", "ada")
	c := h.client()
	a := c.oauthLogin("ada")
	expectStatus(t, a, http.StatusOK)
	var in oauthPendingAnswer
	a.data(t, &in)
	if in.Email != "bob@example.com" || in.SecondFactorRequired {
		t.Errorf("trusted provider login of a TOTP user: %s", a.Raw)
	}
	expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusOK)
	// The code is not owed: there is no pending session to verify.
	expectStatus(t, c.do("POST", "/v1/auth/totp/verify", map[string]string{"code": "000000"}), http.StatusUnauthorized)
}
