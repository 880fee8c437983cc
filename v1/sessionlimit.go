package v1

import (
	"net/http"
	"time"

	"esauth/lib/errs"
	"esauth/lib/session"
)

// limitBySession answers 429 with Retry-After when the request's session is
// over its budget of password checks (password change, self-delete). The
// account lockout already counts every wrong password; this bounds how
// fast one stolen cookie can even try, and how much hashing one session
// can ask for. It runs behind requireLogin.
func limitBySession(l RateLimit, now func() time.Time) Middleware {
	if l.PerMinute <= 0 || l.Burst <= 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	lim := newKeyedLimiter(l, maxTrackedIPs)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			cur, _ := session.FromContext(r.Context())
			if ok, wait := lim.allow(cur.Session.ID, now()); !ok {
				writeError(w, r, errs.TooManyAttempts("Too many password attempts from this session; try again later.", wait))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
