package account

import (
	"context"
	"slices"
	"time"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/mail"
	"esauth/lib/reqlog"
	"esauth/lib/totp"
	"esauth/lib/user"
)

var (
	errCodeWrong = errs.E(errs.Unauthenticated, "The code is wrong.")
	errCodeUsed  = errs.E(errs.Unauthenticated, "This code was used already; wait for the next one.")
)

// EnrolTOTP makes a new secret for the logged-in user, who confirms the
// password. The factor is not on until ConfirmTOTP proves the app has it.
func (s *Service) EnrolTOTP(ctx context.Context, a Actor, pw string) (totp.Key, error) {
	if a.User.TOTPEnabled() {
		return totp.Key{}, errs.E(errs.Conflict, "Two-factor authentication is on already; turn it off first to enrol another app.")
	}
	res, err := s.guard.sessionPassword(ctx, a, pw, audit.TOTPEnrolled)
	if err != nil {
		return totp.Key{}, err
	}
	if !res.OK {
		return totp.Key{}, errs.E(errs.Forbidden, "The password is wrong.")
	}
	key, err := totp.Generate(s.issuer, a.User.Email)
	if err != nil {
		return totp.Key{}, err
	}
	if _, err := s.store.UpdateUser(ctx, a.User.Email, func(u *user.User) error {
		if u.TOTPEnabled() {
			return errs.E(errs.Conflict, "Two-factor authentication was turned on meanwhile.")
		}
		u.TOTPSecret, u.TOTPLastStep, u.RecoveryCodes = key.Secret, 0, nil
		return nil
	}); err != nil {
		return totp.Key{}, err
	}
	s.record(a, audit.TOTPEnrolled, a.User.Email, audit.Success)
	return key, nil
}

// ConfirmTOTP turns the factor on with a code of the enrolled secret, and
// returns the recovery codes, shown this once (only their hashes are kept).
func (s *Service) ConfirmTOTP(ctx context.Context, a Actor, code string) ([]string, error) {
	if err := s.guard.sessionBudget(a, "Too many codes from this session; try again later."); err != nil {
		return nil, err
	}
	u, err := s.store.GetUser(ctx, a.User.Email)
	if err != nil {
		return nil, err
	}
	switch {
	case u.TOTPEnabled():
		return nil, errs.E(errs.Conflict, "Two-factor authentication is on already.")
	case u.TOTPSecret == "":
		return nil, errs.E(errs.Conflict, "Enrol first: POST /v1/auth/totp/enroll.")
	}
	step, ok := totp.Check(u.TOTPSecret, code, s.now(), u.TOTPLastStep)
	if !ok {
		return nil, errs.InvalidFields(map[string]string{"code": "The code is wrong; type the six digits your app shows now."})
	}
	codes, hashes := totp.RecoveryCodes()
	secret := u.TOTPSecret
	u, err = s.store.UpdateUser(ctx, u.Email, func(u *user.User) error {
		if u.TOTPSecret != secret || u.TOTPEnabled() {
			return errs.E(errs.Conflict, "The enrolment changed meanwhile; enrol again.")
		}
		u.TOTPEnabledAt, u.TOTPLastStep, u.RecoveryCodes = s.now().UTC(), step, hashes
		return nil
	})
	if err != nil {
		return nil, err
	}
	s.record(a, audit.TOTPEnabled, u.Email, audit.Success)
	s.mail.notify(ctx, a, u, mail.TOTPEnabled)
	return codes, nil
}

// DisableTOTP turns the factor off, with the password and a code (or a
// recovery code) of the factor.
func (s *Service) DisableTOTP(ctx context.Context, a Actor, pw, code, recoveryCode string) error {
	res, err := s.guard.sessionPassword(ctx, a, pw, audit.TOTPDisabled)
	if err != nil {
		return err
	}
	if !res.OK {
		return errs.E(errs.Forbidden, "The password is wrong.")
	}
	u, err := s.store.GetUser(ctx, a.User.Email)
	if err != nil {
		return err
	}
	if !u.TOTPEnabled() {
		return errs.E(errs.Conflict, "Two-factor authentication is off.")
	}
	// The code counts toward the second-factor lock, as at login: the
	// password was right, so only that lock bounds the guesses.
	u, res, err = s.guard.code(ctx, a, u.Email, audit.TOTPDisabled, func(u user.User) bool {
		_, ok := s.codeOK(u, code, recoveryCode)
		return ok && u.TOTPEnabled()
	})
	if err != nil {
		return err
	}
	if !res.OK {
		return errs.E(errs.Forbidden, "The code is wrong.")
	}
	if _, err := s.store.UpdateUser(ctx, u.Email, func(u *user.User) error {
		u.TOTPSecret, u.TOTPEnabledAt, u.TOTPLastStep, u.RecoveryCodes = "", time.Time{}, 0, nil
		return nil
	}); err != nil {
		return err
	}
	s.record(a, audit.TOTPDisabled, u.Email, audit.Success)
	s.mail.notify(ctx, a, u, mail.TOTPDisabled)
	return nil
}

// codeOK checks a code, or a recovery code when one is given, and returns
// the step of the code (or -1 for a recovery code).
func (s *Service) codeOK(u user.User, code, recoveryCode string) (int64, bool) {
	if recoveryCode != "" {
		return -1, totp.MatchRecoveryCode(u.RecoveryCodes, recoveryCode) >= 0
	}
	return totp.Check(u.TOTPSecret, code, s.now(), u.TOTPLastStep)
}

// Verified is a login that passed its second factor: the user, the new
// session, and how many recovery codes are left.
type Verified struct {
	User              user.User
	Session           Started
	RecoveryCodesLeft int
}

// VerifySecondFactor finishes the login of a's half-authenticated session
// with a code or a recovery code. Attempts count toward the second
// factor's lockout. The code is spent in the user's document (the step it
// belongs to, or the recovery code removed), so a code works once even
// when two requests race with it; then the pending session ends and a new
// one, with a new token, begins, as at login.
func (s *Service) VerifySecondFactor(ctx context.Context, a Actor, code, recoveryCode string) (Verified, error) {
	if !a.Pending {
		return Verified{}, errs.E(errs.Unauthenticated, "Log in with your password first; the code is asked for after it.")
	}
	var step int64
	u, res, err := s.guard.code(ctx, a, a.User.Email, audit.SecondFactorFailed, func(u user.User) bool {
		if !u.TOTPEnabled() || u.SessionEpoch != a.User.SessionEpoch {
			return false
		}
		st, ok := s.codeOK(u, code, recoveryCode)
		step = st
		return ok
	})
	if err != nil {
		return Verified{}, err
	}
	if !res.OK {
		return Verified{}, errCodeWrong
	}
	u, err = s.store.UpdateUser(ctx, u.Email, func(u *user.User) error {
		if recoveryCode != "" {
			i := totp.MatchRecoveryCode(u.RecoveryCodes, recoveryCode)
			if i < 0 {
				return errCodeUsed
			}
			u.RecoveryCodes = slices.Delete(slices.Clone(u.RecoveryCodes), i, i+1)
			return nil
		}
		if step <= u.TOTPLastStep {
			return errCodeUsed
		}
		u.TOTPLastStep = step
		return nil
	})
	if err != nil {
		return Verified{}, err
	}
	if err := s.store.DeleteSession(ctx, a.Session.ID); err != nil {
		reqlog.From(ctx).Warnw("could not delete a pending session; it expires in minutes", "error", err)
	}
	started, err := s.begin(ctx, a, u, a.Session.Remember, stageSecondFactor)
	if err != nil {
		return Verified{}, err
	}
	s.record(a, audit.SecondFactorPassed, u.Email, audit.Success)
	s.loggedIn(ctx, a, u, audit.LoginSuccess)
	s.metrics.Login(loginSuccess)
	return Verified{User: u, Session: started, RecoveryCodesLeft: len(u.RecoveryCodes)}, nil
}
