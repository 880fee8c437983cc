package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"esauth/lib/elastic/estest"
	"esauth/lib/oauth"
	"esauth/lib/oauth/oauthtest"
	"esauth/lib/totp"
	"esauth/lib/user"
	v1 "esauth/v1"
)

// The provider sends the browser here; the test stops it there and
// brings the query to the server itself.
const providerCallback = "http://esauth.test/v1/auth/oauth/acme/callback"

// A provider login of a user with TOTP on goes, in the browser, from the
// login page's button through the provider to the code page, and only
// the code opens the dashboard (issue 17).
func TestAProviderLoginOfATOTPUserTypesItsCodeOnTheCodePage(t *testing.T) {
	op := oauthtest.Start(t, []oauthtest.User{{Username: "kim", FirstName: "Kim", Email: "kim@acme.example", EmailVerified: true}},
		oauthtest.Client{ID: "web", Secret: "web-secret", RedirectURI: providerCallback})
	state := securecookie.New(securecookie.GenerateRandomKey(32), securecookie.GenerateRandomKey(32)).MaxAge(int(v1.StateTTL / time.Second))
	state.SetSerializer(securecookie.JSONEncoder{})
	store := estest.New(t)
	srv, _ := newServerOn(t, store, func(d *v1.Deps) {
		d.OAuth = v1.OAuth{State: state, Providers: map[string]oauth.Provider{
			"acme": oauth.NewOIDC("acme", op.URL, "web", "web-secret", nil, oauth.Options{RedirectURL: providerCallback}),
		}}
	})
	ctx := context.Background()
	addUser(t, store, "kim@example.com", "Kim", user.RoleUser)
	key, err := totp.Generate("esauth", "kim@example.com")
	if err != nil {
		t.Fatal(err)
	}
	u, err := store.UpdateUser(ctx, "kim@example.com", func(u *user.User) error {
		u.TOTPSecret, u.TOTPEnabledAt = key.Secret, time.Now().UTC()
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateIdentity(ctx, user.Identity{Provider: "acme", Subject: oauthtest.Subject("kim"), Email: u.Email,
		UserCreatedAt: u.CreatedAt, ProviderEmail: "kim@acme.example", CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}

	b := newBrowser(t, srv)
	start := b.get("/v1/auth/oauth/acme?return_to=%2fdashboard") // the login page's button
	if start.status != http.StatusFound {
		t.Fatalf("start: %d %s", start.status, start.body)
	}
	back := oauthtest.LogIn(t, oauthtest.Browser(providerCallback), start.location, "kim")
	a := b.get(strings.TrimPrefix(back.String(), "http://esauth.test"))
	if a.status != http.StatusFound || a.location != "/login/code?return_to="+url.QueryEscape("/dashboard") {
		t.Fatalf("callback: %d to %q; want the code page", a.status, a.location)
	}
	if d := b.get("/dashboard"); d.status != http.StatusSeeOther {
		t.Errorf("the dashboard before the code: %d", d.status)
	}
	expect(t, b.get(a.location), http.StatusOK, `autocomplete="one-time-code"`, `name="return_to" value="/dashboard"`)
	code, _ := totp.Code(key.Secret, time.Now())
	if a := b.post("/login/code", url.Values{"code": {code}, "return_to": {"/dashboard"}}); a.status != http.StatusSeeOther || a.location != "/dashboard" {
		t.Fatalf("the code: %d to %q: %s", a.status, a.location, a.body)
	}
	expect(t, b.get("/dashboard"), http.StatusOK, "kim@acme.example")
}
