package config_test

import (
	"reflect"
	"strings"
	"testing"

	"esauth/config"
)

func TestOAuthProvidersAreReadWithTheirKinds(t *testing.T) {
	c := load(t, map[string]string{
		"ESAUTH_PUBLIC_URL":                 "https://auth.example.com/",
		"ESAUTH_OAUTH_PROVIDERS":            "github, google,my-idp",
		"ESAUTH_OAUTH_GITHUB_CLIENT_ID":     "gh-id",
		"ESAUTH_OAUTH_GITHUB_CLIENT_SECRET": "gh-secret",
		"ESAUTH_OAUTH_GITHUB_AUTH_URL":      "https://ghe.example.com/login/oauth/authorize",
		"ESAUTH_OAUTH_GOOGLE_CLIENT_ID":     "g-id",
		"ESAUTH_OAUTH_GOOGLE_CLIENT_SECRET": "g-secret",
		"ESAUTH_OAUTH_MY_IDP_CLIENT_ID":     "m-id",
		"ESAUTH_OAUTH_MY_IDP_CLIENT_SECRET": "m-secret",
		"ESAUTH_OAUTH_MY_IDP_ISSUER":        "https://id.example.com/",
		"ESAUTH_OAUTH_MY_IDP_SCOPES":        "email groups",
	})
	want := []config.OAuthProvider{
		{Name: "github", Kind: config.KindGitHub, ClientID: "gh-id", ClientSecret: "gh-secret", AuthURL: "https://ghe.example.com/login/oauth/authorize"},
		{Name: "google", Kind: config.KindGoogle, ClientID: "g-id", ClientSecret: "g-secret", Issuer: "https://accounts.google.com"},
		{Name: "my-idp", Kind: config.KindOIDC, ClientID: "m-id", ClientSecret: "m-secret", Issuer: "https://id.example.com", Scopes: []string{"openid", "email", "groups"}},
	}
	if !reflect.DeepEqual(c.OAuth, want) {
		t.Errorf("OAuth = %+v;\nwant %+v", c.OAuth, want)
	}
	if c.PublicURL != "https://auth.example.com" {
		t.Errorf("PublicURL = %q; want it without the trailing slash", c.PublicURL)
	}
}

func TestOAuthSettingsThatAreMissingOrInconsistentStopTheStart(t *testing.T) {
	base := func(extra map[string]string) map[string]string {
		m := map[string]string{
			"ESAUTH_PUBLIC_URL": "https://auth.example.com", "ESAUTH_OAUTH_PROVIDERS": "github",
			"ESAUTH_OAUTH_GITHUB_CLIENT_ID": "id", "ESAUTH_OAUTH_GITHUB_CLIENT_SECRET": "s3cr3t-value",
		}
		for k, v := range extra {
			if v == "" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	tests := []struct {
		name  string
		env   map[string]string
		names []string // what the message must name
	}{
		{"no public URL", base(map[string]string{"ESAUTH_PUBLIC_URL": ""}), []string{"ESAUTH_PUBLIC_URL"}},
		{"a public URL with a query", base(map[string]string{"ESAUTH_PUBLIC_URL": "https://auth.example.com/?x=1"}), []string{"ESAUTH_PUBLIC_URL"}},
		{"no client id", base(map[string]string{"ESAUTH_OAUTH_GITHUB_CLIENT_ID": ""}), []string{"ESAUTH_OAUTH_GITHUB_CLIENT_ID"}},
		{"no client secret", base(map[string]string{"ESAUTH_OAUTH_GITHUB_CLIENT_SECRET": ""}), []string{"ESAUTH_OAUTH_GITHUB_CLIENT_SECRET"}},
		{"an issuer for github", base(map[string]string{"ESAUTH_OAUTH_GITHUB_ISSUER": "https://id.example.com"}), []string{"ESAUTH_OAUTH_GITHUB_ISSUER"}},
		{"an OpenID Connect provider without issuer", base(map[string]string{"ESAUTH_OAUTH_PROVIDERS": "acme", "ESAUTH_OAUTH_ACME_CLIENT_ID": "i", "ESAUTH_OAUTH_ACME_CLIENT_SECRET": "s"}), []string{"ESAUTH_OAUTH_ACME_ISSUER"}},
		{"an endpoint override for an OpenID Connect provider", base(map[string]string{"ESAUTH_OAUTH_PROVIDERS": "acme", "ESAUTH_OAUTH_ACME_CLIENT_ID": "i", "ESAUTH_OAUTH_ACME_CLIENT_SECRET": "s", "ESAUTH_OAUTH_ACME_ISSUER": "https://id.example.com", "ESAUTH_OAUTH_ACME_TOKEN_URL": "https://id.example.com/token"}), []string{"ESAUTH_OAUTH_ACME_TOKEN_URL"}},
		{"a relative issuer", base(map[string]string{"ESAUTH_OAUTH_PROVIDERS": "acme", "ESAUTH_OAUTH_ACME_CLIENT_ID": "i", "ESAUTH_OAUTH_ACME_CLIENT_SECRET": "s", "ESAUTH_OAUTH_ACME_ISSUER": "/issuer"}), []string{"ESAUTH_OAUTH_ACME_ISSUER"}},
		{"a name that is not one", base(map[string]string{"ESAUTH_OAUTH_PROVIDERS": "Acme!"}), []string{"ESAUTH_OAUTH_PROVIDERS", "Acme!"}},
		{"a name listed twice", base(map[string]string{"ESAUTH_OAUTH_PROVIDERS": "github,github"}), []string{"ESAUTH_OAUTH_PROVIDERS", "twice"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(env(tt.env))
			if err == nil {
				t.Fatal("Load accepted it")
			}
			for _, n := range tt.names {
				if !strings.Contains(err.Error(), n) {
					t.Errorf("error %q does not name %s", err, n)
				}
			}
			if strings.Contains(err.Error(), "s3cr3t-value") {
				t.Errorf("error %q shows the client secret", err)
			}
		})
	}
}

func TestTrustingTheProvidersSecondFactorIsOffUnlessSet(t *testing.T) {
	if c := load(t, nil); c.OAuthTrustProviderMFA {
		t.Error("ESAUTH_OAUTH_TRUST_PROVIDER_MFA is on by default")
	}
	if c := load(t, map[string]string{"ESAUTH_OAUTH_TRUST_PROVIDER_MFA": "true"}); !c.OAuthTrustProviderMFA {
		t.Error("ESAUTH_OAUTH_TRUST_PROVIDER_MFA=true is not read")
	}
	if _, err := config.Load(env(map[string]string{"ESAUTH_OAUTH_TRUST_PROVIDER_MFA": "maybe"})); err == nil || !strings.Contains(err.Error(), "ESAUTH_OAUTH_TRUST_PROVIDER_MFA") {
		t.Errorf("a value that is not a boolean: %v", err)
	}
}
