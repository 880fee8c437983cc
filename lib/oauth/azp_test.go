package oauth_test

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"esauth/lib/oauth"
)

// mintingOP is an OpenID Provider that signs whatever ID token claims a
// test asks for: discovery, its key set, and a token endpoint that
// answers a code with the claims registered under that code. A real
// provider (oauthtest) never issues a token with several audiences or an
// azp of another client, which is what these tests need.
type mintingOP struct {
	URL string
	key *rsa.PrivateKey

	mu     sync.Mutex
	claims map[string]map[string]any // by code
}

func startMintingOP(t *testing.T) *mintingOP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	op := &mintingOP{key: key, claims: map[string]map[string]any{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, map[string]any{
			"issuer": op.URL, "authorization_endpoint": op.URL + "/authorize", "token_endpoint": op.URL + "/token",
			"jwks_uri": op.URL + "/keys", "id_token_signing_alg_values_supported": []string{"RS256"},
			"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		})
	})
	mux.HandleFunc("GET /keys", func(w http.ResponseWriter, r *http.Request) {
		pub := op.key.PublicKey
		writeJSON(w, map[string]any{"keys": []map[string]any{{
			"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
			"n": b64(pub.N.Bytes()), "e": b64(big.NewInt(int64(pub.E)).Bytes()),
		}}})
	})
	mux.HandleFunc("POST /token", func(w http.ResponseWriter, r *http.Request) {
		op.mu.Lock()
		c, ok := op.claims[r.FormValue("code")]
		delete(op.claims, r.FormValue("code"))
		op.mu.Unlock()
		if !ok {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = w.Write([]byte(`{"error":"invalid_grant"}`))
			return
		}
		writeJSON(w, map[string]any{"access_token": "at", "token_type": "Bearer", "expires_in": 60, "id_token": op.sign(t, c)})
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	op.URL = srv.URL
	return op
}

// code registers the claims of the ID token the next exchange of the
// returned code answers with: a valid token of this provider for subject
// and nonce, with extra claims set (a nil value removes a claim).
func (op *mintingOP) code(nonce string, extra map[string]any) string {
	now := time.Now()
	c := map[string]any{
		"iss": op.URL, "sub": "sub-ada", "aud": "web", "nonce": nonce,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
		"email": "ada@example.com", "email_verified": true, "given_name": "Ada", "family_name": "Lovelace",
	}
	for k, v := range extra {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	code := oauth.NewAttempt().State // any random string
	op.mu.Lock()
	op.claims[code] = c
	op.mu.Unlock()
	return code
}

func (op *mintingOP) sign(t *testing.T, claims map[string]any) string {
	header, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": "k1", "typ": "JWT"})
	body, _ := json.Marshal(claims)
	input := b64(header) + "." + b64(body)
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, op.key, crypto.SHA256, sum[:])
	if err != nil {
		t.Error(err)
	}
	return input + "." + b64(sig)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// OpenID Connect Core 3.1.3.7, steps 4 and 5: an ID token with several
// audiences must name esauth's client as its authorized party (azp), and
// an azp, when there is one, must be esauth's client. go-oidc checks only
// that the audiences include the client.
func TestOIDCChecksTheAuthorizedPartyOfAnIDToken(t *testing.T) {
	op := startMintingOP(t)
	p := oauth.NewOIDC("acme", op.URL, "web", "web-secret", nil, oauth.Options{RedirectURL: redirect})
	tests := []struct {
		name   string
		claims map[string]any
		ok     bool
	}{
		{"one audience without azp is accepted", nil, true},
		{"one audience in a list without azp is accepted", map[string]any{"aud": []string{"web"}}, true},
		{"azp of this client is accepted", map[string]any{"azp": "web"}, true},
		{"several audiences with azp of this client are accepted", map[string]any{"aud": []string{"web", "other"}, "azp": "web"}, true},
		{"several audiences without azp are refused", map[string]any{"aud": []string{"web", "other"}}, false},
		{"several audiences with azp of another client are refused", map[string]any{"aud": []string{"web", "other"}, "azp": "other"}, false},
		{"azp of another client is refused", map[string]any{"azp": "other"}, false},
		{"an empty azp with several audiences is refused", map[string]any{"aud": []string{"other", "web"}, "azp": ""}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := oauth.NewAttempt()
			got, err := p.Profile(context.Background(), op.code(a.Nonce, tt.claims), a)
			if tt.ok {
				if err != nil || got.Subject != "sub-ada" || got.Email != "ada@example.com" {
					t.Fatalf("profile %+v, %v; want ada's", got, err)
				}
				return
			}
			if oauth.ReasonOf(err) != oauth.TokenInvalid || !strings.Contains(err.Error(), "azp") {
				t.Errorf("profile %+v, err %v; want %s naming azp", got, err, oauth.TokenInvalid)
			}
		})
	}
}
