package v1

import (
	"bytes"
	"encoding/json"
	"net/http"
	"reflect"
	"time"

	"github.com/gorilla/mux"

	"esauth/lib/account"
	"esauth/lib/errs"
	"esauth/lib/httpkit"
	"esauth/lib/token"
	"esauth/lib/user"
)

// Passkeys configures WebAuthn; its zero value has passkeys off.
type Passkeys struct {
	// RelyingParty runs the ceremonies (lib/passkey's).
	RelyingParty account.RelyingParty
	// State signs and encrypts the ceremony cookie; it must refuse values
	// older than token.PasskeyCeremonyTTL.
	State StateCodec
	// DecoyKey makes the decoy passkeys of an email that has none.
	DecoyKey []byte
}

// The ceremony cookie carries a ceremony from its begin to its finish in
// the browser that began it; its path is the passkey routes', so no other
// request carries it. SameSite Strict: no ceremony is ever finished from
// another site's page.
const (
	passkeyCookieName = "esauth_passkey"
	passkeyCookiePath = "/v1/auth/passkeys/"
)

type passkeyFlow struct {
	cfg    Passkeys
	secure bool
	svc    *account.Service
}

func (f passkeyFlow) setCeremony(w http.ResponseWriter, c account.PasskeyCeremony) error {
	value, err := f.cfg.State.Encode(passkeyCookieName, c)
	if err != nil {
		return errs.Wrap(errs.Internal, "Could not start the passkey ceremony.", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: passkeyCookieName, Value: value, Path: passkeyCookiePath, MaxAge: int(token.PasskeyCeremonyTTL / time.Second),
		HttpOnly: true, Secure: f.secure, SameSite: http.SameSiteStrictMode,
	})
	return nil
}

// ceremony reads the ceremony cookie and clears it: a finish is tried
// once, whatever its outcome. A missing or undecodable cookie is a
// ceremony with no record, which the rules refuse (and audit).
func (f passkeyFlow) ceremony(w http.ResponseWriter, r *http.Request) account.PasskeyCeremony {
	http.SetCookie(w, &http.Cookie{
		Name: passkeyCookieName, Value: "", Path: passkeyCookiePath, MaxAge: -1, Expires: time.Unix(0, 0),
		HttpOnly: true, Secure: f.secure, SameSite: http.SameSiteStrictMode,
	})
	var c account.PasskeyCeremony
	if ck, err := r.Cookie(passkeyCookieName); err != nil || f.cfg.State == nil || f.cfg.State.Decode(passkeyCookieName, ck.Value, &c) != nil {
		return account.PasskeyCeremony{}
	}
	return c
}

// begin answers a ceremony's options, as navigator.credentials.create or
// get take them ({"publicKey": …}), and sets its cookie.
func (f passkeyFlow) begin(w http.ResponseWriter, start account.PasskeyStart, msg string) error {
	if err := f.setCeremony(w, start.Ceremony); err != nil {
		return err
	}
	writeOK(w, http.StatusOK, msg, json.RawMessage(start.Options))
	return nil
}

type registerBegin struct {
	Password string `json:"password"`
}

func (registerBegin) Valid() map[string]string { return nil }

// credentialAnswer is a finish's body: the PublicKeyCredential as the
// browser's toJSON() gives it, and for a registration the name to give it.
type credentialAnswer struct {
	Credential json.RawMessage `json:"credential"`
	Name       string          `json:"name"`
	// Token, on a login's finish, asks for the session as a bearer token.
	Token bool `json:"token"`
}

func (c credentialAnswer) Valid() map[string]string {
	if len(c.Credential) == 0 || c.Credential[0] != '{' {
		return map[string]string{"credential": "Send the credential the browser made, as a JSON object."}
	}
	return nil
}

// handlePasskeyRegisterBegin: POST /v1/auth/passkeys/register/begin.
func handlePasskeyRegisterBegin(f passkeyFlow) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[registerBegin](r)
		if err != nil {
			return err
		}
		start, err := f.svc.BeginPasskeyRegistration(r.Context(), httpkit.ActorOf(r), req.Password)
		if err != nil {
			return err
		}
		return f.begin(w, start, "Create the passkey with these options (navigator.credentials.create), then send it to /v1/auth/passkeys/register/finish.")
	})
}

// handlePasskeyRegisterFinish: POST /v1/auth/passkeys/register/finish.
func handlePasskeyRegisterFinish(f passkeyFlow) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[credentialAnswer](r)
		if err != nil {
			return err
		}
		v, err := f.svc.FinishPasskeyRegistration(r.Context(), httpkit.ActorOf(r), f.ceremony(w, r), req.Name, req.Credential)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusCreated, "Passkey added.", v)
		return nil
	})
}

// loginBegin's fields are optional but never null: every body is a
// ceremony begun (200), so a null would otherwise pass for "absent".
type loginBegin struct {
	Email      *string `json:"email_address"`
	RememberMe *bool   `json:"remember_me"`
	nulls      []string
}

func (l *loginBegin) UnmarshalJSON(b []byte) error {
	type plain struct {
		Email      *string `json:"email_address"`
		RememberMe *bool   `json:"remember_me"`
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil || raw == nil {
		return &json.UnmarshalTypeError{Value: "null", Type: reflect.TypeFor[loginBegin]()}
	}
	for _, k := range []string{"email_address", "remember_me"} {
		if v, ok := raw[k]; ok && string(v) == "null" {
			l.nulls = append(l.nulls, k)
		}
	}
	var p plain
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return err
	}
	l.Email, l.RememberMe = p.Email, p.RememberMe
	return nil
}

func (l loginBegin) Valid() map[string]string {
	if len(l.nulls) == 0 {
		return nil
	}
	f := map[string]string{}
	for _, k := range l.nulls {
		f[k] = "Leave it out rather than null."
	}
	return f
}

// handlePasskeyLoginBegin: POST /v1/auth/passkeys/login/begin.
func handlePasskeyLoginBegin(f passkeyFlow) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[loginBegin](r)
		if err != nil {
			return err
		}
		email, remember := "", false
		if req.Email != nil {
			email = *req.Email
		}
		if req.RememberMe != nil {
			remember = *req.RememberMe
		}
		start, err := f.svc.BeginPasskeyLogin(r.Context(), httpkit.ActorOf(r), email, remember)
		if err != nil {
			return err
		}
		return f.begin(w, start, "Sign with a passkey with these options (navigator.credentials.get), then send it to /v1/auth/passkeys/login/finish.")
	})
}

type passkeyLoginView struct {
	user.Public
	SecondFactorRequired bool `json:"second_factor_required"`
	*httpkit.SessionToken
}

// handlePasskeyLoginFinish: POST /v1/auth/passkeys/login/finish.
func handlePasskeyLoginFinish(f passkeyFlow, cookies Cookies) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[credentialAnswer](r)
		if err != nil {
			return err
		}
		in, err := f.svc.FinishPasskeyLogin(r.Context(), cookies.Presenting(r), f.ceremony(w, r), req.Credential)
		if err != nil {
			return err
		}
		tok, err := cookies.HandOver(w, r, in.Session, req.Token)
		if err != nil {
			return err
		}
		if in.SecondFactorRequired {
			writeOK(w, http.StatusOK, "Passkey accepted; enter the code of your authenticator app.", passkeyLoginView{in.User.Public(), true, tok})
			return nil
		}
		writeOK(w, http.StatusOK, "Logged in.", passkeyLoginView{in.User.Public(), false, tok})
		return nil
	})
}

type noBody struct{}

func (noBody) Valid() map[string]string { return nil }

// handlePasskeyVerifyBegin: POST /v1/auth/passkeys/verify/begin, the
// second factor of a half-authenticated session.
func handlePasskeyVerifyBegin(f passkeyFlow) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if r.ContentLength != 0 {
			if _, err := decode[noBody](r); err != nil {
				return err
			}
		}
		start, err := f.svc.BeginPasskeySecondFactor(r.Context(), httpkit.ActorOf(r))
		if err != nil {
			return err
		}
		return f.begin(w, start, "Sign with your passkey with these options (navigator.credentials.get), then send it to /v1/auth/passkeys/verify/finish.")
	})
}

// handlePasskeyVerifyFinish: POST /v1/auth/passkeys/verify/finish.
func handlePasskeyVerifyFinish(f passkeyFlow, cookies Cookies) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[credentialAnswer](r)
		if err != nil {
			return err
		}
		v, err := f.svc.FinishPasskeySecondFactor(r.Context(), httpkit.ActorOf(r), f.ceremony(w, r), req.Credential)
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

// handleListPasskeys: GET /v1/auth/passkeys.
func handleListPasskeys(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		keys, err := svc.Passkeys(r.Context(), httpkit.ActorOf(r))
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "", struct {
			Passkeys []account.PasskeyView `json:"passkeys"`
		}{keys})
		return nil
	})
}

type renamePasskey struct {
	Name string `json:"name"`
}

func (r renamePasskey) Valid() map[string]string {
	if msg := user.ValidatePasskeyName(r.Name); msg != "" {
		return map[string]string{"name": msg}
	}
	return nil
}

// handleRenamePasskey: PATCH /v1/auth/passkeys/{id}.
func handleRenamePasskey(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[renamePasskey](r)
		if err != nil {
			return err
		}
		v, err := svc.RenamePasskey(r.Context(), httpkit.ActorOf(r), mux.Vars(r)["id"], req.Name)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Passkey renamed.", v)
		return nil
	})
}

// handleRemovePasskey: DELETE /v1/auth/passkeys/{id}.
func handleRemovePasskey(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := svc.RemovePasskey(r.Context(), httpkit.ActorOf(r), mux.Vars(r)["id"]); err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Passkey removed.", nil)
		return nil
	})
}
