package v1

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"esauth/lib/mail/mailtest"

	"esauth/lib/audit"
	"esauth/lib/passkey"
	"esauth/lib/passkey/passkeytest"
	"esauth/lib/token"
	"esauth/lib/user"
)

// The relying party of the API tests: the software authenticator's
// "browser" says it runs at passkeyOrigin (the test server's own address
// is an IP, which WebAuthn does not take).
const (
	passkeyRPID   = "example.test"
	passkeyOrigin = "https://auth.example.test"
)

func withPasskeys(t testing.TB) harnessOption {
	t.Helper()
	rp, err := passkey.New(passkey.Config{RPID: passkeyRPID, Origins: []string{passkeyOrigin}, DisplayName: "esauth"})
	if err != nil {
		t.Fatal(err)
	}
	state := securecookie.New(securecookie.GenerateRandomKey(32), securecookie.GenerateRandomKey(32)).MaxAge(int(token.PasskeyCeremonyTTL / time.Second))
	state.SetSerializer(securecookie.JSONEncoder{})
	return func(d *Deps) {
		d.Passkeys = Passkeys{RelyingParty: rp, State: state, DecoyKey: []byte("the decoy key of the tests")}
	}
}

// waitForMail waits for a mail whose raw text holds subject.
func waitForMail(t *testing.T, smtp *mailtest.Server, subject string) {
	t.Helper()
	for n := 1; n < 20; n++ {
		for _, m := range smtp.Wait(t, n, 10*time.Second) {
			if strings.Contains(string(m.Data), subject) {
				return
			}
		}
	}
	t.Fatalf("no mail %q", subject)
}

// options is the data of a begin: what the browser is given.
func options(t *testing.T, a answer) []byte {
	t.Helper()
	expectStatus(t, a, http.StatusOK)
	if !strings.Contains(string(a.Data), `"publicKey"`) {
		t.Fatalf("no publicKey in %s", a.Data)
	}
	return a.Data
}

// finish sends the authenticator's answer to a finish route.
func (c *client) finish(path string, credential []byte, name string) answer {
	c.t.Helper()
	body := map[string]any{"credential": json.RawMessage(credential)}
	if name != "" {
		body["name"] = name
	}
	return c.do("POST", path, body)
}

// addPasskey registers a passkey of auth for the logged-in client.
func (c *client) addPasskey(t *testing.T, auth *passkeytest.Authenticator, pw string) answer {
	t.Helper()
	opts := options(t, c.do("POST", "/v1/auth/passkeys/register/begin", map[string]any{"password": pw}))
	cred, err := auth.Create(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c.finish("/v1/auth/passkeys/register/finish", cred, "Laptop")
}

// passkeyLogin logs in with auth, with email typed or not.
func (c *client) passkeyLogin(t *testing.T, auth *passkeytest.Authenticator, email string) answer {
	t.Helper()
	body := map[string]any{}
	if email != "" {
		body["email_address"] = email
	}
	opts := options(t, c.do("POST", "/v1/auth/passkeys/login/begin", body))
	cred, err := auth.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	return c.finish("/v1/auth/passkeys/login/finish", cred, "")
}

// events are the audit events of email, oldest first, as "event outcome".
func (h *harness) events(t *testing.T, email string) []string {
	t.Helper()
	h.flushAudit()
	evs, _, err := h.store.ListEvents(context.Background(), email, time.Time{}, nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for i := len(evs) - 1; i >= 0; i-- {
		out = append(out, evs[i].Event+" "+evs[i].Outcome)
	}
	return out
}

func hasEvent(evs []string, want string) bool {
	for _, e := range evs {
		if e == want {
			return true
		}
	}
	return false
}

func TestAPasskeyRegisteredLogsInWithNoEmailNorPasswordAndCountsAsTwoFactors(t *testing.T) {
	opt, smtp := withMail(t)
	h := newHarness(t, withPasskeys(t), opt)
	const email = "ada@example.com"
	h.addUser(email, pw, false)
	c := h.client()
	c.mustLogin(email, pw)
	auth := passkeytest.New(passkeyOrigin)
	a := c.addPasskey(t, auth, pw)
	expectStatus(t, a, http.StatusCreated)
	var view struct {
		ID, Name string
		Synced   bool
	}
	a.data(t, &view)
	if view.Name != "Laptop" || view.ID == "" || view.Synced {
		t.Fatalf("registered %s", a.Data)
	}
	waitForMail(t, smtp, "A passkey was added")

	// The user handle on the user is random, never the email.
	u, err := h.store.GetUser(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	if len(u.WebAuthnID) != user.WebAuthnIDLen || strings.Contains(string(u.WebAuthnID), "ada") {
		t.Fatalf("user handle %x", u.WebAuthnID)
	}
	if got := auth.Credentials()[0].UserHandle; string(got) != string(u.WebAuthnID) {
		t.Fatalf("the passkey carries handle %x, the user has %x", got, u.WebAuthnID)
	}

	other := h.client()
	in := other.passkeyLogin(t, auth, "")
	expectStatus(t, in, http.StatusOK)
	var lv struct {
		Email                string `json:"email_address"`
		SecondFactorRequired bool   `json:"second_factor_required"`
	}
	in.data(t, &lv)
	if lv.Email != email || lv.SecondFactorRequired {
		t.Fatalf("passkey login: %s", in.Data)
	}
	expectStatus(t, other.do("GET", "/v1/test", nil), http.StatusOK)
	var sessions []struct {
		Current      bool `json:"current"`
		SecondFactor bool `json:"second_factor"`
	}
	other.do("GET", "/v1/auth/sessions", nil).data(t, &sessions)
	for _, s := range sessions {
		if s.Current && !s.SecondFactor {
			t.Errorf("a user-verified passkey login is not recorded as two factors: %+v", sessions)
		}
	}
	evs := h.events(t, email)
	for _, want := range []string{"passkey_registered success", "passkey_login success", "login_success success"} {
		if !hasEvent(evs, want) {
			t.Errorf("no %q in %v", want, evs)
		}
	}

	// With the email typed, the same.
	expectStatus(t, h.client().passkeyLogin(t, auth, "ADA@example.com"), http.StatusOK)
}

func TestAddingAPasskeyNeedsThePasswordOrAFreshLogin(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withPasskeys(t), withClock(clock))
	const email = "ada@example.com"
	h.addUser(email, pw, false)
	c := h.client()
	c.mustLogin(email, pw)
	// A stolen cookie alone adds nothing: the password is asked.
	a := c.do("POST", "/v1/auth/passkeys/register/begin", map[string]any{"password": "wrong password!"})
	expectStatus(t, a, http.StatusUnprocessableEntity)
	if a.Fields["password"] == "" {
		t.Errorf("no password field: %s", a.Raw)
	}
	expectStatus(t, c.do("POST", "/v1/auth/passkeys/register/begin", map[string]any{}), http.StatusUnprocessableEntity)
	if n := len(passkeysOf(t, c)); n != 0 {
		t.Fatalf("%d passkeys", n)
	}

	// A user without a password (a passkey-only account, here made by
	// removing the password) must have logged in within the window.
	auth := passkeytest.New(passkeyOrigin)
	expectStatus(t, c.addPasskey(t, auth, pw), http.StatusCreated)
	if _, err := h.store.UpdateUser(context.Background(), email, func(u *user.User) error { u.PasswordHash = ""; return nil }); err != nil {
		t.Fatal(err)
	}
	c2 := h.client()
	expectStatus(t, c2.passkeyLogin(t, auth, ""), http.StatusOK)
	second := passkeytest.New(passkeyOrigin)
	expectStatus(t, c2.addPasskey(t, second, ""), http.StatusCreated)
	clock.Advance(11 * time.Minute)
	a = c2.do("POST", "/v1/auth/passkeys/register/begin", map[string]any{})
	expectStatus(t, a, http.StatusForbidden)
	if !strings.Contains(a.Message, "Log in again") {
		t.Errorf("message %q", a.Message)
	}
}

func passkeysOf(t *testing.T, c *client) []map[string]any {
	t.Helper()
	a := c.do("GET", "/v1/auth/passkeys", nil)
	expectStatus(t, a, http.StatusOK)
	var v struct {
		Passkeys []map[string]any `json:"passkeys"`
	}
	a.data(t, &v)
	return v.Passkeys
}

// TestPasskeyAnswersThatMustBeRefused: every check of a login's answer,
// each a test that fails without it.
func TestPasskeyAnswersThatMustBeRefused(t *testing.T) {
	h := newHarness(t, withPasskeys(t))
	const email = "ada@example.com"
	h.addUser(email, pw, false)
	owner := h.client()
	owner.mustLogin(email, pw)
	auth := passkeytest.New(passkeyOrigin)
	expectStatus(t, owner.addPasskey(t, auth, pw), http.StatusCreated)

	const mallory, malloryPW = "mallory@example.com", "mallory's own password"
	h.addUser(mallory, malloryPW, false)
	m := h.client()
	m.mustLogin(mallory, malloryPW)
	malloryKey := passkeytest.New(passkeyOrigin)
	expectStatus(t, m.addPasskey(t, malloryKey, malloryPW), http.StatusCreated)

	begin := func(c *client, email string) []byte {
		body := map[string]any{}
		if email != "" {
			body["email_address"] = email
		}
		return options(t, c.do("POST", "/v1/auth/passkeys/login/begin", body))
	}
	cases := []struct {
		name   string
		answer func(t *testing.T, c *client) []byte
		reason string
	}{
		{"an answer replayed", func(t *testing.T, c *client) []byte {
			cred, _ := auth.Get(begin(c, ""))
			expectStatus(t, c.finish("/v1/auth/passkeys/login/finish", cred, ""), http.StatusOK)
			// The same answer again, with the cookie of a new ceremony
			// begun meanwhile: its challenge is not this one.
			begin(c, "")
			return cred
		}, "challenge"},
		{"a copy of the ceremony cookie sent again", func(t *testing.T, c *client) []byte {
			opts := begin(c, "")
			saved := ceremonyCookie(c)
			cred, _ := auth.Get(opts)
			expectStatus(t, c.finish("/v1/auth/passkeys/login/finish", cred, ""), http.StatusOK)
			setCeremonyCookie(c, saved)
			cred, _ = auth.Get(opts)
			return cred
		}, "ceremony_used"},
		{"no ceremony at all", func(t *testing.T, c *client) []byte {
			cred, _ := auth.Get(begin(h.client(), ""))
			return cred
		}, "ceremony_missing"},
		{"made at another origin", func(t *testing.T, c *client) []byte {
			evil := auth.Clone()
			evil.Origin = "https://auth.example.test.evil.test"
			cred, _ := evil.Get(begin(c, ""))
			return cred
		}, "origin"},
		{"made for another RP id", func(t *testing.T, c *client) []byte {
			evil := auth.Clone()
			evil.RPID = "evil.test"
			cred, _ := evil.Get(begin(c, ""))
			return cred
		}, "rp_id"},
		{"another user's passkey for a typed email", func(t *testing.T, c *client) []byte {
			opts := begin(c, email)
			cred := malloryKey.Credentials()[0]
			cred.SignCount = 100
			b, _ := malloryKey.Sign(cred, passkeytest.Challenge(opts))
			return b
		}, "unknown_credential"},
		{"a passkey esauth never saw", func(t *testing.T, c *client) []byte {
			stranger := passkeytest.New(passkeyOrigin)
			if _, err := stranger.Create([]byte(`{"publicKey":{"challenge":"AAAAAAAAAAAAAAAAAAAAAA","rp":{"id":"example.test"},"user":{"id":"AAAA"}}}`)); err != nil {
				t.Fatal(err)
			}
			cred, _ := stranger.Get(begin(c, ""))
			return cred
		}, "unknown_credential"},
		{"a cloned authenticator whose counter went back", func(t *testing.T, c *client) []byte {
			clone := auth.Clone()
			cred, _ := auth.Get(begin(c, "")) // the owner logs in: counter n+1
			expectStatus(t, c.finish("/v1/auth/passkeys/login/finish", cred, ""), http.StatusOK)
			cred, _ = clone.Get(begin(c, "")) // the copy still says n+1
			return cred
		}, "sign_count"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := h.client().in(t)
			cred := tc.answer(t, c)
			a := c.finish("/v1/auth/passkeys/login/finish", cred, "")
			expectStatus(t, a, http.StatusUnauthorized)
			for _, ck := range a.Header.Values("Set-Cookie") {
				if strings.HasPrefix(ck, "session=") {
					t.Errorf("a refused passkey set a session cookie: %s", ck)
				}
			}
			h.flushAudit()
			found := false
			for _, who := range []string{email, mallory, "<unknown>"} {
				if hasEvent(h.events(t, who), audit.PasskeyRefused+" "+audit.Refused+": "+tc.reason) {
					found = true
				}
			}
			if !found {
				t.Errorf("no passkey_refused %q in the trail", tc.reason)
			}
		})
	}
}

func ceremonyCookie(c *client) *http.Cookie {
	u, _ := url.Parse(c.h.srv.URL + "/v1/auth/passkeys/")
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == passkeyCookieName {
			return ck
		}
	}
	return nil
}

func setCeremonyCookie(c *client, ck *http.Cookie) {
	u, _ := url.Parse(c.h.srv.URL + "/v1/auth/passkeys/")
	c.jar.SetCookies(u, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: passkeyCookiePath}})
}

func TestAPasskeyOfADeletedAccountOpensNoneSignedUpAgain(t *testing.T) {
	h := newHarness(t, withPasskeys(t))
	const email = "ada@example.com"
	h.addUser(email, pw, false)
	c := h.client()
	c.mustLogin(email, pw)
	auth := passkeytest.New(passkeyOrigin)
	expectStatus(t, c.addPasskey(t, auth, pw), http.StatusCreated)
	// The account goes; its passkey documents are kept here (as if the
	// sweep had failed) to show they open nothing.
	stale, err := h.store.ListPasskeys(context.Background(), email)
	if err != nil || len(stale) != 1 {
		t.Fatalf("%v %v", stale, err)
	}
	if err := h.store.DeleteUser(context.Background(), email); err != nil {
		t.Fatal(err)
	}
	if err := h.store.CreatePasskey(context.Background(), stale[0]); err != nil {
		t.Fatal(err)
	}
	h.addUser(email, "another person's password", false)
	a := h.client().passkeyLogin(t, auth, "")
	expectStatus(t, a, http.StatusUnauthorized)
	// The new account lists none of them.
	n := h.client()
	n.mustLogin(email, "another person's password")
	if got := passkeysOf(t, n); len(got) != 0 {
		t.Fatalf("the new account sees %v", got)
	}
}

func TestATypedEmailGetsTheSameKindOfAnswerKnownOrNot(t *testing.T) {
	h := newHarness(t, withPasskeys(t))
	const email = "ada@example.com"
	h.addUser(email, pw, false)
	h.addUser("nopasskey@example.com", pw, false)
	c := h.client()
	c.mustLogin(email, pw)
	expectStatus(t, c.addPasskey(t, passkeytest.New(passkeyOrigin), pw), http.StatusCreated)

	shape := func(email string) (int, []string) {
		a := h.client().do("POST", "/v1/auth/passkeys/login/begin", map[string]any{"email_address": email})
		expectStatus(t, a, http.StatusOK)
		var o struct {
			PublicKey struct {
				Allow []struct {
					ID         string   `json:"id"`
					Transports []string `json:"transports"`
				} `json:"allowCredentials"`
			} `json:"publicKey"`
		}
		a.data(t, &o)
		var ids []string
		for _, c := range o.PublicKey.Allow {
			ids = append(ids, c.ID)
		}
		return len(o.PublicKey.Allow), ids
	}
	for _, e := range []string{email, "nobody@example.com", "nopasskey@example.com"} {
		n, ids := shape(e)
		if n < 1 || n > 2 {
			t.Errorf("%s: %d credentials asked for", e, n)
		}
		// Asked twice, the same: a decoy that changed would tell.
		if _, again := shape(e); strings.Join(ids, ",") != strings.Join(again, ",") {
			t.Errorf("%s: the credentials asked for changed: %v then %v", e, ids, again)
		}
	}
	if _, a := shape("nobody@example.com"); strings.Join(a, "") == "" {
		t.Error("no decoy for an unknown email")
	}
}

func TestAPasskeyAnswersTheSecondFactorInsteadOfTheCode(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withPasskeys(t), withClock(clock))
	const email = "ada@example.com"
	h.addUser(email, pw, false)
	c := h.client()
	c.mustLogin(email, pw)
	enrolTOTP(t, c, clock)
	auth := passkeytest.New(passkeyOrigin)
	expectStatus(t, c.addPasskey(t, auth, pw), http.StatusCreated)

	d := h.client()
	in := d.login(email, pw)
	expectStatus(t, in, http.StatusOK)
	expectStatus(t, d.do("GET", "/v1/test", nil), http.StatusUnauthorized) // pending
	// Neither a passkey login started elsewhere nor the second factor of
	// another half-authenticated session of the same user answers this
	// session's: the ceremony must be its own.
	for _, path := range []string{"/v1/auth/passkeys/login/begin", "/v1/auth/passkeys/verify/begin"} {
		other := h.client()
		expectStatus(t, other.login(email, pw), http.StatusOK)
		opts := options(t, other.do("POST", path, map[string]any{}))
		setCeremonyCookie(d, ceremonyCookie(other))
		cred, _ := auth.Get(opts)
		expectStatus(t, d.finish("/v1/auth/passkeys/verify/finish", cred, ""), http.StatusUnauthorized)
	}

	opts := options(t, d.do("POST", "/v1/auth/passkeys/verify/begin", nil))
	cred, err := auth.Get(opts)
	if err != nil {
		t.Fatal(err)
	}
	a := d.finish("/v1/auth/passkeys/verify/finish", cred, "")
	expectStatus(t, a, http.StatusOK)
	expectStatus(t, d.do("GET", "/v1/test", nil), http.StatusOK)
	if !hasEvent(h.events(t, email), "second_factor_passed success: passkey") {
		t.Errorf("no second_factor_passed by passkey: %v", h.events(t, email))
	}
	// Without a pending session it is refused.
	expectStatus(t, h.client().do("POST", "/v1/auth/passkeys/verify/begin", nil), http.StatusUnauthorized)

	// A passkey without user verification is one factor: a TOTP user
	// still owes the code.
	noUV := auth.Clone()
	noUV.UserVerified = false
	e := h.client()
	a = e.passkeyLogin(t, noUV, "")
	expectStatus(t, a, http.StatusOK)
	var lv struct {
		SecondFactorRequired bool `json:"second_factor_required"`
	}
	a.data(t, &lv)
	if !lv.SecondFactorRequired {
		t.Fatalf("a passkey without user verification skipped the code: %s", a.Data)
	}
	expectStatus(t, e.do("GET", "/v1/test", nil), http.StatusUnauthorized)
}

func TestRenameListAndRemovePasskeysButNeverTheLastWayIn(t *testing.T) {
	opt, smtp := withMail(t)
	h := newHarness(t, withPasskeys(t), opt)
	const email = "ada@example.com"
	h.addUser(email, pw, false)
	c := h.client()
	c.mustLogin(email, pw)
	one, two := passkeytest.New(passkeyOrigin), passkeytest.New(passkeyOrigin)
	two.BackupEligible, two.BackupState = true, true
	expectStatus(t, c.addPasskey(t, one, pw), http.StatusCreated)
	expectStatus(t, c.addPasskey(t, two, pw), http.StatusCreated)
	// The same authenticator again is excluded by the browser.
	opts := options(t, c.do("POST", "/v1/auth/passkeys/register/begin", map[string]any{"password": pw}))
	if _, err := one.Create(opts); err != passkeytest.ErrExcluded {
		t.Fatalf("registering the same authenticator twice: %v", err)
	}
	keys := passkeysOf(t, c)
	if len(keys) != 2 || keys[1]["synced"] != true || keys[0]["synced"] != false || keys[0]["last_used_at"] != nil {
		t.Fatalf("list %v", keys)
	}
	id0, id1 := keys[0]["id"].(string), keys[1]["id"].(string)
	a := c.do("PATCH", "/v1/auth/passkeys/"+id0, map[string]any{"name": "Work laptop"})
	expectStatus(t, a, http.StatusOK)
	expectStatus(t, c.do("PATCH", "/v1/auth/passkeys/"+id0, map[string]any{"name": "bad\nname"}), http.StatusUnprocessableEntity)
	expectStatus(t, c.do("PATCH", "/v1/auth/passkeys/"+id0, map[string]any{"name": strings.Repeat("x", 65)}), http.StatusUnprocessableEntity)
	if got := passkeysOf(t, c)[0]["name"]; got != "Work laptop" {
		t.Fatalf("renamed to %v", got)
	}
	// Someone else's passkey is not found, for rename and remove alike.
	h.addUser("mallory@example.com", pw, false)
	m := h.client()
	m.mustLogin("mallory@example.com", pw)
	expectStatus(t, m.do("PATCH", "/v1/auth/passkeys/"+id0, map[string]any{"name": "mine now"}), http.StatusNotFound)
	expectStatus(t, m.do("DELETE", "/v1/auth/passkeys/"+id0, nil), http.StatusNotFound)
	expectStatus(t, m.do("DELETE", "/v1/auth/passkeys/not-base64!", nil), http.StatusNotFound)

	// Without a password, the last passkey stays.
	if _, err := h.store.UpdateUser(context.Background(), email, func(u *user.User) error { u.PasswordHash = ""; return nil }); err != nil {
		t.Fatal(err)
	}
	expectStatus(t, c.do("DELETE", "/v1/auth/passkeys/"+id1, nil), http.StatusOK)
	waitForMail(t, smtp, "A passkey was removed")
	a = c.do("DELETE", "/v1/auth/passkeys/"+id0, nil)
	expectStatus(t, a, http.StatusConflict)
	if len(passkeysOf(t, c)) != 1 {
		t.Fatal("the last way in was removed")
	}
	evs := h.events(t, email)
	for _, want := range []string{"passkey_renamed success", "passkey_removed success"} {
		if !hasEvent(evs, want) {
			t.Errorf("no %q in %v", want, evs)
		}
	}
}

// TestTwoRemovalsRacingLeaveOneWayIn: a user with no password and two
// passkeys removes both at once. Each removal may see the other passkey
// still there; the count after the delete undoes what left none.
func TestTwoRemovalsRacingLeaveOneWayIn(t *testing.T) {
	h := newHarness(t, withPasskeys(t))
	for round := range 4 {
		email := "racer" + string(rune('a'+round)) + "@example.com"
		h.addUser(email, pw, false)
		c := h.client()
		c.mustLogin(email, pw)
		expectStatus(t, c.addPasskey(t, passkeytest.New(passkeyOrigin), pw), http.StatusCreated)
		expectStatus(t, c.addPasskey(t, passkeytest.New(passkeyOrigin), pw), http.StatusCreated)
		if _, err := h.store.UpdateUser(context.Background(), email, func(u *user.User) error { u.PasswordHash = ""; return nil }); err != nil {
			t.Fatal(err)
		}
		keys := passkeysOf(t, c)
		statuses := make(chan int, 2)
		for i := range 2 {
			go func() {
				a, err := c.try("DELETE", "/v1/auth/passkeys/"+keys[i]["id"].(string), nil)
				if err != nil {
					t.Error(err)
				}
				statuses <- a.Status
			}()
		}
		s1, s2 := <-statuses, <-statuses
		// Never none left. When both removals counted after both deletes,
		// both undo theirs and both are refused: the user tries again.
		switch left := passkeysOf(t, c); {
		case len(left) == 0:
			t.Fatalf("round %d: both passkeys were removed (%d, %d): the account has no way in", round, s1, s2)
		case len(left) == 1 && s1+s2 != http.StatusOK+http.StatusConflict,
			len(left) == 2 && (s1 != http.StatusConflict || s2 != http.StatusConflict):
			t.Errorf("round %d: %d left, answers %d and %d", round, len(left), s1, s2)
		}
	}
}
