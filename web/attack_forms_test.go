package web_test

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"esauth/lib/elastic"
	"esauth/lib/elastic/estest"
	"esauth/lib/errs"
	"esauth/lib/mail"
	"esauth/lib/oauth"
	"esauth/lib/token"
	"esauth/lib/totp"
	"esauth/lib/user"
	v1 "esauth/v1"
)

// CSRF on every form (issue 19 item 7), from the victim's side: every
// <form method="post"> the pages serve — found by rendering every page an
// anonymous visitor, a logged-in user (with and without a second factor,
// half-way through a login, half-way through an enrolment) and an admin can
// reach — is posted by a hostile site with the victim's session cookie and
// the values that would do harm. lib/httpkit.CrossOrigin (mounted by
// v1.NewServer in front of the router) must refuse each with a 403 page
// (the one form that posts to the API, "Link acme", gets the API's JSON
// envelope, as every /v1 refusal does) before any handler runs, and the
// harm must not be done: the session
// still lives, the password is the same, nothing is enrolled, confirmed or
// turned off, the users an admin manages are as they were. Then the same
// post from this site must pass that check and do the harm, which proves
// both that the check is what refused the hostile posts and that each
// probe of the harm can see it (a probe that never sees anything proves
// nothing by its silence).
//
// What a hostile page's browser sends, and so the header sets below, is
// what CrossOrigin (net/http.CrossOriginProtection) reads: Sec-Fetch-Site,
// else Origin against the request's Host. It does not read Referer: a
// request with neither Sec-Fetch-Site nor Origin passes as curl's would
// (lib/httpkit/csrf.go says so), so a Referer-only post is not something
// it claims to refuse, and no variant here asserts that. Browsers send
// Origin on every cross-origin POST, and Sec-Fetch-Site to HTTPS origins;
// the variant with a Referer and no Origin is refused on its
// Sec-Fetch-Site.
func TestEveryFormPostedCrossSiteWithTheVictimsCookieIsRefusedAndDoesNothing(t *testing.T) {
	rig := newFormRig(t)

	// 1. The forms the pages serve, from every state a visitor can be in.
	served := rig.crawl(t)
	if len(served) == 0 {
		t.Fatal("the pages served no post form: the crawl is broken")
	}
	// The pages have no form that deletes one's own account (the API's
	// DELETE /v1/users/{email} with the password does); the admin's Delete
	// button is on the /admin/users form, whose every button crawl checks.
	for _, important := range []string{
		"/logout", "/logout/all", "/dashboard/password", "/dashboard/sessions/revoke",
		"/dashboard/totp/enroll", "/dashboard/totp/confirm", "/dashboard/totp/disable", "/login/code",
		"/admin/users", "/login", "/signup", "/forgot-password", "/reset-password",
	} {
		if _, ok := served[important]; !ok {
			t.Errorf("no page served the %s form: the crawl does not reach it", important)
		}
	}

	// 2. One attack per form and, for the admin's form, per action.
	attacks := rig.attacks()
	attacked := map[string]bool{}
	for _, a := range attacks {
		attacked[a.action] = true
		if _, ok := served[a.action]; !ok {
			t.Errorf("attack %q posts to %s, which no page serves: the list is stale", a.name, a.action)
		}
	}
	for path, on := range served {
		if !attacked[path] {
			t.Errorf("the %s form (on %s) is not attacked: add it to formRig.attacks", path, on.page)
		}
	}

	hostile := []struct {
		name   string
		header http.Header
	}{
		{"a current browser on another site", http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}}},
		{"a browser without Fetch Metadata", http.Header{"Origin": {"https://evil.example"}}},
		{"no Origin, a Referer of the other site", http.Header{"Referer": {"https://evil.example/"}, "Sec-Fetch-Site": {"cross-site"}}},
		// A sibling subdomain: SameSite=Lax lets the session cookie through
		// from there, so only this check stops it.
		{"a sibling subdomain", http.Header{"Origin": {"https://evil.sibling.example"}, "Sec-Fetch-Site": {"same-site"}}},
		// A sandboxed frame, or a post after a cross-origin redirect.
		{"an opaque origin", http.Header{"Origin": {"null"}}},
	}
	sameOrigin := http.Header{"Origin": {rig.srv.URL}, "Sec-Fetch-Site": {"same-origin"}}

	for _, atk := range attacks {
		t.Run(atk.name, func(t *testing.T) {
			target := served[atk.action].action // as the page has it, query included
			if target == "" {
				t.Skip("not served (reported above)")
			}
			victim, form, done := atk.arm(t)
			if done() {
				t.Fatal("the harm is done before any post: the probe is broken")
			}
			harmed := false
			for _, h := range hostile {
				a := victim.do("POST", target, form, h.header)
				expectCrossOriginRefusal(t, h.name, a, strings.HasPrefix(atk.action, "/v1/"))
				if !harmed && done() {
					harmed = true // said once: the harm stays for the variants after
					t.Errorf("%s: the hostile post did its harm", h.name)
				}
			}
			a := victim.do("POST", target, form, sameOrigin)
			if a.status == http.StatusForbidden || strings.Contains(a.body, "Cross-origin request refused") {
				t.Fatalf("the same post from this site was refused: %d %.200q", a.status, a.body)
			}
			if atk.later {
				rig.mail.await(t, done)
			} else if !done() {
				t.Errorf("the same post from this site (%d, to %q) did nothing the probe sees: the probe proves nothing", a.status, a.location)
			}
			if atk.after != nil {
				atk.after(t)
			}
		})
	}
}

// expectCrossOriginRefusal checks that a is CrossOrigin's refusal, in the
// surface's language (a page for a page's form, the envelope for the one
// form that posts to the API, as TestThePagesRefusalsArePagesAndTheAPIsAreJSON
// pins), and that it started no session and no provider login.
func expectCrossOriginRefusal(t *testing.T, name string, a answer, api bool) {
	t.Helper()
	ct := a.header.Get("Content-Type")
	switch {
	case a.status != http.StatusForbidden:
		t.Errorf("%s: %d (to %q), want 403: %.200q", name, a.status, a.location, a.body)
		return
	case !strings.Contains(a.body, "Cross-origin request refused."):
		t.Errorf("%s: a 403 that is not the cross-origin refusal: %.200q", name, a.body)
	case api && (!strings.HasPrefix(ct, "application/json") || !strings.HasPrefix(a.body, `{"success":false`)):
		t.Errorf("%s: Content-Type %q, want the API's envelope: %.200q", name, ct, a.body)
	case !api && (!strings.HasPrefix(ct, "text/html") || !strings.Contains(a.body, "<html") || strings.HasPrefix(strings.TrimSpace(a.body), "{")):
		t.Errorf("%s: Content-Type %q, want the HTML refusal page: %.200q", name, ct, a.body)
	}
	for _, c := range a.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, "session=") || strings.HasPrefix(c, "esauth_oauth=") {
			t.Errorf("%s: the refusal set a cookie: %s", name, c)
		}
	}
}

// formAttack is one hostile post of one form.
type formAttack struct {
	name   string
	action string // the path of the form's action
	// arm makes a fresh victim and returns the browser that holds their
	// cookie, the values a hostile site would post, and done, which says
	// whether the post did its harm.
	arm func(t *testing.T) (victim *browser, form url.Values, done func() bool)
	// later: the harm happens in the background (a mail), so the same-
	// origin post's is awaited.
	later bool
	// after, when set, checks more once the same-origin post went through.
	after func(t *testing.T)
}

// hostilePassword is the password a hostile post would set.
const hostilePassword = "the attacker's own password 9"

func (r *formRig) attacks() []formAttack {
	// For the forms that take the victim's password, the hostile post is
	// given the right one (and the right code): so its refusal can only be
	// the cross-origin check's, not the password check's.
	var forgotFor string
	attacks := []formAttack{
		{name: "log out", action: "/logout", arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			victim := r.logIn(t, r.newUser(t, user.RoleUser))
			copyOf := r.cookieCopy(t, victim) // the session, not the jar, is what must live
			return victim, url.Values{}, func() bool { return !r.alive(copyOf) }
		}},
		{name: "log out everywhere", action: "/logout/all", arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			email := r.newUser(t, user.RoleUser)
			victim, elsewhere := r.logIn(t, email), r.logIn(t, email)
			return victim, url.Values{}, func() bool { return !r.alive(elsewhere) }
		}},
		{name: "log out another session", action: "/dashboard/sessions/revoke", arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			email := r.newUser(t, user.RoleUser)
			victim, elsewhere := r.logIn(t, email), r.logIn(t, email)
			ids := otherSessionIDs(t, victim.get("/dashboard").body)
			if len(ids) != 1 {
				t.Fatalf("the dashboard lists %d other sessions, want 1", len(ids))
			}
			return victim, url.Values{"id": {ids[0]}}, func() bool { return !r.alive(elsewhere) }
		}},
		{name: "change the password", action: "/dashboard/password", arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			email := r.newUser(t, user.RoleUser)
			victim := r.logIn(t, email)
			return victim, url.Values{"old_password": {pw}, "new_password": {hostilePassword}}, r.passwordChanged(t, email)
		}},
		{name: "enrol an authenticator", action: "/dashboard/totp/enroll", arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			email := r.newUser(t, user.RoleUser)
			victim := r.logIn(t, email)
			return victim, url.Values{"password": {pw}}, func() bool { return r.get(t, email).TOTPSecret != "" }
		}},
		{name: "confirm an enrolment", action: "/dashboard/totp/confirm", arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			email := r.newUser(t, user.RoleUser)
			victim := r.logIn(t, email)
			secret := r.enrol(t, victim)
			code, _ := totp.Code(secret, r.clock.Now())
			return victim, url.Values{"code": {code}}, func() bool { return r.get(t, email).TOTPEnabled() }
		}},
		{name: "turn the second factor off", action: "/dashboard/totp/disable", arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			email := r.newUser(t, user.RoleUser)
			victim, secret := r.withTOTP(t, email)
			code, _ := totp.Code(secret, r.clock.Now())
			return victim, url.Values{"password": {pw}, "code": {code}}, func() bool { return !r.get(t, email).TOTPEnabled() }
		}},
		{name: "finish a login with the code", action: "/login/code", arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			// The victim typed the password; the hostile post sends the code.
			email := r.newUser(t, user.RoleUser)
			_, secret := r.withTOTP(t, email)
			victim := newBrowser(t, r.srv)
			if a := victim.post("/login", url.Values{"email_address": {email}, "password": {pw}}); !strings.HasPrefix(a.location, "/login/code") {
				t.Fatalf("the password step: %d to %q", a.status, a.location)
			}
			code, _ := totp.Code(secret, r.clock.Now())
			return victim, url.Values{"code": {code}, "return_to": {"/dashboard"}}, func() bool { return r.alive(victim) }
		}},
		{name: "mail a new verification link", action: "/dashboard/verification/resend", arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			email := r.newUser(t, user.RoleUser) // not verified
			victim := r.logIn(t, email)
			return victim, url.Values{}, func() bool { return r.mail.links(email, v1.VerifyEmailPath) > 0 }
		}},
		{name: "unlink a provider", action: "/dashboard/identities/unlink", arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			email := r.newUser(t, user.RoleUser)
			r.link(t, email)
			victim := r.logIn(t, email)
			return victim, url.Values{"provider": {"acme"}}, func() bool {
				_, err := r.store.GetIdentity(context.Background(), "acme", "sub-"+email)
				return errs.Is(err, errs.NotFound)
			}
		}},
		{name: "link a provider", action: "/v1/auth/oauth/acme/link", arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			// A link started by another site would end with the attacker's
			// provider account linked to the victim's (login CSRF into the
			// account); its first step is the redirect to the provider.
			victim := r.logIn(t, r.newUser(t, user.RoleUser))
			before := r.acme.starts.Load()
			return victim, url.Values{}, func() bool { return r.acme.starts.Load() > before }
		}},
		{name: "log in (as the attacker)", action: "/login", arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			// Login CSRF: the victim's browser would be logged into the
			// attacker's account, and what the victim types there is the
			// attacker's to read.
			victim := r.logIn(t, r.newUser(t, user.RoleUser))
			attacker := r.newUser(t, user.RoleUser)
			return victim, url.Values{"email_address": {attacker}, "password": {pw}}, func() bool {
				return strings.Contains(victim.get("/dashboard").body, attacker)
			}
		}},
		{name: "sign up", action: "/signup", arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			victim := r.logIn(t, r.newUser(t, user.RoleUser))
			planted := r.email()
			return victim, url.Values{"email_address": {planted}, "first_name": {"P"}, "last_name": {"P"}, "password": {pw}},
				func() bool { _, err := r.store.GetUser(context.Background(), planted); return err == nil }
		}},
		{name: "ask for a recovery mail", action: "/forgot-password", later: true, arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			// The mail goes from a goroutine, so "no mail yet" after a
			// hostile post proves little by itself; the refusal page, which
			// only the check in front of the router writes, is the proof,
			// and after the same-origin post exactly one mail comes.
			email := r.newUser(t, user.RoleUser)
			forgotFor = email
			victim := r.logIn(t, email)
			return victim, url.Values{"email_address": {email}}, func() bool { return r.mail.links(email, v1.ResetPasswordPath) > 0 }
		}, after: func(t *testing.T) {
			if n := r.mail.links(forgotFor, v1.ResetPasswordPath); n != 1 {
				t.Errorf("%d recovery mails; want the same-origin post's one", n)
			}
		}},
		{name: "set a password with a recovery link", action: "/reset-password", arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			email := r.newUser(t, user.RoleUser)
			secret := r.mailedToken(t, email, token.Recovery)
			victim := r.logIn(t, email)
			return victim, url.Values{"token": {secret}, "new_password": {hostilePassword}}, r.passwordChanged(t, email)
		}},
		{name: "verify the address with its link", action: "/verify-email", arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			email := r.newUser(t, user.RoleUser)
			secret := r.mailedToken(t, email, token.VerifyEmail)
			victim := r.logIn(t, email)
			return victim, url.Values{"token": {secret}}, func() bool { return !r.get(t, email).EmailVerifiedAt.IsZero() }
		}},
	}
	// The admin's form, one attack per button: the victim is an admin, the
	// harm is done to another user.
	for _, act := range []struct {
		action string
		start  func(*user.User)
		done   func(user.User, error) bool
	}{
		{"disable", nil, func(u user.User, _ error) bool { return !u.IsActive }},
		{"enable", func(u *user.User) { u.IsActive = false }, func(u user.User, _ error) bool { return u.IsActive }},
		{"make-admin", nil, func(u user.User, _ error) bool { return u.Role == user.RoleAdmin }},
		{"make-user", func(u *user.User) { u.Role = user.RoleAdmin }, func(u user.User, _ error) bool { return u.Role == user.RoleUser }},
		{"delete", nil, func(_ user.User, err error) bool { return errs.Is(err, errs.NotFound) }},
	} {
		attacks = append(attacks, formAttack{name: "admin: " + act.action + " a user", action: "/admin/users",
			arm: func(t *testing.T) (*browser, url.Values, func() bool) {
				admin := r.logIn(t, r.newUser(t, user.RoleAdmin))
				target := r.newUser(t, user.RoleUser)
				if act.start != nil {
					r.update(t, target, act.start)
				}
				return admin, url.Values{"email": {target}, "action": {act.action}}, func() bool {
					return act.done(r.store.GetUser(context.Background(), target))
				}
			}})
	}
	attacks = append(attacks,
		formAttack{name: "admin: end sessions by filter", action: "/admin/sessions/revoke", arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			admin := r.logIn(t, r.newUser(t, user.RoleAdmin))
			victim := r.logIn(t, r.newUser(t, user.RoleUser))
			copyOf := r.cookieCopy(t, victim)
			// Every session from here: the other user's (the admin's own is kept).
			return admin, url.Values{"ip": {"127.0.0.1"}, "action": {"revoke"}}, func() bool { return !r.alive(copyOf) }
		}},
		formAttack{name: "admin: lift a lockout", action: "/admin/lockouts/clear", arm: func(t *testing.T) (*browser, url.Values, func() bool) {
			admin := r.logIn(t, r.newUser(t, user.RoleAdmin))
			locked := r.newUser(t, user.RoleUser)
			r.lock(t, locked)
			return admin, url.Values{"email": {locked}}, func() bool {
				estest.MustDo(t, "POST", "/"+r.store.AttemptsIndex()+"/_refresh", "")
				list, _, err := r.store.ListLockouts(context.Background(), r.clock.Now(), 1000)
				if err != nil {
					t.Fatal(err)
				}
				for _, l := range list {
					if l.Email == locked {
						return false
					}
				}
				return true
			}
		}},
	)
	return attacks
}

// lock locks email's password logins for an hour, as failed logins do.
func (r *formRig) lock(t *testing.T, email string) {
	t.Helper()
	now := r.clock.Now()
	if _, err := r.store.RecordFailure(context.Background(), user.PasswordCounter, email, user.Attempts{}, func(a *user.Attempts) error {
		a.Failures, a.LockedUntil, a.UpdatedAt, a.ExpiresAt, a.Email = 10, now.Add(time.Hour), now, now.Add(24*time.Hour), email
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	estest.MustDo(t, "POST", "/"+r.store.AttemptsIndex()+"/_refresh", "")
}

// formRig is the whole handler (API and pages) on the test cluster, with a
// clock the test moves (codes of the second factor are then exact), mail
// kept in memory, and one login provider that is never contacted.
type formRig struct {
	store *elastic.Store
	srv   *httptest.Server
	clock *handClock
	mail  *keptMail
	acme  *countingProvider
	n     atomic.Int32
}

func newFormRig(t *testing.T) *formRig {
	t.Helper()
	r := &formRig{store: estest.New(t), clock: &handClock{now: time.Now()}, mail: &keptMail{added: make(chan struct{}, 1)}, acme: &countingProvider{}}
	compose, err := mail.NewComposer(mail.ComposerConfig{Product: "esauth", PublicURL: "http://pages.example.test"})
	if err != nil {
		t.Fatal(err)
	}
	state := securecookie.New(securecookie.GenerateRandomKey(32), securecookie.GenerateRandomKey(32)).MaxAge(int(v1.StateTTL / time.Second))
	state.SetSerializer(securecookie.JSONEncoder{})
	r.srv, _ = newServerOn(t, r.store, func(d *v1.Deps) {
		d.Now = r.clock.Now
		d.Mail = v1.Mail{Queue: r.mail, Compose: compose, PublicURL: "http://pages.example.test"}
		d.OAuth = v1.OAuth{State: state, Providers: map[string]oauth.Provider{"acme": r.acme}}
	})
	return r
}

// servedForm is where a post form was found, and its action as served.
type servedForm struct{ page, action string }

var (
	formTag  = regexp.MustCompile(`(?is)<form\b[^>]*>`)
	formAttr = regexp.MustCompile(`(?is)\b(method|action)\s*=\s*"([^"]*)"`)
)

// crawl renders every page each kind of visitor reaches and returns the
// post forms on them by the path of their action.
func (r *formRig) crawl(t *testing.T) map[string]servedForm {
	t.Helper()
	type page struct {
		name string
		a    answer
	}
	var pages []page
	visit := func(name string, b *browser, path string) {
		a := b.get(path)
		if a.status != http.StatusOK {
			t.Errorf("%s (%s): %d to %q", name, path, a.status, a.location)
		}
		pages = append(pages, page{name, a})
	}

	anon := newBrowser(t, r.srv)
	for _, p := range []string{"/", "/login", "/signup", "/forgot-password", "/reset-password?token=x", "/verify-email?token=x"} {
		visit("anonymous "+p, anon, p)
	}
	// A user with an unverified address and a linked provider, before and
	// half-way through enrolling a second factor.
	plain := r.newUser(t, user.RoleUser)
	r.link(t, plain)
	b := r.logIn(t, plain)
	visit("a user's dashboard", b, "/dashboard")
	visit("a user's start page", b, "/")
	pages = append(pages, page{"the dashboard of an enrolment", r.enrolPage(t, b)})
	// A user with the second factor on, and half-way through a login.
	withCode := r.newUser(t, user.RoleUser)
	b, _ = r.withTOTP(t, withCode)
	visit("the dashboard with TOTP on", b, "/dashboard")
	half := newBrowser(t, r.srv)
	if a := half.post("/login", url.Values{"email_address": {withCode}, "password": {pw}}); !strings.HasPrefix(a.location, "/login/code") {
		t.Fatalf("the password step of a TOTP user: %d to %q", a.status, a.location)
	}
	visit("the code page", half, "/login/code")
	// An admin, with a disabled user and another admin in the list, so
	// that every button of the admin's form is shown.
	admin := r.newUser(t, user.RoleAdmin)
	r.update(t, r.newUser(t, user.RoleUser), func(u *user.User) { u.IsActive = false })
	r.newUser(t, user.RoleAdmin)
	estest.MustDo(t, "POST", "/"+r.store.UsersIndex()+"/_refresh", "")
	b = r.logIn(t, admin)
	visit("an admin's dashboard", b, "/dashboard")
	visit("the admin's user list", b, "/admin")
	for _, button := range []string{"disable", "enable", "make-admin", "make-user", "delete"} {
		if !strings.Contains(pages[len(pages)-1].a.body, `name="action" value="`+button+`"`) {
			t.Errorf("the admin's list has no %s button", button)
		}
	}
	// The security console's forms: the sessions' revocation, and the
	// lockouts' lifts (one locked account listed, so its row's form shows).
	r.lock(t, r.newUser(t, user.RoleUser))
	visit("the admin's sessions", b, "/admin/sessions?ip=127.0.0.1")
	visit("the admin's lockouts", b, "/admin/lockouts")
	visit("the admin's events", b, "/admin/events")

	served := map[string]servedForm{}
	for _, p := range pages {
		for _, tag := range formTag.FindAllString(p.a.body, -1) {
			attrs := map[string]string{}
			for _, m := range formAttr.FindAllStringSubmatch(tag, -1) {
				attrs[strings.ToLower(m[1])] = html.UnescapeString(m[2])
			}
			if !strings.EqualFold(attrs["method"], "post") {
				continue
			}
			u, err := url.Parse(attrs["action"])
			if err != nil || u.Path == "" || u.IsAbs() {
				t.Errorf("%s: a form posting to %q", p.name, attrs["action"])
				continue
			}
			if _, ok := served[u.Path]; !ok {
				served[u.Path] = servedForm{page: p.name, action: attrs["action"]}
			}
		}
	}
	return served
}

// email is a new address.
func (r *formRig) email() string {
	return fmt.Sprintf("victim%d@example.com", r.n.Add(1))
}

// newUser stores a fresh user (password pw, address not verified).
func (r *formRig) newUser(t *testing.T, role string) string {
	t.Helper()
	email := r.email()
	addUser(t, r.store, email, "Vic", role)
	return email
}

func (r *formRig) get(t *testing.T, email string) user.User {
	t.Helper()
	u, err := r.store.GetUser(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (r *formRig) update(t *testing.T, email string, change func(*user.User)) {
	t.Helper()
	if _, err := r.store.UpdateUser(context.Background(), email, func(u *user.User) error { change(u); return nil }); err != nil {
		t.Fatal(err)
	}
}

// logIn returns a browser logged in as email (fully: no code owed).
func (r *formRig) logIn(t *testing.T, email string) *browser {
	t.Helper()
	b := newBrowser(t, r.srv)
	if a := b.post("/login", url.Values{"email_address": {email}, "password": {pw}}); a.status != http.StatusSeeOther || a.location != "/dashboard" {
		t.Fatalf("login %s: %d to %q", email, a.status, a.location)
	}
	return b
}

// alive says whether b's session opens the dashboard.
func (r *formRig) alive(b *browser) bool { return b.get("/dashboard").status == http.StatusOK }

// cookieCopy is another browser with a copy of b's cookies.
func (r *formRig) cookieCopy(t *testing.T, b *browser) *browser {
	c := newBrowser(t, r.srv)
	u, _ := url.Parse(r.srv.URL)
	c.c.Jar.SetCookies(u, b.c.Jar.Cookies(u))
	return c
}

// enrolPage starts an enrolment from b's dashboard and returns the page
// with its key and the confirm form.
func (r *formRig) enrolPage(t *testing.T, b *browser) answer {
	t.Helper()
	a := b.post("/dashboard/totp/enroll", url.Values{"password": {pw}})
	expect(t, a, http.StatusOK, "Key: <code>")
	return a
}

// enrol starts an enrolment from b's dashboard and returns its secret.
func (r *formRig) enrol(t *testing.T, b *browser) string {
	t.Helper()
	body := r.enrolPage(t, b).body
	secret := body[strings.Index(body, "Key: <code>")+len("Key: <code>"):]
	return secret[:strings.Index(secret, "</code>")]
}

// withTOTP logs email in and turns the second factor on from the
// dashboard; the clock then moves a step, so the next code is unspent.
func (r *formRig) withTOTP(t *testing.T, email string) (*browser, string) {
	t.Helper()
	b := r.logIn(t, email)
	secret := r.enrol(t, b)
	code, _ := totp.Code(secret, r.clock.Now())
	expect(t, b.post("/dashboard/totp/confirm", url.Values{"code": {code}}), http.StatusOK, "recovery codes")
	r.clock.Advance(totp.Period)
	return b, secret
}

// link links email to the provider acme, as a finished link would.
func (r *formRig) link(t *testing.T, email string) {
	t.Helper()
	u := r.get(t, email)
	if err := r.store.CreateIdentity(context.Background(), user.Identity{Provider: "acme", Subject: "sub-" + email, Email: u.Email,
		UserCreatedAt: u.CreatedAt, ProviderEmail: "x@acme.example", CreatedAt: r.clock.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
}

// mailedToken stores a link's token for email, as the mail that carries
// it would (lib/account's sendLink), and returns its secret.
func (r *formRig) mailedToken(t *testing.T, email string, purpose token.Purpose) string {
	t.Helper()
	u := r.get(t, email)
	ttl := token.VerifyEmailTTL
	if purpose == token.Recovery {
		ttl = token.RecoveryTTL
	}
	tok, secret := token.New(purpose, email, r.clock.Now(), ttl)
	tok.UserCreatedAt, tok.UserPasswordChangedAt = u.CreatedAt, u.PasswordChangedAt
	if err := r.store.CreateToken(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	return secret
}

// passwordChanged says whether email's stored password hash is no longer
// the one it has now.
func (r *formRig) passwordChanged(t *testing.T, email string) func() bool {
	before := r.get(t, email).PasswordHash
	return func() bool { return r.get(t, email).PasswordHash != before }
}

// handClock is a clock the test moves by hand.
type handClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *handClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *handClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// keptMail is a mail queue (account.Mailer) that keeps what it is given.
type keptMail struct {
	mu    sync.Mutex
	msgs  []mail.Message
	added chan struct{} // signalled on each mail
}

func (k *keptMail) Enqueue(m mail.Message) bool {
	k.mu.Lock()
	k.msgs = append(k.msgs, m)
	k.mu.Unlock()
	select {
	case k.added <- struct{}{}:
	default:
	}
	return true
}

// links counts the mails to to that carry a link to path.
func (k *keptMail) links(to, path string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(slices.DeleteFunc(slices.Clone(k.msgs), func(m mail.Message) bool {
		return m.To != to || !strings.Contains(m.Text, "http://pages.example.test"+path+"?token=")
	}))
}

// await waits, for a mail at a time, until cond holds; it fails the test
// if no mail makes it hold within a generous bound.
func (k *keptMail) await(t *testing.T, cond func() bool) {
	t.Helper()
	bound := time.NewTimer(10 * time.Second)
	defer bound.Stop()
	for !cond() {
		select {
		case <-k.added:
		case <-bound.C:
			t.Fatal("the mail the same-origin post asks for never came")
		}
	}
}

// countingProvider is a login provider that is never contacted: it only
// counts the logins and links started with it.
type countingProvider struct{ starts atomic.Int32 }

func (*countingProvider) Name() string { return "acme" }

func (p *countingProvider) AuthURL(_ context.Context, a oauth.Attempt) (string, error) {
	p.starts.Add(1)
	return "https://provider.example/authorize?state=" + url.QueryEscape(a.State), nil
}

func (*countingProvider) Profile(context.Context, string, oauth.Attempt) (oauth.Profile, error) {
	return oauth.Profile{}, errors.New("not contacted in this test")
}
