package v1

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"esauth/lib/elastic/estest"
	"esauth/lib/mail/mailtest"
	"esauth/lib/seal"
	"esauth/lib/totp"
	"esauth/lib/user"
)

// enrolTOTP turns the second factor on for c's user and returns the secret
// and the recovery codes.
func enrolTOTP(t *testing.T, c *client, clock *fakeClock) (string, []string) {
	t.Helper()
	var key struct {
		URI    string `json:"otpauth_uri"`
		QR     string `json:"qr_code"`
		Secret string `json:"secret"`
	}
	c.do("POST", "/v1/auth/totp/enroll", map[string]string{"password": pw}).data(t, &key)
	if !strings.HasPrefix(key.URI, "otpauth://totp/") || !strings.HasPrefix(key.QR, "data:image/png;base64,") || key.Secret == "" {
		t.Fatalf("enrolment %+v", key)
	}
	code, _ := totp.Code(key.Secret, clock.Now())
	var conf struct {
		RecoveryCodes []string `json:"recovery_codes"`
	}
	c.do("POST", "/v1/auth/totp/confirm", map[string]string{"code": code}).data(t, &conf)
	if len(conf.RecoveryCodes) != totp.RecoveryCodeCount {
		t.Fatalf("%d recovery codes", len(conf.RecoveryCodes))
	}
	return key.Secret, conf.RecoveryCodes
}

func TestTOTPEnrolConfirmAndALoginThatOwesItsCode(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock))
	h.addUser("two@example.com", pw, false)
	c := h.client()
	c.mustLogin("two@example.com", pw)
	// Enrolling asks for the password.
	expectStatus(t, c.do("POST", "/v1/auth/totp/enroll", map[string]string{"password": "wrong password"}), http.StatusForbidden)
	secret, recovery := enrolTOTP(t, c, clock)
	var me struct{ User user.Public }
	c.do("GET", "/v1/auth/verify", nil).data(t, &me)
	if !me.User.TOTPEnabled {
		t.Fatal("totp_enabled is false after confirming")
	}
	// A second enrolment is refused while it is on.
	expectStatus(t, c.do("POST", "/v1/auth/totp/enroll", map[string]string{"password": pw}), http.StatusConflict)

	// The password alone gives a half-authenticated session that reaches nothing.
	b := h.client()
	var in struct {
		SecondFactorRequired bool `json:"second_factor_required"`
	}
	login := b.login("two@example.com", pw)
	expectStatus(t, login, http.StatusOK)
	login.data(t, &in)
	if !in.SecondFactorRequired || b.cookie() == "" {
		t.Fatalf("login of a TOTP user: %s", login.Raw)
	}
	for _, path := range []string{"/v1/test", "/v1/auth/verify", "/v1/auth/sessions", "/v1/users/two@example.com"} {
		expectStatus(t, b.do("GET", path, nil), http.StatusUnauthorized)
	}
	expectStatus(t, b.do("POST", "/v1/auth/logout/all", nil), http.StatusUnauthorized)

	// A wrong code is refused; the right one logs in with a new token.
	expectStatus(t, b.do("POST", "/v1/auth/totp/verify", map[string]string{"code": "000000"}), http.StatusUnauthorized)
	halfCookie := b.cookie()
	// The code that confirmed the enrolment is spent: the next step's.
	code, _ := totp.Code(secret, clock.Now())
	expectStatus(t, b.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusUnauthorized)
	clock.Advance(totp.Period)
	code, _ = totp.Code(secret, clock.Now())
	expectStatus(t, b.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusOK)
	if b.cookie() == halfCookie {
		t.Error("the session kept its token across the second factor")
	}
	expectStatus(t, b.do("GET", "/v1/test", nil), http.StatusOK)
	var sessions []SessionView
	b.do("GET", "/v1/auth/sessions", nil).data(t, &sessions)
	for _, s := range sessions {
		if s.Current && !s.SecondFactor {
			t.Errorf("the session list does not show the second factor: %+v", s)
		}
	}
	// The half-authenticated cookie is dead.
	stale := h.client()
	stale.setCookie(halfCookie)
	expectStatus(t, stale.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusUnauthorized)

	// The same code again (a replay) is refused, even in a new login.
	d := h.client()
	d.login("two@example.com", pw)
	expectStatus(t, d.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusUnauthorized)
	// A recovery code works once.
	var rc struct {
		Left int `json:"recovery_codes_left"`
	}
	d.do("POST", "/v1/auth/totp/verify", map[string]string{"recovery_code": recovery[0]}).data(t, &rc)
	if rc.Left != totp.RecoveryCodeCount-1 {
		t.Errorf("recovery codes left %d", rc.Left)
	}
	e := h.client()
	e.login("two@example.com", pw)
	expectStatus(t, e.do("POST", "/v1/auth/totp/verify", map[string]string{"recovery_code": recovery[0]}), http.StatusUnauthorized)
}

func TestTOTPSkewOfOneStepIsAcceptedAndTwoRefused(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock))
	h.addUser("skew@example.com", pw, false)
	c := h.client()
	c.mustLogin("skew@example.com", pw)
	secret, _ := enrolTOTP(t, c, clock)
	for _, tt := range []struct {
		name   string
		offset time.Duration
		want   int
	}{
		{"two steps early is refused", -2 * totp.Period, http.StatusUnauthorized},
		{"two steps late is refused", 2 * totp.Period, http.StatusUnauthorized},
		{"the previous step's code is accepted", -totp.Period, http.StatusOK},
		{"the next step's code is accepted", totp.Period, http.StatusOK},
	} {
		clock.Advance(3 * totp.Period) // a fresh step each time, after the last one used
		b := h.client()
		b.login("skew@example.com", pw)
		code, _ := totp.Code(secret, clock.Now().Add(tt.offset))
		if a := b.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}); a.Status != tt.want {
			t.Errorf("%s: %d; want %d", tt.name, a.Status, tt.want)
		}
	}
}

func TestWrongCodesCountTowardTheLockout(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock), func(d *Deps) { d.Lockout = user.Lockout{Threshold: 3, Base: time.Minute, Max: time.Hour} })
	h.addUser("guess@example.com", pw, false)
	c := h.client()
	c.mustLogin("guess@example.com", pw)
	secret, _ := enrolTOTP(t, c, clock)
	b := h.client()
	b.login("guess@example.com", pw)
	for i := range 3 {
		expectStatus(t, b.do("POST", "/v1/auth/totp/verify", map[string]string{"code": "12345" + string(rune('0'+i))}), http.StatusUnauthorized)
	}
	code, _ := totp.Code(secret, clock.Now())
	a := b.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code})
	expectStatus(t, a, http.StatusTooManyRequests)
	if a.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
}

func TestTurningTOTPOffNeedsThePasswordAndACode(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock))
	h.addUser("off@example.com", pw, false)
	c := h.client()
	c.mustLogin("off@example.com", pw)
	secret, _ := enrolTOTP(t, c, clock)
	clock.Advance(totp.Period)
	code, _ := totp.Code(secret, clock.Now())
	expectStatus(t, c.do("DELETE", "/v1/auth/totp", map[string]string{"password": "wrong password", "code": code}), http.StatusForbidden)
	expectStatus(t, c.do("DELETE", "/v1/auth/totp", map[string]string{"password": pw, "code": "000000"}), http.StatusForbidden)
	expectStatus(t, c.do("DELETE", "/v1/auth/totp", map[string]string{"password": pw, "code": code}), http.StatusOK)
	b := h.client()
	b.mustLogin("off@example.com", pw) // no code owed any more
	expectStatus(t, b.do("GET", "/v1/test", nil), http.StatusOK)
}

func TestAnAdminWithoutTOTPCanOnlyEnrolWhenItIsRequired(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock), func(d *Deps) { d.RequireTOTPForAdmins = true })
	h.addUser("boss@example.com", pw, true)
	h.addUser("staff@example.com", pw, false)
	c := h.client()
	c.mustLogin("boss@example.com", pw)
	a := c.do("GET", "/v1/users", nil)
	expectStatus(t, a, http.StatusForbidden)
	if !strings.Contains(a.Message, "two-factor") {
		t.Errorf("message %q", a.Message)
	}
	expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusForbidden)
	expectStatus(t, c.do("GET", "/v1/auth/verify", nil), http.StatusOK)
	// A user without the admin role is not concerned.
	s := h.client()
	s.mustLogin("staff@example.com", pw)
	expectStatus(t, s.do("GET", "/v1/test", nil), http.StatusOK)
	enrolTOTP(t, c, clock)
	expectStatus(t, c.do("GET", "/v1/users", nil), http.StatusOK)
}

func TestOneCodeRacedByTwoLoginsLogsInOnce(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock))
	h.addUser("race2@example.com", pw, false)
	c := h.client()
	c.mustLogin("race2@example.com", pw)
	secret, _ := enrolTOTP(t, c, clock)
	for trial := range 3 {
		clock.Advance(totp.Period)
		code, _ := totp.Code(secret, clock.Now())
		clients := []*client{h.client(), h.client(), h.client(), h.client()}
		for _, b := range clients {
			b.login("race2@example.com", pw)
		}
		statuses := make(chan int, len(clients))
		for _, b := range clients {
			go func() {
				a, err := b.try("POST", "/v1/auth/totp/verify", map[string]string{"code": code})
				if err != nil {
					t.Error(err)
				}
				statuses <- a.Status
			}()
		}
		ok := 0
		for range clients {
			if <-statuses == http.StatusOK {
				ok++
			}
		}
		if ok != 1 {
			t.Errorf("trial %d: %d logins passed with one code; want 1", trial, ok)
		}
	}
}

func TestRecoveryOfATOTPUserStillOwesTheCode(t *testing.T) {
	clock := newFakeClock()
	opt, smtp := withMail(t)
	h := newHarness(t, withClock(clock), opt)
	h.addUser("both@example.com", pw, false)
	c := h.client()
	c.mustLogin("both@example.com", pw)
	secret, _ := enrolTOTP(t, c, clock)
	anon := h.client()
	expectStatus(t, anon.do("POST", "/v1/auth/recovery", map[string]string{"email_address": "both@example.com"}), http.StatusAccepted)
	var tok string
	for _, m := range smtp.Wait(t, 2, 10*time.Second) { // the TOTP notice and the link, in either order
		if p, _ := m.Parse(); strings.Contains(p.Text, ResetPasswordPath) {
			tok = linkToken(t, m, ResetPasswordPath)
		}
	}
	a := anon.do("POST", "/v1/auth/recovery/complete", map[string]string{"token": tok, "new_password": "a new long password 9"})
	expectStatus(t, a, http.StatusOK)
	if !strings.Contains(a.Raw, `"second_factor_required":true`) {
		t.Errorf("answer %s", a.Raw)
	}
	expectStatus(t, anon.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	clock.Advance(totp.Period)
	code, _ := totp.Code(secret, clock.Now())
	expectStatus(t, anon.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusOK)
	expectStatus(t, anon.do("GET", "/v1/test", nil), http.StatusOK)
}

// The users index blocked while a code is checked: 503, nothing spent,
// and the same code works once the block is lifted.
func TestABlockedUsersIndexDuringTheCodeIs503AndSpendsNothing(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock))
	h.addUser("blk@example.com", pw, false)
	c := h.client()
	c.mustLogin("blk@example.com", pw)
	secret, _ := enrolTOTP(t, c, clock)
	clock.Advance(totp.Period)
	b := h.client()
	b.login("blk@example.com", pw)
	code, _ := totp.Code(secret, clock.Now())
	blockWrites(t, h.store.UsersIndex())
	expectStatus(t, b.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusServiceUnavailable)
	expectStatus(t, b.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	estest.MustDo(t, "PUT", "/"+h.store.UsersIndex()+"/_settings", `{"index.blocks.write": null}`)
	expectStatus(t, b.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusOK)
	expectStatus(t, b.do("GET", "/v1/test", nil), http.StatusOK)
}

// Issue 17: a right password cleared the failures that wrong codes built
// up, so an attacker who had the password logged in again after every few
// codes and was never locked out (a code fell in about an hour). Wrong
// codes now count on their own: a right password leaves them, the account
// locks, and the owner is told someone has the password.
func TestWrongCodesLockEvenWhenTheAttackerLogsInAgainBetweenThem(t *testing.T) {
	clock := newFakeClock()
	opt, smtp := withMail(t)
	h := newHarness(t, withClock(clock), opt, func(d *Deps) { d.Lockout = user.Lockout{Threshold: 3, Base: time.Minute, Max: time.Hour} })
	h.addUser("stolen@example.com", pw, false)
	owner := h.client()
	owner.mustLogin("stolen@example.com", pw)
	secret, _ := enrolTOTP(t, owner, clock)
	clock.Advance(totp.Period)                          // the enrolment spent this step's code
	mailsBefore := len(smtp.Wait(t, 1, 10*time.Second)) // the "turned on" notice

	// Two wrong codes per login: never the threshold within one login.
	wrong := 0
	for round := range 2 {
		b := h.client()
		expectStatus(t, b.login("stolen@example.com", pw), http.StatusOK)
		for i := range 2 {
			a := b.do("POST", "/v1/auth/totp/verify", map[string]string{"code": fmt.Sprintf("9%d%d000", round, i)})
			wrong++
			if wrong < 3 {
				expectStatus(t, a, http.StatusUnauthorized)
			}
		}
	}
	// The right password once more, then the right code: still locked.
	b := h.client()
	expectStatus(t, b.login("stolen@example.com", pw), http.StatusOK)
	code, _ := totp.Code(secret, clock.Now())
	a := b.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code})
	expectStatus(t, a, http.StatusTooManyRequests)
	if a.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	expectStatus(t, b.do("GET", "/v1/test", nil), http.StatusUnauthorized)

	// The owner is told, by a notice that says the password is known.
	msgs := smtp.Wait(t, mailsBefore+1, 10*time.Second)
	p, err := msgs[len(msgs)-1].Parse()
	if err != nil || !strings.Contains(p.Subject, "two-factor codes") {
		t.Errorf("the last mail is %q (%v); want the second-factor lockout notice", p.Subject, err)
	}
	h.flushAudit()
	waitFor(t, func() bool { return len(h.logs.FilterField(zap.String("event", "lockout")).All()) >= 1 })

	// Once the lock is over, the right code logs in and clears the count:
	// two wrong codes later do not lock again.
	clock.Advance(time.Hour)
	c := h.client()
	expectStatus(t, c.login("stolen@example.com", pw), http.StatusOK)
	code, _ = totp.Code(secret, clock.Now())
	expectStatus(t, c.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusOK)
	d := h.client()
	expectStatus(t, d.login("stolen@example.com", pw), http.StatusOK)
	for _, wrong := range []string{"111111", "222222"} {
		expectStatus(t, d.do("POST", "/v1/auth/totp/verify", map[string]string{"code": wrong}), http.StatusUnauthorized)
	}
	clock.Advance(totp.Period)
	code, _ = totp.Code(secret, clock.Now())
	expectStatus(t, d.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusOK)
}

// Issue 17: DELETE /v1/auth/totp with the right password was bounded only
// by the per-session limit; its codes now count toward the same
// second-factor lock, and a right password does not clear them.
func TestWrongCodesWhenTurningTOTPOffLockTheSecondFactor(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock), func(d *Deps) { d.Lockout = user.Lockout{Threshold: 3, Base: time.Minute, Max: time.Hour} })
	h.addUser("keep@example.com", pw, false)
	c := h.client()
	c.mustLogin("keep@example.com", pw)
	secret, _ := enrolTOTP(t, c, clock)
	clock.Advance(totp.Period)
	for _, wrong := range []string{"000001", "000002", "000003"} {
		expectStatus(t, c.do("DELETE", "/v1/auth/totp", map[string]string{"password": pw, "code": wrong}), http.StatusForbidden)
	}
	code, _ := totp.Code(secret, clock.Now())
	expectStatus(t, c.do("DELETE", "/v1/auth/totp", map[string]string{"password": pw, "code": code}), http.StatusTooManyRequests)
	// The lock is the login's too: a fresh login cannot pass its code.
	b := h.client()
	expectStatus(t, b.login("keep@example.com", pw), http.StatusOK)
	expectStatus(t, b.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusTooManyRequests)
	var me struct{ User user.Public }
	c.do("GET", "/v1/auth/verify", nil).data(t, &me)
	if !me.User.TOTPEnabled {
		t.Error("the factor was turned off")
	}
}

// A recovery (the mailed link) lifts the second-factor lock as well as the
// password one: the owner gets back in with the code.
func TestARecoveryLiftsTheSecondFactorLock(t *testing.T) {
	clock := newFakeClock()
	opt, smtp := withMail(t)
	h := newHarness(t, withClock(clock), opt, func(d *Deps) { d.Lockout = user.Lockout{Threshold: 2, Base: time.Hour, Max: time.Hour} })
	h.addUser("back@example.com", pw, false)
	owner := h.client()
	owner.mustLogin("back@example.com", pw)
	secret, _ := enrolTOTP(t, owner, clock)
	clock.Advance(totp.Period) // the enrolment spent this step's code
	b := h.client()
	expectStatus(t, b.login("back@example.com", pw), http.StatusOK)
	for _, wrong := range []string{"000001", "000002"} {
		expectStatus(t, b.do("POST", "/v1/auth/totp/verify", map[string]string{"code": wrong}), http.StatusUnauthorized)
	}
	code, _ := totp.Code(secret, clock.Now())
	expectStatus(t, b.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusTooManyRequests)

	n := len(smtp.Messages())
	expectStatus(t, owner.do("POST", "/v1/auth/recovery", map[string]string{"email_address": "back@example.com"}), http.StatusAccepted)
	// The lockout's own notice is mailed in the background and may land
	// after n was counted, before or after the reset link (a CI run read
	// the notice as the link): wait message by message for the link.
	var link mailtest.Received
	for k := n + 1; link.Data == nil; k++ {
		m := smtp.Wait(t, k, 10*time.Second)[k-1]
		if p, err := m.Parse(); err == nil && strings.Contains(p.Subject, "Reset") {
			link = m
		}
	}
	tok := linkToken(t, link, ResetPasswordPath)
	r := h.client()
	expectStatus(t, r.do("POST", "/v1/auth/recovery/complete", map[string]string{"token": tok, "new_password": "a new long password"}), http.StatusOK)
	clock.Advance(totp.Period)
	code, _ = totp.Code(secret, clock.Now())
	expectStatus(t, r.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusOK)
}

// Through the API, with ESAUTH_DATA_KEYS: the secret an enrolment makes is
// sealed in the user's document (a reader of the index cannot mint codes),
// the codes work, and a server holding the wrong key gives a 503 — never a
// login (issue 19).
func TestTheSecondFactorsSecretIsSealedAtRest(t *testing.T) {
	estest.Require(t)
	keys, err := seal.Parse("k1:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("s", 32))))
	if err != nil {
		t.Fatal(err)
	}
	cfg := estest.Config()
	cfg.Secrets = keys
	clock := newFakeClock()
	h := newHarnessOn(t, estest.NewWith(t, cfg), withClock(clock))
	h.addUser("sealed@example.com", pw, false)
	c := h.client()
	c.mustLogin("sealed@example.com", pw)
	secret, _ := enrolTOTP(t, c, clock)
	raw := estest.MustDo(t, "GET", "/"+h.store.UsersIndex()+"/_doc/sealed@example.com", "")
	if strings.Contains(raw, secret) || !strings.Contains(raw, "esauth-sealed:1:k1:") {
		t.Fatalf("the user's document: %s", raw)
	}
	clock.Advance(totp.Period)
	b := h.client()
	expectStatus(t, b.login("sealed@example.com", pw), http.StatusOK)
	code, _ := totp.Code(secret, clock.Now())
	expectStatus(t, b.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusOK)

	// The wrong key under the same id.
	cfg.Secrets, _ = seal.Parse("k1:" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("w", 32))))
	wrong := newHarnessOn(t, estest.NewWith(t, cfg), withClock(clock))
	clock.Advance(totp.Period)
	code, _ = totp.Code(secret, clock.Now())
	w := wrong.client()
	if a := w.login("sealed@example.com", pw); a.Status != http.StatusServiceUnavailable {
		t.Errorf("login with the wrong data key: %d; want 503", a.Status)
	}
	expectStatus(t, w.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusUnauthorized)
	expectStatus(t, w.do("GET", "/v1/test", nil), http.StatusUnauthorized)
}
