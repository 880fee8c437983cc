package account

import (
	"context"
	"time"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/limit"
	"esauth/lib/mail"
	"esauth/lib/password"
	"esauth/lib/user"
)

// guard checks passwords and second-factor codes under the account
// lockout. Every check — at login, or with a session (password change,
// self-delete, TOTP) — goes through it, so every guess counts toward the
// same lock, and what a failure means is done here, once: the failure's
// audit event, the refusal's while locked, and when a failure locks the
// account the lockout event and the notice mail to its owner.
//
// It treats every email alike: a real account and an unknown email are
// read in the same one round trip, counted in the same record (in
// Elasticsearch, shared by every instance) with the same write, and
// verified with the same argon2id work (a dummy hash when there is no
// account). Neither the answer, its timing nor a lockout tells which
// accounts exist.
//
// The failure is counted BEFORE the password is verified, and a check
// whose count cannot be stored is refused unverified: otherwise a burst of
// concurrent guesses could have some checked but never counted. A right
// password then clears the record.
//
// Checks made with a session are also limited per session (perSession),
// so a stolen cookie cannot guess, or make the server hash, faster than a
// login could.
type guard struct {
	store      Store
	hasher     *password.Hasher
	lockout    user.Lockout
	perSession *limit.Keyed
	now        func() time.Time
	metrics    Counters
	record     func(a Actor, event, email, outcome string)
	mail       mailings
}

// checked is the outcome of a check that ran.
type checked struct {
	User  user.User // the account, when Found
	Found bool      // an account has the email
	OK    bool      // the password or code is right (never when !Found)
	// Locked reports that this failure locked the account.
	Locked bool
}

func lockedOut(wait time.Duration) error {
	return errs.TooManyAttempts("Too many failed password attempts for this account; try again later.", wait)
}

// password verifies pw for email. It fails with errs.TooMany while the
// email is locked (right password or not, so the lock does not reveal a
// right guess), and with errs.Unavailable when the store or every hashing
// slot is busy. event names the attempt in the audit trail: a wrong
// password records it as a failure, a locked one as refused.
func (g guard) password(ctx context.Context, a Actor, email, pw, event string) (checked, error) {
	res, err := g.checkPassword(ctx, email, pw)
	g.consequences(ctx, a, res, err, email, event, mail.Lockout)
	return res, err
}

func (g guard) checkPassword(ctx context.Context, email, pw string) (checked, error) {
	u, found, seen, err := g.store.LookupLogin(ctx, email, g.lockout.On())
	if err != nil {
		return checked{}, err
	}
	res := checked{User: u, Found: found}
	if res.Locked, err = g.countAttempt(ctx, user.PasswordCounter, email, found, seen); err != nil {
		return checked{}, err
	}
	if found && u.PasswordHash != "" {
		res.OK, err = verify(ctx, g.hasher, pw, u.PasswordHash)
	} else {
		// No account, or one without a password (made by a login with a
		// provider): the same work and the same "wrong password".
		err = busy(g.hasher.VerifyDummy(ctx, pw))
	}
	if err != nil {
		return checked{}, err
	}
	if res.OK {
		res.Locked = false
		if g.lockout.On() {
			if err := g.store.ClearFailures(ctx, user.PasswordCounter, email); err != nil {
				return checked{}, err
			}
		}
	}
	return res, nil
}

// consequences records what a check's outcome means (see guard).
func (g guard) consequences(ctx context.Context, a Actor, res checked, err error, email, event string, notice mail.NoticeKind) {
	switch {
	case errs.Is(err, errs.TooMany):
		g.record(a, event, email, audit.Refused)
	case err != nil || res.OK:
	default:
		g.record(a, event, email, audit.Failure)
		if res.Locked {
			g.metrics.Lockout()
			g.record(a, audit.Lockout, email, audit.Success)
			if res.Found {
				// Only an account's owner is told; the answer is the same.
				g.mail.notify(ctx, a, res.User, notice)
			}
		}
	}
}

// sessionPassword is password for one a logged-in user gives again to
// confirm a sensitive change: a session over its budget of such checks is
// refused (429) before anything else.
func (g guard) sessionPassword(ctx context.Context, a Actor, pw, event string) (checked, error) {
	if err := g.sessionBudget(a, "Too many password attempts from this session; try again later."); err != nil {
		g.record(a, event, a.User.Email, audit.Refused)
		return checked{}, err
	}
	return g.password(ctx, a, a.User.Email, pw, event)
}

// sessionBudget takes one check from a's session's budget.
func (g guard) sessionBudget(a Actor, msg string) error {
	if ok, wait := g.perSession.Allow(a.Session.ID, g.now()); !ok {
		return errs.TooManyAttempts(msg, wait)
	}
	return nil
}

// countAttempt counts an attempt at email on counter c before it is
// checked (so racing guesses cannot outrun the lockout), refusing it while
// that counter is locked, and reports whether this attempt, if wrong,
// locks it.
func (g guard) countAttempt(ctx context.Context, c user.Counter, email string, known bool, seen user.Attempts) (bool, error) {
	if !g.lockout.On() {
		return false, nil
	}
	locked := false
	_, err := g.store.RecordFailure(ctx, c, email, seen, func(at *user.Attempts) error {
		now := g.now()
		if wait := g.lockout.LockedFor(*at, now); wait > 0 {
			if c == user.SecondFactorCounter {
				return errs.TooManyAttempts("Too many wrong codes for this account; try again later.", wait)
			}
			return lockedOut(wait)
		}
		locked = g.lockout.Fail(at, now)
		if known {
			at.Email = user.NormalizeEmail(email)
		}
		return nil
	})
	return locked, err
}

// code counts a second-factor attempt for email under the same lockout
// rules as passwords but on a counter of its own, and runs ok on the
// user, whose document it reads with that counter in one round trip. Only
// a right code (or an account recovery) clears it: a right password does
// not, so knowing the password buys no fresh guesses at the code (issue
// 17). A failure is recorded as event, and a lock mails the code-lockout
// notice ("someone may know your password").
func (g guard) code(ctx context.Context, a Actor, email, event string, ok func(user.User) bool) (user.User, checked, error) {
	u, found, seen, err := g.store.LookupCode(ctx, email, g.lockout.On())
	if err != nil {
		return user.User{}, checked{}, err
	}
	if !found {
		return user.User{}, checked{}, errs.E(errs.Unauthenticated, "Log in with your password first.")
	}
	res := checked{User: u, Found: true}
	if res.Locked, err = g.countAttempt(ctx, user.SecondFactorCounter, email, true, seen); err != nil {
		g.consequences(ctx, a, res, err, email, event, mail.CodeLockout)
		return user.User{}, checked{}, err
	}
	res.OK = ok(u)
	if res.OK {
		res.Locked = false
		if g.lockout.On() {
			if err := g.store.ClearFailures(ctx, user.SecondFactorCounter, email); err != nil {
				return user.User{}, checked{}, err
			}
		}
	}
	g.consequences(ctx, a, res, nil, email, event, mail.CodeLockout)
	return u, res, nil
}
