package v1

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"esauth/lib/errs"
	"esauth/lib/oauth"
	"esauth/lib/oauth/oauthtest"
	"esauth/lib/user"
)

// The provider sends the browser to this address; the tests stop the
// browser there and hand its query to the harness's callback themselves.
const (
	oauthRedirect  = "http://esauth.test/v1/auth/oauth/acme/callback"
	oauthRedirect2 = "http://esauth.test/v1/auth/oauth/acme2/callback"
)

var oauthPeople = []oauthtest.User{
	{Username: "ada", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", EmailVerified: true},
	{Username: "grace", FirstName: "Grace", LastName: "Hopper", Email: "grace@example.com", EmailVerified: true},
	{Username: "eve", FirstName: "Eve", LastName: "Unverified", Email: "eve@example.com", EmailVerified: false},
	{Username: "mallory", FirstName: "Mal", LastName: "Lory", Email: "bob@example.com", EmailVerified: true},
}

// withOIDC gives the server two OpenID Connect providers, "acme" and
// "acme2": two clients of one real provider running in the test process.
func withOIDC(t testing.TB) harnessOption { return withOIDCClock(t, nil) }

// withOIDCClock is withOIDC with the clock that checks ID-token expiry.
func withOIDCClock(t testing.TB, now func() time.Time) harnessOption {
	op := oauthtest.Start(t, oauthPeople,
		oauthtest.Client{ID: "web", Secret: "web-secret", RedirectURI: oauthRedirect},
		oauthtest.Client{ID: "web2", Secret: "web2-secret", RedirectURI: oauthRedirect2})
	keys := securecookie.GenerateRandomKey(32)
	state := securecookie.New(keys, securecookie.GenerateRandomKey(32)).MaxAge(int(StateTTL / time.Second))
	state.SetSerializer(securecookie.JSONEncoder{})
	return func(d *Deps) {
		d.OAuth = OAuth{
			Providers: map[string]oauth.Provider{
				"acme":  oauth.NewOIDC("acme", op.URL, "web", "web-secret", nil, oauth.Options{RedirectURL: oauthRedirect, Now: now}),
				"acme2": oauth.NewOIDC("acme2", op.URL, "web2", "web2-secret", nil, oauth.Options{RedirectURL: oauthRedirect2, Now: now}),
			},
			State: state,
		}
	}
}

var asJSON = http.Header{"Accept": {"application/json"}}

// oauthStart starts a login (or, with link, a link) with acme in c's
// browser and returns the provider's address.
func (c *client) oauthStart(path string) string {
	c.t.Helper()
	method := http.MethodGet
	if strings.HasSuffix(path, "/link") {
		method = http.MethodPost
	}
	a := c.doWith(method, path, nil, asJSON)
	if a.Status != http.StatusOK {
		c.t.Fatalf("%s: %d %s", path, a.Status, a.Raw)
	}
	var v struct {
		URL string `json:"authorization_url"`
	}
	if err := jsonUnmarshal(string(a.Data), &v); err != nil || v.URL == "" {
		c.t.Fatalf("%s: no authorization_url in %s", path, a.Raw)
	}
	return v.URL
}

// atProvider logs username in at the provider and returns the callback
// query it sends the browser back with.
func atProvider(t testing.TB, authURL, username string) string {
	t.Helper()
	return oauthtest.LogIn(t, oauthtest.Browser("http://esauth.test/"), authURL, username).RawQuery
}

// oauthLogin runs the whole login with acme as username in c's browser.
func (c *client) oauthLogin(username string) answer {
	c.t.Helper()
	q := atProvider(c.t, c.oauthStart("/v1/auth/oauth/acme"), username)
	return c.doWith(http.MethodGet, "/v1/auth/oauth/acme/callback?"+q, nil, asJSON)
}

type oauthLoginAnswer struct {
	Email    string `json:"email_address"`
	Provider string `json:"provider"`
	Created  bool   `json:"created"`
}

func TestOIDCSignupLoginAndLogout(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	c := h.client()
	a := c.oauthLogin("ada")
	expectStatus(t, a, http.StatusOK)
	var got oauthLoginAnswer
	a.data(t, &got)
	if got != (oauthLoginAnswer{"ada@example.com", "acme", true}) {
		t.Errorf("first login = %+v; want the account made for ada@example.com", got)
	}
	if a := c.do("GET", "/v1/test", nil); a.Status != http.StatusOK || !strings.Contains(a.Raw, "ada@example.com") {
		t.Fatalf("/v1/test with the cookie of a provider login: %d %s", a.Status, a.Raw)
	}
	u, err := h.store.GetUser(context.Background(), "ada@example.com")
	if err != nil || u.PasswordHash != "" || u.FirstName != "Ada" || u.LastName != "Lovelace" {
		t.Errorf("the account made = %+v, %v; want Ada Lovelace without a password", u, err)
	}
	// No password logs in to it: the same 401 as a wrong one.
	if a := h.client().login("ada@example.com", "any password at all"); a.Status != http.StatusUnauthorized {
		t.Errorf("password login to an account without a password: %d", a.Status)
	}
	expectStatus(t, c.do("POST", "/v1/auth/logout", nil), http.StatusOK)
	expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusUnauthorized)

	again := h.client()
	a = again.oauthLogin("ada")
	expectStatus(t, a, http.StatusOK)
	a.data(t, &got)
	if got.Created || got.Email != "ada@example.com" {
		t.Errorf("second login = %+v; want the same account, not a new one", got)
	}
	expectStatus(t, again.do("GET", "/v1/test", nil), http.StatusOK)
}

func TestOAuthCallbacksThatMustNotLogIn(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	h.addUser("grace@example.com", pw, false) // a password account with the provider's email

	t.Run("a state cookie from another browser", func(t *testing.T) {
		victim, attacker := h.client().in(t), h.client().in(t)
		q := atProvider(t, victim.oauthStart("/v1/auth/oauth/acme"), "ada")
		attacker.oauthStart("/v1/auth/oauth/acme") // the attacker's own, other state
		a := attacker.doWith("GET", "/v1/auth/oauth/acme/callback?"+q, nil, asJSON)
		expectStatus(t, a, http.StatusUnauthorized)
		// Refused for the state, before the code is even redeemed (PKCE
		// would refuse it next).
		if !strings.Contains(a.Message, "does not match the one this browser started") {
			t.Errorf("message %q; want the state mismatch", a.Message)
		}
	})
	t.Run("no state cookie", func(t *testing.T) {
		q := atProvider(t, h.client().in(t).oauthStart("/v1/auth/oauth/acme"), "ada")
		expectStatus(t, h.client().in(t).doWith("GET", "/v1/auth/oauth/acme/callback?"+q, nil, asJSON), http.StatusUnauthorized)
	})
	t.Run("a wrong or missing state", func(t *testing.T) {
		c := h.client().in(t)
		q, _ := url.ParseQuery(atProvider(t, c.oauthStart("/v1/auth/oauth/acme"), "ada"))
		for _, bad := range []string{"not-the-state", ""} {
			c2 := h.client().in(t)
			q2, _ := url.ParseQuery(atProvider(t, c2.oauthStart("/v1/auth/oauth/acme"), "ada"))
			q2.Set("state", bad)
			q2.Set("code", q.Get("code"))
			a := c2.doWith("GET", "/v1/auth/oauth/acme/callback?"+q2.Encode(), nil, asJSON)
			expectStatus(t, a, http.StatusUnauthorized)
			if !strings.Contains(a.Message, "does not match the one this browser started") {
				t.Errorf("state %q: message %q; want the state mismatch", bad, a.Message)
			}
		}
	})
	t.Run("a replayed callback and a replayed code", func(t *testing.T) {
		c := h.client().in(t)
		q := atProvider(t, c.oauthStart("/v1/auth/oauth/acme"), "ada")
		expectStatus(t, c.doWith("GET", "/v1/auth/oauth/acme/callback?"+q, nil, asJSON), http.StatusOK)
		// The state cookie was used up.
		expectStatus(t, c.doWith("GET", "/v1/auth/oauth/acme/callback?"+q, nil, asJSON), http.StatusUnauthorized)
		// The old code with a new attempt's state: the provider refuses it.
		old, _ := url.ParseQuery(q)
		fresh, _ := url.ParseQuery(atProvider(t, c.oauthStart("/v1/auth/oauth/acme"), "ada"))
		fresh.Set("code", old.Get("code"))
		expectStatus(t, c.doWith("GET", "/v1/auth/oauth/acme/callback?"+fresh.Encode(), nil, asJSON), http.StatusUnauthorized)
	})
	t.Run("an email the provider did not verify", func(t *testing.T) {
		a := h.client().in(t).oauthLogin("eve")
		expectStatus(t, a, http.StatusForbidden)
		if _, err := h.store.GetUser(context.Background(), "eve@example.com"); !errs.Is(err, errs.NotFound) {
			t.Errorf("an account was made for an unverified email: %v", err)
		}
	})
	t.Run("an existing user's email: no login, nothing linked", func(t *testing.T) {
		c := h.client().in(t)
		a := c.oauthLogin("grace")
		expectStatus(t, a, http.StatusConflict)
		if !strings.Contains(a.Message, "password") {
			t.Errorf("message %q does not tell the user to log in with the password", a.Message)
		}
		expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusUnauthorized)
		if _, err := h.store.GetIdentity(context.Background(), "acme", oauthtest.Subject("grace")); !errs.Is(err, errs.NotFound) {
			t.Errorf("the provider account was linked: %v", err)
		}
		if u, err := h.store.GetUser(context.Background(), "grace@example.com"); err != nil || u.PasswordHash == "" {
			t.Errorf("the password account changed: %+v %v", u, err)
		}
		// The refusal is in grace's trail, with its reason.
		h.flushAudit()
		events, _, err := h.store.ListEvents(context.Background(), "grace@example.com", time.Time{}, nil, 50)
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, e := range events {
			found = found || e.Event == "oauth_refused" && e.Outcome == "refused: account_exists"
		}
		if !found {
			t.Errorf("no oauth_refused event with its reason in %+v", events)
		}
	})
	t.Run("return_to off this site", func(t *testing.T) {
		for _, bad := range []string{"https://evil.example", "//evil.example", "/\\evil.example", "javascript:alert(1)", "evil", "/ok\r\nSet-Cookie: x=1"} {
			a := h.client().in(t).doWith("GET", "/v1/auth/oauth/acme?return_to="+url.QueryEscape(bad), nil, asJSON)
			if a.Status != http.StatusUnprocessableEntity || a.Fields["return_to"] == "" {
				t.Errorf("return_to=%q: %d %s", bad, a.Status, a.Raw)
			}
		}
	})
	t.Run("an unknown provider", func(t *testing.T) {
		expectStatus(t, h.client().in(t).doWith("GET", "/v1/auth/oauth/nope", nil, asJSON), http.StatusNotFound)
		expectStatus(t, h.client().in(t).doWith("GET", "/v1/auth/oauth/nope/callback?state=x&code=y", nil, asJSON), http.StatusNotFound)
	})
}

// A browser (no Accept: application/json) is redirected: to return_to
// with the cookie on success, to /?error=<reason> on failure.
func TestOAuthRedirectsBrowsers(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	c := h.client()
	c.c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	get := func(path string) *http.Response {
		res, err := c.c.Get(h.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	res := get("/v1/auth/oauth/acme?return_to=" + url.QueryEscape("/dashboard?tab=sessions"))
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(res.Header.Get("Location"), oauthtestIssuerPrefix(res)) {
		t.Fatalf("start: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	q := atProvider(t, res.Header.Get("Location"), "ada")
	res = get("/v1/auth/oauth/acme/callback?" + q)
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/dashboard?tab=sessions" {
		t.Fatalf("callback: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
	expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusOK)
	res = get("/v1/auth/oauth/acme/callback?" + q) // replayed: the state cookie is gone
	if res.StatusCode != http.StatusFound || res.Header.Get("Location") != "/?error=state_missing" {
		t.Errorf("replayed callback: %d to %q", res.StatusCode, res.Header.Get("Location"))
	}
}

// oauthtestIssuerPrefix is the scheme and host of the provider the start
// redirected to (any http URL that is not esauth's own).
func oauthtestIssuerPrefix(res *http.Response) string {
	if u, err := url.Parse(res.Header.Get("Location")); err == nil && u.Host != "" && u.Host != res.Request.URL.Host {
		return u.Scheme + "://" + u.Host + "/"
	}
	return "(not another host)"
}

func TestLinkListAndUnlink(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	h.addUser("bob@example.com", pw, false)
	bob := h.client()
	bob.mustLogin("bob@example.com", pw)
	// Bob links his account at the provider (whose address there is ada's).
	q := atProvider(t, bob.oauthStart("/v1/auth/oauth/acme/link"), "ada")
	expectStatus(t, bob.doWith("GET", "/v1/auth/oauth/acme/callback?"+q, nil, asJSON), http.StatusOK)
	var ids []IdentityView
	bob.do("GET", "/v1/auth/identities", nil).data(t, &ids)
	if len(ids) != 1 || ids[0].Provider != "acme" || ids[0].Subject != oauthtest.Subject("ada") || ids[0].ProviderEmail != "ada@example.com" {
		t.Fatalf("identities = %+v", ids)
	}
	// The provider login now logs in to bob's account, and makes none.
	other := h.client()
	a := other.oauthLogin("ada")
	expectStatus(t, a, http.StatusOK)
	var got oauthLoginAnswer
	a.data(t, &got)
	if got.Email != "bob@example.com" || got.Created {
		t.Errorf("login with the linked account = %+v; want bob's account", got)
	}
	if _, err := h.store.GetUser(context.Background(), "ada@example.com"); !errs.Is(err, errs.NotFound) {
		t.Errorf("a second account was made: %v", err)
	}

	// Another user cannot link the same provider account.
	h.addUser("carol@example.com", pw, false)
	carol := h.client()
	carol.mustLogin("carol@example.com", pw)
	q = atProvider(t, carol.oauthStart("/v1/auth/oauth/acme/link"), "ada")
	expectStatus(t, carol.doWith("GET", "/v1/auth/oauth/acme/callback?"+q, nil, asJSON), http.StatusConflict)
	// Nor can bob link a second account at the same provider.
	q = atProvider(t, bob.oauthStart("/v1/auth/oauth/acme/link"), "grace")
	expectStatus(t, bob.doWith("GET", "/v1/auth/oauth/acme/callback?"+q, nil, asJSON), http.StatusConflict)

	// A link started in a session that ended meanwhile is refused.
	authURL := carol.oauthStart("/v1/auth/oauth/acme/link")
	expectStatus(t, carol.do("POST", "/v1/auth/logout", nil), http.StatusOK)
	expectStatus(t, carol.doWith("GET", "/v1/auth/oauth/acme/callback?"+atProvider(t, authURL, "grace"), nil, asJSON), http.StatusUnauthorized)

	// Bob has a password, so he may unlink his only identity.
	expectStatus(t, bob.do("DELETE", "/v1/auth/identities/acme", nil), http.StatusOK)
	expectStatus(t, bob.do("DELETE", "/v1/auth/identities/acme", nil), http.StatusNotFound)
	bob.do("GET", "/v1/auth/identities", nil).data(t, &ids)
	if len(ids) != 0 {
		t.Errorf("after unlink: %+v", ids)
	}
}

func TestTheLastWayInCannotBeUnlinked(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	c := h.client()
	expectStatus(t, c.oauthLogin("grace"), http.StatusOK) // an account without a password
	a := c.do("DELETE", "/v1/auth/identities/acme", nil)
	expectStatus(t, a, http.StatusConflict)
	if _, err := h.store.GetIdentity(context.Background(), "acme", oauthtest.Subject("grace")); err != nil {
		t.Fatalf("the identity is gone after a refused unlink: %v", err)
	}
	// With a first password set, it may go.
	expectStatus(t, c.do("POST", "/v1/auth/password", map[string]any{"new_password": "correct horse battery 41"}), http.StatusOK)
	expectStatus(t, c.do("DELETE", "/v1/auth/identities/acme", nil), http.StatusOK)
	h.client().mustLogin("grace@example.com", "correct horse battery 41")
}

func TestAFirstPasswordNeedsAFreshLoginAndNoOldOne(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withOIDC(t), withClock(clock))
	c := h.client()
	expectStatus(t, c.oauthLogin("ada"), http.StatusOK)
	clock.Advance(FirstPasswordMaxAge + time.Minute)
	expectStatus(t, c.do("POST", "/v1/auth/password", map[string]any{"new_password": "correct horse battery 42"}), http.StatusForbidden)
	// A fresh login may.
	fresh := h.client()
	expectStatus(t, fresh.oauthLogin("ada"), http.StatusOK)
	expectStatus(t, fresh.do("POST", "/v1/auth/password", map[string]any{"new_password": "correct horse battery 42"}), http.StatusOK)
	// Now that there is one, leaving old_password out is refused.
	a := fresh.do("POST", "/v1/auth/password", map[string]any{"new_password": "correct horse battery 43"})
	if a.Status != http.StatusUnprocessableEntity || a.Fields["old_password"] == "" {
		t.Errorf("a second first password: %d %s", a.Status, a.Raw)
	}
	h.client().mustLogin("ada@example.com", "correct horse battery 42")
}

// A user deleted and signed up again under the same email is another
// account: the provider login makes a new one instead of entering it.
func TestADeletedAccountsIdentityDoesNotEnterItsSuccessor(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	c := h.client()
	expectStatus(t, c.oauthLogin("ada"), http.StatusOK)
	if err := h.store.DeleteUser(context.Background(), "ada@example.com"); err != nil {
		t.Fatal(err)
	}
	h.addUser("ada@example.com", pw, false) // someone else signs up with the address
	a := h.client().oauthLogin("ada")
	expectStatus(t, a, http.StatusConflict) // an existing user's email: no login
}

// Many first logins of one new provider account at once make one account;
// each of the others is refused (409) or logs in to that account.
func TestConcurrentFirstLoginsMakeOneAccount(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	const n = 6
	browsers := make([]*client, n)
	queries := make([]string, n)
	for i := range browsers {
		browsers[i] = h.client()
		queries[i] = atProvider(t, browsers[i].oauthStart("/v1/auth/oauth/acme"), "grace")
	}
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i := range browsers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", h.srv.URL+"/v1/auth/oauth/acme/callback?"+queries[i], nil)
			req.Header.Set("Accept", "application/json")
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
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusConflict:
		default:
			t.Errorf("a racing first login answered %d", s)
		}
	}
	if ok == 0 {
		t.Errorf("no racing first login succeeded: %v", statuses)
	}
	u, err := h.store.GetUser(context.Background(), "grace@example.com")
	if err != nil {
		t.Fatal(err)
	}
	id, err := h.store.GetIdentity(context.Background(), "acme", oauthtest.Subject("grace"))
	if err != nil || !id.Belongs(u) {
		t.Errorf("the identity %+v (%v) does not belong to the one account %+v", id, err, u)
	}
	// And every browser that got 200 is logged in to that account.
	for i, s := range statuses {
		if s == http.StatusOK {
			if a := browsers[i].do("GET", "/v1/test", nil); a.Status != http.StatusOK || !strings.Contains(a.Raw, "grace@example.com") {
				t.Errorf("browser %d: %d %s", i, a.Status, a.Raw)
			}
		}
	}
}

// Two unlinks racing, of the two accounts of a user without a password,
// never leave the user without a way in.
func TestRacingUnlinksLeaveAWayIn(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	for trial := range 4 {
		c := h.client()
		// Each trial deletes its account at the end, so a person can come
		// back as a new account.
		username := []string{"ada", "grace", "mallory", "ada"}[trial]
		a := c.oauthLogin(username)
		expectStatus(t, a, http.StatusOK)
		var who oauthLoginAnswer
		a.data(t, &who)
		q := atProvider(t, c.oauthStart("/v1/auth/oauth/acme2/link"), username)
		expectStatus(t, c.doWith("GET", "/v1/auth/oauth/acme2/callback?"+q, nil, asJSON), http.StatusOK)
		var wg sync.WaitGroup
		for _, p := range []string{"acme", "acme2"} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := c.try("DELETE", "/v1/auth/identities/"+p, nil); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		u, err := h.store.GetUser(context.Background(), who.Email)
		if err != nil {
			t.Fatal(err)
		}
		ids, err := h.store.ListIdentities(context.Background(), who.Email)
		if err != nil {
			t.Fatal(err)
		}
		left := 0
		for _, id := range ids {
			if id.Belongs(u) {
				left++
			}
		}
		if left == 0 {
			t.Fatalf("trial %d: the racing unlinks left %s no way in", trial, who.Email)
		}
		// Clean up for the next trial that reuses a person.
		if err := h.store.DeleteUser(context.Background(), who.Email); err != nil {
			t.Fatal(err)
		}
	}
}

// A provider login replaces the session the browser came with, as a
// password login does; and a disabled account is refused.
func TestAProviderLoginReplacesTheBrowsersSessionAndRefusesDisabledUsers(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	h.addUser("planted@example.com", pw, false)
	c := h.client()
	c.mustLogin("planted@example.com", pw)
	planted := c.cookie()
	expectStatus(t, c.oauthLogin("ada"), http.StatusOK)
	if c.cookie() == planted {
		t.Fatal("the provider login kept the browser's old cookie")
	}
	replay := h.client()
	replay.setCookie(planted)
	expectStatus(t, replay.do("GET", "/v1/test", nil), http.StatusUnauthorized)

	if _, err := h.store.UpdateUser(context.Background(), "ada@example.com", func(u *user.User) error {
		u.IsActive = false
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	a := h.client().oauthLogin("ada")
	expectStatus(t, a, http.StatusForbidden)
}

// Elasticsearch refusing writes fails a first login with 503 and leaves
// neither a user nor an identity behind.
func TestAFirstLoginThatCannotBeStoredLeavesNothing(t *testing.T) {
	h := newHarness(t, withOIDC(t))
	ctx := context.Background()
	t.Run("identities index write-blocked", func(t *testing.T) {
		blockWrites(t, h.store.IdentitiesIndex())
		expectStatus(t, h.client().in(t).oauthLogin("ada"), http.StatusServiceUnavailable)
		if _, err := h.store.GetUser(ctx, "ada@example.com"); !errs.Is(err, errs.NotFound) {
			t.Errorf("a user was made: %v", err)
		}
	})
	t.Run("users index write-blocked", func(t *testing.T) {
		blockWrites(t, h.store.UsersIndex())
		expectStatus(t, h.client().in(t).oauthLogin("grace"), http.StatusServiceUnavailable)
		if _, err := h.store.GetIdentity(ctx, "acme", oauthtest.Subject("grace")); !errs.Is(err, errs.NotFound) {
			t.Errorf("the identity of the user that was not made is left: %v", err)
		}
	})
	// Unblocked, the same people log in and get their accounts.
	expectStatus(t, h.client().oauthLogin("ada"), http.StatusOK)
	expectStatus(t, h.client().oauthLogin("grace"), http.StatusOK)
}

// An ID token that expired before esauth saw it logs nobody in (the
// provider's tokens live an hour; esauth's clock is two hours ahead).
func TestAnExpiredIDTokenLogsNobodyIn(t *testing.T) {
	h := newHarness(t, withOIDCClock(t, func() time.Time { return time.Now().Add(2 * time.Hour) }))
	c := h.client()
	a := c.oauthLogin("ada")
	expectStatus(t, a, http.StatusUnauthorized)
	expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	if _, err := h.store.GetUser(context.Background(), "ada@example.com"); !errs.Is(err, errs.NotFound) {
		t.Errorf("an account was made from an expired ID token: %v", err)
	}
}

// The provider callback spends the same per-IP budget as password logins,
// and so does the start (it writes a state record): of a burst of 3, the
// start and two logins leave nothing for the callback.
func TestTheCallbackSharesTheLoginRateLimit(t *testing.T) {
	h := newHarness(t, withOIDC(t), func(d *Deps) { d.LoginLimit = RateLimit{PerMinute: 1, Burst: 3} })
	c := h.client()
	authURL := c.oauthStart("/v1/auth/oauth/acme")
	q := atProvider(t, authURL, "ada")
	for range 2 {
		expectStatus(t, c.login("nobody@example.com", "wrong password"), http.StatusUnauthorized)
	}
	expectStatus(t, c.doWith("GET", "/v1/auth/oauth/acme/callback?"+q, nil, asJSON), http.StatusTooManyRequests)
}

// Each start writes a one-use state record, so anonymous starts are
// bounded by the login's per-IP rate.
func TestOAuthStartsShareTheLoginRateLimit(t *testing.T) {
	h := newHarness(t, withOIDC(t), func(d *Deps) { d.LoginLimit = RateLimit{PerMinute: 1, Burst: 2} })
	c := h.client()
	for range 2 {
		expectStatus(t, c.doWith("GET", "/v1/auth/oauth/acme", nil, asJSON), http.StatusOK)
	}
	expectStatus(t, c.doWith("GET", "/v1/auth/oauth/acme", nil, asJSON), http.StatusTooManyRequests)
}

// A user without a password can leave: from a login at most 15 minutes
// old, with no password (issue 19; it was refused for want of one).
func TestAUserWithoutAPasswordDeletesTheAccountFromAFreshLogin(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withOIDC(t), withClock(clock))
	stale := h.client()
	expectStatus(t, stale.oauthLogin("ada"), http.StatusOK)
	clock.Advance(FirstPasswordMaxAge + time.Minute)
	expectStatus(t, stale.do("DELETE", "/v1/users/ada@example.com", map[string]any{}), http.StatusForbidden)
	// Any password is wrong for an account that has none.
	expectStatus(t, stale.do("DELETE", "/v1/users/ada@example.com", map[string]any{"password": "a guess at nothing"}), http.StatusForbidden)
	fresh := h.client()
	expectStatus(t, fresh.oauthLogin("ada"), http.StatusOK)
	expectStatus(t, fresh.do("DELETE", "/v1/users/ada@example.com", map[string]any{}), http.StatusOK)
	if _, err := h.store.GetUser(context.Background(), "ada@example.com"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the account is still there: %v", err)
	}
	expectStatus(t, stale.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	// A user with a password still gives it.
	h.addUser("kept@example.com", pw, false)
	c := h.client()
	c.mustLogin("kept@example.com", pw)
	if a := c.do("DELETE", "/v1/users/kept@example.com", map[string]any{}); a.Status != http.StatusUnprocessableEntity || a.Fields["password"] == "" {
		t.Errorf("self-delete without the password: %d %s", a.Status, a.Raw)
	}
}
