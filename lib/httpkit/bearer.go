package httpkit

import (
	"net/http"
	"strings"

	"github.com/rs/cors"

	"esauth/lib/errs"
)

// Bearer session tokens (issue 22): a native app, a CLI or a single-page
// app on another site carries its session as "Authorization: Bearer
// <token>" instead of the cookie. The token is the session's own secret
// (session.NewToken: 32 random bytes, base64url, 43 characters), whose
// SHA-256 is the session document's id; the same loader, epoch, expiry,
// idle and revocation rules apply to it as to the cookie that seals the
// same secret.

// tokenLen is the length of a session token in base64url without padding.
const tokenLen = 43

// BearerToken is the session token of the request's Authorization header
// (scheme "Bearer", any case, as RFC 6750 allows), if it has one of the
// right form. ok says the request carries a bearer credential at all, even
// a malformed one: such a request is not anonymous by accident, and its
// 401 says the token is invalid.
func BearerToken(r *http.Request) (token string, ok bool) {
	h := r.Header.Get("Authorization")
	if len(h) < 7 || !strings.EqualFold(h[:7], "bearer ") {
		return "", false
	}
	t := strings.TrimSpace(h[7:])
	if !wellFormedToken(t) {
		return "", true
	}
	return t, true
}

func wellFormedToken(t string) bool {
	if len(t) != tokenLen {
		return false
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// queryTokens are query parameters a client might put a token in (RFC
// 6750's access_token, and this API's own field name).
var queryTokens = []string{"access_token", "session_token"}

// OneCredential refuses (400, written by refuse) a request that carries
// both the session cookie and a bearer token — which one would be meant
// is a guess, and a guess about credentials is a hole — and one that puts
// a token in its query string, where proxies, logs and browser history
// keep it. A bearer request needs no cross-origin check (the browser
// never adds the header by itself): SkipsCrossOriginCheck tells the CSRF
// middleware.
func OneCredential(cookieName string, refuse Refuse) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if q := r.URL.RawQuery; q != "" && (strings.Contains(q, "_token")) {
				v := r.URL.Query()
				for _, name := range queryTokens {
					if v.Has(name) {
						refuse(w, r, errs.E(errs.BadRequest, "Send the session token in the Authorization header (Bearer), never in the address."))
						return
					}
				}
			}
			if _, bearer := BearerToken(r); bearer {
				if ck, err := r.Cookie(cookieName); err == nil && ck.Value != "" {
					refuse(w, r, errs.E(errs.BadRequest, "Send either the session cookie or a bearer token, not both."))
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// ExceptBearer runs check on every request but those that carry a bearer
// token (and so, past OneCredential, no cookie): the cross-origin check
// protects the ambient credential, and a bearer request has none.
func ExceptBearer(check Middleware) Middleware {
	return func(next http.Handler) http.Handler {
		checked := check(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, bearer := BearerToken(r); bearer {
				next.ServeHTTP(w, r)
				return
			}
			checked.ServeHTTP(w, r)
		})
	}
}

// CORS lets single-page apps on the given exact origins call the API from
// the browser (rs/cors): preflights answered (204), Vary: Origin on every
// answer, credentials allowed (the cookie of a same-site app, or a bearer
// token), and nothing for any other origin, whose browser then keeps the
// answer from the page. A wildcard is never given with credentials; the
// settings refuse one. With no origins it is no middleware at all.
func CORS(origins []string) Middleware {
	if len(origins) == 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	c := cors.New(cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete},
		AllowedHeaders:   []string{"Content-Type", "Authorization", "X-Request-Id"},
		ExposedHeaders:   []string{"Retry-After", "X-Request-Id"},
		AllowCredentials: true,
		MaxAge:           600,
	})
	return c.Handler
}
