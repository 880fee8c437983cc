// Package web is esauth's server-rendered pages: start, signup, login and
// the dashboard. Its handlers call the application layer the /v1 API
// calls (lib/account, through httpkit.Services), so there is one copy of
// every rule; the pages only turn forms into calls and errors into
// messages next to their fields. What they share of HTTP with the API
// (the loader, cookies, limits, CSRF) is lib/httpkit's, refusing here
// with a page (Server.Refuse), never the API's JSON.
package web

import (
	"bytes"
	"embed"
	"errors"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"esauth/lib/account"
	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/httpkit"
	pagepkg "esauth/lib/page"
	"esauth/lib/user"
)

//go:embed templates/*.html
var templateFiles embed.FS

//go:embed static
var staticFiles embed.FS

// contentSecurityPolicy allows only this site's stylesheet and forms: no
// script at all, no inline style, no framing.
// img-src allows data: for the TOTP enrolment's QR code, a PNG made here.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self' data:; form-action 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'"

// pages holds the parsed templates, one set per page (each with the layout).
type pages map[string]*template.Template

func parsePages() (pages, error) {
	out := pages{}
	for _, name := range []string{"index", "login", "signup", "dashboard", "notfound", "unavailable", "admin",
		"forgot", "reset", "verify", "code", "refused", "events", "sessions", "lockouts"} {
		t, err := template.New(name).Funcs(template.FuncMap{"field": newField, "filterField": newFilterField, "yesno": newYesNo, "facet": facetCount, "percent": percent, "has": slices.Contains[[]string]}).
			ParseFS(templateFiles, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, err
		}
		out[name] = t
	}
	return out, nil
}

// page is what every template gets.
type page struct {
	Title     string
	User      *user.User // the logged-in user, if any
	Flash     string
	Error     string            // a message for the whole form
	Form      map[string]string // what the user typed (never a password)
	Fields    map[string]string // a message per invalid field
	Providers []string
	// PasskeysOn: the page offers passkeys, and loads /static/passkeys.js
	// (the pages' only script) for their ceremonies.
	PasskeysOn bool

	// The dashboard's.
	Sessions   []account.SessionView
	Identities []account.IdentityView
	Passkeys   []account.PasskeyView
	Events     []audit.Event

	// The dashboard's second factor: a new enrolment to confirm, or the
	// recovery codes just made (shown this once).
	Enrol         *totpEnrol
	RecoveryCodes []string

	// The admin page's: a page of users and the cursor of the next.
	Users []user.Public
	Next  string

	// The security console's pages (the users' facets too).
	Console *consoleView
}

// totpEnrol is an enrolment waiting for its first code.
type totpEnrol struct {
	QR     template.URL // a data: URL of a PNG made by lib/totp
	Secret string
}

// field is one labelled input of a form, with its error tied to it.
type field struct {
	Name, Label, Type, Auto, Value, Err string
	First                               bool // the first invalid field gets the focus
}

var fieldOrder = []string{"email_address", "first_name", "last_name", "password", "new_password", "code", "recovery_code"}

func newField(name, label, typ, auto string, p page) field {
	f := field{Name: name, Label: label, Type: typ, Auto: auto, Value: p.Form[name], Err: p.Fields[name]}
	if f.Err != "" {
		for _, n := range fieldOrder {
			if p.Fields[n] != "" {
				f.First = n == name
				break
			}
		}
	}
	return f
}

// Server is the pages' handler.
type Server struct {
	svc    httpkit.Services
	pages  pages
	log    *zap.Logger
	router *mux.Router
}

// New returns the pages, for v1.Deps.Pages (main mounts them beside the API).
func New(log *zap.Logger) (func(httpkit.Services) http.Handler, error) {
	ps, err := parsePages()
	if err != nil {
		return nil, err
	}
	return func(svc httpkit.Services) http.Handler {
		s := &Server{svc: svc, pages: ps, log: log}
		slices.Sort(s.svc.OAuthProviders)
		s.router = s.routes()
		return s
	}, nil
}

// ServeHTTP serves the pages.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// Refuse answers a refusal or a failure with a page (httpkit.Refuser):
// the status of the one table, Retry-After when the error asks for one,
// and the message a person may read (never an internal cause). The
// middleware in front of the pages — the per-IP limits, the cross-origin
// check, panic recovery — refuses through it.
func (s *Server) Refuse(w http.ResponseWriter, r *http.Request, err error) {
	status := httpkit.StatusOf(err)
	if status >= 500 {
		s.log.Error("page request failed", zap.Int("status", status), zap.Error(err))
	}
	httpkit.SetRetryAfter(w, err)
	if status == http.StatusServiceUnavailable {
		s.unavailable(w, r)
		return
	}
	title := http.StatusText(status)
	switch status {
	case http.StatusTooManyRequests:
		title = "Too many attempts"
	case http.StatusForbidden:
		title = "Not allowed"
	}
	s.render(w, r, status, "refused", page{Title: title, Error: messageOf(err)})
}

func (s *Server) routes() *mux.Router {
	r := mux.NewRouter()
	// The access log names the page by its route template.
	r.Use(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if route := mux.CurrentRoute(req); route != nil {
				if t, err := route.GetPathTemplate(); err == nil {
					httpkit.NameRoute(req, t)
				}
			}
			next.ServeHTTP(w, req)
		})
	})
	static, _ := fs.Sub(staticFiles, "static")
	r.PathPrefix("/static/").Handler(http.StripPrefix("/static/", http.FileServer(http.FS(static)))).Methods(http.MethodGet)
	r.HandleFunc("/", s.index).Methods(http.MethodGet)
	r.HandleFunc("/login", s.loginForm).Methods(http.MethodGet)
	r.Handle("/login", s.svc.LoginLimit(http.HandlerFunc(s.login))).Methods(http.MethodPost)
	r.HandleFunc("/signup", s.signupForm).Methods(http.MethodGet)
	r.Handle("/signup", s.svc.SignupLimit(http.HandlerFunc(s.signup))).Methods(http.MethodPost)
	r.HandleFunc("/forgot-password", s.forgotForm).Methods(http.MethodGet)
	r.Handle("/forgot-password", s.svc.SignupLimit(http.HandlerFunc(s.forgot))).Methods(http.MethodPost)
	r.HandleFunc(account.ResetPasswordPath, s.resetForm).Methods(http.MethodGet)
	r.Handle(account.ResetPasswordPath, s.svc.LoginLimit(http.HandlerFunc(s.reset))).Methods(http.MethodPost)
	r.HandleFunc(account.VerifyEmailPath, s.verifyForm).Methods(http.MethodGet)
	r.Handle(account.VerifyEmailPath, s.svc.LoginLimit(http.HandlerFunc(s.verify))).Methods(http.MethodPost)
	r.HandleFunc("/login/code", s.codeForm).Methods(http.MethodGet)
	r.Handle("/login/code", s.svc.LoginLimit(http.HandlerFunc(s.code))).Methods(http.MethodPost)
	r.HandleFunc("/dashboard", s.dashboard).Methods(http.MethodGet)
	r.Handle("/dashboard/password", s.svc.LoginLimit(http.HandlerFunc(s.changePassword))).Methods(http.MethodPost)
	r.Handle("/dashboard/totp/enroll", s.svc.LoginLimit(http.HandlerFunc(s.totpEnrol))).Methods(http.MethodPost)
	r.Handle("/dashboard/totp/confirm", s.svc.LoginLimit(http.HandlerFunc(s.totpConfirm))).Methods(http.MethodPost)
	r.Handle("/dashboard/totp/disable", s.svc.LoginLimit(s.dashboardAction(s.totpDisable))).Methods(http.MethodPost)
	r.Handle("/dashboard/verification/resend", s.svc.SignupLimit(s.dashboardAction(s.resendVerification))).Methods(http.MethodPost)
	r.HandleFunc("/dashboard/sessions/revoke", s.dashboardAction(s.revokeSession)).Methods(http.MethodPost)
	r.HandleFunc("/dashboard/identities/unlink", s.dashboardAction(s.unlink)).Methods(http.MethodPost)
	r.HandleFunc("/dashboard/passkeys/rename", s.dashboardAction(s.renamePasskey)).Methods(http.MethodPost)
	r.HandleFunc("/dashboard/passkeys/remove", s.dashboardAction(s.removePasskey)).Methods(http.MethodPost)
	r.HandleFunc("/admin", s.admin).Methods(http.MethodGet)
	r.HandleFunc("/admin/users", s.adminAction).Methods(http.MethodPost)
	r.HandleFunc("/admin/events", s.events).Methods(http.MethodGet)
	r.HandleFunc("/admin/sessions", s.sessions).Methods(http.MethodGet)
	r.HandleFunc("/admin/sessions/revoke", s.revokeSessions).Methods(http.MethodPost)
	r.HandleFunc("/admin/lockouts", s.lockouts).Methods(http.MethodGet)
	r.HandleFunc("/admin/lockouts/clear", s.clearLockout).Methods(http.MethodPost)
	r.HandleFunc("/logout", s.logout).Methods(http.MethodPost)
	r.HandleFunc("/logout/all", s.dashboardAction(s.logoutEverywhere)).Methods(http.MethodPost)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.render(w, r, http.StatusNotFound, "notfound", page{Title: "Not found"})
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if err := httpkit.NotAllowed(w, r, req); err != nil {
			s.Refuse(w, req, err)
			return
		}
		r.NotFoundHandler.ServeHTTP(w, req)
	})
	return r
}

// render writes a page with its status and the pages' security policy.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if cur, ok := httpkit.CurrentOf(r); ok && p.User == nil {
		u := cur.User
		p.User = &u
	}
	if p.Flash == "" {
		p.Flash = takeFlash(w, r)
	}
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Type", "text/html; charset=utf-8")
	// Rendered whole before anything is sent: a template that fails half
	// way is a 500 saying so, not a 200 with half a page.
	var buf bytes.Buffer
	if err := s.pages[name].ExecuteTemplate(&buf, "layout", p); err != nil {
		s.log.Error("rendering a page", zap.String("page", name), zap.Error(err))
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = io.WriteString(w, "<!doctype html><title>esauth</title><p>This page could not be shown. Try again later.</p>\n")
		return
	}
	w.WriteHeader(status)
	_, _ = buf.WriteTo(w)
}

// Flash messages survive one redirect in a cookie holding only a code
// (post/redirect/get); the text is the server's own.
const flashCookie = "esauth_flash"

var flashes = map[string]string{
	"signed_up":             "Your account is ready: we mailed you a link to verify your address. Log in.",
	"password_reset":        "Your new password is saved; every other session was logged out.",
	"totp_off":              "Two-factor authentication is off.",
	"verification_sent":     "A new link is on its way to your address.",
	"logged_out":            "You are logged out.",
	"logged_out_everywhere": "You are logged out everywhere.",
	"login_first":           "Log in to see that page.",
	"password_changed":      "Your password is changed; your other sessions were logged out.",
	"session_revoked":       "That session is logged out.",
	"unlinked":              "That account is unlinked.",
	"passkey_added":         "Your passkey is added: it logs you in with no password.",
	"passkey_renamed":       "The passkey is renamed.",
	"passkey_removed":       "The passkey is removed.",
	"user_updated":          "The user is updated.",
	"user_deleted":          "The user is deleted.",
	"lockout_cleared":       "The lockout is lifted: that email's failed attempts start again from zero.",
}

func setFlash(w http.ResponseWriter, code string) {
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: code, Path: "/", MaxAge: 60, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, Expires: time.Unix(0, 0), HttpOnly: true, SameSite: http.SameSiteLaxMode})
	return flashes[c.Value]
}

func (s *Server) index(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "index", page{Title: "Welcome"})
}

// returnTo is where a login sends the browser: the return_to it came
// with (set by a reverse proxy's forward-auth redirect, say), when that is
// a path on this site, else the dashboard.
func returnTo(v string) string {
	if to, ok := httpkit.SafeReturnTo(v); ok && v != "" {
		return to
	}
	return "/dashboard"
}

func (s *Server) loginForm(w http.ResponseWriter, r *http.Request) {
	to := returnTo(r.URL.Query().Get("return_to"))
	if _, ok := httpkit.CurrentOf(r); ok {
		http.Redirect(w, r, to, http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "login", page{Title: "Log in", Providers: s.svc.OAuthProviders, PasskeysOn: s.svc.Accounts.PasskeysOn(), Form: map[string]string{"return_to": to}})
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	form, ok := s.form(w, r)
	if !ok {
		return
	}
	email, pw, remember := form.Get("email_address"), form.Get("password"), form.Get("remember_me") == "true"
	to := returnTo(form.Get("return_to"))
	in, err := s.svc.Accounts.LogIn(r.Context(), s.svc.Cookies.Presenting(r), email, pw, remember)
	if err == nil {
		err = s.svc.Cookies.SetSession(w, in.Session)
	}
	if err == nil && in.SecondFactorRequired {
		http.Redirect(w, r, "/login/code?return_to="+url.QueryEscape(to), http.StatusSeeOther)
		return
	}
	if err != nil {
		keep := map[string]string{"email_address": email, "return_to": to}
		if remember {
			keep["remember_me"] = "true"
		}
		s.render(w, r, httpkit.StatusOf(err), "login", page{Title: "Log in", Error: messageOf(err), Form: keep, Providers: s.svc.OAuthProviders})
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

func (s *Server) forgotForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "forgot", page{Title: "Forgot your password?"})
}

// forgot asks for a recovery mail. The page says the same whether or not
// an account has the address, as the API does.
func (s *Server) forgot(w http.ResponseWriter, r *http.Request) {
	form, ok := s.form(w, r)
	if !ok {
		return
	}
	email := form.Get("email_address")
	if err := s.svc.Accounts.RequestRecovery(r.Context(), httpkit.ActorOf(r), email); err != nil {
		s.renderFormError(w, r, "forgot", "Forgot your password?", err, map[string]string{"email_address": email})
		return
	}
	s.render(w, r, http.StatusOK, "forgot", page{Title: "Forgot your password?",
		Flash: "If an account has this address, a link to choose a new password is on its way. It works once, for 30 minutes."})
}

func (s *Server) resetForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "reset", page{Title: "Choose a new password", Form: map[string]string{"token": r.URL.Query().Get("token")}})
}

// reset sets the new password with the link's token, then logs in (or
// asks for the code of a second factor).
func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	form, ok := s.form(w, r)
	if !ok {
		return
	}
	tok := form.Get("token")
	done, err := s.svc.Accounts.CompleteRecovery(r.Context(), httpkit.ActorOf(r), tok, form.Get("new_password"))
	if err == nil {
		err = s.svc.Cookies.SetSession(w, done.Session)
	}
	if err != nil {
		s.renderFormError(w, r, "reset", "Choose a new password", err, map[string]string{"token": tok})
		return
	}
	if done.User.TOTPEnabled() {
		http.Redirect(w, r, "/login/code", http.StatusSeeOther)
		return
	}
	setFlash(w, "password_reset")
	http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
}

// verifyForm shows a button rather than verifying at once: a mail scanner
// that follows the link must not spend it.
func (s *Server) verifyForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "verify", page{Title: "Verify your email address", Form: map[string]string{"token": r.URL.Query().Get("token")}})
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request) {
	form, ok := s.form(w, r)
	if !ok {
		return
	}
	if _, err := s.svc.Accounts.VerifyEmail(r.Context(), httpkit.ActorOf(r), form.Get("token")); err != nil {
		s.render(w, r, httpkit.StatusOf(err), "verify", page{Title: "Verify your email address", Error: messageOf(err)})
		return
	}
	s.render(w, r, http.StatusOK, "verify", page{Title: "Your address is verified", Form: map[string]string{"done": "true"}})
}

func (s *Server) codeForm(w http.ResponseWriter, r *http.Request) {
	if _, ok := httpkit.PendingOf(r); !ok {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.render(w, r, http.StatusOK, "code", page{Title: "Enter your code", PasskeysOn: s.svc.Accounts.PendingHasPasskey(r.Context(), httpkit.ActorOf(r)), Form: map[string]string{"return_to": returnTo(r.URL.Query().Get("return_to"))}})
}

// code finishes a login that owes its second factor.
func (s *Server) code(w http.ResponseWriter, r *http.Request) {
	form, ok := s.form(w, r)
	if !ok {
		return
	}
	to := returnTo(form.Get("return_to"))
	v, err := s.svc.Accounts.VerifySecondFactor(r.Context(), httpkit.ActorOf(r), strings.TrimSpace(form.Get("code")), form.Get("recovery_code"))
	if err == nil {
		err = s.svc.Cookies.SetSession(w, v.Session)
	}
	if err != nil {
		if _, pending := httpkit.PendingOf(r); !pending {
			setFlash(w, "login_first")
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		field := "code"
		if form.Get("recovery_code") != "" {
			field = "recovery_code"
		}
		s.render(w, r, httpkit.StatusOf(err), "code", page{Title: "Enter your code", Form: map[string]string{"return_to": to},
			PasskeysOn: s.svc.Accounts.PendingHasPasskey(r.Context(), httpkit.ActorOf(r)),
			Fields:     map[string]string{field: messageOf(err)}})
		return
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// renderFormError shows a form again with the API's messages: per field
// when it has them, for the whole form otherwise.
func (s *Server) renderFormError(w http.ResponseWriter, r *http.Request, name, title string, err error, keep map[string]string) {
	p := page{Title: title, Form: keep}
	var e *errs.Error
	if errors.As(err, &e) && len(e.Fields) > 0 {
		p.Fields = e.Fields
	} else {
		p.Error = messageOf(err)
	}
	s.render(w, r, httpkit.StatusOf(err), name, p)
}

func (s *Server) signupForm(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "signup", page{Title: "Sign up"})
}

func (s *Server) signup(w http.ResponseWriter, r *http.Request) {
	form, ok := s.form(w, r)
	if !ok {
		return
	}
	req := account.SignupRequest{
		Email: form.Get("email_address"), Password: form.Get("password"),
		FirstName: form.Get("first_name"), LastName: form.Get("last_name"),
	}
	_, err := s.svc.Accounts.SignUp(r.Context(), httpkit.ActorOf(r), req, user.RoleUser)
	if err != nil {
		p := page{Title: "Sign up", Form: map[string]string{
			"email_address": req.Email, "first_name": req.FirstName, "last_name": req.LastName,
		}}
		var e *errs.Error
		switch {
		case errs.Is(err, errs.Conflict):
			p.Fields = map[string]string{"email_address": messageOf(err)}
		case errors.As(err, &e) && len(e.Fields) > 0:
			p.Fields = e.Fields
		default:
			p.Error = messageOf(err)
		}
		s.render(w, r, httpkit.StatusOf(err), "signup", p)
		return
	}
	setFlash(w, "signed_up")
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// loggedIn returns the request's user. Otherwise it answers itself and
// returns false: the 503 page when the store could not tell who is asking,
// else a redirect to the login page.
// enrolFirst refuses, with the dashboard, what an admin who must enrol a
// second factor may not do yet (ESAUTH_REQUIRE_TOTP_FOR_ADMINS).
func (s *Server) enrolFirst(w http.ResponseWriter, r *http.Request) bool {
	if !s.svc.Accounts.MustEnrol(httpkit.ActorOf(r)) {
		return false
	}
	s.showDashboard(w, r, http.StatusForbidden, page{Error: "Admins must turn on two-factor authentication first, below."})
	return true
}

func (s *Server) loggedIn(w http.ResponseWriter, r *http.Request) (user.User, bool) {
	cur, ok := httpkit.CurrentOf(r)
	switch {
	case ok:
	case httpkit.LoadErrorOf(r) != nil:
		s.unavailable(w, r)
	default:
		setFlash(w, "login_first")
		http.Redirect(w, r, "/login", http.StatusSeeOther)
	}
	return cur.User, ok
}

// unavailable is the friendly 503 page, for when Elasticsearch is down.
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request) {
	if w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "5")
	}
	s.render(w, r, http.StatusServiceUnavailable, "unavailable", page{Title: "Back in a moment"})
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	p := page{}
	if r.URL.Query().Get("passkey") == "added" { // where passkeys.js sends the browser
		p.Flash = flashes["passkey_added"]
	}
	s.showDashboard(w, r, http.StatusOK, p)
}

// loadDashboard reads what the dashboard lists into p.
func (s *Server) loadDashboard(r *http.Request, a account.Actor, p *page) error {
	var err error
	if p.Sessions, _, err = s.svc.Accounts.Sessions(r.Context(), a, "", nil, 50); err != nil {
		return err
	}
	if p.Events, _, err = s.svc.Accounts.Events(r.Context(), a, a.User.Email, nil, 10); err != nil {
		return err
	}
	if len(p.Providers) > 0 {
		ids, err := s.svc.Accounts.Identities(r.Context(), a)
		if err != nil {
			return err
		}
		p.Identities = account.IdentityViews(ids)
	}
	if p.PasskeysOn {
		p.Passkeys, err = s.svc.Accounts.Passkeys(r.Context(), a)
	}
	return err
}

// showDashboard renders the dashboard with p's messages.
func (s *Server) showDashboard(w http.ResponseWriter, r *http.Request, status int, p page) {
	u, ok := s.loggedIn(w, r)
	if !ok {
		return
	}
	p.Title, p.User, p.Providers, p.PasskeysOn = "Dashboard", &u, s.svc.OAuthProviders, s.svc.Accounts.PasskeysOn()
	a := httpkit.ActorOf(r)
	err := s.loadDashboard(r, a, &p)
	if errs.Is(err, errs.Unavailable) {
		s.unavailable(w, r)
		return
	}
	if err != nil {
		status, p.Error = httpkit.StatusOf(err), messageOf(err)
	}
	s.render(w, r, status, "dashboard", p)
}

func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.loggedIn(w, r); !ok || s.enrolFirst(w, r) {
		return
	}
	form, ok := s.form(w, r)
	if !ok {
		return
	}
	done, err := s.svc.Accounts.ChangePassword(r.Context(), httpkit.ActorOf(r), form.Get("old_password"), form.Get("new_password"))
	if err == nil {
		err = s.svc.Cookies.SetSession(w, done.Session)
	}
	if err != nil {
		p := page{}
		var e *errs.Error
		if errors.As(err, &e) && len(e.Fields) > 0 {
			p.Fields = e.Fields
		} else if errs.Is(err, errs.Forbidden) {
			p.Fields = map[string]string{"old_password": messageOf(err)}
		} else {
			p.Error = messageOf(err)
		}
		s.showDashboard(w, r, httpkit.StatusOf(err), p)
		return
	}
	setFlash(w, "password_changed")
	http.Redirect(w, r, "/dashboard", http.StatusSeeOther)
}

// dashboardAction is a dashboard form for the logged-in user: act does it
// and says where to send the browser and with which flash; a failure shows
// the dashboard with its message.
func (s *Server) dashboardAction(act func(w http.ResponseWriter, r *http.Request, form formValues) (to, flash string, err error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := s.loggedIn(w, r); !ok || s.enrolFirst(w, r) {
			return
		}
		form, ok := s.form(w, r)
		if !ok {
			return
		}
		to, flash, err := act(w, r, form)
		if err != nil {
			s.showDashboard(w, r, httpkit.StatusOf(err), page{Error: messageOf(err)})
			return
		}
		setFlash(w, flash)
		http.Redirect(w, r, to, http.StatusSeeOther)
	}
}

// totpEnrol makes a new secret and shows its QR code with the form that
// confirms it.
func (s *Server) totpEnrol(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.loggedIn(w, r); !ok {
		return
	}
	form, ok := s.form(w, r)
	if !ok {
		return
	}
	key, err := s.svc.Accounts.EnrolTOTP(r.Context(), httpkit.ActorOf(r), form.Get("password"))
	if err != nil {
		s.showDashboard(w, r, httpkit.StatusOf(err), page{Fields: map[string]string{"totp_password": messageOf(err)}})
		return
	}
	// The URL is lib/totp's own PNG data URL, not input.
	s.showDashboard(w, r, http.StatusOK, page{Enrol: &totpEnrol{QR: template.URL(key.QRDataURL), Secret: key.Secret}})
}

// totpConfirm turns the factor on and shows the recovery codes once.
func (s *Server) totpConfirm(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.loggedIn(w, r); !ok {
		return
	}
	form, ok := s.form(w, r)
	if !ok {
		return
	}
	codes, err := s.svc.Accounts.ConfirmTOTP(r.Context(), httpkit.ActorOf(r), strings.TrimSpace(form.Get("code")))
	if err != nil {
		s.showDashboard(w, r, httpkit.StatusOf(err), page{Error: messageOf(err)})
		return
	}
	s.showDashboard(w, r, http.StatusOK, page{RecoveryCodes: codes,
		Flash: "Two-factor authentication is on. Keep these recovery codes somewhere safe: each works once, and they are not shown again."})
}

func (s *Server) totpDisable(w http.ResponseWriter, r *http.Request, form formValues) (string, string, error) {
	return "/dashboard", "totp_off", s.svc.Accounts.DisableTOTP(r.Context(), httpkit.ActorOf(r), form.Get("password"), strings.TrimSpace(form.Get("code")), "")
}

func (s *Server) resendVerification(w http.ResponseWriter, r *http.Request, _ formValues) (string, string, error) {
	return "/dashboard", "verification_sent", s.svc.Accounts.ResendVerification(r.Context(), httpkit.ActorOf(r))
}

func (s *Server) revokeSession(w http.ResponseWriter, r *http.Request, form formValues) (string, string, error) {
	id, a := form.Get("id"), httpkit.ActorOf(r)
	if err := s.svc.Accounts.RevokeSession(r.Context(), a, "", id); err != nil {
		return "", "", err
	}
	if id == a.Session.ID {
		s.svc.Cookies.Clear(w)
		return "/", "logged_out", nil
	}
	return "/dashboard", "session_revoked", nil
}

func (s *Server) unlink(w http.ResponseWriter, r *http.Request, form formValues) (string, string, error) {
	_, err := s.svc.Accounts.Unlink(r.Context(), httpkit.ActorOf(r), form.Get("provider"))
	return "/dashboard", "unlinked", err
}

func (s *Server) renamePasskey(w http.ResponseWriter, r *http.Request, form formValues) (string, string, error) {
	_, err := s.svc.Accounts.RenamePasskey(r.Context(), httpkit.ActorOf(r), form.Get("id"), form.Get("name"))
	return "/dashboard", "passkey_renamed", err
}

func (s *Server) removePasskey(w http.ResponseWriter, r *http.Request, form formValues) (string, string, error) {
	err := s.svc.Accounts.RemovePasskey(r.Context(), httpkit.ActorOf(r), form.Get("id"))
	return "/dashboard", "passkey_removed", err
}

func (s *Server) logoutEverywhere(w http.ResponseWriter, r *http.Request, _ formValues) (string, string, error) {
	if _, err := s.svc.Accounts.LogOutEverywhere(r.Context(), httpkit.ActorOf(r), ""); err != nil {
		return "", "", err
	}
	s.svc.Cookies.Clear(w)
	return "/", "logged_out_everywhere", nil
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	err := s.svc.Accounts.LogOut(r.Context(), s.svc.Cookies.Presenting(r))
	if err == nil {
		s.svc.Cookies.Clear(w)
	}
	if err != nil {
		s.render(w, r, httpkit.StatusOf(err), "index", page{Title: "Welcome", Error: messageOf(err)})
		return
	}
	setFlash(w, "logged_out")
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// maxFormBytes bounds a form body.
const maxFormBytes = 64 << 10

// form parses a posted form, answering 413 or 400 itself when it cannot.
func (s *Server) form(w http.ResponseWriter, r *http.Request) (formValues, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			status = http.StatusRequestEntityTooLarge
		}
		s.render(w, r, status, "index", page{Title: "Welcome", Error: "The form could not be read; try again."})
		return nil, false
	}
	return formValues(r.PostForm), true
}

type formValues map[string][]string

func (f formValues) Get(k string) string {
	if v := f[k]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// messageOf is the message a person sees for err: the API's own for the
// errors it explains, a generic one for the rest (never an internal cause).
func messageOf(err error) string {
	var e *errs.Error
	if errors.As(err, &e) && errs.CodeOf(err) != errs.Internal {
		return e.Message
	}
	return "Something went wrong on our side; try again."
}

// admin lists users for an admin: ?q= searches, ?cursor= pages.
func (s *Server) admin(w http.ResponseWriter, r *http.Request) {
	if s.enrolFirst(w, r) {
		return
	}
	s.showAdmin(w, r, http.StatusOK, page{})
}

func (s *Server) showAdmin(w http.ResponseWriter, r *http.Request, status int, p page) {
	if _, ok := s.loggedIn(w, r); !ok {
		return
	}
	q := r.URL.Query()
	after, err := pageCursor(q.Get("cursor"))
	var users []user.User
	var next *pagepkg.Cursor
	f, problems := user.ParseSearch(q)
	if err == nil && problems != nil {
		err = errs.InvalidFields(problems)
	}
	var facets user.Facets
	if err == nil {
		users, next, facets, err = s.svc.Accounts.SearchUsers(r.Context(), httpkit.ActorOf(r), f, after, 50)
	}
	if errs.Is(err, errs.Unavailable) {
		s.unavailable(w, r)
		return
	}
	p.Title, p.Form = "Users", map[string]string{"q": q.Get("q")}
	p.Console = &consoleView{Query: typed(q, user.SearchParams), Facets: &facets, Providers: facetProviders(facets, f.Provider), Filter: f.Values().Encode()}
	if problems != nil {
		p.Fields = problems
	}
	if err != nil {
		status, p.Error = httpkit.StatusOf(err), messageOf(err)
	}
	for _, u := range users {
		p.Users = append(p.Users, u.Public())
	}
	p.Next = pagepkg.Encode(next)
	s.render(w, r, status, "admin", p)
}

func pageCursor(v string) (*pagepkg.Cursor, error) {
	c, err := pagepkg.Decode(v)
	if err != nil {
		return nil, errs.E(errs.BadRequest, "That page link is not valid; search again.")
	}
	return c, nil
}

// adminAction applies one admin action to a user: disable, enable,
// make-admin, make-user or delete, with the API's rules.
func (s *Server) adminAction(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.loggedIn(w, r); !ok || s.enrolFirst(w, r) {
		return
	}
	form, ok := s.form(w, r)
	if !ok {
		return
	}
	email := form.Get("email")
	var change account.UserUpdate
	yes, no, admin, plain := true, false, user.RoleAdmin, user.RoleUser
	var err error
	flash := "user_updated"
	switch form.Get("action") {
	case "disable":
		change.IsActive = &no
	case "enable":
		change.IsActive = &yes
	case "make-admin":
		change.Role = &admin
	case "make-user":
		change.Role = &plain
	case "delete":
		err, flash = s.deleteUser(w, r, email), "user_deleted"
	default:
		err = errs.E(errs.BadRequest, "Unknown action.")
	}
	if err == nil && flash == "user_updated" {
		_, err = s.svc.Accounts.UpdateUser(r.Context(), httpkit.ActorOf(r), email, change)
	}
	if err != nil {
		s.showAdmin(w, r, httpkit.StatusOf(err), page{Error: messageOf(err)})
		return
	}
	setFlash(w, flash)
	http.Redirect(w, r, "/admin", http.StatusSeeOther)
}

// deleteUser deletes another user for an admin. This page asks no
// password, so it is for admins only (the API's self-delete asks one).
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request, email string) error {
	a := httpkit.ActorOf(r)
	if !a.User.IsAdmin() {
		return errs.E(errs.Forbidden, "Only admins may delete other users.")
	}
	if err := s.svc.Accounts.DeleteUser(r.Context(), a, email, ""); err != nil {
		return err
	}
	if user.NormalizeEmail(email) == a.User.Email {
		s.svc.Cookies.Clear(w)
	}
	return nil
}
