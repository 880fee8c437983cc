package v1

import (
	"net/http"

	"esauth/lib/account"
	"esauth/lib/session"
)

// actorOf is who asks, for the application layer: the logged-in user and
// session the loader found (or the half-authenticated one), the client's
// address and user agent.
func actorOf(r *http.Request) account.Actor {
	a := account.Actor{IP: clientIP(r), UserAgent: r.UserAgent()}
	if cur, ok := currentOf(r.Context()); ok {
		a.User, a.Session, a.LoggedIn = cur.User, cur.Session, true
	} else if p, ok := pendingOf(r); ok {
		a.User, a.Session, a.Pending = p.User, p.Session, true
	}
	return a
}

// presenting is actorOf plus the session the request's cookie names,
// valid or not, for the rules that end it (login, logout) without the
// loader's round trip.
func presenting(r *http.Request, cookies Cookies) account.Actor {
	a := actorOf(r)
	if p, ok := cookies.payload(r); ok {
		a.Presented, a.PresentedEmail = session.IDOf(p.Token), p.Email
	}
	return a
}

// setSession hands a session a rule began to the client: its cookie.
func (c Cookies) setSession(w http.ResponseWriter, st account.Started) error {
	return c.set(w, session.Payload{Token: st.Token, Email: st.Session.Email}, st.Session)
}
