package account

import (
	"context"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/reqlog"
	"esauth/lib/user"
)

var errBadCredentials = errs.E(errs.Unauthenticated, "The email address or password is wrong.")

// invalidEmail stands in the audit trail for a login email that no
// account can have: what was typed there is often a password in the wrong
// box, so it is never stored or logged as typed.
const invalidEmail = "<invalid>"

// LoggedIn is a login that succeeded: the user, the new session, and
// whether the password is common enough that the user should change it.
type LoggedIn struct {
	User                   user.User
	Session                Started
	PasswordChangeRequired bool
	// SecondFactorRequired: the session is pending until the code.
	SecondFactorRequired bool
}

// LogIn checks the credentials and starts a new session; the session a
// presented, if any, ends.
//
// Every email goes through the same guard (one read, one counted attempt,
// one argon2id verification), so an unknown email and a wrong password
// get the same 401 after the same work, and lock out alike. A locked
// address gets 429 before its password is even checked, so the lock does
// not reveal whether a guess was right. Only after the password proves
// right does a disabled account learn it is disabled (403).
func (s *Service) LogIn(ctx context.Context, a Actor, email, password string, remember bool) (LoggedIn, error) {
	email = user.NormalizeEmail(email)
	if user.ValidateEmail(email) != "" {
		// No account can have it: looked up nowhere, but it costs the
		// same verification and gets the same 401.
		if err := busy(s.hasher.VerifyDummy(ctx, password)); err != nil {
			return LoggedIn{}, err
		}
		s.record(a, audit.LoginFailure, invalidEmail, audit.Failure)
		s.metrics.Login(loginFailed)
		return LoggedIn{}, errBadCredentials
	}
	res, err := s.guard.password(ctx, a, email, password, audit.LoginFailure)
	if err != nil {
		if errs.Is(err, errs.TooMany) {
			s.metrics.Login(loginLocked)
		}
		return LoggedIn{}, err
	}
	if !res.OK {
		s.metrics.Login(loginFailed)
		return LoggedIn{}, errBadCredentials
	}
	u := res.User
	if !u.IsActive {
		s.record(a, audit.LoginFailure, u.Email, audit.Refused)
		s.metrics.Login(loginDisabled)
		return LoggedIn{}, errs.E(errs.Forbidden, "This account is disabled.")
	}
	if s.requireVerified && u.EmailVerifiedAt.IsZero() {
		s.record(a, audit.LoginFailure, u.Email, audit.Refused)
		return LoggedIn{}, errs.E(errs.Forbidden, "Verify your email address first: follow the link we mailed you (or ask for a new one by recovering your account).")
	}
	if s.hasher.NeedsRehash(u.PasswordHash) {
		s.upgradeHash(ctx, u, password)
	}
	out := LoggedIn{User: u, PasswordChangeRequired: s.screen.changeRequired(password), SecondFactorRequired: u.TOTPEnabled()}
	if out.Session, err = s.startLogin(ctx, a, u, remember, out.SecondFactorRequired, audit.LoginSuccess); err != nil {
		return LoggedIn{}, err
	}
	if !out.SecondFactorRequired {
		s.metrics.Login(loginSuccess)
	}
	return out, nil
}

// startLogin begins the session of a login that proved one factor (a
// password, a provider account), the same for every kind: the session a
// presented ends, so a cookie planted before the login is never the one
// valid after it; then, when the second factor is owed, a pending session
// that is worth nothing until the code (audited as second_factor_required),
// else a full one audited as event.
func (s *Service) startLogin(ctx context.Context, a Actor, u user.User, remember, owesCode bool, event string) (Started, error) {
	if err := s.endPresented(ctx, a); err != nil {
		return Started{}, err
	}
	stage := stageFull
	if owesCode {
		stage, event = stagePending, audit.SecondFactorRequired
	}
	started, err := s.begin(ctx, a, u, remember, stage)
	if err != nil {
		return Started{}, err
	}
	if stage == stagePending {
		s.record(a, event, u.Email, audit.Success)
	} else {
		s.loggedIn(ctx, a, u, event)
	}
	return started, nil
}

// upgradeHash replaces a hash made with older parameters (or an imported
// bcrypt hash), now that the plain password is at hand. It is best effort:
// the login succeeds either way.
func (s *Service) upgradeHash(ctx context.Context, u user.User, pw string) {
	hash, err := s.hasher.Hash(ctx, pw)
	if err == nil {
		_, err = s.store.UpdateUser(ctx, u.Email, func(cur *user.User) error {
			// Only replace the hash the password was checked against.
			if cur.PasswordHash == u.PasswordHash {
				cur.PasswordHash = hash
			}
			return nil
		})
	}
	if err != nil {
		reqlog.From(ctx).Warnw("could not upgrade the password hash", "error", err)
	}
}
