package v1

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"esauth/lib/errs"
	"esauth/lib/session"
	"esauth/lib/user"
)

// SessionLoader is what the user loader needs from storage.
type SessionLoader interface {
	Load(ctx context.Context, sessionID, email string) (user.User, session.Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
}

// Cookies writes and reads the session cookie.
type Cookies struct {
	Name   string
	Secure bool
	Codec  *session.Codec
}

// set writes the session cookie. A remember-me login gets a persistent
// cookie; any other login a browser-session cookie (no Max-Age), whose
// server-side lifetime and idle timeout still apply.
func (c Cookies) set(w http.ResponseWriter, p session.Payload, s session.Session) error {
	value, err := c.Codec.Encode(p)
	if err != nil {
		return errs.Wrap(errs.Internal, "Could not make the session cookie.", err)
	}
	ck := &http.Cookie{
		Name: c.Name, Value: value, Path: "/",
		HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteLaxMode,
	}
	if s.Remember {
		ck.MaxAge = int(time.Until(s.ExpiresAt) / time.Second)
		ck.Expires = s.ExpiresAt
	}
	http.SetCookie(w, ck)
	return nil
}

// clear expires the session cookie in the browser.
func (c Cookies) clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: c.Name, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0),
		HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteLaxMode,
	})
}

// loadUser is the user loader: on every request that carries the session
// cookie it decodes the cookie, reads the session and the user in one
// Elasticsearch round trip, checks them, and puts both in the context. A
// cookie that does not decode, a session that is gone, expired or idle, or
// made in an earlier session epoch of the user (before a password change,
// disable or logout everywhere, or of a deleted account whose email was
// signed up again), or a user that is gone or disabled all leave the
// request anonymous; routes
// that need a login then answer 401. Only an unavailable store stops the
// request here (503), since then nobody can tell who is asking.
func loadUser(cookies Cookies, store SessionLoader, policy session.Policy, now func() time.Time) Middleware {
	return loader(cookies, store, policy, now, false)
}

// loadUserForPages is loadUser for the web pages: when the store cannot
// say who is asking, the request goes on anonymous with the error noted
// (LoadErrorOf), so that a page can answer with its own 503 page rather
// than the API's JSON.
func loadUserForPages(cookies Cookies, store SessionLoader, policy session.Policy, now func() time.Time) Middleware {
	return loader(cookies, store, policy, now, true)
}

func loader(cookies Cookies, store SessionLoader, policy session.Policy, now func() time.Time, noteFailure bool) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			p, ok := cookies.payload(r)
			if !ok {
				next.ServeHTTP(w, r)
				return
			}
			u, s, err := store.Load(r.Context(), session.IDOf(p.Token), p.Email)
			switch {
			case errs.Is(err, errs.Unauthenticated):
				next.ServeHTTP(w, r)
				return
			case err != nil:
				if info := infoFrom(r.Context()); noteFailure && info != nil {
					info.loadErr = err
					next.ServeHTTP(w, r)
					return
				}
				writeError(w, r, err)
				return
			}
			t := now()
			if !policy.Accepts(s, u, t) {
				next.ServeHTTP(w, r)
				return
			}
			if policy.NeedsTouch(s, t) {
				// A failed touch only delays the idle clock; the request goes on.
				if err := store.TouchSession(r.Context(), s.ID, t); err != nil {
					loggerFrom(r.Context()).Warn("could not record session use", zap.Error(err))
				} else {
					s.LastSeenAt = t
				}
			}
			cur := session.Current{User: u, Session: s}
			if s.Pending {
				if info := infoFrom(r.Context()); info != nil {
					info.pending, info.hasPending = cur, true
				}
				next.ServeHTTP(w, r) // anonymous to everything else
				return
			}
			if info := infoFrom(r.Context()); info != nil {
				// Kept in the request's one context value: a request copy
				// per middleware was a tenth of the allocations under load.
				info.cur, info.hasCur = cur, true
				next.ServeHTTP(w, r)
				return
			}
			next.ServeHTTP(w, r.WithContext(session.NewContext(r.Context(), cur)))
		})
	}
}

// payload returns what the request's session cookie carries, when it has
// one that decodes. It proves possession of a session token, not that the
// session is still valid: only the loader can say that. Login and logout
// need no more (the id of the session to end), so they skip the loader's
// Elasticsearch round trip.
func (c Cookies) payload(r *http.Request) (session.Payload, bool) {
	ck, err := r.Cookie(c.Name)
	if err != nil || ck.Value == "" {
		return session.Payload{}, false
	}
	p, err := c.Codec.Decode(ck.Value)
	if err != nil {
		loggerFrom(r.Context()).Info("session cookie refused", zap.String("reason", "does not decode"))
		return session.Payload{}, false
	}
	return p, true
}

// requireLogin answers 401 unless the user loader found a valid session.
func requireLogin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, ok := currentOf(r.Context()); !ok {
			writeError(w, r, errs.E(errs.Unauthenticated, "Log in first."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// pendingOf returns the half-authenticated session of the request, if any.
func pendingOf(r *http.Request) (session.Current, bool) {
	if info := infoFrom(r.Context()); info != nil && info.hasPending {
		return info.pending, true
	}
	return session.Current{}, false
}

// current returns the logged-in user and session; only for handlers behind requireLogin.
func current(r *http.Request) session.Current {
	cur, _ := currentOf(r.Context())
	return cur
}

// currentOf returns what the user loader found for the request of ctx.
func currentOf(ctx context.Context) (session.Current, bool) {
	if info := infoFrom(ctx); info != nil && info.hasCur {
		return info.cur, true
	}
	return session.FromContext(ctx)
}
