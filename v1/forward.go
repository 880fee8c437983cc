package v1

import (
	"net/http"
	"net/url"

	"esauth/lib/access"
	"esauth/lib/errs"
	"esauth/lib/user"
)

// forwardView is the body of an allowed forward-auth answer. The proxy
// reads the headers; the body is for people trying it with curl.
type forwardView struct {
	Email  string `json:"email_address,omitempty"`
	Role   string `json:"role,omitempty"`
	Policy string `json:"policy"`
}

// handleForward: GET /v1/auth/forward, asked by a reverse proxy (nginx
// auth_request, Traefik forwardAuth, Caddy forward_auth) before it sends a
// request on to another application. It runs behind the user loader, so
// it costs what any logged-in request costs: one _mget.
//
// The request the proxy is about to send is read from X-Forwarded-Method,
// X-Forwarded-Host and X-Forwarded-Uri (Traefik, Caddy), or
// X-Original-Method and X-Original-URI (nginx); the rules (ESAUTH_FORWARD_RULES)
// give its policy, and ?role=admin or ?role=user asks for at least that.
// Anybody may call it and set those headers, but all they learn is the
// answer about themselves; the proxy is what lets requests through.
//
// 200 with X-Auth-Email, X-Auth-Role, X-Auth-First-Name and
// X-Auth-Last-Name when the request may go through (names percent-encoded
// UTF-8, since header values are bytes a proxy may mangle), 401 when
// nobody is logged in (the proxy sends the browser to log in), 403 when
// the user may not. With ?redirect=true, nobody logged in gets a 302 to
// /login?return_to=<the forwarded URI> instead of the 401.
func handleForward(rules access.Rules) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		q := r.URL.Query()
		if v := q.Get("redirect"); v != "" && v != "true" && v != "false" {
			return errs.InvalidFields(map[string]string{"redirect": "redirect must be true or false."})
		}
		floor := access.Anyone
		if role := q.Get("role"); role != "" {
			p, ok := access.ParsePolicy(role)
			if !ok || p == access.Anyone || p == access.Deny {
				return errs.InvalidFields(map[string]string{"role": "role must be user or admin."})
			}
			floor = p
		}
		method := firstHeader(r, "X-Forwarded-Method", "X-Original-Method")
		uri := firstHeader(r, "X-Forwarded-Uri", "X-Original-URI")
		host := firstHeader(r, "X-Forwarded-Host")
		if host == "" {
			host = r.Host
		}
		req, err := access.NewRequest(method, host, uri)
		if err != nil {
			return errs.E(errs.BadRequest, "Cannot read the forwarded request: "+err.Error()+".")
		}
		policy := max(rules.Policy(req), floor)
		var u *user.User
		if cur, ok := currentOf(r.Context()); ok {
			u = &cur.User
		}
		switch access.Decide(policy, u) {
		case access.LoginNeeded:
			if q.Get("redirect") == "true" {
				// For proxies that pass the answer on as it is (Traefik,
				// Caddy): the browser goes to log in, and comes back.
				back, ok := SafeReturnTo(uri)
				if !ok {
					back = "/"
				}
				http.Redirect(w, r, "/login?return_to="+url.QueryEscape(back), http.StatusFound)
				return nil
			}
			return errs.E(errs.Unauthenticated, "Log in first.")
		case access.Forbidden:
			return errs.E(errs.Forbidden, "Not allowed here.")
		}
		view := forwardView{Policy: policy.String()}
		if u != nil {
			h := w.Header()
			h.Set("X-Auth-Email", u.Email)
			h.Set("X-Auth-Role", u.Role)
			h.Set("X-Auth-First-Name", url.PathEscape(u.FirstName))
			h.Set("X-Auth-Last-Name", url.PathEscape(u.LastName))
			view.Email, view.Role = u.Email, u.Role
		}
		writeOK(w, http.StatusOK, "Allowed.", view)
		return nil
	})
}

// firstHeader is the first of the named headers that the request has.
func firstHeader(r *http.Request, names ...string) string {
	for _, n := range names {
		if v := r.Header.Get(n); v != "" {
			return v
		}
	}
	return ""
}
