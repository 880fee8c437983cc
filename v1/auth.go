package v1

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"esauth/lib/audit"
	"esauth/lib/errs"
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

// checkPassword verifies pw against hash. A hash that cannot be parsed is
// logged and counts as a wrong password; running out of time waiting for a
// hashing slot is a busy server (503).
func checkPassword(ctx context.Context, hasher *password.Hasher, pw, hash string) (bool, error) {
	ok, err := hasher.Verify(ctx, pw, hash)
	switch {
	case errors.Is(err, password.ErrMalformed):
		loggerFrom(ctx).Error("stored password hash is malformed")
		return false, nil
	case err != nil:
		return false, errs.Wrap(errs.Unavailable, "The server is busy; try again.", err)
	}
	return ok, nil
}

type loginStore interface {
	GetUser(ctx context.Context, email string) (user.User, error)
	UpdateUser(ctx context.Context, email string, change func(*user.User) error) (user.User, error)
	UpdateUserRetrying(ctx context.Context, email string, attempts int, change func(*user.User) error) (user.User, error)
}

type sessionWriter interface {
	CreateSession(ctx context.Context, s session.Session) error
	DeleteSession(ctx context.Context, id string) error
}

// loginView is the public user plus whether the password that logged in is
// common enough that the user should change it.
type loginView struct {
	user.Public
	PasswordChangeRequired bool `json:"password_change_required"`
}

var errBadCredentials = errs.E(errs.Unauthenticated, "The email address or password is wrong.")

// handleLogin checks the credentials and starts a new session. An unknown
// email is verified against a dummy hash, so it gets the same 401, with the
// same message, after the same work as a wrong password: neither the answer
// nor its timing tells which emails exist. A locked account gets 429 before
// its password is even checked, so the lock does not reveal whether a guess
// was right. Only after the password proves right does a disabled account
// learn it is disabled (403).
func handleLogin(users loginStore, sessions sessionWriter, hasher *password.Hasher, cookies Cookies,
	policy session.Policy, lockout user.Lockout, screen PasswordScreen, now func() time.Time, rec audit.Recorder) http.Handler {
	phantoms := newPhantomLocks(lockout)
	lockedOut := func(wait time.Duration) error {
		return errs.TooManyAttempts("Too many failed logins for this account; try again later.", wait)
	}
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[loginRequest](r)
		if err != nil {
			return err
		}
		email := user.NormalizeEmail(req.Email)
		// An address no user can have is looked up nowhere, but it gets
		// the same dummy verification and 401 as any unknown email.
		var u user.User
		err = errs.E(errs.NotFound, "no such user")
		if user.ValidateEmail(email) == "" {
			u, err = users.GetUser(r.Context(), email)
		}
		switch {
		case errs.Is(err, errs.NotFound):
			if wait := phantoms.lockedFor(email, now()); wait > 0 {
				record(rec, r, audit.LoginFailure, email, audit.Refused)
				return lockedOut(wait)
			}
			if err := hasher.VerifyDummy(r.Context(), req.Password); err != nil && !errors.Is(err, password.ErrMalformed) {
				return errs.Wrap(errs.Unavailable, "The server is busy; try again.", err)
			}
			phantoms.fail(email, now())
			record(rec, r, audit.LoginFailure, email, audit.Failure)
			return errBadCredentials
		case err != nil:
			return err
		}
		if wait := lockout.LockedFor(u, now()); wait > 0 {
			record(rec, r, audit.LoginFailure, u.Email, audit.Refused)
			return lockedOut(wait)
		}
		ok, err := checkPassword(r.Context(), hasher, req.Password, u.PasswordHash)
		if err != nil {
			return err
		}
		if !ok {
			locked, err := countFailure(r.Context(), users, lockout, u.Email, now)
			if err != nil {
				return err
			}
			record(rec, r, audit.LoginFailure, u.Email, audit.Failure)
			if locked {
				record(rec, r, audit.Lockout, u.Email, audit.Success)
			}
			return errBadCredentials
		}
		if !u.IsActive {
			record(rec, r, audit.LoginFailure, u.Email, audit.Refused)
			return errs.E(errs.Forbidden, "This account is disabled.")
		}
		if u.FailedLogins > 0 || hasher.NeedsRehash(u.PasswordHash) {
			afterGoodPassword(r, users, hasher, lockout, u, req.Password)
		}
		// A login replaces the session the request came with, if any, so a
		// cookie planted before login is never the one valid after it.
		if prev, ok := session.FromContext(r.Context()); ok {
			if err := sessions.DeleteSession(r.Context(), prev.Session.ID); err != nil {
				return err
			}
		}
		s, token := policy.New(u.Email, req.RememberMe, now().UTC(), r.UserAgent(), clientIP(r))
		if err := sessions.CreateSession(r.Context(), s); err != nil {
			return err
		}
		if err := cookies.set(w, session.Payload{Token: token, Email: u.Email}, s); err != nil {
			return err
		}
		record(rec, r, audit.LoginSuccess, u.Email, audit.Success)
		writeOK(w, http.StatusOK, "Logged in.", loginView{u.Public(), screen.changeRequired(req.Password)})
		return nil
	})
}

// failureAttempts is the retry budget for counting a failed login: during a
// guessing burst many requests update one document at once, and every
// failure must be counted, not lost to a version conflict.
const failureAttempts = 100

// countFailure adds one failed login to the account and reports whether
// that locked it. A user deleted meanwhile is no error.
func countFailure(ctx context.Context, users loginStore, lockout user.Lockout, email string, now func() time.Time) (bool, error) {
	locked := false
	_, err := users.UpdateUserRetrying(ctx, email, failureAttempts, func(u *user.User) error {
		locked = lockout.Fail(u, now())
		return nil
	})
	if errs.Is(err, errs.NotFound) {
		return false, nil
	}
	return locked, err
}

// afterGoodPassword resets the failure count and upgrades a hash made with
// older parameters, now that the plain password is at hand, in one write.
// It is best effort: the login succeeds either way.
func afterGoodPassword(r *http.Request, users loginStore, hasher *password.Hasher, lockout user.Lockout, u user.User, pw string) {
	var hash string
	var err error
	if hasher.NeedsRehash(u.PasswordHash) {
		hash, err = hasher.Hash(r.Context(), pw)
	}
	if err == nil {
		_, err = users.UpdateUser(r.Context(), u.Email, func(cur *user.User) error {
			lockout.Succeed(cur)
			// Only replace the hash the password was checked against.
			if hash != "" && cur.PasswordHash == u.PasswordHash {
				cur.PasswordHash = hash
			}
			return nil
		})
	}
	if err != nil {
		loggerFrom(r.Context()).Warn("could not reset failed logins or upgrade the hash", zap.Error(err))
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
		if cur, ok := session.FromContext(r.Context()); ok {
			if err := sessions.DeleteSession(r.Context(), cur.Session.ID); err != nil {
				return err
			}
			record(rec, r, audit.Logout, cur.User.Email, audit.Success)
		}
		cookies.clear(w)
		writeOK(w, http.StatusOK, "Logged out.", nil)
		return nil
	})
}

type revokedView struct {
	Revoked int `json:"revoked_sessions"`
}

// handleLogoutAll revokes every session of the user, this one included.
func handleLogoutAll(sessions sessionRevoker, cookies Cookies, rec audit.Recorder) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		n, err := sessions.RevokeSessions(r.Context(), current(r).User.Email, "")
		if err != nil {
			return err
		}
		record(rec, r, audit.LogoutAll, current(r).User.Email, audit.Success)
		cookies.clear(w)
		writeOK(w, http.StatusOK, "Logged out of every session.", revokedView{n})
		return nil
	})
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
	if p.OldPassword == "" {
		f["old_password"] = "Current password is required."
	}
	if m := user.ValidatePassword(p.NewPassword); m != "" {
		f["new_password"] = m
	} else if p.NewPassword == p.OldPassword {
		f["new_password"] = "The new password must differ from the current one."
	}
	return f
}

type passwordStore interface {
	UpdateUser(ctx context.Context, email string, change func(*user.User) error) (user.User, error)
}

// handleChangePassword changes the password and revokes every other session
// of the user; the session that made the change stays valid.
func handleChangePassword(users passwordStore, sessions sessionRevoker, hasher *password.Hasher, screen PasswordScreen, now func() time.Time, rec audit.Recorder) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[passwordRequest](r)
		if err != nil {
			return err
		}
		cur := current(r)
		ok, err := checkPassword(r.Context(), hasher, req.OldPassword, cur.User.PasswordHash)
		if err != nil {
			return err
		}
		if !ok {
			record(rec, r, audit.PasswordChanged, cur.User.Email, audit.Failure)
			return errs.E(errs.Forbidden, "The current password is wrong.")
		}
		if err := screen.check(r, "new_password", req.NewPassword, cur.User.Email); err != nil {
			return err
		}
		hash, err := hasher.Hash(r.Context(), req.NewPassword)
		if err != nil {
			return errs.Wrap(errs.Unavailable, "The server is busy; try again.", err)
		}
		_, err = users.UpdateUser(r.Context(), cur.User.Email, func(u *user.User) error {
			// The old password was checked against the hash read at the
			// start of the request; if another request changed it since,
			// that check no longer holds.
			if u.PasswordHash != cur.User.PasswordHash {
				return errs.E(errs.Conflict, "The password was changed meanwhile; try again.")
			}
			t := now().UTC()
			u.PasswordHash, u.PasswordChangedAt, u.UpdatedAt = hash, t, t
			return nil
		})
		if err != nil {
			return err
		}
		record(rec, r, audit.PasswordChanged, cur.User.Email, audit.Success)
		n, err := sessions.RevokeSessions(r.Context(), cur.User.Email, cur.Session.ID)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Password changed; your other sessions were logged out.", revokedView{n})
		return nil
	})
}

type sessionView struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	Remember   bool      `json:"remember"`
	Current    bool      `json:"current"`
}

type sessionLister interface {
	ListSessions(ctx context.Context, email string, now time.Time) ([]session.Session, error)
}

// handleListSessions lists the user's sessions that are still valid.
func handleListSessions(store sessionLister, policy session.Policy, now func() time.Time) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		cur := current(r)
		t := now()
		list, err := store.ListSessions(r.Context(), cur.User.Email, t)
		if err != nil {
			return err
		}
		out := make([]sessionView, 0, len(list))
		for _, s := range list {
			if !policy.Valid(s, t) {
				continue
			}
			out = append(out, sessionView{
				ID: s.ID, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, LastSeenAt: s.LastSeenAt,
				UserAgent: s.UserAgent, IP: s.IP, Remember: s.Remember, Current: s.ID == cur.Session.ID,
			})
		}
		writeOK(w, http.StatusOK, "Active sessions.", out)
		return nil
	})
}

type ownSessionDeleter interface {
	DeleteSessionOf(ctx context.Context, email, id string) error
}

// handleRevokeSession revokes one of the user's own sessions by id.
func handleRevokeSession(store ownSessionDeleter, cookies Cookies, rec audit.Recorder) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		cur := current(r)
		id := mux.Vars(r)["id"]
		if err := store.DeleteSessionOf(r.Context(), cur.User.Email, id); err != nil {
			return err
		}
		record(rec, r, audit.SessionRevoked, cur.User.Email, audit.Success)
		if id == cur.Session.ID {
			cookies.clear(w)
		}
		writeOK(w, http.StatusOK, "Session revoked.", nil)
		return nil
	})
}
