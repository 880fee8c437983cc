package v1

import (
	"net/http"

	"esauth/lib/account"
	"esauth/lib/httpkit"
)

// The pages the mailed links open (in web/).
const (
	VerifyEmailPath   = account.VerifyEmailPath
	ResetPasswordPath = account.ResetPasswordPath
)

type tokenRequest struct {
	Token string `json:"token"`
}

func (t tokenRequest) Valid() map[string]string {
	if t.Token == "" {
		return map[string]string{"token": "Token is required."}
	}
	return nil
}

// handleVerifyEmail: POST /v1/auth/verification {token}.
func handleVerifyEmail(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[tokenRequest](r)
		if err != nil {
			return err
		}
		u, err := svc.VerifyEmail(r.Context(), httpkit.ActorOf(r), req.Token)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Your email address is verified.", u.Public())
		return nil
	})
}

// handleResendVerification: POST /v1/auth/verification/resend.
func handleResendVerification(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := svc.ResendVerification(r.Context(), httpkit.ActorOf(r)); err != nil {
			return err
		}
		writeOK(w, http.StatusAccepted, "A new link is on its way to your address.", nil)
		return nil
	})
}
