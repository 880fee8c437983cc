package v1

import (
	"net/http"
	"strings"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"esauth/lib/account"
	"esauth/lib/errs"
	"esauth/lib/httpkit"
	"esauth/lib/limit"
	"esauth/lib/metrics"
	"esauth/lib/reqlog"
)

// newRouter is the API's router (for tests that walk its routes).
func newRouter(d Deps) *mux.Router {
	r, _ := buildRouter(d)
	return r
}

// buildRouter makes the collaborators — the application layer, the per-IP
// budgets, the pages — and mounts the routes (addRoutes, addPages). It
// also returns how this handler writes a refusal: a page for the pages'
// requests, the envelope for everything else, for the middleware in front
// of the router (panics, cross-origin refusals).
func buildRouter(d Deps) (*mux.Router, httpkit.Refuse) {
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
	r.NotFoundHandler = handlerFunc(func(w http.ResponseWriter, req *http.Request) error {
		if err := httpkit.NotAllowed(w, r, req); err != nil {
			return err
		}
		return errs.E(errs.NotFound, "No such route.")
	})
	r.MethodNotAllowedHandler = r.NotFoundHandler
	r.Use(httpkit.RecordRoute)
	// The application layer: every rule, once, for the API and the pages.
	svc := account.New(account.Deps{
		Store: d.Store, Hasher: d.Hasher, Screen: d.Passwords, Lockout: d.Lockout,
		// Password checks made with a session are limited per session too,
		// on top of the account lockout: a stolen cookie is no way to
		// guess faster.
		PerSession: d.LoginLimit,
		Policy:     d.Policy, MaxSessions: d.MaxSessions, Audit: d.Audit, Mail: d.Mail, Metrics: d.Metrics,
		Now: d.Now, Log: sugared(d.Log), RequireVerifiedEmail: d.RequireVerifiedEmail, NoNewDeviceNotice: d.NoNewDeviceNotice,
		RequireTOTPForAdmins: d.RequireTOTPForAdmins, TrustProviderMFA: d.OAuth.TrustProviderMFA,
		Limits: d.Limits, Passkeys: d.Passkeys.RelyingParty, DecoyKey: d.Passkeys.DecoyKey,
	})
	// One per-IP budget for every way to sign up, and one for every way to
	// log in (password, provider callback, and the pages' forms).
	b := budgets{
		signup: httpkit.NewIPLimit(d.Limits.Keyed("signup", d.SignupLimit, limit.MaxTracked), d.IPv6Prefix, d.Now),
		login:  httpkit.NewIPLimit(d.Limits.Keyed("login", d.LoginLimit, limit.MaxTracked), d.IPv6Prefix, d.Now),
	}
	addRoutes(r, d, svc, b)
	refuse := httpkit.Refuse(writeError)
	if d.Pages != nil {
		if pages := addPages(r, d, svc, b); pages != nil {
			refuse = func(w http.ResponseWriter, req *http.Request, err error) {
				if isPage(d, req) {
					pages.Refuse(w, req, err)
					return
				}
				writeError(w, req, err)
			}
		}
	}
	return r, refuse
}

// addRoutes lists every route of the API.
func addRoutes(r *mux.Router, d Deps, svc *account.Service, b budgets) {
	// The user loader (one _mget) runs only on the routes that need the
	// user; the others (signup, login, logout, the OpenAPI document) cost
	// no Elasticsearch round trip for a cookie they do not need.
	load := httpkit.LoadUser(d.Cookies, d.Store, d.Policy, d.Now, writeError)
	// With ESAUTH_REQUIRE_TOTP_FOR_ADMINS an admin without a second factor
	// reaches only the routes that enrol one (and /v1/auth/verify).
	adminRule := requireSecondFactorForAdmins(d.RequireTOTPForAdmins, svc)
	requireLogin := httpkit.RequireLogin(writeError)
	authed := func(h http.Handler) http.Handler { return load(requireLogin(adminRule(h))) }
	enrolling := func(h http.Handler) http.Handler { return load(requireLogin(h)) }
	cookies := d.Cookies

	signupLimit, loginLimit := b.signup.Refusing(writeError), b.login.Refusing(writeError)

	users := r.PathPrefix("/v1/users").Subrouter()
	signup := signupLimit(handleCreateUser(svc))
	users.Handle("", signup).Methods(http.MethodPost)
	users.Handle("", authed(handleSearchUsers(svc))).Methods(http.MethodGet)
	users.Handle("/new", signup).Methods(http.MethodPost) // the Flask app's path
	// {email} must hold an "@", so "/v1/users/new" is only ever the
	// signup path and never a user called "new".
	const email = "/{email:[^/]*@[^/]*}"
	users.Handle(email, authed(handleGetUser(svc))).Methods(http.MethodGet)
	users.Handle(email, authed(handleUpdateUser(svc))).Methods(http.MethodPatch)
	users.Handle(email+"/audit", authed(handleListAudit(svc))).Methods(http.MethodGet)
	users.Handle(email, authed(handleDeleteUser(svc, cookies))).Methods(http.MethodDelete)

	auth := r.PathPrefix("/v1/auth").Subrouter()
	auth.Handle("/login", loginLimit(handleLogin(svc, cookies))).Methods(http.MethodPost)
	auth.Handle("/logout", handleLogout(svc, cookies)).Methods(http.MethodPost)
	auth.Handle("/logout/all", authed(handleLogoutAll(svc, cookies))).Methods(http.MethodPost)
	auth.Handle("/verify", enrolling(handleVerify())).Methods(http.MethodGet)
	// Links mailed to the address: verification, recovery. Spending a
	// link needs no login (it may be opened on another device); asking for
	// mail shares the signup's per-IP budget, setting a password the
	// login's.
	auth.Handle("/verification", loginLimit(handleVerifyEmail(svc))).Methods(http.MethodPost)
	auth.Handle("/verification/resend", authed(signupLimit(handleResendVerification(svc)))).Methods(http.MethodPost)
	auth.Handle("/recovery", signupLimit(handleRecoveryRequest(svc))).Methods(http.MethodPost)
	auth.Handle("/recovery/complete", loginLimit(handleRecoveryComplete(svc, cookies))).Methods(http.MethodPost)
	// The second factor. Its code is owed by a half-authenticated session,
	// which the loader finds but shows to no other route.
	auth.Handle("/totp/enroll", enrolling(handleTOTPEnrol(svc))).Methods(http.MethodPost)
	auth.Handle("/totp/confirm", enrolling(handleTOTPConfirm(svc))).Methods(http.MethodPost)
	auth.Handle("/totp", authed(handleTOTPDisable(svc))).Methods(http.MethodDelete)
	auth.Handle("/totp/verify", loginLimit(load(handleTOTPVerify(svc, cookies)))).Methods(http.MethodPost)
	forward := handleForward(d.ForwardRules, forwardProxies[d.ForwardProxy], d.TrustedProxies)
	auth.Handle("/forward", load(forward)).Methods(http.MethodGet)
	auth.Handle("/password", authed(handleChangePassword(svc, cookies))).Methods(http.MethodPost)
	auth.Handle("/sessions", authed(handleListSessions(svc))).Methods(http.MethodGet)
	auth.Handle("/sessions/{id}", authed(handleRevokeSession(svc, cookies))).Methods(http.MethodDelete)

	// Login with external providers. The callback is a login attempt, so
	// it shares the login's per-IP budget; it runs the loader because a
	// link needs the logged-in user. The start shares it too: each start
	// writes a one-use state record, which anonymous clients must not be
	// able to do without bound.
	flow := oauthFlow{cfg: d.OAuth, secure: d.Cookies.Secure, svc: svc, cookies: cookies}
	auth.Handle("/oauth/{provider}", loginLimit(handleOAuthStart(flow))).Methods(http.MethodGet)
	auth.Handle("/oauth/{provider}/callback", loginLimit(load(handleOAuthCallback(flow)))).Methods(http.MethodGet)
	auth.Handle("/oauth/{provider}/link", authed(handleOAuthLink(flow))).Methods(http.MethodPost)
	auth.Handle("/identities", authed(handleListIdentities(svc))).Methods(http.MethodGet)
	auth.Handle("/identities/{provider}", authed(handleUnlink(svc))).Methods(http.MethodDelete)

	// Passkeys. Every step of a ceremony takes from the login's per-IP
	// budget: each begin writes a one-use record, and each finish is a
	// login attempt (or, registering, a password check).
	pk := passkeyFlow{cfg: d.Passkeys, secure: d.Cookies.Secure, svc: svc}
	auth.Handle("/passkeys/register/begin", loginLimit(authed(handlePasskeyRegisterBegin(pk)))).Methods(http.MethodPost)
	auth.Handle("/passkeys/register/finish", loginLimit(authed(handlePasskeyRegisterFinish(pk)))).Methods(http.MethodPost)
	auth.Handle("/passkeys/login/begin", loginLimit(handlePasskeyLoginBegin(pk))).Methods(http.MethodPost)
	auth.Handle("/passkeys/login/finish", loginLimit(handlePasskeyLoginFinish(pk, cookies))).Methods(http.MethodPost)
	auth.Handle("/passkeys/verify/begin", loginLimit(load(handlePasskeyVerifyBegin(pk)))).Methods(http.MethodPost)
	auth.Handle("/passkeys/verify/finish", loginLimit(load(handlePasskeyVerifyFinish(pk, cookies)))).Methods(http.MethodPost)
	auth.Handle("/passkeys", authed(handleListPasskeys(svc))).Methods(http.MethodGet)
	auth.Handle("/passkeys/{id}", authed(handleRenamePasskey(svc))).Methods(http.MethodPatch)
	auth.Handle("/passkeys/{id}", authed(handleRemovePasskey(svc))).Methods(http.MethodDelete)

	// The security console: admins only (the service refuses others).
	admin := r.PathPrefix("/v1/admin").Subrouter()
	admin.Handle("/events", authed(handleSearchEvents(svc))).Methods(http.MethodGet)
	admin.Handle("/events/stats", authed(handleEventStats(svc))).Methods(http.MethodGet)
	admin.Handle("/sessions", authed(handleSearchSessions(svc))).Methods(http.MethodGet)
	admin.Handle("/sessions/revoke", authed(handleRevokeSessions(svc))).Methods(http.MethodPost)
	admin.Handle("/lockouts", authed(handleListLockouts(svc))).Methods(http.MethodGet)
	admin.Handle("/lockouts"+email, authed(handleClearLockout(svc))).Methods(http.MethodDelete)

	r.Handle("/v1/openapi.json", handleOpenAPI()).Methods(http.MethodGet)

	test := r.PathPrefix("/v1/test").Subrouter()
	test.Handle("", authed(handleTest())).Methods(http.MethodGet)

	// Probes, outside /v1 and before the pages, unless they have an
	// address of their own (NewAdmin). Metrics never are on the public
	// address: their counters (mails sent after a recovery request or a
	// lockout, for one) would tell anyone which addresses have accounts,
	// and the runtime's series what runs here (issue 17).
	if !d.SeparateAdmin {
		addProbes(r, d, false)
	}
	r.Handle("/metrics", handlerFunc(func(http.ResponseWriter, *http.Request) error {
		return errs.E(errs.NotFound, "Metrics are served only on the admin address (ESAUTH_ADMIN_ADDR).")
	})).Methods(http.MethodGet)
}

// addPages mounts the web pages on everything outside /v1 and the probes
// (the API's own unknown paths keep the JSON 404), with the application
// layer the API's handlers use and the same per-IP budgets, refusing in
// the pages' language. It returns the pages' refusal writer, when they
// have one.
func addPages(r *mux.Router, d Deps, svc *account.Service, b budgets) httpkit.Refuser {
	var pages httpkit.Refuser
	refuse := httpkit.Refuse(writeError)
	// The pages' handler is made after its limits, which must refuse with
	// its pages: the limits ask for the writer when they refuse.
	later := func(w http.ResponseWriter, req *http.Request, err error) { refuse(w, req, err) }
	svcs := Services{Accounts: svc, Cookies: d.Cookies, LoginLimit: b.login.Refusing(later), SignupLimit: b.signup.Refusing(later)}
	for name := range d.OAuth.Providers {
		svcs.OAuthProviders = append(svcs.OAuthProviders, name)
	}
	h := d.Pages(svcs)
	if p, ok := h.(httpkit.Refuser); ok {
		pages, refuse = p, p.Refuse
	}
	matcher := func(req *http.Request, _ *mux.RouteMatch) bool { return isPage(d, req) }
	r.MatcherFunc(matcher).Handler(httpkit.LoadUserForPages(d.Cookies, d.Store, d.Policy, d.Now)(h))
	return pages
}

// isPage says whether req is for the pages: everything outside /v1 and
// the probes (whose paths with another method get the API's 405).
func isPage(d Deps, req *http.Request) bool {
	p := req.URL.Path
	if p == "/metrics" || !d.SeparateAdmin && (p == "/healthz" || p == "/readyz") {
		return false
	}
	return p != "/v1" && !strings.HasPrefix(p, "/v1/")
}

// budgets are the per-IP limits of signing up and of logging in, made
// once per router so that the API and the pages share them: a form is one
// more way in, not a second allowance.
type budgets struct{ signup, login *httpkit.IPLimit }

// addProbes adds what orchestrators read. Only the admin address (private)
// says why it is not ready; the public one answers status words, and the
// reason goes to the log.
func addProbes(r *mux.Router, d Deps, private bool) {
	r.Handle("/healthz", handleHealthz()).Methods(http.MethodGet)
	r.Handle("/readyz", handleReadyz(d.Store, private)).Methods(http.MethodGet)
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
	addProbes(r, d, true)
	r.Handle("/metrics", d.Metrics.Handler()).Methods(http.MethodGet)
	return httpkit.RecoverPanics(writeError)(httpkit.SecurityHeaders(r))
}

// sugared is log for the application layer (reqlog.Logger); none when nil.
func sugared(log *zap.Logger) reqlog.Logger {
	if log == nil {
		return reqlog.Nop{}
	}
	return log.Sugar()
}
