// Package v1 is esauth's HTTP API, version 1: one router per area (users,
// auth, test) mounted under /v1 like Flask blueprints, the JSON envelope,
// and the middleware that knows who is asking.
package v1

import (
	"esauth/lib/access"
	"esauth/lib/account"
	"esauth/lib/httpkit"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"esauth/lib/audit"
	"esauth/lib/limit"
	"esauth/lib/metrics"
	"esauth/lib/password"
	"esauth/lib/session"
	"esauth/lib/user"
)

// Store is everything the API needs from storage: what the application
// layer's rules need, plus the user loader's read and the readiness probe.
type Store interface {
	account.Store
	SessionLoader
	ReadinessChecker
}

// Deps are the server's dependencies, passed in explicitly.
type Deps struct {
	Log     *zap.Logger
	Store   Store
	Hasher  *password.Hasher
	Cookies Cookies
	Policy  session.Policy
	Now     func() time.Time
	// TrustedOrigins may send state-changing cross-origin requests
	// ("https://app.example.com").
	TrustedOrigins []string
	// CORSOrigins may call /v1 from a browser on another origin (CORS,
	// credentials allowed); they are trusted by the cross-origin check too.
	CORSOrigins []string
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// LoginLimit and SignupLimit throttle each client IP; zero is no limit.
	// LoginLimit also throttles password checks made with a session
	// (password change, self-delete), per session.
	LoginLimit  RateLimit
	SignupLimit RateLimit
	// Limits shares the per-IP limits and the recovery mails' per-address
	// limit with the other instances (the server runs its Sync); nil keeps
	// them in this instance alone.
	Limits *limit.Board
	// IPv6Prefix is the prefix length by which IPv6 clients are counted
	// by the per-IP limits (0 means 64).
	IPv6Prefix int
	// MaxSessions caps one user's live sessions; a login beyond it ends
	// the oldest. Zero means no cap.
	MaxSessions int
	// RequestTimeout bounds all of one request's storage calls together
	// (zero means no deadline of its own).
	RequestTimeout time.Duration
	// Lockout throttles one account after failed logins; zero is off.
	Lockout user.Lockout
	// Audit takes security events; nil discards them.
	Audit audit.Recorder
	// Passwords screens new passwords; its zero value screens nothing.
	Passwords PasswordScreen
	// OAuth is login with external providers; its zero value has none.
	OAuth OAuth
	// Passkeys is login with passkeys (WebAuthn); its zero value has them off.
	Passkeys Passkeys
	// Metrics collects what GET /metrics serves; nil makes a new set.
	Metrics *metrics.Metrics
	// Mail sends the verification and recovery links and the security
	// notices; its zero value sends nothing.
	Mail Mail
	// RequireTOTPForAdmins lets an admin without a second factor do
	// nothing but enrol one.
	RequireTOTPForAdmins bool
	// RequireVerifiedEmail refuses the login of a user whose address is
	// not verified (403).
	RequireVerifiedEmail bool
	// NoNewDeviceNotice turns the login's comparison with the account's
	// recent logins (and its notice) off (ESAUTH_NEW_DEVICE_NOTICE=false).
	NoNewDeviceNotice bool
	// ForwardRules give the policy of each request forward-auth is asked
	// about; with none, every request needs a logged-in user.
	ForwardRules access.Rules
	// ForwardProxy is the kind of proxy that asks forward-auth (nginx,
	// traefik, caddy; empty means nginx): which headers carry its request.
	ForwardProxy string
	// SeparateAdmin leaves /healthz, /readyz and /metrics out of the
	// public handler: NewAdmin serves them on an address of their own.
	SeparateAdmin bool
	// Pages, when set, serves every path outside /v1 (the web pages), given
	// the services the API's own handlers use, behind the same middleware
	// and the user loader.
	Pages func(Services) http.Handler
}

// NewServer returns the whole HTTP handler of esauth.
//
// Middleware order, outermost first (the pieces are lib/httpkit's; those
// that refuse write the pages' refusals as pages):
//  1. AccessLog: request id, request logger, the request's one deadline for
//     all of its storage calls and hashing, one access line (outermost,
//     so it records the final status even of a recovered panic);
//  2. RecoverPanics: a panic becomes a logged 500 (envelope or page);
//  3. SecurityHeaders: on every answer, refusals included;
//  4. CORS, on /v1 alone (ESAUTH_CORS_ORIGINS): preflights answered, and
//     every answer to an allowed origin readable by it, refusals included;
//  5. LimitHeaders: a URL and headers over 16 KiB are a 431;
//  6. WithClientIP: the client's address, for rate limits and sessions;
//  7. OneCredential: a cookie and a bearer token together, or a token in
//     the query string, are a 400;
//  8. CrossOrigin: CSRF refusals before any route or storage work, for
//     every request but a bearer token's (no ambient credential);
//  9. the router, which inside runs RecordRoute (route template for the
//     log), then per route an IPLimit, and on the routes that need the
//     user LoadUser (cookie or bearer token → one _mget → user and session in the
//     context) followed by RequireLogin.
func NewServer(d Deps) (http.Handler, error) {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Audit == nil {
		d.Audit = audit.Discard{}
	}
	if d.Metrics == nil {
		d.Metrics = metrics.New()
	}
	if d.ForwardProxy == "" {
		d.ForwardProxy = "nginx"
	}
	if _, ok := forwardProxies[d.ForwardProxy]; !ok {
		return nil, fmt.Errorf("forward proxy %q is not nginx, traefik or caddy", d.ForwardProxy)
	}
	r, refuse := buildRouter(d)
	csrf, err := httpkit.CrossOrigin(append(slices.Clone(d.TrustedOrigins), d.CORSOrigins...), refuse)
	if err != nil {
		return nil, err
	}
	var h http.Handler = r
	h = httpkit.ExceptBearer(csrf)(h)
	h = httpkit.OneCredential(d.Cookies.Name, refuse)(h)
	h = httpkit.WithClientIP(d.TrustedProxies)(h)
	h = httpkit.LimitHeaders(refuse)(h)
	h = apiOnly(httpkit.CORS(d.CORSOrigins), h)
	h = httpkit.SecurityHeaders(h)
	h = httpkit.RecoverPanics(refuse)(h)
	h = httpkit.AccessLog(d.Log, d.RequestTimeout, d.Metrics)(h)
	return h, nil
}

// apiOnly puts m in front of next for the API's paths (/v1/...) alone: the
// pages are for esauth's own origin, and no other origin reads them.
func apiOnly(m httpkit.Middleware, next http.Handler) http.Handler {
	api := m(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/v1/") {
			api.ServeHTTP(w, r)
			return
		}
		next.ServeHTTP(w, r)
	})
}
