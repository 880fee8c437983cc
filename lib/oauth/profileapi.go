package oauth

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"

	"golang.org/x/oauth2"
)

// Endpoints are an OAuth 2.0 provider's URLs. Empty ones take the
// provider kind's public defaults; tests and self-hosted installations
// (GitHub Enterprise) set them.
type Endpoints struct {
	AuthURL, TokenURL, UserInfoURL string
}

func (e Endpoints) or(def Endpoints) Endpoints {
	if e.AuthURL == "" {
		e.AuthURL = def.AuthURL
	}
	if e.TokenURL == "" {
		e.TokenURL = def.TokenURL
	}
	if e.UserInfoURL == "" {
		e.UserInfoURL = def.UserInfoURL
	}
	return e
}

// GitHubEndpoints are github.com's. The emails list is UserInfoURL +
// "/emails".
var GitHubEndpoints = Endpoints{
	AuthURL:     "https://github.com/login/oauth/authorize",
	TokenURL:    "https://github.com/login/oauth/access_token",
	UserInfoURL: "https://api.github.com/user",
}

// FacebookEndpoints are Facebook's (Graph API v23.0).
var FacebookEndpoints = Endpoints{
	AuthURL:     "https://www.facebook.com/v23.0/dialog/oauth",
	TokenURL:    "https://graph.facebook.com/v23.0/oauth/access_token",
	UserInfoURL: "https://graph.facebook.com/v23.0/me?fields=id,email,first_name,last_name",
}

// profileAPI is a plain OAuth 2.0 provider whose person comes from its
// own API (GitHub, Facebook): no ID token, so no nonce.
type profileAPI struct {
	name string
	cfg  *oauth2.Config
	ep   Endpoints
	opts Options
	// read asks the provider's API who holds tok.
	read func(ctx context.Context, p *profileAPI, tok *oauth2.Token) (Profile, error)
}

// NewGitHub returns a GitHub provider (github.com, or GitHub Enterprise
// through ep). It asks for the read:user and user:email scopes, and takes
// the email only from the list of the user's addresses, where GitHub says
// which one is primary and whether it is verified.
func NewGitHub(name, clientID, secret string, ep Endpoints, opts Options) Provider {
	ep = ep.or(GitHubEndpoints)
	return &profileAPI{name: name, ep: ep, opts: opts, read: readGitHub, cfg: &oauth2.Config{
		ClientID: clientID, ClientSecret: secret, RedirectURL: opts.RedirectURL,
		Endpoint: oauth2.Endpoint{AuthURL: ep.AuthURL, TokenURL: ep.TokenURL},
		Scopes:   []string{"read:user", "user:email"},
	}}
}

// NewFacebook returns a Facebook provider. Facebook sends only a confirmed
// address as "email", and none when the person has none (Graph API User
// reference), so an email it sends counts as verified.
func NewFacebook(name, clientID, secret string, ep Endpoints, opts Options) Provider {
	ep = ep.or(FacebookEndpoints)
	return &profileAPI{name: name, ep: ep, opts: opts, read: readFacebook, cfg: &oauth2.Config{
		ClientID: clientID, ClientSecret: secret, RedirectURL: opts.RedirectURL,
		Endpoint: oauth2.Endpoint{AuthURL: ep.AuthURL, TokenURL: ep.TokenURL, AuthStyle: oauth2.AuthStyleInParams},
		Scopes:   []string{"email", "public_profile"},
	}}
}

func (p *profileAPI) Name() string { return p.name }

func (p *profileAPI) AuthURL(_ context.Context, a Attempt) (string, error) {
	return p.cfg.AuthCodeURL(a.State, oauth2.S256ChallengeOption(a.Verifier)), nil
}

func (p *profileAPI) Profile(ctx context.Context, code string, a Attempt) (Profile, error) {
	tok, err := exchange(ctx, p.cfg, p.opts.client(), code, a)
	if err != nil {
		return Profile{}, err
	}
	pr, err := p.read(ctx, p, tok)
	if err != nil {
		return Profile{}, err
	}
	if pr.Subject == "" {
		return Profile{}, fail(NoSubject, "%s's profile has no id", p.name)
	}
	pr.Provider = p.name
	return pr, nil
}

// getJSON reads url with tok as a bearer token (never in the URL) into v.
func (p *profileAPI) getJSON(ctx context.Context, tok *oauth2.Token, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fail(ProviderUnavailable, "profile request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	tok.SetAuthHeader(req)
	res, err := p.opts.client().Do(req)
	if err != nil {
		return fail(ProviderUnavailable, "profile API: %w", err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fail(ProviderUnavailable, "profile API: reading the answer: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		return fail(ProviderUnavailable, "profile API answered %d", res.StatusCode)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fail(ProviderUnavailable, "profile API: unreadable answer: %w", err)
	}
	return nil
}

// githubUser is the part of GET /user esauth reads
// (https://docs.github.com/en/rest/users/users#get-the-authenticated-user).
type githubUser struct {
	ID   json.Number `json:"id"`
	Name string      `json:"name"`
}

// githubEmail is one entry of GET /user/emails
// (https://docs.github.com/en/rest/users/emails#list-email-addresses-for-the-authenticated-user).
type githubEmail struct {
	Email    string `json:"email"`
	Primary  bool   `json:"primary"`
	Verified bool   `json:"verified"`
}

func readGitHub(ctx context.Context, p *profileAPI, tok *oauth2.Token) (Profile, error) {
	var u githubUser
	if err := p.getJSON(ctx, tok, p.ep.UserInfoURL, &u); err != nil {
		return Profile{}, err
	}
	var emails []githubEmail
	if err := p.getJSON(ctx, tok, p.ep.UserInfoURL+"/emails", &emails); err != nil {
		return Profile{}, err
	}
	first, last := splitName(u.Name)
	pr := Profile{Subject: u.ID.String(), FirstName: first, LastName: last}
	// Only the primary address, and it counts only when GitHub verified it.
	// The public profile's "email" is left alone: the user chooses it, and
	// it may be unverified or hidden.
	for _, e := range emails {
		if e.Primary {
			pr.Email, pr.EmailVerified = e.Email, e.Verified
			break
		}
	}
	if _, err := strconv.ParseInt(pr.Subject, 10, 64); pr.Subject != "" && err != nil {
		return Profile{}, fail(NoSubject, "GitHub user id %q is not a number", pr.Subject)
	}
	return pr, nil
}

// facebookUser is GET /me?fields=id,email,first_name,last_name
// (https://developers.facebook.com/docs/graph-api/reference/user/).
type facebookUser struct {
	ID        string `json:"id"`
	Email     string `json:"email"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

func readFacebook(ctx context.Context, p *profileAPI, tok *oauth2.Token) (Profile, error) {
	var u facebookUser
	if err := p.getJSON(ctx, tok, p.ep.UserInfoURL, &u); err != nil {
		return Profile{}, err
	}
	return Profile{Subject: u.ID, Email: u.Email, EmailVerified: u.Email != "", FirstName: u.FirstName, LastName: u.LastName}, nil
}
