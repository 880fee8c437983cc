package account

import (
	"context"
	"time"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/limit"
	"esauth/lib/mail"
	"esauth/lib/reqlog"
	"esauth/lib/token"
	"esauth/lib/user"
)

// recoveryWorkers bounds the lookups running in the background.
const recoveryWorkers = 16

// recoveryPerEmail bounds the recovery mails one address gets: three at
// once, then one every five minutes (shared by the instances through
// Deps.Limits).
var recoveryPerEmail = limit.Rate{PerMinute: 0.2, Burst: 3}

// RequestRecovery asks for a recovery mail to email. The answer never
// depends on the account: the lookup, the token and the mail happen after
// it, in the background, so neither its content nor its timing tells
// whether the address has an account. Beyond a few requests per address
// the extra ones are dropped, the same silently.
func (s *Service) RequestRecovery(_ context.Context, a Actor, email string) error {
	email = user.NormalizeEmail(email)
	if m := user.ValidateEmail(email); m != "" {
		return errs.InvalidFields(map[string]string{"email_address": m})
	}
	if ok, _ := s.recoveryPerEmail.Allow(email, s.now()); !ok {
		s.log.Infow("recovery requests for one address over the limit; dropped")
		return nil
	}
	select {
	case s.recoveryWork <- struct{}{}:
	default:
		s.log.Warnw("too many recovery requests at once; one dropped")
		return nil
	}
	go func() {
		defer func() { <-s.recoveryWork }()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		s.sendRecovery(ctx, a, email)
	}()
	return nil
}

// sendRecovery is the background half of RequestRecovery.
func (s *Service) sendRecovery(ctx context.Context, a Actor, email string) {
	outcome := audit.Success
	u, err := s.store.GetUser(ctx, email)
	switch {
	case errs.Is(err, errs.NotFound):
		outcome = audit.Failure // no account: nothing is sent
	case err != nil:
		s.log.Warnw("could not look up a recovery request", "error", err)
		outcome = audit.Failure
	case !u.IsActive:
		outcome = audit.Refused // a disabled account is not recovered by mail
	default:
		if err := s.mail.sendLink(ctx, s.log, u, token.Recovery); err != nil {
			s.log.Warnw("could not store a recovery token", "error", err)
			outcome = audit.Failure
		}
	}
	s.record(Actor{IP: a.IP, UserAgent: a.UserAgent}, audit.RecoveryRequested, email, outcome)
}

// Recovered is a recovery that set its password: the user, and the new
// session, pending when the user has a second factor.
type Recovered struct {
	User    user.User
	Session Started
}

// CompleteRecovery sets a new password with a recovery link: the one
// password rule, with the link read after the password is hashed and
// screened against the link's address (a weak password spends nothing),
// and made one-use by the conditional write of the password (a failure
// before it spends nothing either). It also lifts both locks, proves the address
// (the link came to it), and logs the user in. A mailed link is one
// factor: a user with a second factor still owes its code, so the session
// starts half-authenticated.
func (s *Service) CompleteRecovery(ctx context.Context, a Actor, secret, pw string) (Recovered, error) {
	if m := user.ValidatePassword(pw); m != "" {
		return Recovered{}, errs.InvalidFields(map[string]string{"new_password": m})
	}
	if _, ok := token.IDOf(secret); !ok {
		return Recovered{}, errLinkInvalid
	}
	// The link is read, not spent, before the password is stored: what
	// makes it one-use is the conditional write below (the password it was
	// mailed about must still be the stored one), so a failure before that
	// write (a 503) leaves the link working, and once the write is done no
	// use of the link can pass it again. The token is deleted afterwards,
	// as housekeeping.
	id, _ := token.IDOf(secret)
	var t token.Token
	done, err := s.setPassword(ctx, a, pw, passwordSet{
		field: "new_password",
		resolve: func(ctx context.Context, screen func(string) error) (string, error) {
			var err error
			if t, err = s.store.PeekToken(ctx, id, token.Recovery, s.now()); errs.Is(err, errs.Invalid) {
				return "", errLinkInvalid
			} else if err != nil {
				return "", err
			}
			return t.Email, screen(t.Email)
		},
		cond: func(u *user.User) error {
			if !u.CreatedAt.Equal(t.UserCreatedAt) {
				return errLinkInvalid // the account was deleted and signed up again since the mail
			}
			if !u.PasswordChangedAt.Equal(t.UserPasswordChangedAt) {
				// Another link was used, or the password changed, since
				// this one was mailed: a link sets the password it was
				// mailed about, never a newer one. Checked in the
				// conditional update, so two links racing set one password.
				return errLinkInvalid
			}
			if !u.IsActive {
				return errs.E(errs.Forbidden, "This account is disabled.")
			}
			if u.EmailVerifiedAt.IsZero() {
				u.EmailVerifiedAt = s.now().UTC()
			}
			return nil
		},
		// The link proves the mailbox, which is what the lockout notices
		// told the owner to use: both locks go.
		clear: []user.Counter{user.PasswordCounter, user.SecondFactorCounter},
		event: audit.PasswordRecovered, notice: mail.Recovered,
	})
	if errs.Is(err, errs.NotFound) {
		return Recovered{}, errLinkInvalid
	}
	if err != nil {
		return Recovered{}, err
	}
	if err := s.store.DeleteToken(ctx, id); err != nil {
		// Harmless: the link no longer passes the condition above, and
		// the purge removes it when it expires.
		reqlog.From(ctx).Warnw("could not delete a used recovery token", "error", err)
	}
	u := done.User
	stage := stageFull
	if u.TOTPEnabled() {
		stage = stagePending
	}
	started, err := s.begin(ctx, a, u, false, stage)
	if err != nil {
		// The password is set; only the login failed: the user logs in.
		return Recovered{User: u}, err
	}
	return Recovered{User: u, Session: started}, nil
}
