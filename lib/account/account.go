// Package account is esauth's application layer: the rules of the product
// — sign up, log in (password, provider, second factor), end sessions, set
// a password, recover an account, prove an address, enrol a second
// factor, link a provider, administer users — each once, as methods of
// Service that take a context, an Actor and plain values, and return plain
// results or an errs error.
//
// It knows no HTTP: the surfaces (v1's JSON API, web's pages, the command
// line) turn a request into an Actor and arguments, call a method, and
// turn its result into an answer; a new session comes back as its token,
// and the surface decides how to carry it (a cookie). The consequences
// that must always follow an event — the audit event, the notice mail of a
// lockout — happen inside the rule that produces the event, so no surface
// can forget them.
package account

import (
	"context"
	"errors"
	"time"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/limit"
	"esauth/lib/page"
	"esauth/lib/password"
	"esauth/lib/reqlog"
	"esauth/lib/session"
	"esauth/lib/token"
	"esauth/lib/user"
)

// Store is everything the rules need from storage (lib/elastic's Store).
type Store interface {
	CreateUser(ctx context.Context, u user.User) error
	GetUser(ctx context.Context, email string) (user.User, error)
	UpdateUser(ctx context.Context, email string, change func(*user.User) error) (user.User, error)
	DeleteUser(ctx context.Context, email string) error
	SearchUsers(ctx context.Context, f user.Search, after *page.Cursor, size int) ([]user.User, *page.Cursor, user.Facets, error)
	NoteLogin(ctx context.Context, email string, at time.Time) error

	CreateSession(ctx context.Context, s session.Session) error
	DeleteSession(ctx context.Context, id string) error
	// SessionOwner is the email of the session id names (Unauthenticated
	// when it is gone).
	SessionOwner(ctx context.Context, id string) (string, error)
	DeleteSessionOf(ctx context.Context, email, id string) error
	TrimSessions(ctx context.Context, email string, keep int, newest string, now time.Time) (int, error)
	ListSessions(ctx context.Context, email string, now time.Time, after *page.Cursor, size int) ([]session.Session, *page.Cursor, error)
	RevokeSessions(ctx context.Context, email, except string) (int, error)

	LookupLogin(ctx context.Context, email string, withAttempts bool) (user.User, bool, user.Attempts, error)
	LookupCode(ctx context.Context, email string, withAttempts bool) (user.User, bool, user.Attempts, error)
	RecordFailure(ctx context.Context, c user.Counter, email string, seen user.Attempts, fail func(*user.Attempts) error) (user.Attempts, error)
	ClearFailures(ctx context.Context, c user.Counter, email string) error

	CreateToken(ctx context.Context, t token.Token) error
	UseToken(ctx context.Context, id string, purpose token.Purpose, now time.Time, check func(token.Token) error) (token.Token, error)
	PeekToken(ctx context.Context, id string, purpose token.Purpose, now time.Time) (token.Token, error)
	DeleteToken(ctx context.Context, id string) error

	CreateIdentity(ctx context.Context, id user.Identity) error
	GetIdentity(ctx context.Context, provider, subject string) (user.Identity, error)
	ListIdentities(ctx context.Context, email string) ([]user.Identity, error)
	DeleteIdentity(ctx context.Context, provider, subject string) error

	ListEvents(ctx context.Context, email string, since time.Time, after *audit.Cursor, size int) ([]audit.Event, *audit.Cursor, error)

	PasskeyStore
	ConsoleStore
}

// Deps are what the rules are made of, passed in explicitly.
type Deps struct {
	Store  Store
	Hasher *password.Hasher
	// Screen refuses common and breached passwords; its zero value
	// screens nothing.
	Screen Screen
	// Lockout throttles one account after failed checks; zero is off.
	Lockout user.Lockout
	// PerSession bounds the password and code checks one session may make
	// (password change, self-delete, TOTP); zero is no bound.
	PerSession limit.Rate
	// Policy makes and judges sessions; MaxSessions caps one user's live
	// sessions (a login beyond it ends the oldest; zero: no cap).
	Policy      session.Policy
	MaxSessions int
	// Audit takes security events; nil discards them.
	Audit audit.Recorder
	// Mail sends links and notices; its zero value sends nothing (the
	// command line).
	Mail Mail
	// Metrics counts logins and lockouts (lib/metrics' Metrics); nil
	// counts nothing.
	Metrics Counters
	Now     func() time.Time
	// Log is for work done after a request has been answered (the
	// recovery mail); a request's own lines use its logger (reqlog).
	Log reqlog.Logger
	// RequireVerifiedEmail refuses the login of an unverified address.
	RequireVerifiedEmail bool
	// NoNewDeviceNotice skips the login's comparison with the account's
	// recent logins, and so its new-device notice.
	NoNewDeviceNotice bool
	// RequireTOTPForAdmins lets an admin without a second factor do
	// nothing but enrol one (MustEnrol).
	RequireTOTPForAdmins bool
	// TrustProviderMFA lets a provider login of a TOTP user log in fully.
	TrustProviderMFA bool
	// Limits shares the recovery mails' per-address limit with the other
	// instances; nil keeps it in this instance alone.
	Limits *limit.Board
	// Issuer names esauth in authenticator apps (default "esauth").
	Issuer string
	// Passkeys runs the WebAuthn ceremonies; nil turns passkeys off.
	// DecoyKey makes the decoy passkeys of an email that has none (see
	// BeginPasskeyLogin): a secret the instances share, so they give the
	// same decoys.
	Passkeys RelyingParty
	DecoyKey []byte
}

// Service holds every rule. One Service serves every surface of a
// process, so they share its per-session and per-address limits.
type Service struct {
	store       Store
	hasher      *password.Hasher
	screen      Screen
	guard       guard
	policy      session.Policy
	maxSessions int
	rec         audit.Recorder
	mail        mailings
	metrics     Counters
	now         func() time.Time
	log         reqlog.Logger

	requireVerified      bool
	noNewDevice          bool
	requireTOTPForAdmins bool
	trustProviderMFA     bool
	issuer               string

	passkeys RelyingParty
	decoyKey []byte

	// recoveryPerEmail bounds the recovery mails one address gets, and
	// recoveryWork the lookups running in the background at once.
	recoveryPerEmail *limit.Keyed
	recoveryWork     chan struct{}
}

// New returns the rules over d.
func New(d Deps) *Service {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Audit == nil {
		d.Audit = audit.Discard{}
	}
	if d.Metrics == nil {
		d.Metrics = noCounters{}
	}
	if d.Log == nil {
		d.Log = reqlog.Nop{}
	}
	if d.Issuer == "" {
		d.Issuer = "esauth"
	}
	s := &Service{
		store: d.Store, hasher: d.Hasher, screen: d.Screen, policy: d.Policy, maxSessions: d.MaxSessions,
		rec: d.Audit, metrics: d.Metrics, now: d.Now, log: d.Log,
		requireVerified: d.RequireVerifiedEmail, noNewDevice: d.NoNewDeviceNotice, requireTOTPForAdmins: d.RequireTOTPForAdmins,
		trustProviderMFA: d.TrustProviderMFA, issuer: d.Issuer, passkeys: d.Passkeys, decoyKey: d.DecoyKey,
		recoveryPerEmail: d.Limits.Keyed("recovery", recoveryPerEmail, limit.MaxTracked),
		recoveryWork:     make(chan struct{}, recoveryWorkers),
	}
	s.mail = mailings{mail: d.Mail, tokens: d.Store, now: d.Now}
	s.guard = guard{
		store: d.Store, hasher: d.Hasher, lockout: d.Lockout, now: d.Now, metrics: d.Metrics,
		perSession: limit.NewKeyed(d.PerSession, limit.MaxTracked), record: s.record, mail: s.mail,
	}
	return s
}

// Counters counts what the rules see happen: logins by outcome (the
// login* names) and lockouts. lib/metrics' Metrics is one; the API's
// metrics tests read its series back, so the names cannot drift.
type Counters interface {
	Login(outcome string)
	Lockout()
}

// The outcomes of a password login, as esauth_logins_total counts them.
// A wrong password and an unknown email are one outcome: the counters
// must not tell which accounts exist.
const (
	loginSuccess  = "success"
	loginFailed   = "failed"
	loginLocked   = "locked"
	loginDisabled = "disabled"
)

type noCounters struct{}

func (noCounters) Login(string) {}
func (noCounters) Lockout()     {}

// OperatorName is the actor of the audit events the command line records.
const OperatorName = "operator (command line)"

// Actor is who acts, and from where. The surfaces make it: from the
// request's session and address, or Operator() for the command line.
type Actor struct {
	// User and Session are the logged-in user and session when LoggedIn;
	// when Pending, the half-authenticated session that owes its code.
	User     user.User
	Session  session.Session
	LoggedIn bool
	Pending  bool
	// Presented is the id of the session the request's credential names,
	// valid or not, and PresentedEmail its email: a login ends it, as
	// does a logout, without a round trip to prove it still works.
	Presented      string
	PresentedEmail string
	// IP and UserAgent are the client's, for sessions and the audit trail.
	IP, UserAgent string
	// Operator is the command line, which holds the cluster's
	// credentials: no role is asked of it.
	Operator bool
}

// Operator is the actor of the command line.
func Operator() Actor { return Actor{Operator: true, UserAgent: "esauth"} }

// admin reports whether the actor may administer users.
func (a Actor) admin() bool { return a.Operator || a.LoggedIn && a.User.IsAdmin() }

// record adds a security event about email. The actor is the logged-in
// user when there is one, the operator for the command line, else the
// email itself (a login attempt, a signup). Recording never blocks or
// fails the rule.
func (s *Service) record(a Actor, event, email, outcome string) {
	s.recordDetail(a, event, email, outcome, "")
}

// recordDetail is record with the event's detail (clipped to what the
// index keeps searchable).
func (s *Service) recordDetail(a Actor, event, email, outcome, detail string) {
	// A login attempt's email is whatever the client sent; cap it so a
	// hostile one cannot make the event unstorable.
	email = session.Clip(email, 320)
	name := email
	switch {
	case a.Operator:
		name = OperatorName
	case a.LoggedIn:
		name = a.User.Email
	}
	s.rec.Record(audit.Event{Event: event, Email: email, Actor: name, IP: a.IP, UserAgent: session.Clip(a.UserAgent, 512), Outcome: outcome,
		Detail: session.Clip(detail, 2000)})
}

// busy turns a hasher's failure to get a slot (or a request that ended
// while waiting for one) into a 503; past the bounded wait it also says
// when to come back.
func busy(err error) error {
	if err == nil || errors.Is(err, password.ErrMalformed) {
		return nil
	}
	e := errs.Wrap(errs.Unavailable, "The server is busy; try again.", err)
	if errors.Is(err, password.ErrBusy) {
		e.RetryAfter = time.Second
	}
	return e
}

// verify checks pw against hash. A hash that cannot be parsed is logged
// and counts as a wrong password.
func verify(ctx context.Context, hasher *password.Hasher, pw, hash string) (bool, error) {
	ok, err := hasher.Verify(ctx, pw, hash)
	if errors.Is(err, password.ErrMalformed) {
		reqlog.From(ctx).Errorw("stored password hash is malformed")
		return false, nil
	}
	return ok, busy(err)
}

// MustEnrol reports whether a is an admin who may do nothing but enrol a
// second factor (ESAUTH_REQUIRE_TOTP_FOR_ADMINS).
func (s *Service) MustEnrol(a Actor) bool {
	return a.LoggedIn && s.requireTOTPForAdmins && a.User.IsAdmin() && !a.User.TOTPEnabled()
}
