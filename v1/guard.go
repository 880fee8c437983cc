package v1

import (
	"context"
	"errors"
	"esauth/lib/metrics"
	"net/http"
	"time"

	"esauth/lib/errs"
	"esauth/lib/password"
	"esauth/lib/user"
)

// attemptStore is what password checks need from storage.
type attemptStore interface {
	LookupLogin(ctx context.Context, email string, withAttempts bool) (user.User, bool, user.Attempts, error)
	LookupCode(ctx context.Context, email string, withAttempts bool) (user.User, bool, user.Attempts, error)
	RecordFailure(ctx context.Context, c user.Counter, email string, seen user.Attempts, fail func(*user.Attempts) error) (user.Attempts, error)
	ClearFailures(ctx context.Context, c user.Counter, email string) error
}

// passwordGuard checks passwords under the account lockout. Every check,
// at login or with a session (password change, self-delete), goes through
// it, so every guess counts toward the same lock.
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
// Checks made with a session (password change, self-delete) are also
// limited per session (perSession), so a stolen cookie cannot guess, or
// make the server hash, faster than a login could.
type passwordGuard struct {
	store      attemptStore
	hasher     *password.Hasher
	lockout    user.Lockout
	perSession *keyedLimiter
	now        func() time.Time
	metrics    *metrics.Metrics // counts lockouts
}

// newPasswordGuard returns the guard; perSession bounds the checks one
// session may make (zero: no bound).
func newPasswordGuard(store attemptStore, hasher *password.Hasher, lockout user.Lockout, perSession RateLimit, now func() time.Time) passwordGuard {
	return passwordGuard{store: store, hasher: hasher, lockout: lockout, perSession: newKeyedLimiter(perSession, maxTrackedIPs), now: now}
}

// checked is the outcome of a password check that ran.
type checked struct {
	User  user.User // the account, when Found
	Found bool      // an account has the email
	OK    bool      // the password is right (never when !Found)
	// Locked reports that this failure locked the address.
	Locked bool
}

func lockedOut(wait time.Duration) error {
	return errs.TooManyAttempts("Too many failed password attempts for this account; try again later.", wait)
}

// check verifies pw for email. It fails with errs.TooMany while the email
// is locked (right password or not, so the lock does not reveal a right
// guess), and with errs.Unavailable when the store or every hashing slot
// is busy.
func (g passwordGuard) check(ctx context.Context, email, pw string) (checked, error) {
	u, found, seen, err := g.store.LookupLogin(ctx, email, g.lockout.On())
	if err != nil {
		return checked{}, err
	}
	res := checked{User: u, Found: found}
	if res.Locked, err = g.countAttempt(ctx, user.PasswordCounter, email, seen); err != nil {
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
	if res.Locked && !res.OK {
		g.metrics.Lockout()
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

// countAttempt counts an attempt at email on counter c before it is
// checked (so racing guesses cannot outrun the lockout), refusing it while
// that counter is locked, and reports whether this attempt, if wrong,
// locks it.
func (g passwordGuard) countAttempt(ctx context.Context, c user.Counter, email string, seen user.Attempts) (bool, error) {
	if !g.lockout.On() {
		return false, nil
	}
	locked := false
	_, err := g.store.RecordFailure(ctx, c, email, seen, func(a *user.Attempts) error {
		now := g.now()
		if wait := g.lockout.LockedFor(*a, now); wait > 0 {
			if c == user.SecondFactorCounter {
				return errs.TooManyAttempts("Too many wrong codes for this account; try again later.", wait)
			}
			return lockedOut(wait)
		}
		locked = g.lockout.Fail(a, now)
		return nil
	})
	return locked, err
}

// checkCode counts a second-factor attempt for email under the same
// lockout rules as passwords but on a counter of its own, and runs verify
// on the user, whose document it reads with that counter in one round
// trip. Only a right code (or an account recovery) clears it: a right
// password does not, so knowing the password buys no fresh guesses at the
// code (issue 17).
func (g passwordGuard) checkCode(ctx context.Context, email string, verify func(user.User) bool) (user.User, checked, error) {
	u, found, seen, err := g.store.LookupCode(ctx, email, g.lockout.On())
	if err != nil {
		return user.User{}, checked{}, err
	}
	if !found {
		return user.User{}, checked{}, errs.E(errs.Unauthenticated, "Log in with your password first.")
	}
	res := checked{User: u, Found: true}
	if res.Locked, err = g.countAttempt(ctx, user.SecondFactorCounter, email, seen); err != nil {
		return user.User{}, checked{}, err
	}
	res.OK = verify(u)
	if !res.OK {
		if res.Locked {
			g.metrics.Lockout()
		}
		return u, res, nil
	}
	res.Locked = false
	if g.lockout.On() {
		if err := g.store.ClearFailures(ctx, user.SecondFactorCounter, email); err != nil {
			return user.User{}, checked{}, err
		}
	}
	return u, res, nil
}

// checkSession is check for a password that a logged-in user gives again
// to confirm a sensitive change: the request's session is over its budget
// of such checks, it is refused (429) before anything else.
func (g passwordGuard) checkSession(r *http.Request, pw string) (checked, error) {
	cur := current(r)
	if ok, wait := g.perSession.allow(cur.Session.ID, g.now()); !ok {
		return checked{}, errs.TooManyAttempts("Too many password attempts from this session; try again later.", wait)
	}
	return g.check(r.Context(), cur.User.Email, pw)
}

// verify checks pw against hash. A hash that cannot be parsed is logged
// and counts as a wrong password.
func verify(ctx context.Context, hasher *password.Hasher, pw, hash string) (bool, error) {
	ok, err := hasher.Verify(ctx, pw, hash)
	if errors.Is(err, password.ErrMalformed) {
		loggerFrom(ctx).Error("stored password hash is malformed")
		return false, nil
	}
	return ok, busy(err)
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
