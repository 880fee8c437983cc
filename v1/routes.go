package v1

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"

	"esauth/lib/errs"
	"esauth/lib/metrics"
)

// newRouter lists every route of the API in one place.
func newRouter(d Deps) *mux.Router {
	if d.Metrics == nil { // NewServer sets one; tests that build the router alone may not
		d.Metrics = metrics.New()
	}
	r := mux.NewRouter()
	// No path cleaning: mux would answer "/v1/users/../x" with an HTML
	// redirect; unknown paths get the JSON 404 instead.
	r.SkipClean(true)
	// mux answers a known path with a wrong method as 404 when the route
	// sits in a subrouter, so the not-found handler asks the router whether
	// the path exists under another method and answers 405 with Allow then.
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if allowed := allowedMethods(r, req); len(allowed) > 0 {
			w.Header().Set("Allow", strings.Join(allowed, ", "))
			writeJSON(w, http.StatusMethodNotAllowed, envelope{
				Error: errorLabel(http.StatusMethodNotAllowed), Message: "This route does not take this method.",
			})
			return
		}
		writeError(w, req, errs.E(errs.NotFound, "No such route."))
	})
	r.MethodNotAllowedHandler = r.NotFoundHandler
	r.Use(recordRoute)
	// The user loader (one _mget) runs only on the routes that need the
	// user; the others (signup, login, logout, the OpenAPI document) cost
	// no Elasticsearch round trip for a cookie they do not need.
	load := loadUser(d.Cookies, d.Store, d.Policy, d.Now)
	// With ESAUTH_REQUIRE_TOTP_FOR_ADMINS an admin without a second factor
	// reaches only the routes that enrol one (and /v1/auth/verify).
	adminRule := requireSecondFactorForAdmins(d.RequireTOTPForAdmins)
	authed := func(h http.Handler) http.Handler { return load(requireLogin(adminRule(h))) }
	enrolling := func(h http.Handler) http.Handler { return load(requireLogin(h)) }

	// The collaborators several handlers share: one owner per rule.
	// Password checks made with a session are limited per session too, on
	// top of the account lockout: a stolen cookie is no way to guess faster.
	guard := newPasswordGuard(d.Store, d.Hasher, d.Lockout, d.LoginLimit, d.Now)
	guard.metrics = d.Metrics
	starter := sessionStarter{sessions: d.Store, cookies: d.Cookies, policy: d.Policy, maxSessions: d.MaxSessions, now: d.Now}
	ml := mailings{mail: d.Mail, tokens: d.Store, now: d.Now}
	accounts := Signup{Store: d.Store, Hasher: d.Hasher, Screen: d.Passwords, Now: d.Now, mail: ml}

	// One per-IP budget for every way to sign up, and one for every way to
	// log in (password, provider callback, and the pages' forms).
	signupLimit := limitByIP(d.SignupLimit, d.IPv6Prefix, d.Now)
	loginLimit := limitByIP(d.LoginLimit, d.IPv6Prefix, d.Now)

	users := r.PathPrefix("/v1/users").Subrouter()
	signup := signupLimit(handleCreateUser(accounts, d.Audit))
	users.Handle("", signup).Methods(http.MethodPost)
	users.Handle("", authed(handleSearchUsers(d.Store))).Methods(http.MethodGet)
	users.Handle("/new", signup).Methods(http.MethodPost) // the Flask app's path
	// {email} must hold an "@", so "/v1/users/new" is only ever the
	// signup path and never a user called "new".
	const email = "/{email:[^/]*@[^/]*}"
	users.Handle(email, authed(handleGetUser(d.Store))).Methods(http.MethodGet)
	users.Handle(email, authed(handleUpdateUser(d.Store, d.Now, d.Audit))).Methods(http.MethodPatch)
	users.Handle(email+"/audit", authed(handleListAudit(d.Store))).Methods(http.MethodGet)
	users.Handle(email, authed(handleDeleteUser(d.Store, guard, d.Cookies, d.Audit, ml))).Methods(http.MethodDelete)

	auth := r.PathPrefix("/v1/auth").Subrouter()
	logins := Logins{metrics: d.Metrics, guard: guard, users: d.Store, starter: starter, screen: d.Passwords, rec: d.Audit,
		requireVerified: d.RequireVerifiedEmail, mail: ml}
	auth.Handle("/login", loginLimit(handleLogin(logins))).Methods(http.MethodPost)
	auth.Handle("/logout", handleLogout(d.Store, d.Cookies, d.Audit)).Methods(http.MethodPost)
	auth.Handle("/logout/all", authed(handleLogoutAll(d.Store, d.Cookies, d.Now, d.Audit))).Methods(http.MethodPost)
	auth.Handle("/verify", enrolling(handleVerify())).Methods(http.MethodGet)
	// Links mailed to the address: verification, recovery. Spending a
	// link needs no login (it may be opened on another device); asking for
	// mail shares the signup's per-IP budget, setting a password the
	// login's.
	verification := Verification{mailings: ml, users: d.Store, rec: d.Audit}
	auth.Handle("/verification", loginLimit(handleVerifyEmail(verification))).Methods(http.MethodPost)
	auth.Handle("/verification/resend", authed(signupLimit(handleResendVerification(verification)))).Methods(http.MethodPost)
	recovery := Recovery{mailings: ml, users: d.Store, hasher: d.Hasher, screen: d.Passwords, starter: starter, rec: d.Audit,
		perEmail: newKeyedLimiter(recoveryPerEmail, maxTrackedIPs), work: make(chan struct{}, recoveryWorkers), log: d.Log}
	auth.Handle("/recovery", signupLimit(handleRecoveryRequest(recovery))).Methods(http.MethodPost)
	auth.Handle("/recovery/complete", loginLimit(handleRecoveryComplete(recovery))).Methods(http.MethodPost)
	// The second factor. Its code is owed by a half-authenticated session,
	// which the loader finds but shows to no other route.
	second := TOTP{guard: guard, users: d.Store, starter: starter, mail: ml, rec: d.Audit, issuer: "esauth"}
	auth.Handle("/totp/enroll", enrolling(handleTOTPEnrol(second))).Methods(http.MethodPost)
	auth.Handle("/totp/confirm", enrolling(handleTOTPConfirm(second))).Methods(http.MethodPost)
	auth.Handle("/totp", authed(handleTOTPDisable(second))).Methods(http.MethodDelete)
	auth.Handle("/totp/verify", loginLimit(load(handleTOTPVerify(second)))).Methods(http.MethodPost)
	auth.Handle("/forward", load(handleForward(d.ForwardRules, forwardProxies[d.ForwardProxy], d.TrustedProxies))).Methods(http.MethodGet)
	passwords := Passwords{guard: guard, store: d.Store, starter: starter, screen: d.Passwords, rec: d.Audit, mail: ml}
	auth.Handle("/password", authed(handleChangePassword(passwords))).Methods(http.MethodPost)
	auth.Handle("/sessions", authed(handleListSessions(d.Store, d.Policy, d.Now))).Methods(http.MethodGet)
	auth.Handle("/sessions/{id}", authed(handleRevokeSession(d.Store, d.Cookies, d.Audit))).Methods(http.MethodDelete)

	// Login with external providers. The callback is a login attempt, so
	// it shares the login's per-IP budget; it runs the loader because a
	// link needs the logged-in user. The start shares it too: each start
	// writes a one-use state record, which anonymous clients must not be
	// able to do without bound.
	flow := oauthFlow{cfg: d.OAuth, secure: d.Cookies.Secure, users: d.Store, ids: d.Store, tokens: d.Store,
		starter: starter, rec: d.Audit, now: d.Now}
	auth.Handle("/oauth/{provider}", loginLimit(handleOAuthStart(flow))).Methods(http.MethodGet)
	auth.Handle("/oauth/{provider}/callback", loginLimit(load(handleOAuthCallback(flow)))).Methods(http.MethodGet)
	auth.Handle("/oauth/{provider}/link", authed(handleOAuthLink(flow))).Methods(http.MethodPost)
	auth.Handle("/identities", authed(handleListIdentities(flow))).Methods(http.MethodGet)
	auth.Handle("/identities/{provider}", authed(handleUnlink(flow))).Methods(http.MethodDelete)

	r.Handle("/v1/openapi.json", handleOpenAPI()).Methods(http.MethodGet)

	test := r.PathPrefix("/v1/test").Subrouter()
	test.Handle("", authed(handleTest())).Methods(http.MethodGet)

	// Probes, outside /v1 and before the pages, unless they have an
	// address of their own (NewAdmin). Metrics never are on the public
	// address: their counters (mails sent after a recovery request or a
	// lockout, for one) would tell anyone which addresses have accounts,
	// and the runtime's series what runs here (issue 17).
	if !d.SeparateAdmin {
		addProbes(r, d)
	}
	r.Handle("/metrics", handlerFunc(func(http.ResponseWriter, *http.Request) error {
		return errs.E(errs.NotFound, "Metrics are served only on the admin address (ESAUTH_ADMIN_ADDR).")
	})).Methods(http.MethodGet)

	if d.Pages != nil {
		svc := Services{Logins: logins, Signup: accounts, Passwords: passwords, Cookies: d.Cookies, Store: d.Store, Audit: d.Audit,
			Verification: verification, Recovery: recovery, TOTP: second,
			LoginLimit: loginLimit, SignupLimit: signupLimit, policy: d.Policy, now: d.Now,
			requireTOTPForAdmins: d.RequireTOTPForAdmins}
		for name := range d.OAuth.Providers {
			svc.OAuthProviders = append(svc.OAuthProviders, name)
		}
		// Everything outside /v1 and the probes; the API's own unknown
		// paths keep the JSON 404.
		notAPI := func(req *http.Request, _ *mux.RouteMatch) bool {
			p := req.URL.Path
			// The probes' paths with another method get the API's 405.
			if p == "/metrics" || !d.SeparateAdmin && (p == "/healthz" || p == "/readyz") {
				return false
			}
			return p != "/v1" && !strings.HasPrefix(p, "/v1/")
		}
		r.MatcherFunc(notAPI).Handler(loadUserForPages(d.Cookies, d.Store, d.Policy, d.Now)(d.Pages(svc)))
	}

	return r
}

// addProbes adds what orchestrators read.
func addProbes(r *mux.Router, d Deps) {
	r.Handle("/healthz", handleHealthz()).Methods(http.MethodGet)
	r.Handle("/readyz", handleReadyz(d.Store)).Methods(http.MethodGet)
}

// NewAdmin returns the handler of the admin address (ESAUTH_ADMIN_ADDR):
// /healthz, /readyz and /metrics alone, with the same metrics as the
// public handler made from the same d. It writes no access line: probes
// and scrapes every few seconds would drown the log.
func NewAdmin(d Deps) http.Handler {
	if d.Metrics == nil {
		d.Metrics = metrics.New()
	}
	r := mux.NewRouter()
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		writeError(w, req, errs.E(errs.NotFound, "No such route: this address serves /healthz, /readyz and /metrics."))
	})
	r.MethodNotAllowedHandler = r.NotFoundHandler
	addProbes(r, d)
	r.Handle("/metrics", d.Metrics.Handler()).Methods(http.MethodGet)
	return recoverPanics(securityHeaders(r))
}

// allowedMethods lists the methods under which router has a route for req's path.
func allowedMethods(router *mux.Router, req *http.Request) []string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete} {
		probe := req.Clone(req.Context())
		probe.Method = m
		var match mux.RouteMatch
		if router.Match(probe, &match) && match.MatchErr == nil && match.Route != nil {
			allowed = append(allowed, m)
		}
	}
	return allowed
}
