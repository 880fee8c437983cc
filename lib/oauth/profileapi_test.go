package oauth_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"esauth/lib/oauth"
)

// fakeAPI imitates a provider that cannot be reached from here (GitHub,
// Facebook) with the answers its documentation shows: a token endpoint
// that checks the client, the code and PKCE, and profile endpoints that
// want the bearer token.
type fakeAPI struct {
	srv       *httptest.Server
	challenge string // the code_challenge of the last authorization URL
	// profile answers each profile path.
	profile map[string]string
}

const (
	goodCode    = "the-code"
	accessToken = "gho_16C7e42F292c6912E7710c838347Ae178B4a"
)

func newFakeAPI(t *testing.T, profile map[string]string) *fakeAPI {
	f := &fakeAPI{profile: profile}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/token" {
			_ = r.ParseForm()
			id, secret, ok := r.BasicAuth()
			if !ok {
				id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
			}
			sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
			if id != "client" || secret != "secret" || r.PostForm.Get("code") != goodCode ||
				base64.RawURLEncoding.EncodeToString(sum[:]) != f.challenge {
				// GitHub answers a bad code with 200 and an OAuth error.
				_, _ = io.WriteString(w, `{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired.","error_uri":"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"}`)
				return
			}
			_, _ = io.WriteString(w, `{"access_token":"`+accessToken+`","scope":"read:user,user:email","token_type":"bearer"}`)
			return
		}
		if r.Header.Get("Authorization") != "Bearer "+accessToken {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"message":"Requires authentication"}`)
			return
		}
		body, ok := f.profile[r.URL.Path]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			return
		}
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeAPI) endpoints(userinfo string) oauth.Endpoints {
	return oauth.Endpoints{AuthURL: f.srv.URL + "/authorize", TokenURL: f.srv.URL + "/token", UserInfoURL: f.srv.URL + userinfo}
}

// login asks p for an authorization URL (remembering its PKCE challenge
// as the provider would) and redeems code.
func (f *fakeAPI) login(t *testing.T, p oauth.Provider, code string) (oauth.Profile, error) {
	t.Helper()
	a := oauth.NewAttempt()
	raw, err := p.AuthURL(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(raw)
	if u.Query().Get("code_challenge_method") != "S256" || u.Query().Get("state") != a.State {
		t.Fatalf("authorization URL without PKCE S256 or state: %s", raw)
	}
	f.challenge = u.Query().Get("code_challenge")
	return p.Profile(context.Background(), code, a)
}

const githubUser = `{"login":"octocat","id":583231,"node_id":"MDQ6VXNlcjU4MzIzMQ==","type":"User","site_admin":false,"name":"The Octocat","company":"@github","email":%s}`

func TestGitHubTakesOnlyTheVerifiedPrimaryEmail(t *testing.T) {
	tests := []struct {
		name, publicEmail, emails string
		wantEmail                 string
		wantVerified              bool
	}{
		{"a verified primary address", `"octocat@github.com"`,
			`[{"email":"octocat@github.com","verified":true,"primary":true,"visibility":"public"}]`, "octocat@github.com", true},
		{"an unverified primary address", `"octocat@github.com"`,
			`[{"email":"octocat@github.com","verified":false,"primary":true,"visibility":"public"}]`, "octocat@github.com", false},
		{"a private primary address (null on the profile)", `null`,
			`[{"email":"octocat@users.noreply.github.com","verified":true,"primary":false,"visibility":null},{"email":"private@example.com","verified":true,"primary":true,"visibility":"private"}]`, "private@example.com", true},
		{"a verified address that is not primary is not taken", `"public@example.com"`,
			`[{"email":"public@example.com","verified":true,"primary":false,"visibility":"public"},{"email":"new@example.com","verified":false,"primary":true,"visibility":"private"}]`, "new@example.com", false},
		{"no primary address", `null`, `[]`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, map[string]string{
				"/user":        fmtJSON(githubUser, tt.publicEmail),
				"/user/emails": tt.emails,
			})
			p := oauth.NewGitHub("github", "client", "secret", f.endpoints("/user"), oauth.Options{RedirectURL: redirect})
			got, err := f.login(t, p, goodCode)
			if err != nil {
				t.Fatal(err)
			}
			want := oauth.Profile{Provider: "github", Subject: "583231", Email: tt.wantEmail, EmailVerified: tt.wantVerified, FirstName: "The", LastName: "Octocat"}
			if got != want {
				t.Errorf("profile %+v, want %+v", got, want)
			}
		})
	}
}

func TestProfileAPIRefusals(t *testing.T) {
	f := newFakeAPI(t, map[string]string{"/user": fmtJSON(githubUser, "null"), "/user/emails": `[]`, "/noid": `{"login":"x"}`, "/noid/emails": `[]`})
	tests := []struct {
		name   string
		p      oauth.Provider
		code   string
		reason oauth.Reason
	}{
		{"a wrong code", oauth.NewGitHub("github", "client", "secret", f.endpoints("/user"), oauth.Options{}), "stolen", oauth.CodeRefused},
		{"a wrong client secret", oauth.NewGitHub("github", "client", "nope", f.endpoints("/user"), oauth.Options{}), goodCode, oauth.CodeRefused},
		{"a profile without an id", oauth.NewGitHub("github", "client", "secret", f.endpoints("/noid"), oauth.Options{}), goodCode, oauth.NoSubject},
		{"a profile API that is down", oauth.NewGitHub("github", "client", "secret", oauth.Endpoints{AuthURL: f.srv.URL + "/authorize", TokenURL: f.srv.URL + "/token", UserInfoURL: "http://127.0.0.1:1/user"}, oauth.Options{}), goodCode, oauth.ProviderUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := f.login(t, tt.p, tt.code)
			if oauth.ReasonOf(err) != tt.reason {
				t.Errorf("err %v, want %s", err, tt.reason)
			}
		})
	}
}

func TestFacebookProfile(t *testing.T) {
	tests := []struct {
		name, me string
		want     oauth.Profile
	}{
		{"with an email", `{"id":"10158254628851234","email":"jane@example.com","first_name":"Jane","last_name":"Doe"}`,
			oauth.Profile{Provider: "facebook", Subject: "10158254628851234", Email: "jane@example.com", EmailVerified: true, FirstName: "Jane", LastName: "Doe"}},
		{"without one (phone-only account)", `{"id":"10158254628855678","first_name":"Joe","last_name":"Bloggs"}`,
			oauth.Profile{Provider: "facebook", Subject: "10158254628855678", FirstName: "Joe", LastName: "Bloggs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, map[string]string{"/me": tt.me})
			p := oauth.NewFacebook("facebook", "client", "secret", f.endpoints("/me?fields=id,email,first_name,last_name"), oauth.Options{})
			got, err := f.login(t, p, goodCode)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("profile %+v, want %+v", got, tt.want)
			}
		})
	}
}

func fmtJSON(format, arg string) string { return fmt.Sprintf(format, arg) }
