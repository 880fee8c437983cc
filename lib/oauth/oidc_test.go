package oauth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"esauth/lib/oauth"
	"esauth/lib/oauth/oauthtest"
)

const redirect = "http://esauth.test/v1/auth/oauth/acme/callback"

var people = []oauthtest.User{
	{Username: "ada", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", EmailVerified: true},
	{Username: "eve", FirstName: "Eve", LastName: "Unverified", Email: "eve@example.com", EmailVerified: false},
}

func startOP(t *testing.T) *oauthtest.OP {
	return oauthtest.Start(t, people,
		oauthtest.Client{ID: "web", Secret: "web-secret", RedirectURI: redirect},
		oauthtest.Client{ID: "other", Secret: "other-secret", RedirectURI: redirect})
}

// logIn runs one attempt through the provider's real endpoints and returns
// the code and state the provider sent back.
func logIn(t *testing.T, p oauth.Provider, a oauth.Attempt, username string) (code, state string) {
	t.Helper()
	authURL, err := p.AuthURL(context.Background(), a)
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") != a.State || q.Get("nonce") != a.Nonce {
		t.Fatalf("the authorization URL lacks PKCE S256, state or nonce: %s", authURL)
	}
	back := oauthtest.LogIn(t, oauthtest.Browser(redirect), authURL, username)
	return back.Query().Get("code"), back.Query().Get("state")
}

func TestOIDCLoginThroughARealProvider(t *testing.T) {
	op := startOP(t)
	p := oauth.NewOIDC("acme", op.URL, "web", "web-secret", nil, oauth.Options{RedirectURL: redirect})
	tests := []struct {
		user string
		want oauth.Profile
	}{
		{"ada", oauth.Profile{Provider: "acme", Subject: oauthtest.Subject("ada"), Email: "ada@example.com", EmailVerified: true, FirstName: "Ada", LastName: "Lovelace"}},
		{"eve", oauth.Profile{Provider: "acme", Subject: oauthtest.Subject("eve"), Email: "eve@example.com", EmailVerified: false, FirstName: "Eve", LastName: "Unverified"}},
	}
	for _, tt := range tests {
		t.Run(tt.user, func(t *testing.T) {
			a := oauth.NewAttempt()
			code, state := logIn(t, p, a, tt.user)
			if state != a.State {
				t.Fatalf("state came back as %q, want %q", state, a.State)
			}
			got, err := p.Profile(context.Background(), code, a)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("profile %+v, want %+v", got, tt.want)
			}
			// The code is single-use.
			if _, err := p.Profile(context.Background(), code, a); oauth.ReasonOf(err) != oauth.CodeRefused {
				t.Errorf("replayed code: %v, want %s", err, oauth.CodeRefused)
			}
		})
	}
}

func TestOIDCRefusals(t *testing.T) {
	op := startOP(t)
	p := oauth.NewOIDC("acme", op.URL, "web", "web-secret", nil, oauth.Options{RedirectURL: redirect})
	t.Run("another attempt's verifier (PKCE)", func(t *testing.T) {
		a := oauth.NewAttempt()
		code, _ := logIn(t, p, a, "ada")
		other := a
		other.Verifier = oauth.NewAttempt().Verifier
		if _, err := p.Profile(context.Background(), code, other); oauth.ReasonOf(err) != oauth.CodeRefused {
			t.Errorf("err %v, want %s", err, oauth.CodeRefused)
		}
	})
	t.Run("another attempt's nonce", func(t *testing.T) {
		a := oauth.NewAttempt()
		code, _ := logIn(t, p, a, "ada")
		other := a
		other.Nonce = oauth.NewAttempt().Nonce
		if _, err := p.Profile(context.Background(), code, other); oauth.ReasonOf(err) != oauth.NonceMismatch {
			t.Errorf("err %v, want %s", err, oauth.NonceMismatch)
		}
	})
	t.Run("an expired ID token", func(t *testing.T) {
		late := oauth.NewOIDC("acme", op.URL, "web", "web-secret", nil, oauth.Options{
			RedirectURL: redirect, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }, // tokens live 1 h
		})
		a := oauth.NewAttempt()
		code, _ := logIn(t, late, a, "ada")
		_, err := late.Profile(context.Background(), code, a)
		if oauth.ReasonOf(err) != oauth.TokenInvalid || !strings.Contains(err.Error(), "expired") {
			t.Errorf("err %v, want %s (expired)", err, oauth.TokenInvalid)
		}
	})
	t.Run("an ID token issued to another client", func(t *testing.T) {
		// A real token of the same provider, for the same person and
		// nonce, but minted for client "other", swapped into the token
		// answer esauth receives.
		a := oauth.NewAttempt()
		otherP := oauth.NewOIDC("acme", op.URL, "other", "other-secret", nil, oauth.Options{RedirectURL: redirect})
		otherCode, _ := logIn(t, otherP, a, "ada")
		foreign := idTokenOf(t, op.URL, "other", "other-secret", otherCode, a.Verifier)
		swapping := &http.Client{Timeout: 10 * time.Second, Transport: swapIDToken{foreign}}
		victim := oauth.NewOIDC("acme", op.URL, "web", "web-secret", nil, oauth.Options{RedirectURL: redirect, Client: swapping})
		code, _ := logIn(t, victim, a, "ada")
		_, err := victim.Profile(context.Background(), code, a)
		if oauth.ReasonOf(err) != oauth.TokenInvalid || !strings.Contains(err.Error(), "audience") {
			t.Errorf("err %v, want %s naming the audience", err, oauth.TokenInvalid)
		}
	})
	t.Run("a provider that cannot be reached", func(t *testing.T) {
		down := oauth.NewOIDC("acme", "http://127.0.0.1:1", "web", "web-secret", nil, oauth.Options{RedirectURL: redirect})
		if _, err := down.AuthURL(context.Background(), oauth.NewAttempt()); oauth.ReasonOf(err) != oauth.ProviderUnavailable {
			t.Errorf("err %v, want %s", err, oauth.ProviderUnavailable)
		}
	})
}

// idTokenOf redeems code at the provider's token endpoint directly.
func idTokenOf(t *testing.T, issuer, clientID, secret, code, verifier string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, issuer+"/oauth/token", strings.NewReader(url.Values{
		"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirect}, "code_verifier": {verifier},
	}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(clientID, secret)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var tok struct {
		IDToken string `json:"id_token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&tok); err != nil || tok.IDToken == "" {
		t.Fatalf("no id_token for %s (status %d): %v", clientID, res.StatusCode, err)
	}
	return tok.IDToken
}

// swapIDToken replaces the id_token of every token-endpoint answer.
type swapIDToken struct{ idToken string }

func (s swapIDToken) RoundTrip(req *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil || !strings.HasSuffix(req.URL.Path, "/oauth/token") {
		return res, err
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		return nil, err
	}
	body["id_token"] = s.idToken
	b, _ := json.Marshal(body)
	res.Body = io.NopCloser(bytes.NewReader(b))
	res.ContentLength = int64(len(b))
	res.Header.Del("Content-Length")
	return res, nil
}
