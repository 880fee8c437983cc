package v1

import (
	"context"
	"net/http"
	"slices"
	"time"

	"go.uber.org/zap"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/mail"
	"esauth/lib/metrics"
	"esauth/lib/totp"
	"esauth/lib/user"
)

// totpUsers is what the second factor reads and changes.
type totpUsers interface {
	GetUser(ctx context.Context, email string) (user.User, error)
	UpdateUser(ctx context.Context, email string, change func(*user.User) error) (user.User, error)
	DeleteSession(ctx context.Context, id string) error
}

// TOTP owns the second factor: enrolling it, turning it on and off, and
// the code a login owes after its password.
type TOTP struct {
	guard   passwordGuard
	users   totpUsers
	starter sessionStarter
	mail    mailings
	rec     audit.Recorder
	issuer  string
}

var (
	errCodeWrong = errs.E(errs.Unauthenticated, "The code is wrong.")
	errCodeUsed  = errs.E(errs.Unauthenticated, "This code was used already; wait for the next one.")
)

// Enrol makes a new secret for the logged-in user, who confirms the
// password. The factor is not on until Confirm proves the app has it.
func (t TOTP) Enrol(r *http.Request, pw string) (totp.Key, error) {
	cur := current(r)
	if cur.User.TOTPEnabled() {
		return totp.Key{}, errs.E(errs.Conflict, "Two-factor authentication is on already; turn it off first to enrol another app.")
	}
	res, err := t.guard.checkSession(r, pw)
	if err != nil {
		return totp.Key{}, err
	}
	if !res.OK {
		record(t.rec, r, audit.TOTPEnrolled, cur.User.Email, audit.Failure)
		t.lockedOut(r, res, cur.User, mail.Lockout)
		return totp.Key{}, errs.E(errs.Forbidden, "The password is wrong.")
	}
	key, err := totp.Generate(t.issuer, cur.User.Email)
	if err != nil {
		return totp.Key{}, err
	}
	if _, err := t.users.UpdateUser(r.Context(), cur.User.Email, func(u *user.User) error {
		if u.TOTPEnabled() {
			return errs.E(errs.Conflict, "Two-factor authentication was turned on meanwhile.")
		}
		u.TOTPSecret, u.TOTPLastStep, u.RecoveryCodes = key.Secret, 0, nil
		return nil
	}); err != nil {
		return totp.Key{}, err
	}
	record(t.rec, r, audit.TOTPEnrolled, cur.User.Email, audit.Success)
	return key, nil
}

// Confirm turns the factor on with a code of the enrolled secret, and
// returns the recovery codes, shown this once (only their hashes are kept).
func (t TOTP) Confirm(r *http.Request, code string) ([]string, error) {
	cur := current(r)
	if ok, wait := t.guard.perSession.allow(cur.Session.ID, t.guard.now()); !ok {
		return nil, errs.TooManyAttempts("Too many codes from this session; try again later.", wait)
	}
	u, err := t.users.GetUser(r.Context(), cur.User.Email)
	if err != nil {
		return nil, err
	}
	switch {
	case u.TOTPEnabled():
		return nil, errs.E(errs.Conflict, "Two-factor authentication is on already.")
	case u.TOTPSecret == "":
		return nil, errs.E(errs.Conflict, "Enrol first: POST /v1/auth/totp/enroll.")
	}
	step, ok := totp.Check(u.TOTPSecret, code, t.guard.now(), u.TOTPLastStep)
	if !ok {
		return nil, errs.InvalidFields(map[string]string{"code": "The code is wrong; type the six digits your app shows now."})
	}
	codes, hashes := totp.RecoveryCodes()
	secret := u.TOTPSecret
	u, err = t.users.UpdateUser(r.Context(), u.Email, func(u *user.User) error {
		if u.TOTPSecret != secret || u.TOTPEnabled() {
			return errs.E(errs.Conflict, "The enrolment changed meanwhile; enrol again.")
		}
		u.TOTPEnabledAt, u.TOTPLastStep, u.RecoveryCodes = t.guard.now().UTC(), step, hashes
		return nil
	})
	if err != nil {
		return nil, err
	}
	record(t.rec, r, audit.TOTPEnabled, u.Email, audit.Success)
	t.mail.notify(r, u, mail.TOTPEnabled)
	return codes, nil
}

// Disable turns the factor off, with the password and a code (or a
// recovery code) of the factor.
func (t TOTP) Disable(r *http.Request, pw, code, recoveryCode string) error {
	cur := current(r)
	res, err := t.guard.checkSession(r, pw)
	if err != nil {
		return err
	}
	if !res.OK {
		record(t.rec, r, audit.TOTPDisabled, cur.User.Email, audit.Failure)
		t.lockedOut(r, res, cur.User, mail.Lockout)
		return errs.E(errs.Forbidden, "The password is wrong.")
	}
	u, err := t.users.GetUser(r.Context(), cur.User.Email)
	if err != nil {
		return err
	}
	if !u.TOTPEnabled() {
		return errs.E(errs.Conflict, "Two-factor authentication is off.")
	}
	// The code counts toward the second-factor lock, as at login: the
	// password was right, so only that lock bounds the guesses.
	u, res, err = t.guard.checkCode(r.Context(), u.Email, func(u user.User) bool {
		_, ok := t.codeOK(u, code, recoveryCode)
		return ok && u.TOTPEnabled()
	})
	if err != nil {
		return err
	}
	if !res.OK {
		record(t.rec, r, audit.TOTPDisabled, u.Email, audit.Failure)
		t.lockedOut(r, res, u, mail.CodeLockout)
		return errs.E(errs.Forbidden, "The code is wrong.")
	}
	if _, err := t.users.UpdateUser(r.Context(), u.Email, func(u *user.User) error {
		u.TOTPSecret, u.TOTPEnabledAt, u.TOTPLastStep, u.RecoveryCodes = "", time.Time{}, 0, nil
		return nil
	}); err != nil {
		return err
	}
	record(t.rec, r, audit.TOTPDisabled, u.Email, audit.Success)
	t.mail.notify(r, u, mail.TOTPDisabled)
	return nil
}

// lockedOut records the lockout and mails its notice when the failed
// check res locked the account.
func (t TOTP) lockedOut(r *http.Request, res checked, u user.User, notice mail.NoticeKind) {
	if res.Locked {
		record(t.rec, r, audit.Lockout, u.Email, audit.Success)
		t.mail.notify(r, u, notice)
	}
}

// codeOK checks a code, or a recovery code when one is given, and returns
// the step of the code (or -1 for a recovery code).
func (t TOTP) codeOK(u user.User, code, recoveryCode string) (int64, bool) {
	if recoveryCode != "" {
		return -1, totp.MatchRecoveryCode(u.RecoveryCodes, recoveryCode) >= 0
	}
	return totp.Check(u.TOTPSecret, code, t.guard.now(), u.TOTPLastStep)
}

// Verified is a login that passed its second factor.
type Verified struct {
	User              user.User
	RecoveryCodesLeft int
}

// Verify finishes the login of the request's half-authenticated session
// with a code or a recovery code. Attempts count toward the account
// lockout like passwords. The code is spent in the user's document (the
// step it belongs to, or the recovery code removed), so a code works once
// even when two requests race with it; then the pending session ends and
// a new one, with a new token, begins, as at login.
func (t TOTP) Verify(w http.ResponseWriter, r *http.Request, code, recoveryCode string) (Verified, error) {
	p, ok := pendingOf(r)
	if !ok {
		return Verified{}, errs.E(errs.Unauthenticated, "Log in with your password first; the code is asked for after it.")
	}
	var step int64
	u, res, err := t.guard.checkCode(r.Context(), p.User.Email, func(u user.User) bool {
		if !u.TOTPEnabled() || u.SessionEpoch != p.User.SessionEpoch {
			return false
		}
		s, ok := t.codeOK(u, code, recoveryCode)
		step = s
		return ok
	})
	if err != nil {
		if errs.Is(err, errs.TooMany) {
			record(t.rec, r, audit.SecondFactorFailed, p.User.Email, audit.Refused)
		}
		return Verified{}, err
	}
	if !res.OK {
		record(t.rec, r, audit.SecondFactorFailed, u.Email, audit.Failure)
		t.lockedOut(r, res, u, mail.CodeLockout)
		return Verified{}, errCodeWrong
	}
	u, err = t.users.UpdateUser(r.Context(), u.Email, func(u *user.User) error {
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
	if err := t.users.DeleteSession(r.Context(), p.Session.ID); err != nil {
		loggerFrom(r.Context()).Warn("could not delete a pending session; it expires in minutes", zap.Error(err))
	}
	if _, err := t.starter.begin(w, r, u, p.Session.Remember, stageSecondFactor); err != nil {
		return Verified{}, err
	}
	record(t.rec, r, audit.SecondFactorPassed, u.Email, audit.Success)
	record(t.rec, r, audit.LoginSuccess, u.Email, audit.Success)
	t.guard.metrics.Login(metrics.LoginSuccess)
	return Verified{User: u, RecoveryCodesLeft: len(u.RecoveryCodes)}, nil
}

type totpPassword struct {
	Password string `json:"password"`
}

func (p totpPassword) Valid() map[string]string {
	if p.Password == "" {
		return map[string]string{"password": "Password is required."}
	}
	return nil
}

type totpCode struct {
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
}

func (c totpCode) Valid() map[string]string {
	switch {
	case c.Code == "" && c.RecoveryCode == "":
		return map[string]string{"code": "Send code (six digits) or recovery_code."}
	case c.Code != "" && c.RecoveryCode != "":
		return map[string]string{"code": "Send code or recovery_code, not both."}
	}
	return nil
}

type totpDisable struct {
	Password     string `json:"password"`
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
}

func (d totpDisable) Valid() map[string]string {
	f := totpPassword{d.Password}.Valid()
	for k, v := range (totpCode{d.Code, d.RecoveryCode}).Valid() {
		if f == nil {
			f = map[string]string{}
		}
		f[k] = v
	}
	return f
}

type enrolView struct {
	OTPAuthURI string `json:"otpauth_uri"`
	QRCode     string `json:"qr_code"`
	Secret     string `json:"secret"`
}

// handleTOTPEnrol: POST /v1/auth/totp/enroll {password}.
func handleTOTPEnrol(t TOTP) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[totpPassword](r)
		if err != nil {
			return err
		}
		key, err := t.Enrol(r, req.Password)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Scan the QR code with your authenticator app, then confirm with a code.", enrolView{key.URI, key.QRDataURL, key.Secret})
		return nil
	})
}

// handleTOTPConfirm: POST /v1/auth/totp/confirm {code}.
func handleTOTPConfirm(t TOTP) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[totpCode](r)
		if err != nil {
			return err
		}
		codes, err := t.Confirm(r, req.Code)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Two-factor authentication is on. Keep these recovery codes somewhere safe: each works once, and they are not shown again.",
			map[string][]string{"recovery_codes": codes})
		return nil
	})
}

// handleTOTPDisable: DELETE /v1/auth/totp {password, code | recovery_code}.
func handleTOTPDisable(t TOTP) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[totpDisable](r)
		if err != nil {
			return err
		}
		if err := t.Disable(r, req.Password, req.Code, req.RecoveryCode); err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Two-factor authentication is off.", nil)
		return nil
	})
}

// handleTOTPVerify: POST /v1/auth/totp/verify {code | recovery_code}.
func handleTOTPVerify(t TOTP) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[totpCode](r)
		if err != nil {
			return err
		}
		v, err := t.Verify(w, r, req.Code, req.RecoveryCode)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Logged in.", struct {
			user.Public
			RecoveryCodesLeft int `json:"recovery_codes_left"`
		}{v.User.Public(), v.RecoveryCodesLeft})
		return nil
	})
}

// mustEnrol is the rule of ESAUTH_REQUIRE_TOTP_FOR_ADMINS (on): an admin
// without a second factor.
func mustEnrol(u user.User, on bool) bool { return on && u.IsAdmin() && !u.TOTPEnabled() }

// requireSecondFactorForAdmins (ESAUTH_REQUIRE_TOTP_FOR_ADMINS) lets an
// admin without a second factor do nothing but enrol one (and see who is
// logged in, and log out, which need no login).
func requireSecondFactorForAdmins(on bool) Middleware {
	return func(next http.Handler) http.Handler {
		if !on {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if mustEnrol(current(r).User, on) {
				writeError(w, r, errs.E(errs.Forbidden, "Admins must turn on two-factor authentication first: POST /v1/auth/totp/enroll, then /v1/auth/totp/confirm."))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
