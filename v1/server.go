// Package v1 is esauth's HTTP API, version 1: one router per area (users,
// auth, test) mounted under /v1 like Flask blueprints, the JSON envelope,
// and the middleware that knows who is asking.
package v1

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"esauth/lib/password"
	"esauth/lib/session"
	"esauth/lib/user"
)

// Store is everything the API needs from storage. Each handler takes only
// the narrow part it uses (see the interfaces beside the handlers); this
// union is what main passes in.
type Store interface {
	UserStore
	SessionStore
	SessionLoader
}

// UserStore reads and writes users.
type UserStore interface {
	CreateUser(ctx context.Context, u user.User) error
	GetUser(ctx context.Context, email string) (user.User, error)
	UpdateUser(ctx context.Context, email string, change func(*user.User) error) (user.User, error)
	DeleteUser(ctx context.Context, email string) error
}

// SessionStore reads and writes sessions.
type SessionStore interface {
	CreateSession(ctx context.Context, s session.Session) error
	DeleteSession(ctx context.Context, id string) error
	DeleteSessionOf(ctx context.Context, email, id string) error
	RevokeSessions(ctx context.Context, email, except string) (int, error)
	ListSessions(ctx context.Context, email string, now time.Time) ([]session.Session, error)
}

// Deps are the server's dependencies, passed in explicitly.
type Deps struct {
	Log     *zap.Logger
	Store   Store
	Hasher  *password.Hasher
	Cookies Cookies
	Policy  session.Policy
	Now     func() time.Time
}

// NewServer returns the whole HTTP handler of esauth.
//
// Middleware order, outermost first:
//  1. accessLog: request id, request logger, one access line (outermost, so
//     it records the final status even of a recovered panic);
//  2. recoverPanics: a panic becomes a logged 500 envelope;
//  3. securityHeaders: on every answer, 404s included;
//  4. the router, which inside runs recordRoute (route template for the
//     log) and loadUser (cookie → one _mget → user and session in the
//     context), then per route requireLogin where a login is needed.
func NewServer(d Deps) http.Handler {
	if d.Now == nil {
		d.Now = time.Now
	}
	router := newRouter(d)
	var h http.Handler = router
	h = securityHeaders(h)
	h = recoverPanics(h)
	h = accessLog(d.Log)(h)
	return h
}
