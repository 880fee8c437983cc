// Package oauthtest runs a real OpenID Provider in the test process
// (github.com/zitadel/oidc/v3's op package with its example storage and
// login page, served by httptest), and logs people in through its real
// authorization, login and token endpoints, the way a browser would.
package oauthtest

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
)

// Password is every test user's password at the provider.
const Password = "provider-password-1"

// User is a person known to the provider.
type User struct {
	Username, FirstName, LastName, Email string
	EmailVerified                        bool
}

// OP is a running OpenID Provider with registered clients.
type OP struct {
	URL string // the issuer
}

type users map[string]*storage.User

func (u users) GetUserByID(id string) *storage.User { return u[id] }
func (u users) GetUserByUsername(name string) *storage.User {
	for _, x := range u {
		if x.Username == name {
			return x
		}
	}
	return nil
}
func (u users) ExampleClientID() string { return "service" }

// Client is a client registered at the provider.
type Client struct {
	ID, Secret, RedirectURI string
}

// Start runs a provider knowing people and clients until the test ends.
func Start(t testing.TB, people []User, clients ...Client) *OP {
	t.Helper()
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	h = Handler(srv.URL, people, clients...)
	return &OP{URL: srv.URL}
}

// Handler is a provider whose issuer is the URL it is served at, knowing
// people and clients (scripts/oidc-provider serves one for the smoke test).
func Handler(issuer string, people []User, clients ...Client) http.Handler {
	us := users{}
	for _, p := range people {
		id := Subject(p.Username)
		us[id] = &storage.User{
			ID: id, Username: p.Username, Password: Password, FirstName: p.FirstName, LastName: p.LastName,
			Email: p.Email, EmailVerified: p.EmailVerified,
		}
	}
	cs := map[string]*storage.Client{}
	for _, c := range clients {
		cs[c.ID] = storage.WebClient(c.ID, c.Secret, c.RedirectURI)
	}
	st := storage.NewStorageWithClients(us, cs)
	// The example server logs every request through slog's default
	// logger, which it replaces with this one.
	return exampleop.SetupServer(issuer, st, slog.New(slog.NewTextHandler(io.Discard, nil)), false)
}

// Subject is the provider's subject for a username (see Start).
func Subject(username string) string { return "sub-" + strings.ReplaceAll(username, "@", "-at-") }

// Browser is an HTTP client with its own cookies that does not follow a
// redirect to an address starting with stopAt (the relying party's
// callback), so the test can hand that one to the relying party itself.
func Browser(stopAt string) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), stopAt) {
			return http.ErrUseLastResponse
		}
		return nil
	}}
}

// LogIn follows authURL in browser, logs username in at the provider's
// login page, and returns the address the provider then sends the browser
// to (the callback, with code and state).
func LogIn(t testing.TB, browser *http.Client, authURL, username string) *url.URL {
	t.Helper()
	res, err := browser.Get(authURL)
	if err != nil {
		t.Fatalf("authorization request: %v", err)
	}
	res.Body.Close()
	// The provider's login page asks for the authRequestID it redirected with.
	id := res.Request.URL.Query().Get("authRequestID")
	if id == "" {
		t.Fatalf("the provider did not show its login page: ended at %s (status %d)", res.Request.URL, res.StatusCode)
	}
	login := *res.Request.URL
	login.RawQuery = ""
	res, err = browser.PostForm(login.String(), url.Values{"id": {id}, "username": {username}, "password": {Password}})
	if err != nil {
		t.Fatalf("login at the provider: %v", err)
	}
	res.Body.Close()
	loc, err := res.Location()
	if err != nil || res.StatusCode != http.StatusFound {
		t.Fatalf("the provider did not send the browser back (status %d at %s)", res.StatusCode, res.Request.URL)
	}
	return loc
}
