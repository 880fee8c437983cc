package v1

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"esauth/lib/account"
	"esauth/lib/httpkit"
	"esauth/lib/page"
	"esauth/lib/user"
)

type loginRequest struct {
	Email      string `json:"email_address"`
	Password   string `json:"password"`
	RememberMe bool   `json:"remember_me"`
	// Token asks for the session as a bearer token in the answer instead
	// of a cookie: for native apps, CLIs and apps on another site.
	Token bool `json:"token"`
}

func (l loginRequest) Valid() map[string]string {
	p := map[string]string{}
	if user.NormalizeEmail(l.Email) == "" {
		p["email_address"] = "Email address is required."
	}
	if l.Password == "" {
		p["password"] = "Password is required."
	}
	return p
}

// loginView is the public user plus whether the password that logged in is
// common enough that the user should change it.
type loginView struct {
	user.Public
	PasswordChangeRequired bool `json:"password_change_required"`
	// SecondFactorRequired: the password was right, and the session is
	// half-authenticated until POST /v1/auth/totp/verify.
	SecondFactorRequired bool `json:"second_factor_required,omitempty"`
	// The session as a token, when the client asked for one.
	*httpkit.SessionToken
}

// Aliases of the application layer's names this package's users (and
// tests) know it by.
type (
	// SessionView is a session as GET /v1/auth/sessions lists it.
	SessionView = account.SessionView
	// PasswordScreen refuses common and breached passwords.
	PasswordScreen = account.Screen
	// SignupRequest is the body of POST /v1/users.
	SignupRequest = account.SignupRequest
	// UserUpdate is the body of PATCH /v1/users/{email}.
	UserUpdate = account.UserUpdate
	// Mail is what esauth mails with.
	Mail = account.Mail
)

// PendingTTL is how long a half-authenticated session waits for its code.
const PendingTTL = account.PendingTTL

// FirstPasswordMaxAge is how recent a login must be to set a first password.
const FirstPasswordMaxAge = account.FirstPasswordMaxAge

// handleLogin: POST /v1/auth/login. The session the request came with,
// if any, ends.
func handleLogin(svc *account.Service, cookies Cookies) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[loginRequest](r)
		if err != nil {
			return err
		}
		in, err := svc.LogIn(r.Context(), cookies.Presenting(r), req.Email, req.Password, req.RememberMe)
		if err != nil {
			return err
		}
		tok, err := cookies.HandOver(w, r, in.Session, req.Token)
		if err != nil {
			return err
		}
		if in.SecondFactorRequired {
			writeOK(w, http.StatusOK, "Password accepted; enter the code of your authenticator app.", loginView{in.User.Public(), in.PasswordChangeRequired, true, tok})
			return nil
		}
		writeOK(w, http.StatusOK, "Logged in.", loginView{in.User.Public(), in.PasswordChangeRequired, false, tok})
		return nil
	})
}

// handleLogout revokes the current session in Elasticsearch, so the cookie
// is dead even if the client keeps a copy, and expires the cookie. It
// answers 200 when there is no session, so clients can call it blindly.
func handleLogout(svc *account.Service, cookies Cookies) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := svc.LogOut(r.Context(), cookies.Presenting(r)); err != nil {
			return err
		}
		cookies.ClearFor(w, r)
		writeOK(w, http.StatusOK, "Logged out.", nil)
		return nil
	})
}

type revokedView struct {
	Revoked int `json:"revoked_sessions"`
	// The session that replaces the request's own, for a bearer client.
	*httpkit.SessionToken
}

// handleLogoutAll ends every session of the user, this one included.
func handleLogoutAll(svc *account.Service, cookies Cookies) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		n, err := svc.LogOutEverywhere(r.Context(), httpkit.ActorOf(r), "")
		if err != nil {
			return err
		}
		cookies.ClearFor(w, r)
		writeOK(w, http.StatusOK, "Logged out of every session.", revokedView{Revoked: n})
		return nil
	})
}

type sessionSummary struct {
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	Remember  bool      `json:"remember"`
}

type verifyView struct {
	User    user.Public    `json:"user"`
	Session sessionSummary `json:"session"`
}

func handleVerify() http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		cur := httpkit.Current(r)
		writeOK(w, http.StatusOK, "Logged in.", verifyView{
			User:    cur.User.Public(),
			Session: sessionSummary{cur.Session.CreatedAt, cur.Session.ExpiresAt, cur.Session.Remember},
		})
		return nil
	})
}

type passwordRequest struct {
	OldPassword string `json:"old_password"`
	NewPassword string `json:"new_password"`
}

func (p passwordRequest) Valid() map[string]string {
	f := map[string]string{}
	// old_password may be left out only by a user who has none (one made
	// by a login with a provider); the rule checks that.
	if m := user.ValidatePassword(p.NewPassword); m != "" {
		f["new_password"] = m
	} else if p.NewPassword == p.OldPassword {
		f["new_password"] = "The new password must differ from the current one."
	}
	return f
}

// handleChangePassword: POST /v1/auth/password. Every other session of
// the user ends; the request's own is replaced by a new one (a new cookie
// in the answer).
func handleChangePassword(svc *account.Service, cookies Cookies) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[passwordRequest](r)
		if err != nil {
			return err
		}
		done, err := svc.ChangePassword(r.Context(), httpkit.ActorOf(r), req.OldPassword, req.NewPassword)
		if err != nil {
			return err
		}
		tok, err := cookies.HandOver(w, r, done.Session, false)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, done.Message, revokedView{done.Revoked, tok})
		return nil
	})
}

// handleListSessions pages through the user's sessions that are still
// valid, newest first: ?limit= (1–200, default 50) and ?cursor=
// (next_cursor of the previous page).
func handleListSessions(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		limit, after, err := pageParams(r)
		if err != nil {
			return err
		}
		out, next, err := svc.Sessions(r.Context(), httpkit.ActorOf(r), "", after, limit)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, envelope{Success: true, Message: "Active sessions.", Data: out, NextCursor: page.Encode(next)})
		return nil
	})
}

// handleRevokeSession revokes one of the user's own sessions by id (another
// user's is 404); revoking the request's own also expires its cookie.
func handleRevokeSession(svc *account.Service, cookies Cookies) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		a, id := httpkit.ActorOf(r), mux.Vars(r)["id"]
		if err := svc.RevokeSession(r.Context(), a, "", id); err != nil {
			return err
		}
		if id == a.Session.ID {
			cookies.ClearFor(w, r)
		}
		writeOK(w, http.StatusOK, "Session revoked.", nil)
		return nil
	})
}
