package v1

import (
	"net/http"
	"net/url"
	"sync"
	"testing"
)

// oauthStateCookie is the value of c's state cookie: the attempt it
// started last.
func (c *client) oauthStateCookie() string {
	c.t.Helper()
	u, _ := url.Parse(c.h.srv.URL + stateCookiePath)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == stateCookieName {
			return ck.Value
		}
	}
	c.t.Fatal("no state cookie")
	return ""
}

// withStateCookie is asJSON with the state cookie value, as one who
// copied it would send it.
func withStateCookie(value string) http.Header {
	return http.Header{"Accept": {"application/json"}, "Cookie": {stateCookieName + "=" + value}}
}

// One authorization start logs in at most once: the state cookie is spent
// on the server, not only cleared in the browser, so a copy of it sent
// again with a fresh code of the same authorization request (same state,
// PKCE challenge and nonce) is refused (issue 17).
func TestAnOAuthStateCookieReplayedWithAFreshCodeIsRefused(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	c := h.client()
	authURL := c.oauthStart("/v1/auth/oauth/acme")
	copied := c.oauthStateCookie()
	// The provider gives two codes for the one authorization request.
	first, second := atProvider(t, authURL, "ada"), atProvider(t, authURL, "ada")
	expectStatus(t, c.doWith("GET", "/v1/auth/oauth/acme/callback?"+first, nil, asJSON), http.StatusOK)

	replay := h.client()
	a := replay.doWith("GET", "/v1/auth/oauth/acme/callback?"+second, nil, withStateCookie(copied))
	expectStatus(t, a, http.StatusUnauthorized)
	expectStatus(t, replay.do("GET", "/v1/test", nil), http.StatusUnauthorized)

	t.Run("a browser is sent to /?error=state_used", func(t *testing.T) {
		c := h.client().in(t)
		authURL := c.oauthStart("/v1/auth/oauth/acme")
		copied := c.oauthStateCookie()
		first, second := atProvider(t, authURL, "ada"), atProvider(t, authURL, "ada")
		expectStatus(t, c.doWith("GET", "/v1/auth/oauth/acme/callback?"+first, nil, asJSON), http.StatusOK)
		req, _ := http.NewRequest("GET", h.srv.URL+"/v1/auth/oauth/acme/callback?"+second, nil)
		req.Header.Set("Cookie", stateCookieName+"="+copied)
		res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/?error=state_used" {
			t.Errorf("replayed state cookie: %d to %q", res.StatusCode, res.Header.Get("Location"))
		}
	})
}

// Callbacks racing with one state cookie (each with its own code of the
// one authorization request) log in once: the state's record is spent
// by exactly one of them, before any code is redeemed.
func TestRacingOAuthCallbacksWithOneStateCookieLogInOnce(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	expectStatus(t, h.client().oauthLogin("ada"), http.StatusOK) // the account exists: every callback could log in
	c := h.client()
	authURL := c.oauthStart("/v1/auth/oauth/acme")
	copied := c.oauthStateCookie()
	const n = 4
	queries := make([]string, n)
	browsers := make([]*client, n)
	for i := range queries {
		queries[i] = atProvider(t, authURL, "ada")
		browsers[i] = h.client()
	}
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", h.srv.URL+"/v1/auth/oauth/acme/callback?"+queries[i], nil)
			req.Header = withStateCookie(copied)
			res, err := browsers[i].c.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			statuses[i] = res.StatusCode
		}()
	}
	wg.Wait()
	ok := 0
	for i, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
			expectStatus(t, browsers[i].do("GET", "/v1/test", nil), http.StatusOK)
		case http.StatusUnauthorized:
			expectStatus(t, browsers[i].do("GET", "/v1/test", nil), http.StatusUnauthorized)
		default:
			t.Errorf("a racing callback answered %d", s)
		}
	}
	if ok != 1 {
		t.Errorf("%d racing callbacks with one state cookie logged in, want exactly 1: %v", ok, statuses)
	}
}

// The state's record is written when the login starts: Elasticsearch
// refusing it is 503, and no state cookie is set.
func TestAnOAuthStartThatCannotStoreItsStateIs503(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	expectStatus(t, h.client().oauthLogin("ada"), http.StatusOK) // the tokens index exists
	blockWrites(t, h.store.TokensIndex())
	c := h.client()
	a := c.doWith("GET", "/v1/auth/oauth/acme", nil, asJSON)
	expectStatus(t, a, http.StatusServiceUnavailable)
	if sc := a.Header.Get("Set-Cookie"); sc != "" {
		t.Errorf("a start that stored no state set a cookie: %s", sc)
	}
}
