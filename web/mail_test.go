package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"esauth/lib/elastic/estest"
	"esauth/lib/mail"
	"esauth/lib/mail/mailtest"
	"esauth/lib/mail/outbox"
	"esauth/lib/totp"
	v1 "esauth/v1"
)

// withMail sends the server's mail to a real SMTP server started for the
// test; pathOf turns its links into paths on the test server.
func withMail(t *testing.T, smtp *mailtest.Server) func(*v1.Deps) {
	t.Helper()
	sender, err := outbox.NewSMTP(smtp.URL(), "esauth <no-reply@example.test>", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	q := outbox.NewQueue(sender, zap.NewNop(), outbox.QueueOptions{Attempts: 1})
	t.Cleanup(func() { _ = q.Close(context.Background()) })
	compose, err := mail.NewComposer(mail.ComposerConfig{Product: "esauth", PublicURL: "http://pages.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	return func(d *v1.Deps) { d.Mail = v1.Mail{Queue: q, Compose: compose, PublicURL: "http://pages.example.test"} }
}

// pathOf is a mailed link's path and query, to open on the test server.
func pathOf(t *testing.T, r mailtest.Received, path string) string {
	t.Helper()
	u, err := url.Parse(mailtest.Link(t, r, "http://pages.example.test"+path+"?token="))
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

func TestForgotPasswordFromTheLoginPageToANewPassword(t *testing.T) {
	smtp := mailtest.Start(t)
	srv, _ := newServerOn(t, estest.New(t), withMail(t, smtp))
	b := newBrowser(t, srv)
	expect(t, b.post("/signup", url.Values{"email_address": {"fog@example.com"}, "first_name": {"F"}, "last_name": {"G"}, "password": {pw}}), http.StatusSeeOther)
	verifyMail := smtp.Wait(t, 1, 10*time.Second)[0]

	// The address: the mailed page asks before it spends the link.
	link := pathOf(t, verifyMail, v1.VerifyEmailPath)
	form := b.get(link)
	expect(t, form, http.StatusOK, "Verify my address")
	tok := strings.TrimPrefix(link, v1.VerifyEmailPath+"?token=")
	tok, _ = url.QueryUnescape(tok)
	expect(t, b.post(v1.VerifyEmailPath, url.Values{"token": {tok}}), http.StatusOK, "Your email address is verified.")
	expect(t, b.post(v1.VerifyEmailPath, url.Values{"token": {tok}}), http.StatusUnprocessableEntity, "invalid, expired or already used")

	// Forgot password: the login page links to it; the page says the same for any address.
	expect(t, b.get("/login"), http.StatusOK, `href="/forgot-password"`)
	known := b.post("/forgot-password", url.Values{"email_address": {"fog@example.com"}})
	unknown := b.post("/forgot-password", url.Values{"email_address": {"nobody@example.com"}})
	expect(t, known, http.StatusOK, "If an account has this address")
	if known.body != unknown.body {
		t.Error("the page differs for an unknown address")
	}
	reset := pathOf(t, smtp.Wait(t, 2, 10*time.Second)[1], v1.ResetPasswordPath)
	page := b.get(reset)
	expect(t, page, http.StatusOK, `name="token"`, `autocomplete="new-password"`)
	rtok, _ := url.QueryUnescape(strings.TrimPrefix(reset, v1.ResetPasswordPath+"?token="))
	expect(t, b.post(v1.ResetPasswordPath, url.Values{"token": {rtok}, "new_password": {"short"}}), http.StatusUnprocessableEntity, `id="new_password-error"`)
	a := b.post(v1.ResetPasswordPath, url.Values{"token": {rtok}, "new_password": {"a fresh long password"}})
	if a.status != http.StatusSeeOther || a.location != "/dashboard" {
		t.Fatalf("reset: %d to %q: %s", a.status, a.location, a.body)
	}
	expect(t, b.get("/dashboard"), http.StatusOK, "Your new password is saved")
}

func TestTheCodePageFinishesALoginWithASecondFactor(t *testing.T) {
	srv, _ := newServerOn(t, estest.New(t))
	api := newBrowser(t, srv)
	// Sign up and turn TOTP on through the API.
	expect(t, api.post("/signup", url.Values{"email_address": {"code@example.com"}, "first_name": {"C"}, "last_name": {"D"}, "password": {pw}}), http.StatusSeeOther)
	expect(t, api.post("/login", url.Values{"email_address": {"code@example.com"}, "password": {pw}}), http.StatusSeeOther)
	secret := enrolByAPI(t, api)

	b := newBrowser(t, srv)
	a := b.post("/login", url.Values{"email_address": {"code@example.com"}, "password": {pw}, "return_to": {"/dashboard"}})
	if a.status != http.StatusSeeOther || !strings.HasPrefix(a.location, "/login/code") {
		t.Fatalf("login of a TOTP user: %d to %q", a.status, a.location)
	}
	if d := b.get("/dashboard"); d.status != http.StatusSeeOther {
		t.Errorf("the dashboard before the code: %d", d.status)
	}
	expect(t, b.get(a.location), http.StatusOK, `autocomplete="one-time-code"`, "recovery code")
	expect(t, b.post("/login/code", url.Values{"code": {"000000"}, "return_to": {"/dashboard"}}), http.StatusUnauthorized, `id="code-error"`)
	// The next step's code: the step of the confirming code is spent.
	code, _ := totp.Code(secret, time.Now().Add(totp.Period))
	a = b.post("/login/code", url.Values{"code": {code}, "return_to": {"/dashboard"}})
	if a.status != http.StatusSeeOther || a.location != "/dashboard" {
		t.Fatalf("the code: %d to %q: %s", a.status, a.location, a.body)
	}
	expect(t, b.get("/dashboard"), http.StatusOK, "Welcome, C")
	// Without a pending login the code page sends to the login page.
	if c := newBrowser(t, srv).get("/login/code"); c.status != http.StatusSeeOther || c.location != "/login" {
		t.Errorf("the code page without a pending login: %d to %q", c.status, c.location)
	}
}

// enrolByAPI turns TOTP on for b's logged-in user through the API and
// returns the secret.
func enrolByAPI(t *testing.T, b *browser) string {
	t.Helper()
	enrol := b.doJSON("POST", "/v1/auth/totp/enroll", `{"password":"`+pw+`"}`)
	i := strings.Index(enrol, `"secret":"`)
	if i < 0 {
		t.Fatalf("enrol: %s", enrol)
	}
	secret := enrol[i+10:]
	secret = secret[:strings.IndexByte(secret, '"')]
	code, _ := totp.Code(secret, time.Now())
	if conf := b.doJSON("POST", "/v1/auth/totp/confirm", `{"code":"`+code+`"}`); !strings.Contains(conf, "recovery_codes") {
		t.Fatalf("confirm: %s", conf)
	}
	return secret
}

// doJSON sends a JSON request with b's cookies and returns the body.
func (b *browser) doJSON(method, path, body string) string {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, strings.NewReader(body))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return string(raw)
}

func TestTheDashboardTurnsTOTPOnAndOff(t *testing.T) {
	srv, _ := newServerOn(t, estest.New(t))
	b := newBrowser(t, srv)
	expect(t, b.post("/signup", url.Values{"email_address": {"dash2@example.com"}, "first_name": {"D"}, "last_name": {"T"}, "password": {pw}}), http.StatusSeeOther)
	expect(t, b.post("/login", url.Values{"email_address": {"dash2@example.com"}, "password": {pw}}), http.StatusSeeOther)
	expect(t, b.get("/dashboard"), http.StatusOK, "Set up an authenticator app", "Mail me a new verification link")
	expect(t, b.post("/dashboard/totp/enroll", url.Values{"password": {"wrong password"}}), http.StatusForbidden, `id="totp_password-error"`)
	page := b.post("/dashboard/totp/enroll", url.Values{"password": {pw}})
	expect(t, page, http.StatusOK, `src="data:image/png;base64,`, `autocomplete="one-time-code"`)
	i := strings.Index(page.body, "Key: <code>")
	if i < 0 {
		t.Fatal("no key on the page")
	}
	secret := page.body[i+len("Key: <code>"):]
	secret = secret[:strings.Index(secret, "</code>")]
	code, _ := totp.Code(secret, time.Now())
	done := b.post("/dashboard/totp/confirm", url.Values{"code": {code}})
	expect(t, done, http.StatusOK, "recovery codes")
	if n := strings.Count(done.body, `<li><code>`); n != totp.RecoveryCodeCount {
		t.Errorf("%d recovery codes on the page", n)
	}
	expect(t, b.get("/dashboard"), http.StatusOK, "Turn it off")
	if strings.Contains(b.get("/dashboard").body, "<li><code>") {
		t.Error("the recovery codes are shown again")
	}
	expect(t, b.post("/dashboard/totp/disable", url.Values{"password": {pw}, "code": {"000000"}}), http.StatusForbidden)
	next, _ := totp.Code(secret, time.Now().Add(totp.Period))
	a := b.post("/dashboard/totp/disable", url.Values{"password": {pw}, "code": {next}})
	if a.status != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", a.status, a.body)
	}
	expect(t, b.get("/dashboard"), http.StatusOK, "Two-factor authentication is off.", "Set up an authenticator app")
}

func TestAnAdminWithoutTOTPCanOnlyEnrolOnThePagesWhenItIsRequired(t *testing.T) {
	store := estest.New(t)
	srv, _ := newServerOn(t, store, func(d *v1.Deps) { d.RequireTOTPForAdmins = true })
	addUser(t, store, "chief@example.com", "Chief", "admin")
	b := newBrowser(t, srv)
	expect(t, b.post("/login", url.Values{"email_address": {"chief@example.com"}, "password": {pw}}), http.StatusSeeOther)
	expect(t, b.get("/admin"), http.StatusForbidden, "Admins must turn on two-factor authentication first")
	expect(t, b.post("/admin/users", url.Values{"email": {"x@example.com"}, "action": {"disable"}}), http.StatusForbidden)
	expect(t, b.post("/dashboard/password", url.Values{"old_password": {pw}, "new_password": {"another long password"}}), http.StatusForbidden)
	page := b.post("/dashboard/totp/enroll", url.Values{"password": {pw}})
	expect(t, page, http.StatusOK, `src="data:image/png;base64,`)
	i := strings.Index(page.body, "Key: <code>")
	secret := page.body[i+len("Key: <code>"):]
	secret = secret[:strings.Index(secret, "</code>")]
	code, _ := totp.Code(secret, time.Now())
	expect(t, b.post("/dashboard/totp/confirm", url.Values{"code": {code}}), http.StatusOK, "recovery codes")
	expect(t, b.get("/admin"), http.StatusOK)
}
