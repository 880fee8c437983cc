package v1

import (
	"net/http"

	"esauth/lib/account"
	"esauth/lib/httpkit"
	"esauth/lib/user"
)

type recoveryRequest struct {
	Email string `json:"email_address"`
}

func (q recoveryRequest) Valid() map[string]string {
	if q.Email == "" {
		return map[string]string{"email_address": "Email address is required."}
	}
	return nil
}

type recoveryCompletion struct {
	Token       string `json:"token"`
	NewPassword string `json:"new_password"`
}

func (c recoveryCompletion) Valid() map[string]string {
	f := map[string]string{}
	if c.Token == "" {
		f["token"] = "Token is required."
	}
	if m := user.ValidatePassword(c.NewPassword); m != "" {
		f["new_password"] = m
	}
	return f
}

// handleRecoveryRequest: POST /v1/auth/recovery {email_address}. The
// answer is the same whether or not the address has an account.
func handleRecoveryRequest(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[recoveryRequest](r)
		if err != nil {
			return err
		}
		if err := svc.RequestRecovery(r.Context(), httpkit.ActorOf(r), req.Email); err != nil {
			return err
		}
		writeOK(w, http.StatusAccepted, "If an account has this address, a link to choose a new password is on its way.", nil)
		return nil
	})
}

// handleRecoveryComplete: POST /v1/auth/recovery/complete {token, new_password}.
func handleRecoveryComplete(svc *account.Service, cookies Cookies) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[recoveryCompletion](r)
		if err != nil {
			return err
		}
		done, err := svc.CompleteRecovery(r.Context(), httpkit.ActorOf(r), req.Token, req.NewPassword)
		if err != nil {
			return err
		}
		if err := cookies.SetSession(w, done.Session); err != nil {
			return err
		}
		u := done.User
		if u.TOTPEnabled() {
			writeOK(w, http.StatusOK, "Your password is set and every other session is logged out; enter the code of your authenticator app to log in.",
				loginView{Public: u.Public(), SecondFactorRequired: true})
			return nil
		}
		writeOK(w, http.StatusOK, "Your password is set, every other session is logged out, and you are logged in.", u.Public())
		return nil
	})
}
