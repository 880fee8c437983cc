package account

import (
	"context"
	"time"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/mail"
	"esauth/lib/reqlog"
	"esauth/lib/user"
)

// FirstPasswordMaxAge is how recent the login of a user without a
// password must be for that user to set one without giving an old one:
// a stolen session cookie alone is not enough to give an account a
// password of the thief's choosing, unless it is that fresh.
const FirstPasswordMaxAge = 15 * time.Minute

// passwordSet is one way of setting a password (change, first password,
// recovery, the operator): the one rule, setPassword, runs the same steps
// for all; this says how they differ.
type passwordSet struct {
	// field names the password in a 422 ("new_password", "password").
	field string
	// email is whose password it is; resolve, when set, finds it instead,
	// after hashing and before storing (a recovery spends its link there,
	// screening the password against the link's address with screen).
	email   string
	resolve func(ctx context.Context, screen func(email string) error) (string, error)
	// cond runs inside the conditional update, on the stored user: it may
	// refuse (the password changed meanwhile, the account is disabled) or
	// change more in the same write.
	cond func(u *user.User) error
	// keep starts a new session for the actor in the new epoch, before
	// the password is stored: if storing fails, nothing changed; if it
	// succeeds, every older session, even one a racing login is about to
	// store, is over. remember is that session's remember-me.
	keep     bool
	remember bool
	// clear lifts these lockout counters afterwards.
	clear []user.Counter
	// event and notice are the audit event and the mail to the owner.
	event  string
	notice mail.NoticeKind
}

// passwordDone is a password that was set.
type passwordDone struct {
	User    user.User
	Session Started // when keep
	Revoked int     // session documents deleted
}

// setPassword is the one rule for setting a password: validate, screen,
// hash, store with a new session epoch (the conditional update of p.cond),
// lift the lockout, end every other session, audit, and tell the owner.
func (s *Service) setPassword(ctx context.Context, a Actor, pw string, p passwordSet) (passwordDone, error) {
	if m := user.ValidatePassword(pw); m != "" {
		return passwordDone{}, errs.InvalidFields(map[string]string{p.field: m})
	}
	screen := func(email string) error { return s.screen.check(ctx, p.field, pw, email) }
	if p.resolve == nil {
		if err := screen(p.email); err != nil {
			return passwordDone{}, err
		}
	}
	hash, err := s.hasher.Hash(ctx, pw)
	if err := busy(err); err != nil {
		return passwordDone{}, err
	}
	email := p.email
	if p.resolve != nil {
		if email, err = p.resolve(ctx, screen); err != nil {
			return passwordDone{}, err
		}
	}
	epoch := user.NewEpoch()
	var done passwordDone
	if p.keep {
		next := a.User
		next.SessionEpoch = epoch
		if done.Session, err = s.begin(ctx, a, next, p.remember, stageFull); err != nil {
			return passwordDone{}, err
		}
	}
	t := s.now().UTC()
	done.User, err = s.store.UpdateUser(ctx, email, func(u *user.User) error {
		if p.cond != nil {
			if err := p.cond(u); err != nil {
				return err
			}
		}
		u.PasswordHash, u.PasswordChangedAt, u.UpdatedAt, u.SessionEpoch = hash, t, t, epoch
		return nil
	})
	if err != nil {
		if p.keep {
			// The new session's epoch never came to be: it is dead. The
			// actor's own session still works.
			if derr := s.store.DeleteSession(ctx, done.Session.Session.ID); derr != nil {
				reqlog.From(ctx).Warnw("could not delete an unused session", "error", derr)
			}
		}
		return passwordDone{}, err
	}
	for _, c := range p.clear {
		if err := s.store.ClearFailures(ctx, c, email); err != nil {
			reqlog.From(ctx).Warnw("could not lift the lockout after a new password", "error", err)
		}
	}
	done.Revoked, err = s.store.RevokeSessions(ctx, email, done.Session.Session.ID)
	if err != nil {
		reqlog.From(ctx).Warnw("sessions ended, but their documents could not all be deleted; they are refused and purged when they expire", "error", err)
	}
	s.record(a, p.event, email, audit.Success)
	s.mail.notify(ctx, a, done.User, p.notice)
	return done, nil
}

// PasswordChanged is a password change that succeeded: the actor's new
// session (the old one ended with every other), how many session
// documents were deleted, and the message for the user.
type PasswordChanged struct {
	Session Started
	Revoked int
	Message string
}

// ChangePassword changes the logged-in user's password from old to next,
// or, with old empty, sets a first one for a user who has none (one made
// by a provider login), from a login at most FirstPasswordMaxAge old.
// Every other session ends; the actor's is replaced by a new one.
func (s *Service) ChangePassword(ctx context.Context, a Actor, old, next string) (PasswordChanged, error) {
	if !a.LoggedIn {
		return PasswordChanged{}, errs.E(errs.Unauthenticated, "Log in first.")
	}
	if m := user.ValidatePassword(next); m != "" {
		return PasswordChanged{}, errs.InvalidFields(map[string]string{"new_password": m})
	} else if next == old {
		return PasswordChanged{}, errs.InvalidFields(map[string]string{"new_password": "The new password must differ from the current one."})
	}
	var before user.User
	msg := "Password changed; your other sessions were logged out."
	if old == "" {
		if err := s.freshWithoutPassword(ctx, a, "old_password", "Current password is required.",
			"Log in again with your provider, then set a password within 15 minutes."); err != nil {
			return PasswordChanged{}, err
		}
		// before has no password hash: the stored one must still be empty.
		msg = "Password set; your other sessions were logged out."
	} else {
		res, err := s.guard.sessionPassword(ctx, a, old, audit.PasswordChanged)
		if err != nil {
			return PasswordChanged{}, err
		}
		if !res.OK {
			return PasswordChanged{}, errs.E(errs.Forbidden, "The current password is wrong.")
		}
		before = res.User
	}
	done, err := s.setPassword(ctx, a, next, passwordSet{
		field: "new_password", email: a.User.Email,
		cond: func(u *user.User) error {
			// The old password was checked against this hash (or there was
			// none); if another request changed it since, that no longer holds.
			if u.PasswordHash != before.PasswordHash {
				return errs.E(errs.Conflict, "The password was changed meanwhile; try again.")
			}
			return nil
		},
		keep: true, remember: a.Session.Remember,
		event: audit.PasswordChanged, notice: mail.PasswordChanged,
	})
	if err != nil {
		return PasswordChanged{}, err
	}
	return PasswordChanged{Session: done.Session, Revoked: done.Revoked, Message: msg}, nil
}

// SetPassword gives email a new password for the operator, screened as
// at signup: every session of the user ends and the password lock is
// lifted (not the second-factor one: a new password is no right code, and
// only a code or a recovery lifts that lock). It returns how many session
// documents it deleted.
func (s *Service) SetPassword(ctx context.Context, a Actor, email, pw string) (int, error) {
	if !a.Operator {
		return 0, errs.E(errs.Forbidden, "Only the operator sets another user's password.")
	}
	done, err := s.setPassword(ctx, a, pw, passwordSet{
		field: "password", email: user.NormalizeEmail(email),
		clear: []user.Counter{user.PasswordCounter},
		event: audit.PasswordChanged, notice: mail.PasswordChanged,
	})
	return done.Revoked, err
}
