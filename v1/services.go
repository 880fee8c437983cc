package v1

import (
	"net/http"
	"time"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/page"
	"esauth/lib/session"
	"esauth/lib/user"
)

// Services are what the web pages share with the API: the same rules,
// store, limits and audit, never a second copy. Each method acts for the
// request's logged-in user, as the API route of the same name does.
type Services struct {
	Logins    Logins
	Signup    Signup
	Passwords Passwords
	Cookies   Cookies
	Store     Store
	Audit     audit.Recorder
	// OAuthProviders names the configured login providers, in no order.
	OAuthProviders []string
	// Verification, Recovery and TOTP are the mailed links' and the
	// second factor's rules.
	Verification Verification
	Recovery     Recovery
	TOTP         TOTP
	// LoginLimit and SignupLimit are the API's per-IP limits, with the same
	// budgets: a form is one more way in, not a second allowance.
	LoginLimit, SignupLimit Middleware

	policy               session.Policy
	now                  func() time.Time
	requireTOTPForAdmins bool
}

// MustEnrol reports whether the request's user is an admin who may do
// nothing but enrol a second factor (ESAUTH_REQUIRE_TOTP_FOR_ADMINS), as
// the API's routes refuse them.
func (s Services) MustEnrol(r *http.Request) bool {
	cur, ok := currentOf(r.Context())
	return ok && mustEnrol(cur.User, s.requireTOTPForAdmins)
}

// Record adds a security event about email to the audit trail, as the
// API's handlers do.
func (s Services) Record(r *http.Request, event, email, outcome string) {
	record(s.Audit, r, event, email, outcome)
}

// LogOut ends the request's session (in Elasticsearch, so a copy of the
// cookie is dead too) and expires its cookie: POST /v1/auth/logout.
func (s Services) LogOut(w http.ResponseWriter, r *http.Request) error {
	return logOut(w, r, s.Store, s.Cookies, s.Audit)
}

// LogOutEverywhere ends every session of the user: POST /v1/auth/logout/all.
func (s Services) LogOutEverywhere(w http.ResponseWriter, r *http.Request) error {
	_, err := logOutEverywhere(w, r, s.Store, s.Cookies, s.now, s.Audit)
	return err
}

// ActiveSessions is the user's first page of valid sessions, newest first:
// GET /v1/auth/sessions.
func (s Services) ActiveSessions(r *http.Request) ([]SessionView, error) {
	out, _, err := activeSessions(r, s.Store, s.policy, s.now, nil, defaultPage)
	return out, err
}

// RevokeSession ends one of the user's sessions: DELETE /v1/auth/sessions/{id}.
func (s Services) RevokeSession(w http.ResponseWriter, r *http.Request, id string) error {
	return revokeSession(w, r, s.Store, s.Cookies, s.Audit, id)
}

// Identities are the user's linked provider accounts: GET /v1/auth/identities.
func (s Services) Identities(r *http.Request) ([]IdentityView, error) {
	mine, err := ownIdentities(r.Context(), s.Store, current(r).User)
	if err != nil {
		return nil, err
	}
	out := make([]IdentityView, 0, len(mine))
	for _, id := range mine {
		out = append(out, identityViewOf(id))
	}
	return out, nil
}

// Unlink removes the user's link to provider, unless it is the last way
// in: DELETE /v1/auth/identities/{provider}.
func (s Services) Unlink(r *http.Request, provider string) error {
	_, err := unlink(r, s.Store, s.Store, s.Audit, provider)
	return err
}

// RecentEvents are the user's newest n security events, as
// GET /v1/users/{email}/audit shows them to the user.
func (s Services) RecentEvents(r *http.Request, n int) ([]audit.Event, error) {
	u := current(r).User
	events, _, err := s.Store.ListEvents(r.Context(), u.Email, u.CreatedAt, nil, n)
	if err != nil {
		return nil, err
	}
	return asSeenBy(events, u.Email, false), nil
}

// SearchUsers is a page of the users matching q, newest first, for an
// admin: GET /v1/users.
func (s Services) SearchUsers(r *http.Request, q string, after *page.Cursor, limit int) ([]user.User, *page.Cursor, error) {
	if !current(r).User.IsAdmin() {
		return nil, nil, errs.E(errs.Forbidden, "Only admins may list users.")
	}
	return s.Store.SearchUsers(r.Context(), q, after, limit)
}

// UpdateUser changes target as PATCH /v1/users/{email} does.
func (s Services) UpdateUser(r *http.Request, target string, change UserUpdate) (user.User, error) {
	if cur := current(r); target != cur.User.Email && !cur.User.IsAdmin() {
		return user.User{}, errs.E(errs.Forbidden, "You may only see and change your own account.")
	}
	return updateUser(r, s.Store, s.now, s.Audit, user.NormalizeEmail(target), change)
}

// DeleteUser deletes another user, for an admin, as DELETE
// /v1/users/{email} does.
func (s Services) DeleteUser(w http.ResponseWriter, r *http.Request, target string) error {
	if !current(r).User.IsAdmin() {
		return errs.E(errs.Forbidden, "Only admins may delete other users.")
	}
	return deleteUser(w, r, s.Store, s.Cookies, s.Audit, user.NormalizeEmail(target))
}

// StatusOf is the HTTP status the API answers err with.
func StatusOf(err error) int { return statusOf(errs.CodeOf(err)) }

// PendingOf returns the request's half-authenticated session (a login
// that owes the code of its second factor).
func PendingOf(r *http.Request) (session.Current, bool) { return pendingOf(r) }

// CurrentOf returns the logged-in user and session of a request, as the
// user loader found them; false when the request is anonymous.
func CurrentOf(r *http.Request) (session.Current, bool) { return currentOf(r.Context()) }

// LoadErrorOf is why the user loader could not tell who is asking (the
// store is unavailable), for a page to answer with its 503 page; nil when
// it could.
func LoadErrorOf(r *http.Request) error {
	if info := infoFrom(r.Context()); info != nil {
		return info.loadErr
	}
	return nil
}

// NameRoute names the route that serves r in its access-log line (a route
// template such as "/dashboard", never a raw path, which may hold emails).
func NameRoute(r *http.Request, template string) {
	if info := infoFrom(r.Context()); info != nil {
		info.template = template
	}
}
