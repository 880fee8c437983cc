package v1

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"esauth/lib/errs"
	"esauth/lib/oauth"
	"esauth/lib/oauth/oauthtest"
)

// The provider login attacked from outside: a callback URL captured in
// one browser and opened in another (login and linking CSRF), and a state
// of one provider presented at another's callback (mix-up). Each test
// fails when the protection named above it is removed.

// refusalMessages are the answers' messages for the refusals these tests
// expect, by the reason the audit trail records. The tests check the
// reason, not only the status, where a later check (PKCE, the provider)
// would refuse the request too: a 401 alone would not show that the
// check under test is the one that stopped it.
var refusalMessages = map[string]string{
	"state_missing":      "was started in another browser",
	"state_mismatch":     "does not match the one this browser started",
	"link_session_ended": "Log in again, then link this provider.",
	"code_refused":       "The provider's answer could not be verified",
}

// visited is what a browser got back from one request to a callback.
type visited struct {
	status   int
	location string // a browser's redirect
	message  string // a JSON client's
	cookies  []*http.Cookie
}

// openCallback opens path in c's browser (with c's cookies), as a JSON
// client or, with browser, as a top-level navigation whose redirect is
// not followed.
func (c *client) openCallback(path string, browser bool) visited {
	c.t.Helper()
	if !browser {
		a := c.doWith(http.MethodGet, path, nil, asJSON)
		return visited{status: a.Status, message: a.Message, cookies: (&http.Response{Header: a.Header}).Cookies()}
	}
	nav := *c.c
	nav.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	res, err := nav.Get(c.url(path))
	if err != nil {
		c.t.Fatal(err)
	}
	res.Body.Close()
	return visited{status: res.StatusCode, location: res.Header.Get("Location"), cookies: res.Cookies()}
}

// refusedFor fails the test unless v is the refusal for reason: 401 with
// its message for a JSON client, the redirect to /?error=<reason> for a
// browser.
func (v visited) refusedFor(t *testing.T, reason string) {
	t.Helper()
	if v.location != "" || v.status == http.StatusFound {
		if v.status != http.StatusFound || v.location != "/?error="+reason {
			t.Errorf("answer %d to %q; want the redirect to /?error=%s", v.status, v.location, reason)
		}
		return
	}
	if v.status != http.StatusUnauthorized || !strings.Contains(v.message, refusalMessages[reason]) {
		t.Errorf("answer %d %q; want 401 for %s (%q)", v.status, v.message, reason, refusalMessages[reason])
	}
}

// setsNoSession fails the test if the answer set a session cookie.
func (v visited) setsNoSession(t *testing.T) {
	t.Helper()
	for _, ck := range v.cookies {
		if ck.Name == "session" {
			t.Errorf("the refused callback set a session cookie: %s", ck)
		}
	}
}

// plantStateCookie puts value in c's browser as its state cookie, as an
// attacker who can set cookies for the site would (a sibling subdomain:
// cookie tossing; the cookie is HttpOnly, not immune to that).
func (c *client) plantStateCookie(value string) {
	u, _ := url.Parse(c.h.srv.URL + stateCookiePath)
	c.jar.SetCookies(u, []*http.Cookie{{Name: stateCookieName, Value: value, Path: stateCookiePath}})
}

// whoAmI is the email of the account c's session is logged in to, "" when
// /v1/test answers 401.
func (c *client) whoAmI(t *testing.T) string {
	t.Helper()
	a := c.do("GET", "/v1/test", nil)
	switch {
	case a.Status == http.StatusUnauthorized:
		return ""
	case a.Status != http.StatusOK:
		t.Fatalf("/v1/test: %d %s", a.Status, a.Raw)
	}
	for _, email := range []string{"victim@example.com", "attacker@example.com", "grace@example.com", "ada@example.com"} {
		if strings.Contains(a.Raw, email) {
			return email
		}
	}
	t.Fatalf("/v1/test names none of the tests' accounts: %s", a.Raw)
	return ""
}

// Login CSRF: the attacker starts a provider login in their own browser,
// logs in at the provider as themself (grace, who has an esauth account),
// and makes the victim's browser open the callback URL they captured.
// Whatever the victim's browser holds (nothing, a provider login of its
// own under way, a session of its own), it is not logged in as the
// attacker and gets no session cookie.
//
// Catches: v1/oauth.go (oauthFlow).callback binding the callback to the
// browser that started it: the callback's state must equal the state
// cookie's (the ConstantTimeCompare; state_mismatch rows), and the cookie
// must be there and decode (state_missing rows). Both sit in front of
// later refusals (PKCE refuses the attacker's code with the victim's
// verifier as code_refused; a zero state fails the comparison as
// state_mismatch), so the rows check the reason, not only the 401.
func TestLoginCSRFWithAnAttackersCallbackLogsTheVictimInAsNobody(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	h.addUser("victim@example.com", pw, false)
	// The attacker's provider account has its esauth account: a callback
	// that got through would log in to it.
	expectStatus(t, h.client().oauthLogin("grace"), http.StatusOK)

	for _, tc := range []struct {
		name     string
		loggedIn bool // the victim is logged in to esauth, as themself
		ownFlow  bool // the victim started a provider login of its own
		browser  bool // a top-level navigation, not a JSON client
		reason   string
	}{
		{"a browser with no state cookie", false, false, true, "state_missing"},
		{"a JSON client with no state cookie", false, false, false, "state_missing"},
		{"a browser with its own login under way", false, true, true, "state_mismatch"},
		{"a JSON client with its own login under way", false, true, false, "state_mismatch"},
		{"logged in as the victim", true, false, true, "state_missing"},
		{"logged in as the victim, its own login under way", true, true, false, "state_mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attacker := h.client().in(t)
			captured := atProvider(t, attacker.oauthStart("/v1/auth/oauth/acme"), "grace")

			victim := h.client().in(t)
			if tc.loggedIn {
				victim.mustLogin("victim@example.com", pw)
			}
			if tc.ownFlow {
				victim.oauthStart("/v1/auth/oauth/acme") // and leaves for the provider
			}
			before := victim.cookie()
			got := victim.openCallback("/v1/auth/oauth/acme/callback?"+captured, tc.browser)
			got.refusedFor(t, tc.reason)
			got.setsNoSession(t)
			if victim.cookie() != before {
				t.Errorf("the victim's session cookie changed")
			}
			want := ""
			if tc.loggedIn {
				want = "victim@example.com" // the victim's own session, untouched
			}
			if who := victim.whoAmI(t); who != want {
				t.Errorf("after the attacker's callback the victim is logged in as %q, want %q", who, want)
			}

			// The captured callback was a live login: in the browser that
			// started it, it logs the attacker in. So the victim was refused
			// for being another browser, not for a dead code.
			expectStatus(t, attacker.doWith("GET", "/v1/auth/oauth/acme/callback?"+captured, nil, asJSON), http.StatusOK)
			if who := attacker.whoAmI(t); who != "grace@example.com" {
				t.Errorf("the attacker's own callback logged in %q", who)
			}
		})
	}
}

// Linking CSRF: the attacker, logged in to esauth as themself, starts a
// link, logs in at the provider as their provider account (grace) and
// makes the victim's browser, logged in as the victim, open the callback.
// Linked to the victim, grace's provider login would enter the victim's
// account. It is refused, the victim has no identity and grace's provider
// account is linked to nobody.
//
// Catches, by row: v1/oauth.go (oauthFlow).callback's state cookie and
// state comparison (state_missing, state_mismatch: the link started in
// another browser); and, when the attacker also planted their own state
// cookie in the victim's browser so that every state check passes,
// lib/account/identity.go (*Service).Link's check that the request's
// session is the one that started the link (a.User.Email != linkTo ||
// a.User.SessionEpoch != linkEpoch). Without it, Link links the provider
// account to the request's user: the victim.
func TestLinkingCSRFLinksTheAttackersProviderAccountToNobody(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	h.addUser("attacker@example.com", pw, false)
	h.addUser("victim@example.com", pw, false)
	ctx := context.Background()

	for _, tc := range []struct {
		name    string
		ownLink bool // the victim started a link of its own
		planted bool // the attacker's state cookie is in the victim's browser
		reason  string
	}{
		{"no state cookie", false, false, "state_missing"},
		{"its own link under way", true, false, "state_mismatch"},
		{"the attacker's state cookie planted", false, true, "link_session_ended"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			attacker := h.client().in(t)
			attacker.mustLogin("attacker@example.com", pw)
			captured := atProvider(t, attacker.oauthStart("/v1/auth/oauth/acme/link"), "grace")
			attackerState := attacker.oauthStateCookie()

			victim := h.client().in(t)
			victim.mustLogin("victim@example.com", pw)
			if tc.ownLink {
				victim.oauthStart("/v1/auth/oauth/acme/link")
			}
			if tc.planted {
				victim.plantStateCookie(attackerState)
			}
			before := victim.cookie()
			got := victim.openCallback("/v1/auth/oauth/acme/callback?"+captured, false)
			got.refusedFor(t, tc.reason)
			got.setsNoSession(t)

			var ids []IdentityView
			victim.do("GET", "/v1/auth/identities", nil).data(t, &ids)
			if len(ids) != 0 {
				t.Errorf("the victim's identities after the attacker's callback: %+v", ids)
			}
			if id, err := h.store.GetIdentity(ctx, "acme", oauthtest.Subject("grace")); !errs.Is(err, errs.NotFound) {
				t.Errorf("the attacker's provider account is linked: %+v %v", id, err)
			}
			if victim.cookie() != before || victim.whoAmI(t) != "victim@example.com" {
				t.Errorf("the victim's session changed")
			}
			if tc.planted {
				return // the attacker's attempt is spent: it links nothing now
			}
			// The captured callback was live: in the attacker's browser it
			// links grace to the attacker, the user who started it. Undone
			// for the next row.
			expectStatus(t, attacker.doWith("GET", "/v1/auth/oauth/acme/callback?"+captured, nil, asJSON), http.StatusOK)
			if id, err := h.store.GetIdentity(ctx, "acme", oauthtest.Subject("grace")); err != nil || id.Email != "attacker@example.com" {
				t.Fatalf("the attacker's own link: %+v %v", id, err)
			}
			expectStatus(t, attacker.do("DELETE", "/v1/auth/identities/acme", nil), http.StatusOK)
		})
	}
}

// tokenRequests records the codes a provider's token endpoint was asked
// to redeem.
type tokenRequests struct {
	mu    sync.Mutex
	codes []string
}

func (r *tokenRequests) saw(code string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.codes {
		if c == code {
			return true
		}
	}
	return false
}

// startRecordedOP runs a provider of its own (its own issuer, keys and
// codes) with one client, recording every code redeemed at it.
func startRecordedOP(t testing.TB, c oauthtest.Client) (issuer string, redeemed *tokenRequests) {
	t.Helper()
	redeemed = &tokenRequests{}
	var op http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			if f, err := url.ParseQuery(string(body)); err == nil && f.Get("grant_type") == "authorization_code" {
				redeemed.mu.Lock()
				redeemed.codes = append(redeemed.codes, f.Get("code"))
				redeemed.mu.Unlock()
			}
		}
		op.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	op = oauthtest.Handler(srv.URL, oauthPeople, c)
	return srv.URL, redeemed
}

// withTwoIssuers is withOIDC with "acme" and "acme2" at two providers of
// their own, as two configured providers of different operators are,
// each recording the codes redeemed at it.
func withTwoIssuers(t testing.TB) (opt harnessOption, acme, acme2 *tokenRequests) {
	issuerA, acme := startRecordedOP(t, oauthtest.Client{ID: "web", Secret: "web-secret", RedirectURI: oauthRedirect})
	issuerB, acme2 := startRecordedOP(t, oauthtest.Client{ID: "web2", Secret: "web2-secret", RedirectURI: oauthRedirect2})
	state := securecookie.New(securecookie.GenerateRandomKey(32), securecookie.GenerateRandomKey(32)).MaxAge(int(StateTTL / time.Second))
	state.SetSerializer(securecookie.JSONEncoder{})
	return func(d *Deps) {
		d.OAuth = OAuth{
			Providers: map[string]oauth.Provider{
				"acme":  oauth.NewOIDC("acme", issuerA, "web", "web-secret", nil, oauth.Options{RedirectURL: oauthRedirect}),
				"acme2": oauth.NewOIDC("acme2", issuerB, "web2", "web2-secret", nil, oauth.Options{RedirectURL: oauthRedirect2}),
			},
			State: state,
		}
	}, acme, acme2
}

// Provider mix-up: a browser that started a login with acme (A) comes
// back at acme2's (B's) callback, with A's state and either A's code (B
// would be handed a code of A's to redeem) or a code B issued to the
// attacker; or a code B issued comes back at A's callback with A's state.
// Each is refused, logs nobody in and makes no account, and its code is
// never redeemed at B.
//
// Catches, by row: v1/oauth.go (oauthFlow).callback's check that the
// state cookie's provider is the callback's (st.Provider != p.Name()):
// without it the rows at B's callback pass the state check and their
// code goes to B's token endpoint. The row at A's callback passes every
// esauth check by design (A's state, A's cookie, A's route): its code is
// redeemed at A, whose token endpoint refuses a code it did not issue
// (lib/oauth exchange: code_refused). That row pins the outcome (the code
// goes to the route's provider only, the refusal logs nobody in); no one
// esauth check is its last line: with PKCE and the nonce check disabled it
// still passes, the provider refusing first. Those checks are tested
// alone in lib/oauth's TestOIDCRefusals.
func TestAProviderMixUpRedeemsNothingAtTheOtherProvider(t *testing.T) {
	opt, atA, atB := withTwoIssuers(t)
	h := newHarness(t, opt)
	ctx := context.Background()

	for _, tc := range []struct {
		name     string
		callback string // whose callback the browser is sent to
		codeOf   string // whose code it carries
		reason   string
	}{
		{"A's state and code at B's callback", "acme2", "acme", "state_mismatch"},
		{"A's state with B's code at B's callback", "acme2", "acme2", "state_mismatch"},
		{"B's code at A's callback with A's state", "acme", "acme2", "code_refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			victim := h.client().in(t)
			fromA, _ := url.ParseQuery(atProvider(t, victim.oauthStart("/v1/auth/oauth/acme"), "ada"))
			code := fromA.Get("code")
			if tc.codeOf == "acme2" {
				// The attacker's own login at B, as grace.
				fromB, _ := url.ParseQuery(atProvider(t, h.client().in(t).oauthStart("/v1/auth/oauth/acme2"), "grace"))
				code = fromB.Get("code")
			}
			q := url.Values{"code": {code}, "state": {fromA.Get("state")}}
			got := victim.openCallback("/v1/auth/oauth/"+tc.callback+"/callback?"+q.Encode(), false)
			got.refusedFor(t, tc.reason)
			got.setsNoSession(t)
			if who := victim.whoAmI(t); who != "" {
				t.Errorf("the mixed-up callback logged in %s", who)
			}
			if atB.saw(code) {
				t.Errorf("the code was redeemed at B's token endpoint")
			}
			if wantAtA := tc.callback == "acme"; atA.saw(code) != wantAtA {
				t.Errorf("the code redeemed at A: %v, want %v", atA.saw(code), wantAtA)
			}
			for _, email := range []string{"ada@example.com", "grace@example.com"} {
				if _, err := h.store.GetUser(ctx, email); !errs.Is(err, errs.NotFound) {
					t.Errorf("an account was made for %s: %v", email, err)
				}
			}
		})
	}

	// The setup is live: A's own code at A's callback logs in, and B's at
	// B's. So the refusals above were the mix-up's.
	// (Two people: the second provider's first login of an address the
	// first made an account for would be refused as account_exists.)
	for p, person := range map[string]string{"acme": "ada", "acme2": "grace"} {
		c := h.client()
		q := atProvider(t, c.oauthStart("/v1/auth/oauth/"+p), person)
		expectStatus(t, c.doWith("GET", "/v1/auth/oauth/"+p+"/callback?"+q, nil, asJSON), http.StatusOK)
		if who := c.whoAmI(t); who != person+"@example.com" {
			t.Errorf("%s's own login logged in %q", p, who)
		}
	}
}
