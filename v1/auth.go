package v1

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/mail"
	"esauth/lib/metrics"
	"esauth/lib/page"
	"esauth/lib/password"
	"esauth/lib/session"
	"esauth/lib/user"
)

type loginRequest struct {
	Email      string `json:"email_address"`
	Password   string `json:"password"`
	RememberMe bool   `json:"remember_me"`
}

func (l loginRequest) Valid() map[string]string {
	p := map[string]string{}
	if user.NormalizeEmail(l.Email) == "" {
		p["email_address"] = "Email address is required."
	}
	if l.Password == "" {
		p["password"] = "Password is required."
	}
	return p
}

type sessionWriter interface {
	CreateSession(ctx context.Context, s session.Session) error
	DeleteSession(ctx context.Context, id string) error
	TrimSessions(ctx context.Context, email string, keep int, newest string, now time.Time) (int, error)
}

// loginView is the public user plus whether the password that logged in is
// common enough that the user should change it.
type loginView struct {
	user.Public
	PasswordChangeRequired bool `json:"password_change_required"`
	// SecondFactorRequired: the password was right, and the session is
	// half-authenticated until POST /v1/auth/totp/verify.
	SecondFactorRequired bool `json:"second_factor_required,omitempty"`
}

var errBadCredentials = errs.E(errs.Unauthenticated, "The email address or password is wrong.")

// invalidEmail stands in the audit trail for a login email that no
// account can have: what was typed there is often a password in the wrong
// box, so it is never stored or logged as typed.
const invalidEmail = "<invalid>"

// sessionStarter makes the session of a login and sets its cookie. Login
// and password change share it.
type sessionStarter struct {
	sessions    sessionWriter
	cookies     Cookies
	policy      session.Policy
	maxSessions int
	now         func() time.Time
}

// start stores a new session of u and sets its cookie. The session records
// u's epoch as read before the password check, so a revocation that
// happened since (password change, disable, delete) already refuses it.
// Beyond the cap, the user's oldest sessions end (best effort).
func (st sessionStarter) start(w http.ResponseWriter, r *http.Request, u user.User, remember bool) (session.Session, error) {
	return st.begin(w, r, u, remember, stageFull)
}

// The stages of a new session.
const (
	stageFull         = iota // logged in (no second factor, or none needed)
	stagePending             // the password was right; the code is owed
	stageSecondFactor        // logged in, the second factor passed
)

// PendingTTL is how long a half-authenticated session waits for its code.
const PendingTTL = 5 * time.Minute

// begin is start for a session at a stage: a pending one lives PendingTTL
// and counts as anonymous everywhere but POST /v1/auth/totp/verify.
func (st sessionStarter) begin(w http.ResponseWriter, r *http.Request, u user.User, remember bool, stage int) (session.Session, error) {
	now := st.now().UTC()
	s, token := st.policy.New(u, remember, now, r.UserAgent(), clientIP(r))
	switch stage {
	case stagePending:
		s.Pending, s.ExpiresAt = true, now.Add(PendingTTL)
	case stageSecondFactor:
		s.SecondFactor = true
	}
	if err := st.sessions.CreateSession(r.Context(), s); err != nil {
		return session.Session{}, err
	}
	if st.maxSessions > 0 {
		if _, err := st.sessions.TrimSessions(r.Context(), u.Email, st.maxSessions, s.ID, now); err != nil {
			loggerFrom(r.Context()).Warn("could not end sessions beyond the cap", zap.Error(err))
		}
	}
	if err := st.cookies.set(w, session.Payload{Token: token, Email: u.Email}, s); err != nil {
		return session.Session{}, err
	}
	return s, nil
}

type rehasher interface {
	UpdateUser(ctx context.Context, email string, change func(*user.User) error) (user.User, error)
}

// Logins owns the rule for logging in with a password: the API's login
// and the login page both call LogIn, so neither can skip a check.
//
// Every email goes through the same passwordGuard (one read, one counted
// attempt, one argon2id verification), so an unknown email and a wrong
// password get the same 401 after the same work, and lock out alike. A
// locked address gets 429 before its password is even checked, so the
// lock does not reveal whether a guess was right. Only after the password
// proves right does a disabled account learn it is disabled (403).
type Logins struct {
	metrics *metrics.Metrics
	guard   passwordGuard
	users   rehasher
	starter sessionStarter
	screen  PasswordScreen
	rec     audit.Recorder
	mail    mailings // the lockout notice
	// requireVerified refuses users whose address is not verified.
	requireVerified bool
}

// LoggedIn is a login that succeeded: the user, and whether the password
// is common enough that the user should change it.
type LoggedIn struct {
	User                   user.User
	PasswordChangeRequired bool
	// SecondFactorRequired: the session is pending until the code.
	SecondFactorRequired bool
}

// LogIn checks the credentials and starts a new session, setting its
// cookie on w; the session r came with, if any, ends.
func (l Logins) LogIn(w http.ResponseWriter, r *http.Request, email, password string, remember bool) (LoggedIn, error) {
	email = user.NormalizeEmail(email)
	if user.ValidateEmail(email) != "" {
		// No account can have it: looked up nowhere, but it costs the
		// same verification and gets the same 401.
		if err := busy(l.guard.hasher.VerifyDummy(r.Context(), password)); err != nil {
			return LoggedIn{}, err
		}
		record(l.rec, r, audit.LoginFailure, invalidEmail, audit.Failure)
		l.metrics.Login(metrics.LoginFailed)
		return LoggedIn{}, errBadCredentials
	}
	res, err := l.guard.check(r.Context(), email, password)
	if err != nil {
		if errs.Is(err, errs.TooMany) {
			record(l.rec, r, audit.LoginFailure, email, audit.Refused)
			l.metrics.Login(metrics.LoginLocked)
		}
		return LoggedIn{}, err
	}
	if !res.OK {
		l.metrics.Login(metrics.LoginFailed)
		record(l.rec, r, audit.LoginFailure, email, audit.Failure)
		if res.Locked {
			record(l.rec, r, audit.Lockout, email, audit.Success)
			if res.Found {
				// Only an account's owner is told; the answer is the same.
				l.mail.notify(r, res.User, mail.Lockout)
			}
		}
		return LoggedIn{}, errBadCredentials
	}
	u := res.User
	if !u.IsActive {
		record(l.rec, r, audit.LoginFailure, u.Email, audit.Refused)
		l.metrics.Login(metrics.LoginDisabled)
		return LoggedIn{}, errs.E(errs.Forbidden, "This account is disabled.")
	}
	if l.requireVerified && u.EmailVerifiedAt.IsZero() {
		record(l.rec, r, audit.LoginFailure, u.Email, audit.Refused)
		return LoggedIn{}, errs.E(errs.Forbidden, "Verify your email address first: follow the link we mailed you (or ask for a new one by recovering your account).")
	}
	if l.guard.hasher.NeedsRehash(u.PasswordHash) {
		upgradeHash(r, l.users, l.guard.hasher, u, password)
	}
	// A login replaces the session the request came with, if any, so a
	// cookie planted before login is never the one valid after it.
	if prev, ok := l.starter.cookies.payload(r); ok {
		if err := l.starter.sessions.DeleteSession(r.Context(), session.IDOf(prev.Token)); err != nil {
			return LoggedIn{}, err
		}
	}
	if u.TOTPEnabled() {
		// Half way: the session is worth nothing until the code.
		if _, err := l.starter.begin(w, r, u, remember, stagePending); err != nil {
			return LoggedIn{}, err
		}
		record(l.rec, r, audit.SecondFactorRequired, u.Email, audit.Success)
		return LoggedIn{User: u, SecondFactorRequired: true, PasswordChangeRequired: l.screen.changeRequired(password)}, nil
	}
	if _, err := l.starter.start(w, r, u, remember); err != nil {
		return LoggedIn{}, err
	}
	record(l.rec, r, audit.LoginSuccess, u.Email, audit.Success)
	l.metrics.Login(metrics.LoginSuccess)
	return LoggedIn{User: u, PasswordChangeRequired: l.screen.changeRequired(password)}, nil
}

// handleLogin: POST /v1/auth/login.
func handleLogin(l Logins) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[loginRequest](r)
		if err != nil {
			return err
		}
		in, err := l.LogIn(w, r, req.Email, req.Password, req.RememberMe)
		if err != nil {
			return err
		}
		if in.SecondFactorRequired {
			writeOK(w, http.StatusOK, "Password accepted; enter the code of your authenticator app.", loginView{in.User.Public(), in.PasswordChangeRequired, true})
			return nil
		}
		writeOK(w, http.StatusOK, "Logged in.", loginView{in.User.Public(), in.PasswordChangeRequired, false})
		return nil
	})
}

// upgradeHash replaces a hash made with older parameters (or an imported
// bcrypt hash), now that the plain password is at hand. It is best effort:
// the login succeeds either way.
func upgradeHash(r *http.Request, users rehasher, hasher *password.Hasher, u user.User, pw string) {
	hash, err := hasher.Hash(r.Context(), pw)
	if err == nil {
		_, err = users.UpdateUser(r.Context(), u.Email, func(cur *user.User) error {
			// Only replace the hash the password was checked against.
			if cur.PasswordHash == u.PasswordHash {
				cur.PasswordHash = hash
			}
			return nil
		})
	}
	if err != nil {
		loggerFrom(r.Context()).Warn("could not upgrade the password hash", zap.Error(err))
	}
}

type sessionDeleter interface {
	DeleteSession(ctx context.Context, id string) error
}

// handleLogout revokes the current session in Elasticsearch, so the cookie
// is dead even if the client keeps a copy, and expires the cookie. It
// answers 200 when there is no session, so clients can call it blindly.
func handleLogout(sessions sessionDeleter, cookies Cookies, rec audit.Recorder) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := logOut(w, r, sessions, cookies, rec); err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Logged out.", nil)
		return nil
	})
}

// logOut revokes the request's session, if any, and expires its cookie.
func logOut(w http.ResponseWriter, r *http.Request, sessions sessionDeleter, cookies Cookies, rec audit.Recorder) error {
	if p, ok := cookies.payload(r); ok {
		if err := sessions.DeleteSession(r.Context(), session.IDOf(p.Token)); err != nil {
			return err
		}
		record(rec, r, audit.Logout, p.Email, audit.Success)
	}
	cookies.clear(w)
	return nil
}

type revokedView struct {
	Revoked int `json:"revoked_sessions"`
}

type epochChanger interface {
	UpdateUser(ctx context.Context, email string, change func(*user.User) error) (user.User, error)
	RevokeSessions(ctx context.Context, email, except string) (int, error)
}

// endAllSessions ends every session of email at once by giving the user a
// new session epoch, then deletes the sessions' documents as housekeeping.
// The epoch is what makes it hold: a login that read the user before the
// change stores a session with the old epoch, which the loader refuses,
// even though the deletion's search could not see it. A failed deletion is
// logged, not an error: the sessions are already over. change may make
// other changes in the same write.
func endAllSessions(ctx context.Context, store epochChanger, email, except string, change func(*user.User) error) (user.User, int, error) {
	u, err := store.UpdateUser(ctx, email, func(u *user.User) error {
		if change != nil {
			if err := change(u); err != nil {
				return err
			}
		}
		u.SessionEpoch = user.NewEpoch()
		return nil
	})
	if err != nil {
		return user.User{}, 0, err
	}
	n, err := store.RevokeSessions(ctx, email, except)
	if err != nil {
		loggerFrom(ctx).Warn("sessions ended, but their documents could not all be deleted; they are refused and purged when they expire", zap.Error(err))
	}
	return u, n, nil
}

// handleLogoutAll ends every session of the user, this one included.
func handleLogoutAll(store epochChanger, cookies Cookies, now func() time.Time, rec audit.Recorder) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		n, err := logOutEverywhere(w, r, store, cookies, now, rec)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Logged out of every session.", revokedView{n})
		return nil
	})
}

// logOutEverywhere ends every session of the logged-in user, this one
// included, and expires its cookie; it returns how many session documents
// it deleted.
func logOutEverywhere(w http.ResponseWriter, r *http.Request, store epochChanger, cookies Cookies, now func() time.Time, rec audit.Recorder) (int, error) {
	email := current(r).User.Email
	_, n, err := endAllSessions(r.Context(), store, email, "", func(u *user.User) error {
		u.UpdatedAt = now().UTC()
		return nil
	})
	if err != nil {
		return 0, err
	}
	record(rec, r, audit.LogoutAll, email, audit.Success)
	cookies.clear(w)
	return n, nil
}

type sessionSummary struct {
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Remember  bool      `json:"remember"`
}

type verifyView struct {
	User    user.Public    `json:"user"`
	Session sessionSummary `json:"session"`
}

func handleVerify() http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		cur := current(r)
		writeOK(w, http.StatusOK, "Logged in.", verifyView{
			User:    cur.User.Public(),
			Session: sessionSummary{cur.Session.CreatedAt, cur.Session.ExpiresAt, cur.Session.Remember},
		})
		return nil
	})
}

type passwordRequest struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

func (p passwordRequest) Valid() map[string]string {
	f := map[string]string{}
	// old_password may be left out only by a user who has none (one made
	// by a login with a provider); the handler checks that.
	if m := user.ValidatePassword(p.NewPassword); m != "" {
		f["new_password"] = m
	} else if p.NewPassword == p.OldPassword {
		f["new_password"] = "The new password must differ from the current one."
	}
	return f
}

// passwordChanger is what a password change needs from storage.
type passwordChanger interface {
	epochChanger
	GetUser(ctx context.Context, email string) (user.User, error)
}

// FirstPasswordMaxAge is how recent the login of a user without a
// password must be for that user to set one without giving an old one:
// a stolen session cookie alone is not enough to give an account a
// password of the thief's choosing, unless it is that fresh.
const FirstPasswordMaxAge = 15 * time.Minute

// handleChangePassword changes the password and ends every session of the
// user. The request's own session is replaced by a new one (a new cookie in
// the answer), made in the new epoch and stored before the user document
// changes: if the change fails, nothing changed; if it succeeds, every
// older session, including one a racing login is about to store, is over.
// Passwords owns changing a password and setting a first one: the API
// and the dashboard both call Change.
type Passwords struct {
	guard   passwordGuard
	store   passwordChanger
	starter sessionStarter
	screen  PasswordScreen
	rec     audit.Recorder
	mail    mailings // the notice to the owner
}

// Change changes the logged-in user's password from old to next, or, with
// old empty, sets a first one for a user who has none. It ends every other
// session and sets the new session's cookie on w, and returns the message
// for the user and how many session documents it deleted.
func (p Passwords) Change(w http.ResponseWriter, r *http.Request, old, next string) (string, int, error) {
	if fields := (passwordRequest{OldPassword: old, NewPassword: next}).Valid(); len(fields) > 0 {
		return "", 0, errs.InvalidFields(fields)
	}
	cur := current(r)
	if old == "" {
		msg, n, err := setFirstPassword(w, r, next, p.guard, p.store, p.starter, p.screen, p.rec)
		if err == nil {
			p.mail.notify(r, cur.User, mail.PasswordChanged)
		}
		return msg, n, err
	}
	res, err := p.guard.checkSession(r, old)
	if err != nil {
		if errs.Is(err, errs.TooMany) {
			record(p.rec, r, audit.PasswordChanged, cur.User.Email, audit.Refused)
		}
		return "", 0, err
	}
	if !res.OK {
		record(p.rec, r, audit.PasswordChanged, cur.User.Email, audit.Failure)
		if res.Locked {
			record(p.rec, r, audit.Lockout, cur.User.Email, audit.Success)
			p.mail.notify(r, cur.User, mail.Lockout)
		}
		return "", 0, errs.E(errs.Forbidden, "The current password is wrong.")
	}
	if err := p.screen.check(r, "new_password", next, cur.User.Email); err != nil {
		return "", 0, err
	}
	hash, err := p.guard.hasher.Hash(r.Context(), next)
	if err := busy(err); err != nil {
		return "", 0, err
	}
	n, err := commitPassword(w, r, p.store, p.starter, p.rec, res.User, hash)
	if err == nil {
		p.mail.notify(r, res.User, mail.PasswordChanged)
	}
	return "Password changed; your other sessions were logged out.", n, err
}

// handleChangePassword: POST /v1/auth/password.
func handleChangePassword(p Passwords) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[passwordRequest](r)
		if err != nil {
			return err
		}
		msg, n, err := p.Change(w, r, req.OldPassword, req.NewPassword)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, msg, revokedView{n})
		return nil
	})
}

// setFirstPassword gives a user who has no password (one made by a login
// with a provider) a first one, without an old one, from a recent login.
func setFirstPassword(w http.ResponseWriter, r *http.Request, next string, guard passwordGuard, store passwordChanger, starter sessionStarter, screen PasswordScreen, rec audit.Recorder) (string, int, error) {
	cur := current(r)
	u, err := store.GetUser(r.Context(), cur.User.Email)
	if err != nil {
		return "", 0, err
	}
	if u.PasswordHash != "" {
		return "", 0, errs.InvalidFields(map[string]string{"old_password": "Current password is required."})
	}
	if starter.now().Sub(cur.Session.CreatedAt) > FirstPasswordMaxAge {
		return "", 0, errs.E(errs.Forbidden, "Log in again with your provider, then set a password within 15 minutes.")
	}
	if err := screen.check(r, "new_password", next, cur.User.Email); err != nil {
		return "", 0, err
	}
	hash, err := guard.hasher.Hash(r.Context(), next)
	if err := busy(err); err != nil {
		return "", 0, err
	}
	n, err := commitPassword(w, r, store, starter, rec, u, hash)
	return "Password set; your other sessions were logged out.", n, err
}

// commitPassword stores hash as the password of before's user, if it is
// still before's password (a concurrent change makes it 409), and ends
// every other session of the user.
func commitPassword(w http.ResponseWriter, r *http.Request, store epochChanger, starter sessionStarter, rec audit.Recorder, before user.User, hash string) (int, error) {
	cur := current(r)
	next := before
	next.SessionEpoch = user.NewEpoch()
	s, err := starter.start(w, r, next, cur.Session.Remember)
	if err != nil {
		return 0, err
	}
	t := starter.now().UTC()
	_, err = store.UpdateUser(r.Context(), cur.User.Email, func(u *user.User) error {
		// The old password was checked against this hash (or there was
		// none); if another request changed it since, that no longer holds.
		if u.PasswordHash != before.PasswordHash {
			return errs.E(errs.Conflict, "The password was changed meanwhile; try again.")
		}
		u.PasswordHash, u.PasswordChangedAt, u.UpdatedAt, u.SessionEpoch = hash, t, t, next.SessionEpoch
		return nil
	})
	if err != nil {
		// The new session's epoch never came to be: it is dead. Keep
		// the request's own cookie, which still works.
		w.Header().Del("Set-Cookie")
		if derr := starter.sessions.DeleteSession(r.Context(), s.ID); derr != nil {
			loggerFrom(r.Context()).Warn("could not delete an unused session", zap.Error(derr))
		}
		return 0, err
	}
	record(rec, r, audit.PasswordChanged, cur.User.Email, audit.Success)
	n, err := store.RevokeSessions(r.Context(), cur.User.Email, s.ID)
	if err != nil {
		loggerFrom(r.Context()).Warn("sessions ended, but their documents could not all be deleted; they are refused and purged when they expire", zap.Error(err))
	}
	return n, nil
}

type SessionView struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	Remember   bool      `json:"remember"`
	Current    bool      `json:"current"`
	// SecondFactor: the login passed the second factor. Pending: it has
	// not yet (its code is owed; it works for nothing else).
	SecondFactor bool `json:"second_factor"`
	Pending      bool `json:"pending"`
}

type sessionLister interface {
	ListSessions(ctx context.Context, email string, now time.Time, after *page.Cursor, size int) ([]session.Session, *page.Cursor, error)
}

// handleListSessions pages through the user's sessions that are still
// valid, newest first: ?limit= (1–200, default 50) and ?cursor=
// (next_cursor of the previous page).
func handleListSessions(store sessionLister, policy session.Policy, now func() time.Time) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		limit, after, err := pageParams(r)
		if err != nil {
			return err
		}
		out, next, err := activeSessions(r, store, policy, now, after, limit)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, envelope{Success: true, Message: "Active sessions.", Data: out, NextCursor: page.Encode(next)})
		return nil
	})
}

// activeSessions is one page of the logged-in user's sessions that are
// still valid, newest first.
func activeSessions(r *http.Request, store sessionLister, policy session.Policy, now func() time.Time, after *page.Cursor, limit int) ([]SessionView, *page.Cursor, error) {
	cur := current(r)
	t := now()
	list, next, err := store.ListSessions(r.Context(), cur.User.Email, t, after, limit)
	if err != nil {
		return nil, nil, err
	}
	out := make([]SessionView, 0, len(list))
	for _, s := range list {
		// Expired ones are left out by the store; idle ones and those
		// of an earlier epoch are refused by the loader, so not listed.
		if !policy.Accepts(s, cur.User, t) {
			continue
		}
		out = append(out, SessionView{
			ID: s.ID, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, LastSeenAt: s.LastSeenAt,
			UserAgent: s.UserAgent, IP: s.IP, Remember: s.Remember, Current: s.ID == cur.Session.ID,
			SecondFactor: s.SecondFactor, Pending: s.Pending,
		})
	}
	return out, next, nil
}

type ownSessionDeleter interface {
	DeleteSessionOf(ctx context.Context, email, id string) error
}

// handleRevokeSession revokes one of the user's own sessions by id.
func handleRevokeSession(store ownSessionDeleter, cookies Cookies, rec audit.Recorder) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := revokeSession(w, r, store, cookies, rec, mux.Vars(r)["id"]); err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Session revoked.", nil)
		return nil
	})
}

// revokeSession ends one of the logged-in user's sessions (another user's
// id is 404); ending the request's own also expires its cookie.
func revokeSession(w http.ResponseWriter, r *http.Request, store ownSessionDeleter, cookies Cookies, rec audit.Recorder, id string) error {
	cur := current(r)
	if err := store.DeleteSessionOf(r.Context(), cur.User.Email, id); err != nil {
		return err
	}
	record(rec, r, audit.SessionRevoked, cur.User.Email, audit.Success)
	if id == cur.Session.ID {
		cookies.clear(w)
	}
	return nil
}
