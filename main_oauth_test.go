package main

import (
	"testing"

	"esauth/config"
	"esauth/lib/session"
)

// ESAUTH_OAUTH_TRUST_PROVIDER_MFA reaches the OAuth flow's settings.
func TestTheProviderMFASettingReachesTheOAuthFlow(t *testing.T) {
	for _, on := range []bool{false, true} {
		a := &app{cfg: config.Config{
			PublicURL: "https://auth.example.com", OAuthTrustProviderMFA: on,
			OAuth: []config.OAuthProvider{{Name: "github", Kind: config.KindGitHub, ClientID: "id", ClientSecret: "secret"}},
		}}
		if got := a.oauthProviders(session.RandomKeys()).TrustProviderMFA; got != on {
			t.Errorf("ESAUTH_OAUTH_TRUST_PROVIDER_MFA=%v gave TrustProviderMFA %v", on, got)
		}
	}
}
