package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"sync"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// GoogleIssuer is Google's OpenID Connect issuer: the "google" kind is an
// OpenID Connect provider with this issuer.
const GoogleIssuer = "https://accounts.google.com"

// OIDC is an OpenID Connect provider: discovery from its issuer, the code
// flow with PKCE and a nonce, and the person from the verified ID token
// (or, for claims the token leaves out, from the userinfo endpoint).
type OIDC struct {
	name, issuer string
	clientID     string
	secret       string
	scopes       []string
	opts         Options

	// Discovery happens on first use and again after a failure, so a
	// provider that is down at start does not stop esauth.
	mu       sync.Mutex
	provider *oidc.Provider
}

// NewOIDC returns the OpenID Connect provider name at issuer. scopes
// nil means openid, email and profile.
func NewOIDC(name, issuer, clientID, secret string, scopes []string, opts Options) *OIDC {
	if len(scopes) == 0 {
		scopes = []string{oidc.ScopeOpenID, "email", "profile"}
	}
	return &OIDC{name: name, issuer: issuer, clientID: clientID, secret: secret, scopes: scopes, opts: opts}
}

// Name implements Provider.
func (p *OIDC) Name() string { return p.name }

func (p *OIDC) discover(ctx context.Context) (*oidc.Provider, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider != nil {
		return p.provider, nil
	}
	// The provider keeps this context's client (not the context) for
	// fetching its keys later.
	prov, err := oidc.NewProvider(oidc.ClientContext(ctx, p.opts.client()), p.issuer)
	if err != nil {
		return nil, fail(ProviderUnavailable, "discovery at %s: %w", p.issuer, err)
	}
	p.provider = prov
	return prov, nil
}

func (p *OIDC) config(prov *oidc.Provider) *oauth2.Config {
	return &oauth2.Config{
		ClientID: p.clientID, ClientSecret: p.secret, RedirectURL: p.opts.RedirectURL,
		Endpoint: prov.Endpoint(), Scopes: p.scopes,
	}
}

// AuthURL implements Provider.
func (p *OIDC) AuthURL(ctx context.Context, a Attempt) (string, error) {
	prov, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	return p.config(prov).AuthCodeURL(a.State, oauth2.S256ChallengeOption(a.Verifier), oidc.Nonce(a.Nonce)), nil
}

// oidcClaims are the claims esauth reads, from the ID token or userinfo.
type oidcClaims struct {
	Subject       string          `json:"sub"`
	Email         string          `json:"email"`
	EmailVerified json.RawMessage `json:"email_verified"`
	GivenName     string          `json:"given_name"`
	FamilyName    string          `json:"family_name"`
	Name          string          `json:"name"`
	// AuthorizedParty (azp) is the client the ID token was issued to,
	// when that is not evident from its audience (see authorizedParty).
	AuthorizedParty *string `json:"azp"`
}

// authorizedParty is OpenID Connect Core 3.1.3.7, steps 4 and 5, which
// go-oidc leaves to its caller (it checks only that aud includes the
// client): an ID token with several audiences must carry azp, and an azp,
// whenever present, must be this client. Together: a token issued to
// another client that merely lists esauth among its audiences is refused.
func authorizedParty(aud []string, azp *string, clientID string) error {
	switch {
	case azp != nil && *azp != clientID:
		return fail(TokenInvalid, "the ID token's azp is another client (%q)", *azp)
	case azp == nil && len(aud) > 1:
		return fail(TokenInvalid, "the ID token has %d audiences and no azp", len(aud))
	}
	return nil
}

// verified reads email_verified, which some providers send as a string.
func (c oidcClaims) verified() bool {
	var b bool
	if json.Unmarshal(c.EmailVerified, &b) == nil {
		return b
	}
	var s string
	if json.Unmarshal(c.EmailVerified, &s) == nil {
		b, _ = strconv.ParseBool(s)
	}
	return b
}

// Profile implements Provider.
func (p *OIDC) Profile(ctx context.Context, code string, a Attempt) (Profile, error) {
	prov, err := p.discover(ctx)
	if err != nil {
		return Profile{}, err
	}
	tok, err := exchange(ctx, p.config(prov), p.opts.client(), code, a)
	if err != nil {
		return Profile{}, err
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Profile{}, fail(TokenInvalid, "the token answer has no id_token")
	}
	vctx := oidc.ClientContext(ctx, p.opts.client())
	idt, err := prov.VerifierContext(vctx, &oidc.Config{ClientID: p.clientID, Now: p.opts.Now}).Verify(vctx, raw)
	if err != nil {
		var expired *oidc.TokenExpiredError
		if errors.As(err, &expired) {
			return Profile{}, fail(TokenInvalid, "ID token expired at %s", expired.Expiry)
		}
		return Profile{}, fail(TokenInvalid, "ID token: %w", err)
	}
	if idt.Nonce != a.Nonce {
		return Profile{}, fail(NonceMismatch, "the ID token was issued for another login attempt")
	}
	var c oidcClaims
	if err := idt.Claims(&c); err != nil {
		return Profile{}, fail(TokenInvalid, "ID token claims: %w", err)
	}
	if err := authorizedParty(idt.Audience, c.AuthorizedParty, p.clientID); err != nil {
		return Profile{}, err
	}
	if c.Email == "" && prov.UserInfoEndpoint() != "" {
		// Claims the ID token leaves out come from userinfo, for the same
		// subject only.
		ui, err := prov.UserInfo(oidc.ClientContext(ctx, p.opts.client()), oauth2.StaticTokenSource(tok))
		if err != nil {
			return Profile{}, fail(ProviderUnavailable, "userinfo: %w", err)
		}
		var uc oidcClaims
		if err := ui.Claims(&uc); err != nil {
			return Profile{}, fail(ProviderUnavailable, "userinfo claims: %w", err)
		}
		if uc.Subject != idt.Subject {
			return Profile{}, fail(TokenInvalid, "userinfo is for another subject")
		}
		c.Email, c.EmailVerified = uc.Email, uc.EmailVerified
		if c.GivenName == "" && c.FamilyName == "" {
			c.GivenName, c.FamilyName, c.Name = uc.GivenName, uc.FamilyName, uc.Name
		}
	}
	if idt.Subject == "" {
		return Profile{}, fail(NoSubject, "the ID token has no subject")
	}
	first, last := c.GivenName, c.FamilyName
	if first == "" && last == "" {
		first, last = splitName(c.Name)
	}
	return Profile{
		Provider: p.name, Subject: idt.Subject, Email: c.Email, EmailVerified: c.verified(),
		FirstName: first, LastName: last,
	}, nil
}

var _ Provider = (*OIDC)(nil)
