package v1

import (
	"fmt"
	"net/http"
	"net/netip"
	"net/url"

	"esauth/lib/access"
	"esauth/lib/errs"
	"esauth/lib/httpkit"
	"esauth/lib/user"
)

// forwardView is the body of an allowed forward-auth answer. The proxy
// reads the headers; the body is for people trying it with curl.
type forwardView struct {
	Email  string `json:"email_address,omitempty"`
	Role   string `json:"role,omitempty"`
	Policy string `json:"policy"`
}

// forwardHeaders name the headers that carry the request a proxy asks
// about. Each kind of proxy sends its own set, and esauth reads only the
// set of the kind it is told (ESAUTH_FORWARD_PROXY): nginx copies the
// client's own headers into its auth_request subrequest, so a client that
// sends X-Forwarded-Uri to an nginx that sets X-Original-URI must not be
// believed (issue 17: one header walked around every rule).
type forwardHeaders struct {
	Method, URI, Host string
}

// forwardProxies are the kinds of reverse proxy forward-auth knows, by
// the name ESAUTH_FORWARD_PROXY gives them.
var forwardProxies = map[string]forwardHeaders{
	"nginx":   {"X-Original-Method", "X-Original-URI", "X-Original-Host"},
	"traefik": {"X-Forwarded-Method", "X-Forwarded-Uri", "X-Forwarded-Host"},
	"caddy":   {"X-Forwarded-Method", "X-Forwarded-Uri", "X-Forwarded-Host"},
}

// forwarded reads the request the proxy asks about from the headers of
// kind. Every header of the set is required: a proxy that sends none of
// them is another kind than configured, and judging its requests as
// "GET /" would let every one through a rule for "/". A header sent twice,
// or a header of the other sets with another value than this set's, is
// refused: it came from the client through a proxy that does not clear
// it, and there is no telling which copy the application will act on.
func forwarded(r *http.Request, kind forwardHeaders) (method, uri, host string, err error) {
	one := func(name string) (string, error) {
		vs := r.Header.Values(name)
		switch {
		case len(vs) == 0 || vs[0] == "":
			return "", fmt.Errorf("the proxy sent no %s (is ESAUTH_FORWARD_PROXY the kind of proxy in front?)", name)
		case len(vs) > 1:
			return "", fmt.Errorf("%s is sent more than once", name)
		}
		return vs[0], nil
	}
	if method, err = one(kind.Method); err != nil {
		return "", "", "", err
	}
	if uri, err = one(kind.URI); err != nil {
		return "", "", "", err
	}
	if host, err = one(kind.Host); err != nil {
		return "", "", "", err
	}
	for _, other := range forwardProxies {
		for _, h := range [][2]string{{other.Method, method}, {other.URI, uri}, {other.Host, host}} {
			for _, v := range r.Header.Values(h[0]) {
				if v != h[1] {
					return "", "", "", fmt.Errorf("%s disagrees with the proxy's own headers; the proxy must clear it", h[0])
				}
			}
		}
	}
	return method, uri, host, nil
}

// handleForward: GET /v1/auth/forward, asked by a reverse proxy (nginx
// auth_request, Traefik forwardAuth, Caddy forward_auth) before it sends a
// request on to another application. It runs behind the user loader, so
// it costs what any logged-in request costs: one _mget.
//
// It answers only the proxies of ESAUTH_TRUSTED_PROXIES (403 for any
// other peer), and reads the request the proxy is about to send from the
// headers of its kind (forwardHeaders); the rules (ESAUTH_FORWARD_RULES)
// give its policy, and ?role=admin or ?role=user asks for at least that.
//
// 200 with X-Auth-Email, X-Auth-Role, X-Auth-First-Name and
// X-Auth-Last-Name when the request may go through (names percent-encoded
// UTF-8, since header values are bytes a proxy may mangle), 401 when
// nobody is logged in (the proxy sends the browser to log in), 403 when
// the user may not. With ?redirect=true, nobody logged in gets a 302 to
// /login?return_to=<the forwarded URI> instead of the 401.
func handleForward(rules access.Rules, kind forwardHeaders, trusted []netip.Prefix) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if !peerTrusted(r.RemoteAddr, trusted) {
			return errs.E(errs.Forbidden, "Forward-auth answers only the reverse proxies of ESAUTH_TRUSTED_PROXIES.")
		}
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
		method, uri, host, err := forwarded(r, kind)
		if err != nil {
			return errs.E(errs.BadRequest, "Cannot read the forwarded request: "+err.Error()+".")
		}
		req, err := access.NewRequest(method, host, uri)
		if err != nil {
			return errs.E(errs.BadRequest, "Cannot read the forwarded request: "+err.Error()+".")
		}
		policy := max(rules.Policy(req), floor)
		var u *user.User
		if cur, ok := httpkit.CurrentOf(r); ok {
			u = &cur.User
		}
		switch access.Decide(policy, u) {
		case access.LoginNeeded:
			if q.Get("redirect") == "true" {
				// For proxies that pass the answer on as it is (Traefik,
				// Caddy): the browser goes to log in, and comes back.
				back, ok := httpkit.SafeReturnTo(uri)
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

// peerTrusted reports whether the socket's peer (never a forwarded
// address) is one of the trusted proxies.
func peerTrusted(remoteAddr string, trusted []netip.Prefix) bool {
	a, _, ok := httpkit.PeerAddr(remoteAddr)
	return ok && httpkit.IsTrusted(a, trusted)
}
