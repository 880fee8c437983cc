// Package session holds esauth's server-side sessions: the random token a
// cookie carries, the document stored for it, the rules that end it, and the
// signed and encrypted cookie codec.
package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"

	"esauth/lib/user"
)

// Session is one login, stored as one Elasticsearch document whose id is
// ID. The raw token is never stored: only its SHA-256, so a read of the
// sessions index does not hand out working cookies.
type Session struct {
	ID         string    `json:"id"`
	Email      string    `json:"email_address"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	Remember   bool      `json:"remember"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	// UserEpoch is the user's SessionEpoch when the session was made; the
	// session is valid only while the user still has it.
	UserEpoch string `json:"-"`
	// SecondFactor says the login passed the second factor. Pending says
	// it has not yet: the password was right, the code is still owed, and
	// the session counts as anonymous everywhere but the code's route.
	SecondFactor bool `json:"second_factor"`
	Pending      bool `json:"pending"`
}

// NewToken returns a fresh random 32-byte token (base64url, for the cookie)
// and the session id derived from it.
func NewToken() (token, id string) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, IDOf(token)
}

// IDOf returns the session id of a token: the hex SHA-256 of the token.
func IDOf(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Policy holds the lifetimes of sessions.
type Policy struct {
	TTL         time.Duration // absolute lifetime of a browser-session login
	Idle        time.Duration // a browser-session login unused this long ends
	RememberTTL time.Duration // absolute lifetime of a remember-me login
	TouchEvery  time.Duration // last_seen_at is written at most this often
}

// New returns a session of u for a login made at now. It records u's
// session epoch as read for this login: if anything ends u's sessions
// before the session is stored, it is born dead.
func (p Policy) New(u user.User, remember bool, now time.Time, userAgent, ip string) (s Session, token string) {
	token, id := NewToken()
	ttl := p.TTL
	if remember {
		ttl = p.RememberTTL
	}
	return Session{
		ID:         id,
		Email:      u.Email,
		CreatedAt:  now,
		ExpiresAt:  now.Add(ttl),
		LastSeenAt: now,
		Remember:   remember,
		UserAgent:  Clip(userAgent, 512),
		IP:         ip,
		UserEpoch:  u.SessionEpoch,
	}, token
}

// Accepts reports whether s proves that a request comes from u at now: s
// is u's, still valid in time, made in u's current session epoch, and u is
// active. The loader asks nothing else.
func (p Policy) Accepts(s Session, u user.User, now time.Time) bool {
	return p.Valid(s, now) && u.IsActive && s.Email == u.Email && s.UserEpoch == u.SessionEpoch
}

// Valid reports whether s may still be used at now. The idle timeout applies
// only to browser-session logins: a remember-me login is meant to survive
// days without use, up to its own absolute lifetime.
func (p Policy) Valid(s Session, now time.Time) bool {
	if !now.Before(s.ExpiresAt) {
		return false
	}
	if !s.Remember && p.Idle > 0 && now.Sub(s.LastSeenAt) >= p.Idle {
		return false
	}
	return true
}

// NeedsTouch reports whether last_seen_at is old enough to be written again.
// Writing it on every request would double the Elasticsearch load of every
// authenticated call; once a minute is precise enough for an idle timeout
// counted in hours.
func (p Policy) NeedsTouch(s Session, now time.Time) bool {
	return now.Sub(s.LastSeenAt) >= p.TouchEvery
}

// Clip cuts s to at most n bytes on a rune boundary, so a stored value
// stays valid UTF-8. Client-supplied strings (user agents, attempted
// emails) go through it before they are stored.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Cut on a rune boundary so the stored value stays valid UTF-8.
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}

// Current is who is making a request: the user and the session the request's
// cookie proved.
type Current struct {
	User    user.User
	Session Session
}

type ctxKey struct{}

// NewContext returns ctx carrying cur.
func NewContext(ctx context.Context, cur Current) context.Context {
	return context.WithValue(ctx, ctxKey{}, cur)
}

// FromContext returns the current user and session, if the request has them.
func FromContext(ctx context.Context) (Current, bool) {
	cur, ok := ctx.Value(ctxKey{}).(Current)
	return cur, ok
}
