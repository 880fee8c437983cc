// Package oauth logs people in with an external provider: the OAuth 2.0
// authorization-code flow with PKCE (golang.org/x/oauth2), and for OpenID
// Connect providers discovery and ID-token verification
// (github.com/coreos/go-oidc/v3). It answers one question, who the
// provider says logged in, as a Profile; what esauth does with that
// (which account, which session) is the caller's business.
package oauth

import (
	"context"
	"errors"
	"esauth/lib/user"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/oauth2"
)

// Profile is what a provider says about the person who logged in
// (user.Profile: the application layer decides with it, knowing no
// OAuth).
type Profile = user.Profile

// Attempt is what one login attempt must remember between sending the
// browser to the provider and its return: all three are random and
// single-use.
type Attempt struct {
	State    string // echoed by the provider: ties the callback to this browser
	Verifier string // PKCE: proves the code is redeemed by who asked for it
	Nonce    string // OpenID Connect: ties the ID token to this attempt
}

// NewAttempt returns fresh random values for one login attempt.
func NewAttempt() Attempt {
	return Attempt{State: oauth2.GenerateVerifier(), Verifier: oauth2.GenerateVerifier(), Nonce: oauth2.GenerateVerifier()}
}

// Provider is one configured identity provider.
type Provider interface {
	// Name is the configured name (the {provider} of the routes).
	Name() string
	// AuthURL is where to send the browser for attempt a.
	AuthURL(ctx context.Context, a Attempt) (string, error)
	// Profile redeems the code the provider sent back for attempt a and
	// says who logged in. Its errors are *Error.
	Profile(ctx context.Context, code string, a Attempt) (Profile, error)
}

// Reason says why a login with a provider failed, for the answer, the
// audit trail and the log. It never carries a code or a token.
type Reason string

const (
	// ProviderUnavailable: the provider could not be reached or answered
	// garbage (discovery, token or profile endpoint).
	ProviderUnavailable Reason = "provider_unavailable"
	// CodeRefused: the provider refused the code (reused, expired, or not
	// issued for this client or verifier).
	CodeRefused Reason = "code_refused"
	// TokenInvalid: the ID token failed verification (signature, issuer,
	// audience, expiry) or was missing.
	TokenInvalid Reason = "id_token_invalid"
	// NonceMismatch: the ID token was issued for another attempt.
	NonceMismatch Reason = "nonce_mismatch"
	// NoSubject: the profile had no stable id.
	NoSubject Reason = "no_subject"
)

// Error is a failed login with a provider.
type Error struct {
	Reason Reason
	Err    error // the cause, for the log
}

func (e *Error) Error() string {
	if e.Err == nil {
		return string(e.Reason)
	}
	return string(e.Reason) + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

func fail(r Reason, format string, args ...any) error {
	return &Error{Reason: r, Err: fmt.Errorf(format, args...)}
}

// ReasonOf is err's Reason, ProviderUnavailable for an error that is not
// an *Error.
func ReasonOf(err error) Reason {
	var e *Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ProviderUnavailable
}

// Options are what every kind of provider needs besides its own settings.
type Options struct {
	// RedirectURL is esauth's callback for this provider.
	RedirectURL string
	// Client makes the calls to the provider; its Timeout bounds each.
	// nil means a client with a 10 s timeout.
	Client *http.Client
	// Now is the clock used to check ID-token expiry (nil: time.Now).
	Now func() time.Time
}

func (o Options) client() *http.Client {
	if o.Client != nil {
		return o.Client
	}
	return &http.Client{Timeout: 10 * time.Second}
}

// withClient makes x/oauth2 use the provider's HTTP client.
func withClient(ctx context.Context, c *http.Client) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, c)
}

// exchange redeems code, telling a refused code from an unreachable
// provider.
func exchange(ctx context.Context, cfg *oauth2.Config, c *http.Client, code string, a Attempt) (*oauth2.Token, error) {
	tok, err := cfg.Exchange(withClient(ctx, c), code, oauth2.VerifierOption(a.Verifier))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) && (re.ErrorCode != "" || re.Response != nil && re.Response.StatusCode >= 400 && re.Response.StatusCode < 500) {
			// A refusal in the OAuth error format (GitHub's comes with a
			// 200), or a 4xx. The cause names the provider's error code,
			// never the code itself.
			status := 0
			if re.Response != nil {
				status = re.Response.StatusCode
			}
			return nil, &Error{Reason: CodeRefused, Err: fmt.Errorf("token endpoint answered %d %s", status, re.ErrorCode)}
		}
		// The request is a POST whose credentials are in its body or
		// header, so the URL the error names carries no secret.
		return nil, &Error{Reason: ProviderUnavailable, Err: fmt.Errorf("token endpoint: %w", err)}
	}
	return tok, nil
}

// splitName splits a display name into first and last name at its last
// space: the best one can do with a single "name" field.
func splitName(name string) (first, last string) {
	name = strings.TrimSpace(name)
	if i := strings.LastIndexByte(name, ' '); i > 0 {
		return strings.TrimSpace(name[:i]), strings.TrimSpace(name[i+1:])
	}
	return name, ""
}
