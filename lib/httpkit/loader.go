package httpkit

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"esauth/lib/account"
	"esauth/lib/errs"
	"esauth/lib/session"
	"esauth/lib/user"
)

// SessionLoader is what the user loader needs from storage.
type SessionLoader interface {
	Load(ctx context.Context, sessionID, email string) (user.User, session.Session, error)
	TouchSession(ctx context.Context, id string, at time.Time) error
	// SessionOwner is the email of a session known by its id alone (a
	// bearer token's).
	SessionOwner(ctx context.Context, sessionID string) (string, error)
}

// Cookies writes and reads the session cookie.
type Cookies struct {
	Name   string
	Secure bool
	Codec  *session.Codec
}

// Set writes the session cookie. A remember-me login gets a persistent
// cookie; any other login a browser-session cookie (no Max-Age), whose
// server-side lifetime and idle timeout still apply.
func (c Cookies) Set(w http.ResponseWriter, p session.Payload, s session.Session) error {
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

// Clear expires the session cookie in the browser.
func (c Cookies) Clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{
		Name: c.Name, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0),
		HttpOnly: true, Secure: c.Secure, SameSite: http.SameSiteLaxMode,
	})
}

// LoadUser is the user loader: on every request that carries the session
// cookie it decodes the cookie, reads the session and the user in one
// Elasticsearch round trip, checks them, and puts both in the context. A
// cookie that does not decode, a session that is gone, expired or idle, or
// made in an earlier session epoch of the user (before a password change,
// disable or logout everywhere, or of a deleted account whose email was
// signed up again), or a user that is gone or disabled all leave the
// request anonymous; routes
// that need a login then answer 401. Only an unavailable store stops the
// request here (503, written by refuse), since then nobody can tell who is
// asking.
//
// A request may carry its session as a bearer token instead of the cookie
// (BearerToken): its owner is looked up first (SessionOwner, remembered
// after the first request), then the same read and the same checks apply.
func LoadUser(cookies Cookies, store SessionLoader, policy session.Policy, now func() time.Time, refuse Refuse) Middleware {
	return loader(cookies, store, policy, now, refuse, true)
}

// LoadUserForPages is LoadUser for the web pages: when the store cannot
// say who is asking, the request goes on anonymous with the error noted
// (LoadErrorOf), so that a page that needs the user answers its 503 page,
// and one that does not (the login form) still works. The pages are for
// browsers: they read the cookie alone, never a bearer token.
func LoadUserForPages(cookies Cookies, store SessionLoader, policy session.Policy, now func() time.Time) Middleware {
	return loader(cookies, store, policy, now, nil, false)
}

// loader is the loaders' work; a nil refuse notes a store failure rather
// than answering it.
func loader(cookies Cookies, store SessionLoader, policy session.Policy, now func() time.Time, refuse Refuse, bearer bool) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			u, s, presented, err := readSession(r, cookies, store, bearer)
			if !presented {
				next.ServeHTTP(w, r)
				return
			}
			switch {
			case errs.Is(err, errs.Unauthenticated):
				next.ServeHTTP(w, r)
				return
			case err != nil:
				if info := infoFrom(r.Context()); refuse == nil && info != nil {
					info.loadErr = err
					next.ServeHTTP(w, r)
					return
				}
				if refuse == nil {
					refuse = func(w http.ResponseWriter, _ *http.Request, err error) {
						http.Error(w, "Service unavailable.", StatusOf(err))
					}
				}
				refuse(w, r, err)
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
					LoggerFrom(r.Context()).Warn("could not record session use", zap.Error(err))
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

// readSession reads the session the request presents and its user: the
// cookie's (its email beside the secret), or, where bearer allows, the
// bearer token's, whose owner the store names first. presented is false
// when the request carries neither.
func readSession(r *http.Request, cookies Cookies, store SessionLoader, bearer bool) (u user.User, s session.Session, presented bool, err error) {
	if p, ok := cookies.Payload(r); ok {
		u, s, err = store.Load(r.Context(), session.IDOf(p.Token), p.Email)
		return u, s, true, err
	}
	token, ok := BearerToken(r)
	if !ok || !bearer || token == "" {
		return u, s, false, nil
	}
	sid := session.IDOf(token)
	email, err := store.SessionOwner(r.Context(), sid)
	if err == nil {
		u, s, err = store.Load(r.Context(), sid, email)
	}
	return u, s, true, err
}

// Payload returns what the request's session cookie carries, when it has
// one that decodes. It proves possession of a session token, not that the
// session is still valid: only the loader can say that. Login and logout
// need no more (the id of the session to end), so they skip the loader's
// Elasticsearch round trip.
func (c Cookies) Payload(r *http.Request) (session.Payload, bool) {
	ck, err := r.Cookie(c.Name)
	if err != nil || ck.Value == "" {
		return session.Payload{}, false
	}
	p, err := c.Codec.Decode(ck.Value)
	if err != nil {
		LoggerFrom(r.Context()).Info("session cookie refused", zap.String("reason", "does not decode"))
		return session.Payload{}, false
	}
	return p, true
}

// RequireLogin answers 401 (written by refuse) unless the user loader
// found a valid session.
func RequireLogin(refuse Refuse) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, ok := currentOf(r.Context()); !ok {
				if _, bearer := BearerToken(r); bearer {
					// RFC 6750: the client learns its token is the trouble.
					w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
					refuse(w, r, errs.E(errs.Unauthenticated, "The session token is not valid (ended, expired or malformed); log in again."))
					return
				}
				refuse(w, r, errs.E(errs.Unauthenticated, "Log in first."))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// PendingOf returns the half-authenticated session of the request (a
// login that owes the code of its second factor), if any.
func PendingOf(r *http.Request) (session.Current, bool) {
	if info := infoFrom(r.Context()); info != nil && info.hasPending {
		return info.pending, true
	}
	return session.Current{}, false
}

// Current returns the logged-in user and session; only for handlers
// behind RequireLogin.
func Current(r *http.Request) session.Current {
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

// CurrentOf returns the logged-in user and session of a request, as the
// user loader found them; false when the request is anonymous.
func CurrentOf(r *http.Request) (session.Current, bool) { return currentOf(r.Context()) }

// LoadErrorOf is why the pages' loader could not tell who is asking (the
// store is unavailable); nil when it could.
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

// ActorOf is who asks, for the application layer: the logged-in user and
// session the loader found (or the half-authenticated one), the client's
// address and user agent.
func ActorOf(r *http.Request) account.Actor {
	a := account.Actor{IP: ClientIP(r), UserAgent: r.UserAgent()}
	if cur, ok := currentOf(r.Context()); ok {
		a.User, a.Session, a.LoggedIn = cur.User, cur.Session, true
	} else if p, ok := PendingOf(r); ok {
		a.User, a.Session, a.Pending = p.User, p.Session, true
	}
	return a
}

// Presenting is ActorOf plus the session the request's cookie or bearer
// token names, valid or not, for the rules that end it (login, logout)
// without the loader's round trip. A bearer token names no email; the
// rule that needs it asks the store.
func (c Cookies) Presenting(r *http.Request) account.Actor {
	a := ActorOf(r)
	if p, ok := c.Payload(r); ok {
		a.Presented, a.PresentedEmail = session.IDOf(p.Token), p.Email
	} else if token, ok := BearerToken(r); ok && token != "" {
		a.Presented = session.IDOf(token)
	}
	return a
}

// SetSession hands a session a rule began to the client: its cookie.
func (c Cookies) SetSession(w http.ResponseWriter, st account.Started) error {
	return c.Set(w, session.Payload{Token: st.Token, Email: st.Session.Email}, st.Session)
}

// SessionToken is a session handed to a client as its token rather than
// a cookie (issue 22), in the answer's data. The token is a credential:
// it is written to this answer and nowhere else (no log line, no event).
type SessionToken struct {
	Token     string    `json:"session_token"`
	ExpiresAt time.Time `json:"session_expires_at"`
}

// HandOver gives the client the session a rule began: the token in the
// answer (returned, for the caller's view) when the client asked for one
// (asToken: a login's "token": true) or authenticates with a bearer
// token already (a second factor after a token login, a password change);
// the cookie otherwise.
func (c Cookies) HandOver(w http.ResponseWriter, r *http.Request, st account.Started, asToken bool) (*SessionToken, error) {
	if _, bearer := BearerToken(r); asToken || bearer {
		return &SessionToken{Token: st.Token, ExpiresAt: st.Session.ExpiresAt}, nil
	}
	return nil, c.SetSession(w, st)
}

// ClearFor expires the session cookie, unless the request carries a
// bearer token (it has no cookie to clear).
func (c Cookies) ClearFor(w http.ResponseWriter, r *http.Request) {
	if _, bearer := BearerToken(r); !bearer {
		c.Clear(w)
	}
}
