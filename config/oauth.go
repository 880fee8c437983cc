package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// OAuthProvider is one external identity provider of ESAUTH_OAUTH_PROVIDERS.
type OAuthProvider struct {
	// Name is as listed (the {provider} of the routes); Kind is
	// "facebook", "github" or "google" for those names, "oidc" for any other.
	Name, Kind             string
	ClientID, ClientSecret string
	// Issuer is an OpenID Connect provider's issuer (discovery); for
	// google it defaults to Google's.
	Issuer string
	// Scopes of an OpenID Connect provider (nil: openid email profile).
	Scopes []string
	// AuthURL, TokenURL and UserInfoURL override a facebook or github
	// provider's public endpoints (tests, GitHub Enterprise).
	AuthURL, TokenURL, UserInfoURL string
}

// Provider kinds.
const (
	KindFacebook = "facebook"
	KindGitHub   = "github"
	KindGoogle   = "google"
	KindOIDC     = "oidc"
)

// providerName: lower-case letters, digits and dashes, starting with a
// letter; it goes into URLs and, upper-cased with "_" for "-", into
// variable names.
var providerName = regexp.MustCompile(`^[a-z][a-z0-9-]{0,31}$`)

// providerVar is one per-provider variable, ESAUTH_OAUTH_<P>_<suffix>.
type providerVar struct {
	suffix, help string
	secret       bool
	// kinds that accept it (nil: every kind).
	kinds []string
	set   func(p *OAuthProvider, v string) error
}

var providerVars = []providerVar{
	{"CLIENT_ID", "The client id the provider gave esauth. Required for each provider.", false, nil,
		func(p *OAuthProvider, v string) error { p.ClientID = v; return nil }},
	{"CLIENT_SECRET", "The client secret the provider gave esauth. Required for each provider.", true, nil,
		func(p *OAuthProvider, v string) error { p.ClientSecret = v; return nil }},
	{"ISSUER", "OpenID Connect issuer URL (discovery at `<issuer>/.well-known/openid-configuration`). Required for a provider of no built-in kind; for `google` it defaults to `https://accounts.google.com`.", false, []string{KindOIDC, KindGoogle},
		func(p *OAuthProvider, v string) error {
			p.Issuer = strings.TrimRight(v, "/")
			return checkHTTPURL(v)
		}},
	{"SCOPES", "Scopes asked of an OpenID Connect provider, space- or comma-separated (`openid` is always added); default `openid email profile`.", false, []string{KindOIDC, KindGoogle},
		func(p *OAuthProvider, v string) error {
			p.Scopes = strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' })
			if !slices.Contains(p.Scopes, "openid") {
				p.Scopes = append([]string{"openid"}, p.Scopes...)
			}
			return nil
		}},
	{"AUTH_URL", "Overrides the authorization endpoint of a `facebook` or `github` provider (GitHub Enterprise: `https://<host>/login/oauth/authorize`).", false, []string{KindFacebook, KindGitHub},
		func(p *OAuthProvider, v string) error { p.AuthURL = v; return checkHTTPURL(v) }},
	{"TOKEN_URL", "Overrides the token endpoint of a `facebook` or `github` provider.", false, []string{KindFacebook, KindGitHub},
		func(p *OAuthProvider, v string) error { p.TokenURL = v; return checkHTTPURL(v) }},
	{"USERINFO_URL", "Overrides the profile URL of a `facebook` (`…/me?fields=id,email,first_name,last_name`) or `github` (`…/user`; its emails are read from `…/user/emails`) provider.", false, []string{KindFacebook, KindGitHub},
		func(p *OAuthProvider, v string) error { p.UserInfoURL = v; return checkHTTPURL(v) }},
}

// providerVarName is the variable of suffix for the provider name.
func providerVarName(name, suffix string) string {
	return "ESAUTH_OAUTH_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_")) + "_" + suffix
}

func kindOf(name string) string {
	switch name {
	case KindFacebook, KindGitHub, KindGoogle:
		return name
	}
	return KindOIDC
}

// loadProviders reads the per-provider variables of each listed provider.
func loadProviders(c *Config, getenv func(string) string) []string {
	var problems []string
	seen := map[string]bool{}
	for _, name := range c.OAuthNames {
		if !providerName.MatchString(name) {
			problems = append(problems, fmt.Sprintf("ESAUTH_OAUTH_PROVIDERS: %q is not a provider name (lower-case letters, digits and dashes, starting with a letter, at most 32)", name))
			continue
		}
		if seen[name] {
			problems = append(problems, fmt.Sprintf("ESAUTH_OAUTH_PROVIDERS: %q is listed twice", name))
			continue
		}
		seen[name] = true
		p := OAuthProvider{Name: name, Kind: kindOf(name)}
		for _, pv := range providerVars {
			varName := providerVarName(name, pv.suffix)
			v := strings.TrimSpace(getenv(varName))
			if v == "" {
				continue
			}
			if pv.kinds != nil && !slices.Contains(pv.kinds, p.Kind) {
				problems = append(problems, fmt.Sprintf("%s is set, but %q is a %s provider, which does not take it", varName, name, p.Kind))
				continue
			}
			if err := pv.set(&p, v); err != nil {
				shown := fmt.Sprintf("%q", v)
				if pv.secret {
					shown = "(hidden)"
				}
				problems = append(problems, fmt.Sprintf("%s=%s: %v", varName, shown, err))
			}
		}
		if p.ClientID == "" {
			problems = append(problems, providerVarName(name, "CLIENT_ID")+" must be set for provider "+name)
		}
		if p.ClientSecret == "" {
			problems = append(problems, providerVarName(name, "CLIENT_SECRET")+" must be set for provider "+name)
		}
		if p.Kind == KindGoogle && p.Issuer == "" {
			p.Issuer = "https://accounts.google.com"
		}
		if p.Kind == KindOIDC && p.Issuer == "" {
			problems = append(problems, providerVarName(name, "ISSUER")+" must be set for provider "+name+" (an OpenID Connect provider: no built-in kind has that name)")
		}
		c.OAuth = append(c.OAuth, p)
	}
	if len(c.OAuthNames) > 0 && c.PublicURL == "" {
		problems = append(problems, "ESAUTH_PUBLIC_URL must be set when ESAUTH_OAUTH_PROVIDERS is (the providers send the browser back to <ESAUTH_PUBLIC_URL>/v1/auth/oauth/<provider>/callback)")
	}
	return problems
}

// checkPublicURL: an absolute http(s) URL, at most a path, no query.
func checkPublicURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("not an http(s) base URL such as https://auth.example.com (no query, fragment or credentials)")
	}
	return nil
}

// providerMarkdown renders the per-provider variables as table rows.
func providerMarkdown() string {
	var b strings.Builder
	for _, pv := range providerVars {
		fmt.Fprintf(&b, "| `ESAUTH_OAUTH_<P>_%s` | (unset) | %s |\n", pv.suffix, pv.help)
	}
	return b.String()
}
