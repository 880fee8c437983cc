package v1

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"esauth/lib/account"
	"esauth/lib/errs"
	"esauth/lib/httpkit"
	"esauth/lib/oauth"
	"esauth/lib/token"
	"esauth/lib/user"
)

// OAuth configures logging in with external providers.
type OAuth struct {
	// Providers by name (the {provider} of the routes).
	Providers map[string]oauth.Provider
	// State signs and encrypts the state cookie (see stateCookie); it
	// must refuse values older than StateTTL.
	State StateCodec
	// TrustProviderMFA (ESAUTH_OAUTH_TRUST_PROVIDER_MFA) lets the provider
	// login of a user with TOTP on log in fully, without the code, for
	// providers that require a second factor of their own. esauth checks
	// no claim (acr, amr) that says one was used: it trusts the setting.
	// Off, such a login ends half-authenticated, as a password login does.
	TrustProviderMFA bool
}

// StateCodec signs and encrypts a value for a named cookie
// (github.com/gorilla/securecookie's SecureCookie is one).
type StateCodec interface {
	Encode(name string, value any) (string, error)
	Decode(name, value string, dst any) error
}

// StateTTL is how long a browser has to come back from the provider:
// the state cookie and its one-use record (token.OAuthState) live as long.
const StateTTL = token.OAuthStateTTL

// secondFactorPage is the page (web.go's /login/code) where a browser
// whose login owes its TOTP code types it; it takes ?return_to=.
const secondFactorPage = "/login/code"

// oauthState is what the state cookie carries from the start of a login
// (or link) to its callback. It is bound to the browser that started it:
// the callback's state must equal State, and only this browser has the
// cookie. It works once: Record is the secret of a one-time token
// (token.OAuthState) stored at the start, which the callback spends, so a
// copy of the cookie sent again is refused even though it decodes.
type oauthState struct {
	Record   string `json:"k"`
	Provider string `json:"p"`
	State    string `json:"s"`
	Verifier string `json:"v"`
	Nonce    string `json:"n"`
	ReturnTo string `json:"r,omitempty"`
	Remember bool   `json:"m,omitempty"`
	// LinkTo is the email of the logged-in user who asked to link this
	// provider account, and LinkEpoch that user's session epoch then: a
	// link whose session ended meanwhile is refused.
	LinkTo    string `json:"l,omitempty"`
	LinkEpoch string `json:"e,omitempty"`
}

func (s oauthState) attempt() oauth.Attempt {
	return oauth.Attempt{State: s.State, Verifier: s.Verifier, Nonce: s.Nonce}
}

// stateCookieName is the state cookie's name; its path is the OAuth
// routes', so no other request carries it.
const (
	stateCookieName = "esauth_oauth"
	stateCookiePath = "/v1/auth/oauth/"
)

// oauthFlow holds what the OAuth handlers share.
type oauthFlow struct {
	cfg     OAuth
	secure  bool // the cookie's Secure flag
	svc     *account.Service
	cookies Cookies
}

// provider is the {provider} of the route, or 404.
func (f oauthFlow) provider(r *http.Request) (oauth.Provider, error) {
	p, ok := f.cfg.Providers[mux.Vars(r)["provider"]]
	if !ok {
		return nil, errs.E(errs.NotFound, "No such login provider.")
	}
	return p, nil
}

// begin sends the browser to the provider with a new attempt, remembered
// in the state cookie and made one-use by a record in the tokens index
// (whose id is the hash of a secret only the encrypted cookie holds; the
// state itself travels in URLs). JSON clients get the address instead of
// a redirect.
func (f oauthFlow) begin(w http.ResponseWriter, r *http.Request, p oauth.Provider, st oauthState) error {
	a := oauth.NewAttempt()
	st.Provider, st.State, st.Verifier, st.Nonce = p.Name(), a.State, a.Verifier, a.Nonce
	authURL, err := p.AuthURL(r.Context(), a)
	if err != nil {
		loggerFrom(r.Context()).Warn("login provider unavailable", zap.String("provider", p.Name()), zap.Error(err))
		return errs.E(errs.Unavailable, "The login provider cannot be reached; try again later.")
	}
	secret, err := f.svc.StartProvider(r.Context(), st.LinkTo)
	if err != nil {
		return err
	}
	st.Record = secret
	value, err := f.cfg.State.Encode(stateCookieName, st)
	if err != nil {
		return errs.Wrap(errs.Internal, "Could not start the login.", err)
	}
	http.SetCookie(w, &http.Cookie{
		Name: stateCookieName, Value: value, Path: stateCookiePath, MaxAge: int(StateTTL / time.Second),
		// Lax: the provider sends the browser back with a top-level GET
		// from its own site, which Strict would send without the cookie.
		HttpOnly: true, Secure: f.secure, SameSite: http.SameSiteLaxMode,
	})
	if wantsJSON(r) {
		writeOK(w, http.StatusOK, "Go to the provider to log in.", map[string]string{"authorization_url": authURL})
		return nil
	}
	http.Redirect(w, r, authURL, http.StatusFound)
	return nil
}

// wantsJSON reports whether the client asked for JSON rather than redirects.
func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}

// startParams reads what both starts take: the provider and return_to.
func (f oauthFlow) startParams(r *http.Request) (oauth.Provider, string, error) {
	p, err := f.provider(r)
	if err != nil {
		return nil, "", err
	}
	returnTo, ok := httpkit.SafeReturnTo(r.URL.Query().Get("return_to"))
	if !ok {
		return nil, "", errs.InvalidFields(map[string]string{"return_to": "return_to must be a path on this site, such as /dashboard."})
	}
	return p, returnTo, nil
}

// handleOAuthStart: GET /v1/auth/oauth/{provider}?return_to=&remember=.
func handleOAuthStart(f oauthFlow) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, returnTo, err := f.startParams(r)
		if err != nil {
			return err
		}
		remember := r.URL.Query().Get("remember") == "true"
		return f.begin(w, r, p, oauthState{ReturnTo: returnTo, Remember: remember})
	})
}

// handleOAuthLink: POST /v1/auth/oauth/{provider}/link (logged in) starts
// the same flow; its callback links the provider account to this user.
func handleOAuthLink(f oauthFlow) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		p, returnTo, err := f.startParams(r)
		if err != nil {
			return err
		}
		cur := httpkit.Current(r)
		return f.begin(w, r, p, oauthState{ReturnTo: returnTo, LinkTo: cur.User.Email, LinkEpoch: cur.User.SessionEpoch})
	})
}

// refuse is a callback that ends without a login (account.Refusal).
var refuse = account.Refuse

// handleOAuthCallback: GET /v1/auth/oauth/{provider}/callback. The state
// cookie is single-use: it is cleared whatever happens, and its record is
// spent before the code is redeemed (see spendState).
func handleOAuthCallback(f oauthFlow) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.SetCookie(w, &http.Cookie{
			Name: stateCookieName, Value: "", Path: stateCookiePath, MaxAge: -1, Expires: time.Unix(0, 0),
			HttpOnly: true, Secure: f.secure, SameSite: http.SameSiteLaxMode,
		})
		st, done, err := f.callback(w, r)
		if err == nil {
			if wantsJSON(r) {
				writeOK(w, http.StatusOK, done.message, done.view)
				return
			}
			if done.pending {
				// Where the login page sends a password login that owes
				// its code, return_to kept for after it.
				http.Redirect(w, r, secondFactorPage+"?return_to="+url.QueryEscape(st.ReturnTo), http.StatusFound)
				return
			}
			http.Redirect(w, r, st.ReturnTo, http.StatusFound)
			return
		}
		reason := "error"
		var ref *account.Refusal
		if errors.As(err, &ref) {
			reason = ref.Reason
		} else if errs.Is(err, errs.Unavailable) {
			reason = "unavailable"
		}
		email := done.email
		if email == "" {
			email = "<unknown>" // refused before the provider said who it was
		}
		f.svc.ProviderRefused(httpkit.ActorOf(r), email, reason)
		loggerFrom(r.Context()).Info("login with a provider refused", zap.String("provider", mux.Vars(r)["provider"]), zap.String("reason", reason), zap.Error(err))
		if wantsJSON(r) {
			writeError(w, r, err)
			return
		}
		http.Redirect(w, r, "/?error="+url.QueryEscape(reason), http.StatusFound)
	})
}

// callbackDone is what a callback that succeeded answers, and the email it
// concerned (for the audit trail of a refusal too).
type callbackDone struct {
	email   string
	message string
	view    any
	// pending: the session is half-authenticated, the TOTP code owed.
	pending bool
}

type oauthLoginView struct {
	Email    string `json:"email_address"`
	Provider string `json:"provider"`
	// Created says the login made the account.
	Created bool `json:"created"`
	// SecondFactorRequired: the session is half-authenticated until
	// POST /v1/auth/totp/verify, as after a password login.
	SecondFactorRequired bool `json:"second_factor_required,omitempty"`
}

func (f oauthFlow) callback(w http.ResponseWriter, r *http.Request) (oauthState, callbackDone, error) {
	var done callbackDone
	p, err := f.provider(r)
	if err != nil {
		return oauthState{}, done, err
	}
	q := r.URL.Query()
	ck, cerr := r.Cookie(stateCookieName)
	var st oauthState
	if cerr != nil || f.cfg.State.Decode(stateCookieName, ck.Value, &st) != nil {
		return st, done, refuse("state_missing", errs.Unauthenticated, "The login expired or was started in another browser; start again.")
	}
	if st.Provider != p.Name() || subtle.ConstantTimeCompare([]byte(q.Get("state")), []byte(st.State)) != 1 {
		return st, done, refuse("state_mismatch", errs.Unauthenticated, "The login does not match the one this browser started; start again.")
	}
	if e := q.Get("error"); e != "" {
		return st, done, refuse("provider_refused", errs.Unauthenticated, "The provider did not log you in.")
	}
	code := q.Get("code")
	if code == "" {
		return st, done, refuse("code_missing", errs.Unauthenticated, "The provider sent no code; start again.")
	}
	if err := f.svc.SpendProviderState(r.Context(), st.Record); err != nil {
		return st, done, err
	}
	prof, err := p.Profile(r.Context(), code, st.attempt())
	if err != nil {
		reason := oauth.ReasonOf(err)
		loggerFrom(r.Context()).Info("provider login failed", zap.String("provider", p.Name()), zap.Error(err))
		if reason == oauth.ProviderUnavailable {
			return st, done, &account.Refusal{Reason: string(reason), Err: errs.E(errs.Unavailable, "The login provider cannot be reached; try again later.")}
		}
		return st, done, refuse(string(reason), errs.Unauthenticated, "The provider's answer could not be verified; start again.")
	}
	if st.LinkTo != "" {
		done, err = f.link(w, r, st, prof)
	} else {
		done, err = f.login(w, r, st, prof)
	}
	return st, done, err
}

// login logs in (or signs up) the user of the provider account prof, as
// a password login does: the session the request came with ends, and the
// new one's cookie is set.
func (f oauthFlow) login(w http.ResponseWriter, r *http.Request, st oauthState, prof oauth.Profile) (callbackDone, error) {
	in, email, err := f.svc.ProviderLogIn(r.Context(), f.cookies.Presenting(r), prof, st.Remember)
	done := callbackDone{email: email}
	if err != nil {
		return done, err
	}
	if err := f.cookies.SetSession(w, in.Session); err != nil {
		return done, err
	}
	if in.Pending {
		done.pending, done.message = true, "Provider login accepted; enter the code of your authenticator app."
		done.view = oauthLoginView{Email: in.User.Email, Provider: prof.Provider, Created: in.Created, SecondFactorRequired: true}
		return done, nil
	}
	done.message, done.view = "Logged in.", oauthLoginView{Email: in.User.Email, Provider: prof.Provider, Created: in.Created}
	return done, nil
}

// link attaches the provider account to the logged-in user who started
// the link (see account.Service.Link).
func (f oauthFlow) link(_ http.ResponseWriter, r *http.Request, st oauthState, prof oauth.Profile) (callbackDone, error) {
	done := callbackDone{email: st.LinkTo}
	l, err := f.svc.Link(r.Context(), httpkit.ActorOf(r), st.LinkTo, st.LinkEpoch, prof)
	if err != nil {
		return done, err
	}
	done.message, done.view = "Linked.", identityViewOf(l.Identity)
	if l.Already {
		done.message = "Already linked."
	}
	return done, nil
}

// IdentityView is a linked provider account as GET /v1/auth/identities
// lists it.
type IdentityView = account.IdentityView

func identityViewOf(id user.Identity) IdentityView { return account.IdentityViewOf(id) }

// handleListIdentities: GET /v1/auth/identities, the logged-in user's
// linked provider accounts.
func handleListIdentities(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		mine, err := svc.Identities(r.Context(), httpkit.ActorOf(r))
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Linked accounts.", account.IdentityViews(mine))
		return nil
	})
}

// handleUnlink: DELETE /v1/auth/identities/{provider}.
func handleUnlink(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id, err := svc.Unlink(r.Context(), httpkit.ActorOf(r), mux.Vars(r)["provider"])
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Unlinked.", identityViewOf(id))
		return nil
	})
}
