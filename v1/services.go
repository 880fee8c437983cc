package v1

import (
	"net/http"

	"esauth/lib/account"
	"esauth/lib/errs"
	"esauth/lib/session"
)

// Services are what the web pages share with the API: the same rules
// (the application layer), cookies and per-IP limits, never a second copy.
type Services struct {
	Accounts *account.Service
	Cookies  Cookies
	// OAuthProviders names the configured login providers, in no order.
	OAuthProviders []string
	// LoginLimit and SignupLimit are the API's per-IP limits, with the same
	// budgets: a form is one more way in, not a second allowance.
	LoginLimit, SignupLimit Middleware
}

// ActorOf is who asks, for the application layer (see actorOf).
func ActorOf(r *http.Request) account.Actor { return actorOf(r) }

// Presenting is ActorOf with the session the request's cookie names.
func (s Services) Presenting(r *http.Request) account.Actor { return presenting(r, s.Cookies) }

// SetSession sets the cookie of a session a rule began.
func (s Services) SetSession(w http.ResponseWriter, st account.Started) error {
	return s.Cookies.setSession(w, st)
}

// ClearSession expires the session cookie.
func (s Services) ClearSession(w http.ResponseWriter) { s.Cookies.clear(w) }

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
