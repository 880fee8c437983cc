package v1

import (
	"context"
	"crypto/subtle"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/oauth"
	"esauth/lib/session"
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

// identityGrace is how long an identity without its user may be a first
// login still under way (it writes the identity, then the user, within
// one request's deadline) rather than one left behind.
const identityGrace = time.Minute

// IdentityStore reads and writes the links between provider accounts and users.
type IdentityStore interface {
	CreateIdentity(ctx context.Context, id user.Identity) error
	GetIdentity(ctx context.Context, provider, subject string) (user.Identity, error)
	ListIdentities(ctx context.Context, email string) ([]user.Identity, error)
	DeleteIdentity(ctx context.Context, provider, subject string) error
}

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
	users   UserStore
	ids     IdentityStore
	tokens  tokenStore // the states' one-use records
	starter sessionStarter
	rec     audit.Recorder
	now     func() time.Time
}

// provider is the {provider} of the route, or 404.
func (f oauthFlow) provider(r *http.Request) (oauth.Provider, error) {
	p, ok := f.cfg.Providers[mux.Vars(r)["provider"]]
	if !ok {
		return nil, errs.E(errs.NotFound, "No such login provider.")
	}
	return p, nil
}

// SafeReturnTo accepts only a path on this site: "/…" but not "//…" or
// "/\…" (which browsers read as another host), no scheme, no host, no
// control characters. Empty is "/".
func SafeReturnTo(v string) (string, bool) {
	if v == "" {
		return "/", true
	}
	if len(v) > 2048 || !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.HasPrefix(v, "/\\") || strings.ContainsRune(v, '\\') {
		return "", false
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return "", false
		}
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "", false
	}
	return v, true
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
	rec, secret := token.New(token.OAuthState, st.LinkTo, f.now(), StateTTL)
	if err := f.tokens.CreateToken(r.Context(), rec); err != nil {
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
	returnTo, ok := SafeReturnTo(r.URL.Query().Get("return_to"))
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
		cur := current(r)
		return f.begin(w, r, p, oauthState{ReturnTo: returnTo, LinkTo: cur.User.Email, LinkEpoch: cur.User.SessionEpoch})
	})
}

// oauthRefusal is a callback that ends without a login: Reason goes to the
// browser (?error=), the audit trail and the log; err is the JSON answer.
type oauthRefusal struct {
	reason string
	err    error
}

func (e *oauthRefusal) Error() string { return e.reason + ": " + e.err.Error() }
func (e *oauthRefusal) Unwrap() error { return e.err }

func refuse(reason string, code errs.Code, msg string) error {
	return &oauthRefusal{reason: reason, err: errs.E(code, msg)}
}

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
		var ref *oauthRefusal
		if errors.As(err, &ref) {
			reason = ref.reason
		} else if errs.Is(err, errs.Unavailable) {
			reason = "unavailable"
		}
		email := done.email
		if email == "" {
			email = "<unknown>" // refused before the provider said who it was
		}
		record(f.rec, r, audit.OAuthRefused, email, audit.Refused+": "+reason)
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
	if err := f.spendState(r.Context(), st); err != nil {
		return st, done, err
	}
	prof, err := p.Profile(r.Context(), code, st.attempt())
	if err != nil {
		reason := oauth.ReasonOf(err)
		loggerFrom(r.Context()).Info("provider login failed", zap.String("provider", p.Name()), zap.Error(err))
		if reason == oauth.ProviderUnavailable {
			return st, done, &oauthRefusal{reason: string(reason), err: errs.E(errs.Unavailable, "The login provider cannot be reached; try again later.")}
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

// spendState spends the one-use record begin stored for st. Of callbacks
// with copies of one state cookie, exactly one gets past it (UseToken's
// delete decides), so one start yields at most one login or link, however
// many codes the provider hands out for its authorization request. A
// cookie without a record (made before records existed) is refused like
// a missing one.
func (f oauthFlow) spendState(ctx context.Context, st oauthState) error {
	id, ok := token.IDOf(st.Record)
	if !ok {
		return refuse("state_missing", errs.Unauthenticated, "The login expired or was started in another browser; start again.")
	}
	_, err := f.tokens.UseToken(ctx, id, token.OAuthState, f.now(), nil)
	if errs.Is(err, errs.Invalid) { // unknown, spent or expired: one answer for all
		return refuse("state_used", errs.Unauthenticated, "This login was finished already or has expired; start again.")
	}
	return err
}

// login logs in the user linked to the provider account, or makes one
// for it. An unknown provider account never logs in to an existing user
// by email (whoever controls the provider account may not own the esauth
// one: an account takeover), and an address the provider did not verify
// is never used at all.
func (f oauthFlow) login(w http.ResponseWriter, r *http.Request, st oauthState, prof oauth.Profile) (callbackDone, error) {
	ctx := r.Context()
	done := callbackDone{email: user.NormalizeEmail(prof.Email)}
	id, err := f.ids.GetIdentity(ctx, prof.Provider, prof.Subject)
	switch {
	case err == nil:
		u, err := f.users.GetUser(ctx, id.Email)
		if err == nil && id.Belongs(u) {
			done.email = u.Email
			return f.startLogin(w, r, st, u, prof, false)
		}
		if err != nil && !errs.Is(err, errs.NotFound) {
			return done, err
		}
		// No user, or another account with its email. A first login that
		// writes the identity and then the user may be between the two
		// writes: an identity that young is left alone.
		if err != nil && f.now().Sub(id.CreatedAt) < identityGrace {
			return done, refuse("login_raced", errs.Conflict, "Another login with this account is under way; try again.")
		}
		// Otherwise the link is stale (its account is gone, or was deleted
		// and made again): it goes, and the provider account is unknown.
		if err := f.ids.DeleteIdentity(ctx, id.Provider, id.Subject); err != nil && !errs.Is(err, errs.NotFound) {
			return done, err
		}
	case !errs.Is(err, errs.NotFound):
		return done, err
	}

	email := done.email
	if !prof.EmailVerified || email == "" {
		return done, refuse("email_not_verified", errs.Forbidden, "The provider has not verified an email address for you, so it cannot make an account here.")
	}
	if user.ValidateEmail(email) != "" {
		return done, refuse("email_invalid", errs.Forbidden, "The email address the provider gave cannot be used here.")
	}
	switch _, err := f.users.GetUser(ctx, email); {
	case err == nil:
		return done, refuse("account_exists", errs.Conflict, "An account with this email address already exists. Log in with your password, then link this provider from your account.")
	case !errs.Is(err, errs.NotFound):
		return done, err
	}
	t := f.now().UTC()
	first, last := cleanName(prof.FirstName), cleanName(prof.LastName)
	if first == "" {
		first = cleanName(email[:strings.IndexByte(email, '@')])
	}
	u := user.User{
		Email: email, FirstName: first, LastName: last, Role: user.RoleUser, IsActive: true,
		CreatedAt: t, UpdatedAt: t, PasswordChangedAt: t, SessionEpoch: user.NewEpoch(),
		// Only a verified email makes an account (above): it is proven.
		EmailVerifiedAt: t,
	}
	ident := user.Identity{Provider: prof.Provider, Subject: prof.Subject, Email: email, UserCreatedAt: t, ProviderEmail: prof.Email, CreatedAt: t}
	// The identity first: if the user cannot be made, or esauth stops in
	// between, what is left is an identity whose user is missing, which
	// the next login forgets (above); never a user nobody can log in to.
	if err := f.ids.CreateIdentity(ctx, ident); err != nil {
		if errs.Is(err, errs.Conflict) {
			return done, refuse("login_raced", errs.Conflict, "Another login with this account is under way; try again.")
		}
		return done, err
	}
	if err := f.users.CreateUser(ctx, u); err != nil {
		if derr := f.ids.DeleteIdentity(ctx, ident.Provider, ident.Subject); derr != nil {
			loggerFrom(ctx).Warn("could not delete the identity of a user that was not made; the next login forgets it", zap.Error(derr))
		}
		if errs.Is(err, errs.Conflict) {
			return done, refuse("account_exists", errs.Conflict, "An account with this email address already exists. Log in with your password, then link this provider from your account.")
		}
		return done, err
	}
	record(f.rec, r, audit.OAuthSignup, email, audit.Success)
	return f.startLogin(w, r, st, u, prof, true)
}

// startLogin starts a session of u exactly as a password login does: a
// provider account is one factor, like a password, so a user with TOTP on
// gets a half-authenticated session that owes its code (unless the
// provider is trusted to have asked for a second factor of its own).
func (f oauthFlow) startLogin(w http.ResponseWriter, r *http.Request, st oauthState, u user.User, prof oauth.Profile, created bool) (callbackDone, error) {
	done := callbackDone{email: u.Email}
	if !u.IsActive {
		return done, refuse("account_disabled", errs.Forbidden, "This account is disabled.")
	}
	// As a password login: the session the request came with ends, so a
	// cookie planted before the login is never the one valid after it.
	if prev, ok := f.starter.cookies.payload(r); ok {
		if err := f.starter.sessions.DeleteSession(r.Context(), session.IDOf(prev.Token)); err != nil {
			return done, err
		}
	}
	if u.TOTPEnabled() && !f.cfg.TrustProviderMFA {
		// Half way, as LogIn: the session is worth nothing until the code.
		if _, err := f.starter.begin(w, r, u, st.Remember, stagePending); err != nil {
			return done, err
		}
		record(f.rec, r, audit.SecondFactorRequired, u.Email, audit.Success)
		done.pending, done.message = true, "Provider login accepted; enter the code of your authenticator app."
		done.view = oauthLoginView{Email: u.Email, Provider: prof.Provider, Created: created, SecondFactorRequired: true}
		return done, nil
	}
	if _, err := f.starter.start(w, r, u, st.Remember); err != nil {
		return done, err
	}
	record(f.rec, r, audit.OAuthLogin, u.Email, audit.Success)
	done.message, done.view = "Logged in.", oauthLoginView{Email: u.Email, Provider: prof.Provider, Created: created}
	return done, nil
}

// link attaches the provider account to the logged-in user who started
// the link, when that user's session is still this browser's and still
// valid. A user has at most one account per provider.
func (f oauthFlow) link(_ http.ResponseWriter, r *http.Request, st oauthState, prof oauth.Profile) (callbackDone, error) {
	ctx := r.Context()
	done := callbackDone{email: st.LinkTo}
	cur, ok := currentOf(ctx)
	if !ok || cur.User.Email != st.LinkTo || cur.User.SessionEpoch != st.LinkEpoch {
		return done, refuse("link_session_ended", errs.Unauthenticated, "Log in again, then link this provider.")
	}
	mine, err := ownIdentities(ctx, f.ids, cur.User)
	if err != nil {
		return done, err
	}
	for _, id := range mine {
		if id.Provider == prof.Provider {
			if id.Subject == prof.Subject {
				done.message, done.view = "Already linked.", identityViewOf(id)
				return done, nil
			}
			return done, refuse("provider_already_linked", errs.Conflict, "Your account is already linked to another account at this provider; unlink that one first.")
		}
	}
	t := f.now().UTC()
	ident := user.Identity{Provider: prof.Provider, Subject: prof.Subject, Email: cur.User.Email, UserCreatedAt: cur.User.CreatedAt, ProviderEmail: prof.Email, CreatedAt: t}
	for range 2 {
		err = f.ids.CreateIdentity(ctx, ident)
		if !errs.Is(err, errs.Conflict) {
			break
		}
		// Linked already: to someone else, or to an account that is gone.
		other, gerr := f.ids.GetIdentity(ctx, prof.Provider, prof.Subject)
		if gerr != nil && !errs.Is(gerr, errs.NotFound) {
			return done, gerr
		}
		if gerr == nil {
			owner, uerr := f.users.GetUser(ctx, other.Email)
			if uerr == nil && other.Belongs(owner) {
				return done, refuse("linked_to_another_user", errs.Conflict, "This account at the provider is already linked to another user.")
			}
			if uerr != nil && !errs.Is(uerr, errs.NotFound) {
				return done, uerr
			}
			if derr := f.ids.DeleteIdentity(ctx, other.Provider, other.Subject); derr != nil && !errs.Is(derr, errs.NotFound) {
				return done, derr
			}
		}
	}
	if err != nil {
		return done, err
	}
	record(f.rec, r, audit.IdentityLinked, cur.User.Email, audit.Success)
	done.message, done.view = "Linked.", identityViewOf(ident)
	return done, nil
}

// ownIdentities lists u's identities, leaving out stale ones of an
// earlier account with u's email.
func ownIdentities(ctx context.Context, ids IdentityStore, u user.User) ([]user.Identity, error) {
	all, err := ids.ListIdentities(ctx, u.Email)
	if err != nil {
		return nil, err
	}
	var out []user.Identity
	for _, id := range all {
		if id.Belongs(u) {
			out = append(out, id)
		}
	}
	return out, nil
}

type IdentityView struct {
	Provider      string    `json:"provider"`
	Subject       string    `json:"subject"`
	ProviderEmail string    `json:"provider_email,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

func identityViewOf(id user.Identity) IdentityView {
	return IdentityView{Provider: id.Provider, Subject: id.Subject, ProviderEmail: id.ProviderEmail, CreatedAt: id.CreatedAt}
}

// handleListIdentities: GET /v1/auth/identities, the logged-in user's
// linked provider accounts.
func handleListIdentities(f oauthFlow) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		mine, err := ownIdentities(r.Context(), f.ids, current(r).User)
		if err != nil {
			return err
		}
		views := make([]IdentityView, 0, len(mine))
		for _, id := range mine {
			views = append(views, identityViewOf(id))
		}
		writeOK(w, http.StatusOK, "Linked accounts.", views)
		return nil
	})
}

// handleUnlink: DELETE /v1/auth/identities/{provider}.
func handleUnlink(f oauthFlow) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		id, err := unlink(r, f.ids, f.users, f.rec, mux.Vars(r)["provider"])
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Unlinked.", id)
		return nil
	})
}

// unlink removes the logged-in user's link to provider. It is refused
// (409) when it would leave the user no way to log in: no password and no
// other linked account. Two unlinks racing could each see the other's
// identity still there, so the check runs again after the delete, and an
// unlink that left no way in is undone.
func unlink(r *http.Request, ids IdentityStore, users UserStore, rec audit.Recorder, provider string) (IdentityView, error) {
	ctx := r.Context()
	cur := current(r)
	mine, err := ownIdentities(ctx, ids, cur.User)
	if err != nil {
		return IdentityView{}, err
	}
	var target *user.Identity
	for i := range mine {
		if mine[i].Provider == provider {
			target = &mine[i]
		}
	}
	if target == nil {
		return IdentityView{}, errs.E(errs.NotFound, "Your account is not linked to this provider.")
	}
	u, err := users.GetUser(ctx, cur.User.Email)
	if err != nil {
		return IdentityView{}, err
	}
	lastWayIn := errs.E(errs.Conflict, "This is your only way to log in: set a password or link another provider first.")
	if u.PasswordHash == "" && len(mine) == 1 {
		return IdentityView{}, lastWayIn
	}
	if err := ids.DeleteIdentity(ctx, target.Provider, target.Subject); err != nil {
		return IdentityView{}, err
	}
	if u.PasswordHash == "" {
		left, err := ownIdentities(ctx, ids, cur.User)
		if err == nil && len(left) == 0 {
			if rerr := ids.CreateIdentity(ctx, *target); rerr != nil {
				loggerFrom(ctx).Error("an unlink left a user without a password no linked account, and could not be undone", zap.Error(rerr))
			}
			return IdentityView{}, lastWayIn
		}
		if err != nil {
			loggerFrom(ctx).Warn("could not check the ways in left after an unlink", zap.Error(err))
		}
	}
	record(rec, r, audit.IdentityUnlinked, cur.User.Email, audit.Success)
	return identityViewOf(*target), nil
}

// cleanName makes a provider's name fit esauth's rules: control
// characters dropped, spaces trimmed, at most 64 characters.
func cleanName(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "")
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > user.MaxNameLen {
		s = strings.TrimSpace(string([]rune(s)[:user.MaxNameLen]))
	}
	return s
}
