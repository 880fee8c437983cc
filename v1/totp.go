package v1

import (
	"net/http"

	"esauth/lib/account"
	"esauth/lib/errs"
	"esauth/lib/httpkit"
	"esauth/lib/user"
)

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
func handleTOTPEnrol(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[totpPassword](r)
		if err != nil {
			return err
		}
		key, err := svc.EnrolTOTP(r.Context(), httpkit.ActorOf(r), req.Password)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Scan the QR code with your authenticator app, then confirm with a code.", enrolView{key.URI, key.QRDataURL, key.Secret})
		return nil
	})
}

// handleTOTPConfirm: POST /v1/auth/totp/confirm {code}.
func handleTOTPConfirm(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[totpCode](r)
		if err != nil {
			return err
		}
		codes, err := svc.ConfirmTOTP(r.Context(), httpkit.ActorOf(r), req.Code)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Two-factor authentication is on. Keep these recovery codes somewhere safe: each works once, and they are not shown again.",
			map[string][]string{"recovery_codes": codes})
		return nil
	})
}

// handleTOTPDisable: DELETE /v1/auth/totp {password, code | recovery_code}.
func handleTOTPDisable(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[totpDisable](r)
		if err != nil {
			return err
		}
		if err := svc.DisableTOTP(r.Context(), httpkit.ActorOf(r), req.Password, req.Code, req.RecoveryCode); err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Two-factor authentication is off.", nil)
		return nil
	})
}

// secondFactorView answers a second factor that completed a login: the
// session as a token for a client that logged in with one (its pending
// session came as a bearer token), else in the cookie.
type secondFactorView struct {
	user.Public
	RecoveryCodesLeft int `json:"recovery_codes_left"`
	*httpkit.SessionToken
}

// handleTOTPVerify: POST /v1/auth/totp/verify {code | recovery_code}, by
// the half-authenticated session of a login that owes its code.
func handleTOTPVerify(svc *account.Service, cookies Cookies) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[totpCode](r)
		if err != nil {
			return err
		}
		v, err := svc.VerifySecondFactor(r.Context(), httpkit.ActorOf(r), req.Code, req.RecoveryCode)
		if err != nil {
			return err
		}
		tok, err := cookies.HandOver(w, r, v.Session, false)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Logged in.", secondFactorView{v.User.Public(), v.RecoveryCodesLeft, tok})
		return nil
	})
}

// requireSecondFactorForAdmins (ESAUTH_REQUIRE_TOTP_FOR_ADMINS) lets an
// admin without a second factor do nothing but enrol one (and see who is
// logged in, and log out, which need no login).
func requireSecondFactorForAdmins(on bool, svc *account.Service) Middleware {
	return func(next http.Handler) http.Handler {
		if !on { // the protected route's hot path pays nothing for it
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if svc.MustEnrol(httpkit.ActorOf(r)) {
				writeError(w, r, errs.E(errs.Forbidden, "Admins must turn on two-factor authentication first: POST /v1/auth/totp/enroll, then /v1/auth/totp/confirm."))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
