package web_test

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/gorilla/securecookie"

	"esauth/lib/elastic/estest"
	"esauth/lib/passkey"
	"esauth/lib/token"
	v1 "esauth/v1"
)

// passkeyServer runs the pages with passkeys on, at http://localhost:<port>
// (WebAuthn takes a domain, not an IP address, as the RP id), and returns
// that origin.
func passkeyServer(t *testing.T) (*browser, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	origin := fmt.Sprintf("http://localhost:%d", ln.Addr().(*net.TCPAddr).Port)
	rp, err := passkey.New(passkey.Config{RPID: "localhost", Origins: []string{origin}, DisplayName: "esauth"})
	if err != nil {
		t.Fatal(err)
	}
	state := securecookie.New(securecookie.GenerateRandomKey(32), securecookie.GenerateRandomKey(32)).MaxAge(int(token.PasskeyCeremonyTTL / time.Second))
	state.SetSerializer(securecookie.JSONEncoder{})
	srv, _ := newServerListening(t, estest.New(t), ln, func(d *v1.Deps) {
		d.Passkeys = v1.Passkeys{RelyingParty: rp, State: state, DecoyKey: []byte("browser test decoys")}
	})
	return newBrowser(t, srv), origin
}

// virtualAuthenticator gives tb's browser a platform authenticator as a
// phone or laptop has one: CTAP2, internal, resident keys, user
// verification that succeeds (Chrome DevTools Protocol, WebAuthn domain).
func (tb *tab) virtualAuthenticator(t *testing.T) webauthn.AuthenticatorID {
	t.Helper()
	return get(t, tb, func(ctx context.Context, target *chromedp.Target) (webauthn.AuthenticatorID, error) {
		if _, err := cdp.Call(ctx, target, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return "", err
		}
		res, err := cdp.Call(ctx, target, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21,
				Transport: webauthn.AuthenticatorTransportInternal, HasResidentKey: true, HasUserVerification: true,
				IsUserVerified: true, AutomaticPresenceSimulation: true,
			},
		})
		return res.AuthenticatorID, err
	})
}

// credentials are what the virtual authenticator holds.
func (tb *tab) credentials(t *testing.T, id webauthn.AuthenticatorID) []*webauthn.Credential {
	t.Helper()
	return get(t, tb, func(ctx context.Context, target *chromedp.Target) ([]*webauthn.Credential, error) {
		res, err := cdp.Call(ctx, target, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: id})
		return res.Credentials, err
	})
}

func TestInABrowserAddAPasskeyLogInWithItTypingNothingAndRemoveIt(t *testing.T) {
	http, origin := passkeyServer(t)
	http.post("/signup", url.Values{"email_address": {"kay@example.com"}, "first_name": {"Kay"}, "last_name": {"Ito"}, "password": {pw}})
	tb := newTab(t)
	auth := tb.virtualAuthenticator(t)
	tb.logIn(t, origin, "kay@example.com", pw)

	// Add one on the dashboard, with the password again.
	tb.do(t,
		chromedp.WaitVisible(css("#passkey-add")),
		chromedp.SendKeys(css("#passkey_password"), pw),
		chromedp.SendKeys(css("#passkey_name"), "Kay's laptop"),
		chromedp.Click(css(`#passkey-add button[type="submit"]`)),
		chromedp.WaitVisible(css(".flash")),
	)
	if msg := get(t, tb, chromedp.Text(css(".flash"))); !strings.HasPrefix(msg, "Your passkey is added") {
		t.Fatalf("after adding: %q (error: %q)", msg, get(t, tb, chromedp.Text(css("main"))))
	}
	if list := get(t, tb, chromedp.Text(css("#passkeys"))); !strings.Contains(list, "Kay's laptop") || !strings.Contains(list, "never used") {
		t.Errorf("the list reads %q", list)
	}
	tb.screenshot(t, "dashboard-passkeys")
	tb.do(t, chromedp.EmulateViewport(320, 640), chromedp.Navigate(origin+"/dashboard"), chromedp.WaitVisible(css("#passkeys")))
	if w := get(t, tb, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 320 {
		t.Errorf("the dashboard with a passkey is %d pixels wide on a 320-pixel screen", w)
	}
	tb.do(t, chromedp.EmulateViewport(1280, 800))
	creds := tb.credentials(t, auth)
	if len(creds) != 1 || !creds[0].IsResidentCredential || len(creds[0].UserHandle) != 64 || strings.Contains(string(creds[0].UserHandle), "kay") {
		t.Fatalf("the authenticator holds %+v", creds)
	}

	// Log out, then in with the passkey: no email, no password typed.
	tb.do(t,
		chromedp.Click(css(`header form[action="/logout"] button`)),
		chromedp.WaitVisible(css(`header a[href="/signup"]`)), // logged out
		chromedp.Navigate(origin+"/login"),
		chromedp.WaitVisible(css("#passkey-login")),
	)
	tb.screenshot(t, "login-passkey")
	tb.do(t, chromedp.Click(css("#passkey-login")), chromedp.WaitVisible(css("#welcome")))
	if heading := get(t, tb, chromedp.Text(css("#welcome"))); heading != "Welcome, Kay" {
		t.Fatalf("after the passkey login: %q", heading)
	}
	if list := get(t, tb, chromedp.Text(css("#passkeys"))); !strings.Contains(list, "last used") {
		t.Errorf("the list after a login reads %q", list)
	}
	if s := get(t, tb, chromedp.Text(css(`section[aria-labelledby="sessions-heading"] .sessions`))); !strings.Contains(s, "passed two-factor") {
		t.Errorf("a user-verified passkey login is not two factors: %q", s)
	}

	// The browser's autofill offers it in the email field (conditional
	// mediation); the virtual authenticator picks it at once.
	tb.do(t,
		chromedp.Click(css(`header form[action="/logout"] button`)),
		chromedp.WaitVisible(css(`header a[href="/signup"]`)),
		chromedp.Navigate(origin+"/login"),
		chromedp.WaitVisible(css("#passkey-login")),
		chromedp.Focus(css("#email_address")),
		chromedp.WaitVisible(css("#welcome")),
	)

	// Remove it (the password is still a way in); it logs in no more.
	tb.do(t,
		chromedp.Click(css(`button[aria-label="Remove Kay's laptop"]`)),
		chromedp.WaitVisible(css(".flash")),
	)
	if msg := get(t, tb, chromedp.Text(css(".flash"))); msg != "The passkey is removed." {
		t.Fatalf("after removing: %q", msg)
	}
	tb.do(t,
		chromedp.Click(css(`header form[action="/logout"] button`)),
		chromedp.WaitVisible(css(`header a[href="/signup"]`)), // logged out
		chromedp.Navigate(origin+"/login"),
		chromedp.Click(css("#passkey-login")),
		chromedp.WaitVisible(css("#passkey-error")),
	)
	if msg := get(t, tb, chromedp.Text(css("#passkey-error"))); msg != "The passkey could not be verified." {
		t.Errorf("a removed passkey's login shows %q", msg)
	}
	tb.noProblems(t)
}
