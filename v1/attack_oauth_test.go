package v1

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"esauth/lib/errs"
	"esauth/lib/oauth/oauthtest"
)

// plantStateCookie copies from's OAuth state cookie into to's browser, as
// an attacker who can set cookies for the site (a sibling subdomain, an
// injected header) would.
func plantStateCookie(t *testing.T, h *harness, from, to *client) {
	t.Helper()
	u, _ := url.Parse(h.srv.URL + "/v1/auth/oauth/acme/callback")
	var planted []*http.Cookie
	for _, c := range from.jar.Cookies(u) {
		if c.Name == "esauth_oauth" {
			planted = append(planted, &http.Cookie{Name: c.Name, Value: c.Value, Path: "/v1/auth/oauth/"})
		}
	}
	if len(planted) == 0 {
		t.Fatal("the attacker's browser has no state cookie")
	}
	to.jar.SetCookies(u, planted)
}

// Linking CSRF from outside: an attacker logged in as themself starts a
// link, logs in at the provider with their own provider account and makes
// the victim's browser, logged in as the victim, open the callback. If it
// worked, the attacker's provider account would log in to the victim's
// account from then on. Refused by the state bound to the browser that
// started it (lib/oauth's state cookie, checked by the callback), and,
// with the attacker's cookie planted in the victim's browser too, by the
// state record naming the user who started the link (account.Link checks
// it against the session's user).
func TestAnAttackersLinkCallbackLinksNothingToTheVictim(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	h.addUser("victim@example.com", pw, false)
	h.addUser("attacker@example.com", pw, false)
	for _, tt := range []struct {
		name  string
		plant bool // the attacker's state cookie planted in the victim's browser
		own   bool // the victim started a link of their own first (a state cookie of theirs)
	}{
		{"the victim's browser has no state", false, false},
		{"the victim's browser has its own state", false, true},
		{"the attacker's state cookie is planted in the victim's browser", true, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			attacker, victim := h.client().in(t), h.client().in(t)
			attacker.mustLogin("attacker@example.com", pw)
			victim.mustLogin("victim@example.com", pw)
			q := atProvider(t, attacker.oauthStart("/v1/auth/oauth/acme/link"), "grace")
			if tt.own {
				victim.oauthStart("/v1/auth/oauth/acme/link")
			}
			if tt.plant {
				plantStateCookie(t, h, attacker, victim)
			}
			a := victim.doWith("GET", "/v1/auth/oauth/acme/callback?"+q, nil, asJSON)
			if a.Status == http.StatusOK {
				t.Fatalf("the attacker's callback in the victim's browser: %d %s", a.Status, a.Raw)
			}
			var ids []IdentityView
			victim.do("GET", "/v1/auth/identities", nil).data(t, &ids)
			if len(ids) != 0 {
				t.Errorf("the victim's account has identities %+v", ids)
			}
			if id, err := h.store.GetIdentity(context.Background(), "acme", oauthtest.Subject("grace")); !errs.Is(err, errs.NotFound) {
				t.Errorf("the attacker's provider account was linked: %+v, %v", id, err)
			}
			// And the victim is still themself.
			if a := victim.do("GET", "/v1/test", nil); a.Status != http.StatusOK || !strings.Contains(a.Raw, "victim@example.com") {
				t.Errorf("the victim's session after the attack: %d %s", a.Status, a.Raw)
			}
		})
	}
}

// Login CSRF: the attacker's own callback (the code and state of the
// attacker's provider login) opened in the victim's browser, logged in as
// the victim, with no state or the victim's own. Refused by the state
// cookie (the callback's match of cookie and state), so the victim is
// never logged in to the attacker's account and stays logged in as
// themself; the refusal spends nothing of the attacker's, whose own
// browser can still finish it.
func TestAnAttackersLoginCallbackInTheVictimsBrowserIsRefusedWithoutItsState(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	h.addUser("victim@example.com", pw, false)
	for _, own := range []bool{false, true} {
		t.Run(map[bool]string{false: "no state of its own", true: "its own state"}[own], func(t *testing.T) {
			attacker, victim := h.client().in(t), h.client().in(t)
			victim.mustLogin("victim@example.com", pw)
			q := atProvider(t, attacker.oauthStart("/v1/auth/oauth/acme"), "ada")
			if own {
				victim.oauthStart("/v1/auth/oauth/acme")
			}
			a := victim.doWith("GET", "/v1/auth/oauth/acme/callback?"+q, nil, asJSON)
			expectStatus(t, a, http.StatusUnauthorized)
			if a := victim.do("GET", "/v1/test", nil); a.Status != http.StatusOK || !strings.Contains(a.Raw, "victim@example.com") {
				t.Errorf("the victim's session after the attack: %d %s", a.Status, a.Raw)
			}
			// The attacker's callback is spent for nobody else either: the
			// attacker's own browser can still finish it (the refusal
			// above consumed nothing of theirs).
			expectStatus(t, attacker.doWith("GET", "/v1/auth/oauth/acme/callback?"+q, nil, asJSON), http.StatusOK)
		})
	}
}

// Mix-up between two providers (acme and acme2, two clients of one
// provider): a state started for one presented at the other's callback,
// and a code the other issued presented with this one's state. Each is
// refused and logs nobody in: the state record names its provider, and a
// code is redeemed only by the client it was issued to.
func TestAProviderMixUpLogsNobodyIn(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	t.Run("acme's state at acme2's callback", func(t *testing.T) {
		c := h.client().in(t)
		q := atProvider(t, c.oauthStart("/v1/auth/oauth/acme"), "ada")
		a := c.doWith("GET", "/v1/auth/oauth/acme2/callback?"+q, nil, asJSON)
		if a.Status == http.StatusOK {
			t.Fatalf("acme's callback at acme2: %d %s", a.Status, a.Raw)
		}
		expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	})
	t.Run("acme2's code with acme's state", func(t *testing.T) {
		c, other := h.client().in(t), h.client().in(t)
		mine, _ := url.ParseQuery(atProvider(t, c.oauthStart("/v1/auth/oauth/acme"), "ada"))
		theirs, _ := url.ParseQuery(atProvider(t, other.oauthStart("/v1/auth/oauth/acme2"), "ada"))
		mine.Set("code", theirs.Get("code"))
		a := c.doWith("GET", "/v1/auth/oauth/acme/callback?"+mine.Encode(), nil, asJSON)
		if a.Status == http.StatusOK {
			t.Fatalf("acme2's code at acme's callback: %d %s", a.Status, a.Raw)
		}
		expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	})
	if _, err := h.store.GetUser(context.Background(), "ada@example.com"); !errs.Is(err, errs.NotFound) {
		t.Errorf("a mix-up made an account: %v", err)
	}
}
