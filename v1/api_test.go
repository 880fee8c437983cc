package v1

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"esauth/lib/user"
)

const pw = "correct horse battery"

func TestTheCurlWalkthrough(t *testing.T) {
	h := newHarness(t)
	c := h.client()

	a := c.signup("Ada@Example.com", pw)
	expectStatus(t, a, http.StatusCreated)
	var u user.Public
	a.data(t, &u)
	if u.Email != "ada@example.com" || u.Role != "user" || !u.IsActive || u.CreatedAt.IsZero() {
		t.Errorf("created user = %+v", u)
	}

	expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusUnauthorized)

	a = c.login("ADA@example.com ", pw)
	expectStatus(t, a, http.StatusOK)
	if c.cookie() == "" {
		t.Fatal("login set no cookie")
	}

	a = c.do("GET", "/v1/test", nil)
	expectStatus(t, a, http.StatusOK)
	if a.Message != "Test" {
		t.Errorf("message = %q, want Test", a.Message)
	}
	var tv testView
	a.data(t, &tv)
	if tv.Email != "ada@example.com" || len(tv.Session.ID) != 64 {
		t.Errorf("test data = %+v", tv)
	}
	if strings.Contains(a.Raw, c.cookie()) {
		t.Error("/v1/test echoes the cookie value")
	}

	old := c.cookie()
	expectStatus(t, c.do("POST", "/v1/auth/logout", nil), http.StatusOK)
	if c.cookie() != "" {
		t.Error("logout did not expire the cookie")
	}
	// Replaying the old cookie (curl -b cookies.txt with the saved file) is refused.
	c.setCookie(old)
	expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusUnauthorized)
}

func TestLoginCookieAttributes(t *testing.T) {
	h := newHarness(t)
	h.addUser("c@example.com", pw, false)
	tests := []struct {
		name       string
		remember   bool
		persistent bool
	}{
		{"a plain login gets a browser-session cookie", false, false},
		{"remember_me gets a persistent cookie", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.client().in(t).do("POST", "/v1/auth/login", map[string]any{
				"email_address": "c@example.com", "password": pw, "remember_me": tt.remember,
			})
			expectStatus(t, a, http.StatusOK)
			set := a.Header.Get("Set-Cookie")
			for _, attr := range []string{"HttpOnly", "SameSite=Lax", "Path=/"} {
				if !strings.Contains(set, attr) {
					t.Errorf("Set-Cookie %q lacks %s", set, attr)
				}
			}
			if got := strings.Contains(set, "Max-Age="); got != tt.persistent {
				t.Errorf("Set-Cookie %q: persistent = %v, want %v", set, got, tt.persistent)
			}
		})
	}
}

func TestSecureCookieFlagFollowsTheSetting(t *testing.T) {
	h := newHarness(t, func(d *Deps) { d.Cookies.Secure = true })
	h.addUser("s@example.com", pw, false)
	a := h.client().login("s@example.com", pw)
	expectStatus(t, a, http.StatusOK)
	if !strings.Contains(a.Header.Get("Set-Cookie"), "Secure") {
		t.Errorf("Set-Cookie %q lacks Secure", a.Header.Get("Set-Cookie"))
	}
}

func TestFiftyConcurrentSignupsForOneEmailMakeOneUser(t *testing.T) {
	h := newHarness(t)
	const n = 50
	statuses := make(chan int, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := h.client().try("POST", "/v1/users", map[string]any{
				"email_address": "Same@Example.com", "password": pw, "first_name": "Ada", "last_name": "Lovelace",
			})
			if err != nil {
				t.Error(err)
			}
			statuses <- a.Status
		}()
	}
	wg.Wait()
	close(statuses)
	count := map[int]int{}
	for s := range statuses {
		count[s]++
	}
	if count[http.StatusCreated] != 1 || count[http.StatusConflict] != n-1 {
		t.Fatalf("statuses %v; want one 201 and %d 409", count, n-1)
	}
}

func TestLoginFailuresLookAlike(t *testing.T) {
	h := newHarness(t)
	h.addUser("known@example.com", pw, false)
	unknown := h.client().login("unknown@example.com", pw)
	wrong := h.client().login("known@example.com", "wrong password!")
	expectStatus(t, unknown, http.StatusUnauthorized)
	expectStatus(t, wrong, http.StatusUnauthorized)
	if unknown.Message != wrong.Message || unknown.Raw != wrong.Raw {
		t.Errorf("unknown email %q and wrong password %q answer differently", unknown.Raw, wrong.Raw)
	}
}

func TestDisabledUser(t *testing.T) {
	h := newHarness(t)
	h.addUser("admin@example.com", pw, true)
	h.addUser("bob@example.com", pw, false)
	admin, bob := h.client(), h.client()
	admin.mustLogin("admin@example.com", pw)
	bob.mustLogin("bob@example.com", pw)
	expectStatus(t, bob.do("GET", "/v1/test", nil), http.StatusOK)

	a := admin.do("PATCH", "/v1/users/bob@example.com", map[string]any{"is_active": false})
	expectStatus(t, a, http.StatusOK)

	t.Run("is locked out on the very next request", func(t *testing.T) {
		expectStatus(t, bob.in(t).do("GET", "/v1/test", nil), http.StatusUnauthorized)
	})
	t.Run("gets 403 with the right password", func(t *testing.T) {
		expectStatus(t, bob.in(t).login("bob@example.com", pw), http.StatusForbidden)
	})
	t.Run("gets the usual 401 with a wrong password", func(t *testing.T) {
		expectStatus(t, bob.in(t).login("bob@example.com", "not the password"), http.StatusUnauthorized)
	})
	t.Run("can log in again once re-enabled", func(t *testing.T) {
		expectStatus(t, admin.in(t).do("PATCH", "/v1/users/bob@example.com", map[string]any{"is_active": true}), http.StatusOK)
		bob.in(t).mustLogin("bob@example.com", pw)
	})
}

func TestLogoutAllRevokesEverySession(t *testing.T) {
	h := newHarness(t)
	h.addUser("many@example.com", pw, false)
	laptop, phone, tablet := h.client(), h.client(), h.client()
	for _, c := range []*client{laptop, phone, tablet} {
		c.mustLogin("many@example.com", pw)
	}
	a := phone.do("POST", "/v1/auth/logout/all", nil)
	expectStatus(t, a, http.StatusOK)
	var rv revokedView
	a.data(t, &rv)
	if rv.Revoked != 3 {
		t.Errorf("revoked %d, want 3", rv.Revoked)
	}
	for name, c := range map[string]*client{"laptop": laptop, "phone": phone, "tablet": tablet} {
		if s := c.do("GET", "/v1/test", nil).Status; s != http.StatusUnauthorized {
			t.Errorf("%s still logged in: %d", name, s)
		}
	}
	expectStatus(t, h.client().do("POST", "/v1/auth/logout/all", nil), http.StatusUnauthorized)
}

func TestPasswordChange(t *testing.T) {
	h := newHarness(t)
	h.addUser("pc@example.com", pw, false)
	here, there := h.client(), h.client()
	here.mustLogin("pc@example.com", pw)
	there.mustLogin("pc@example.com", pw)

	tests := []struct {
		name  string
		body  map[string]any
		want  int
		field string
	}{
		{"wrong old password is 403", map[string]any{"old_password": "nope nope", "new_password": "another long one"}, http.StatusForbidden, ""},
		{"short new password is 422", map[string]any{"old_password": pw, "new_password": "short"}, http.StatusUnprocessableEntity, "new_password"},
		{"same password is 422", map[string]any{"old_password": pw, "new_password": pw}, http.StatusUnprocessableEntity, "new_password"},
		{"missing old password is 422", map[string]any{"new_password": "another long one"}, http.StatusUnprocessableEntity, "old_password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := here.in(t).do("POST", "/v1/auth/password", tt.body)
			expectStatus(t, a, tt.want)
			if tt.field != "" && a.Fields[tt.field] == "" {
				t.Errorf("fields = %v, want a message for %s", a.Fields, tt.field)
			}
		})
	}
	// None of the refused attempts logged anyone out.
	expectStatus(t, there.do("GET", "/v1/test", nil), http.StatusOK)

	const newPW = "a brand new passphrase"
	a := here.do("POST", "/v1/auth/password", map[string]any{"old_password": pw, "new_password": newPW})
	expectStatus(t, a, http.StatusOK)
	t.Run("the current session stays valid", func(t *testing.T) {
		expectStatus(t, here.in(t).do("GET", "/v1/test", nil), http.StatusOK)
	})
	t.Run("other sessions are revoked", func(t *testing.T) {
		expectStatus(t, there.in(t).do("GET", "/v1/test", nil), http.StatusUnauthorized)
	})
	t.Run("the old password no longer works", func(t *testing.T) {
		expectStatus(t, h.client().in(t).login("pc@example.com", pw), http.StatusUnauthorized)
	})
	t.Run("the new password works", func(t *testing.T) {
		h.client().in(t).mustLogin("pc@example.com", newPW)
	})
}

func TestTamperedAndForeignCookiesAreRefused(t *testing.T) {
	h := newHarness(t)
	h.addUser("t@example.com", pw, false)
	c := h.client()
	c.mustLogin("t@example.com", pw)
	good := c.cookie()
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	other := newHarness(t) // another deployment, other keys
	other.addUser("t@example.com", pw, false)
	oc := other.client()
	oc.mustLogin("t@example.com", pw)

	tests := []struct {
		name  string
		value string
	}{
		{"a flipped character at the start", flip(good, 0)},
		{"a flipped character in the middle", flip(good, len(good)/2)},
		{"a flipped character at the end", flip(good, len(good)-1)},
		{"a truncated cookie", good[:len(good)-4]},
		{"garbage", "not-a-cookie"},
		{"a cookie signed with other keys", oc.cookie()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := h.client()
			x.setCookie(tt.value)
			expectStatus(t, x.in(t).do("GET", "/v1/test", nil), http.StatusUnauthorized)
		})
	}
	expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusOK)
}

func TestLoginReplacesTheSessionTheRequestCameWith(t *testing.T) {
	h := newHarness(t)
	h.addUser("fix@example.com", pw, false)
	c := h.client()
	c.mustLogin("fix@example.com", pw)
	before := c.cookie()
	c.mustLogin("fix@example.com", pw)
	after := c.cookie()
	if before == after {
		t.Fatal("a second login kept the same cookie")
	}
	x := h.client()
	x.setCookie(before)
	expectStatus(t, x.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusOK)
}

func TestVerify(t *testing.T) {
	h := newHarness(t)
	h.addUser("v@example.com", pw, false)
	c := h.client()
	expectStatus(t, c.do("GET", "/v1/auth/verify", nil), http.StatusUnauthorized)
	expectStatus(t, c.do("POST", "/v1/auth/login", map[string]any{
		"email_address": "v@example.com", "password": pw, "remember_me": true,
	}), http.StatusOK)
	a := c.do("GET", "/v1/auth/verify", nil)
	expectStatus(t, a, http.StatusOK)
	var v verifyView
	a.data(t, &v)
	if v.User.Email != "v@example.com" || !v.Session.Remember {
		t.Errorf("verify = %+v", v)
	}
	if got := v.Session.ExpiresAt.Sub(v.Session.CreatedAt); got != 720*time.Hour {
		t.Errorf("remember-me lifetime = %v, want 720h", got)
	}
}

func TestSessionListAndRevokeOne(t *testing.T) {
	h := newHarness(t)
	h.addUser("list@example.com", pw, false)
	h.addUser("else@example.com", pw, false)
	a, b := h.client(), h.client()
	a.mustLogin("list@example.com", pw)
	b.mustLogin("list@example.com", pw)

	ans := a.do("GET", "/v1/auth/sessions", nil)
	expectStatus(t, ans, http.StatusOK)
	var list []SessionView
	ans.data(t, &list)
	if len(list) != 2 {
		t.Fatalf("listed %d sessions, want 2: %s", len(list), ans.Raw)
	}
	var mine, theirs string
	for _, s := range list {
		if s.Current {
			mine = s.ID
		} else {
			theirs = s.ID
		}
		if s.IP == "" || s.UserAgent == "" || s.LastSeenAt.IsZero() {
			t.Errorf("session lacks details: %+v", s)
		}
	}
	if mine == "" || theirs == "" {
		t.Fatalf("want exactly one current session: %s", ans.Raw)
	}

	stranger := h.client()
	stranger.mustLogin("else@example.com", pw)
	expectStatus(t, stranger.do("DELETE", "/v1/auth/sessions/"+theirs, nil), http.StatusNotFound)
	expectStatus(t, b.do("GET", "/v1/test", nil), http.StatusOK)

	expectStatus(t, a.do("DELETE", "/v1/auth/sessions/"+theirs, nil), http.StatusOK)
	expectStatus(t, b.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	expectStatus(t, a.do("GET", "/v1/test", nil), http.StatusOK)

	ans = a.do("GET", "/v1/auth/sessions", nil)
	ans.data(t, &list)
	if len(list) != 1 || list[0].ID != mine {
		t.Errorf("after revoking: %s", ans.Raw)
	}
}

func TestUsersAccessRules(t *testing.T) {
	h := newHarness(t)
	h.addUser("root@example.com", pw, true)
	h.addUser("alice@example.com", pw, false)
	h.addUser("bob@example.com", pw, false)
	admin, alice := h.client(), h.client()
	admin.mustLogin("root@example.com", pw)
	alice.mustLogin("alice@example.com", pw)

	tests := []struct {
		name   string
		c      *client
		method string
		path   string
		body   any
		want   int
	}{
		{"anonymous cannot read a user", h.client(), "GET", "/v1/users/alice@example.com", nil, 401},
		{"a user reads themselves", alice, "GET", "/v1/users/ALICE@example.com", nil, 200},
		{"a user cannot read another", alice, "GET", "/v1/users/bob@example.com", nil, 403},
		{"a user cannot learn whether an email exists", alice, "GET", "/v1/users/nobody@example.com", nil, 403},
		{"an admin reads anyone", admin, "GET", "/v1/users/bob@example.com", nil, 200},
		{"an admin gets 404 for an unknown email", admin, "GET", "/v1/users/nobody@example.com", nil, 404},
		{"an admin gets 404 for an invalid email", admin, "GET", "/v1/users/0@", nil, 404},
		{"an admin gets 404 for an invalid email's audit trail", admin, "GET", "/v1/users/0@/audit", nil, 404},
		{"a user renames themselves", alice, "PATCH", "/v1/users/alice@example.com", map[string]any{"first_name": "Alicia"}, 200},
		{"a user cannot rename another", alice, "PATCH", "/v1/users/bob@example.com", map[string]any{"first_name": "X"}, 403},
		{"a user cannot make themselves admin", alice, "PATCH", "/v1/users/alice@example.com", map[string]any{"role": "admin"}, 403},
		{"an empty name is refused", alice, "PATCH", "/v1/users/alice@example.com", map[string]any{"last_name": ""}, 422},
		{"an empty patch is refused", alice, "PATCH", "/v1/users/alice@example.com", map[string]any{}, 422},
		{"an unknown role is refused", admin, "PATCH", "/v1/users/bob@example.com", map[string]any{"role": "root"}, 422},
		{"an admin cannot disable themselves", admin, "PATCH", "/v1/users/root@example.com", map[string]any{"is_active": false}, 403},
		{"an admin promotes a user", admin, "PATCH", "/v1/users/bob@example.com", map[string]any{"role": "admin"}, 200},
		{"an admin updates an unknown user: 404", admin, "PATCH", "/v1/users/nobody@example.com", map[string]any{"first_name": "N"}, 404},
		{"a user cannot delete another", alice, "DELETE", "/v1/users/bob@example.com", map[string]any{"password": pw}, 403},
		{"deleting oneself needs the password", alice, "DELETE", "/v1/users/alice@example.com", map[string]any{}, 422},
		{"deleting oneself with a wrong password is 403", alice, "DELETE", "/v1/users/alice@example.com", map[string]any{"password": "wrong wrong"}, 403},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			expectStatus(t, tt.c.in(t).do(tt.method, tt.path, tt.body), tt.want)
		})
	}

	a := alice.do("GET", "/v1/users/alice@example.com", nil)
	var u user.Public
	a.data(t, &u)
	if u.FirstName != "Alicia" || u.Role != "user" {
		t.Errorf("alice = %+v", u)
	}
}

func TestDeletingAUserEndsTheirSessions(t *testing.T) {
	h := newHarness(t)
	h.addUser("root@example.com", pw, true)
	h.addUser("gone@example.com", pw, false)
	h.addUser("self@example.com", pw, false)
	admin, gone, other := h.client(), h.client(), h.client()
	admin.mustLogin("root@example.com", pw)
	gone.mustLogin("gone@example.com", pw)

	expectStatus(t, admin.do("DELETE", "/v1/users/gone@example.com", nil), http.StatusOK)
	expectStatus(t, gone.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	expectStatus(t, gone.login("gone@example.com", pw), http.StatusUnauthorized)
	expectStatus(t, admin.do("DELETE", "/v1/users/gone@example.com", nil), http.StatusNotFound)

	other.mustLogin("self@example.com", pw)
	expectStatus(t, other.do("DELETE", "/v1/users/self@example.com", map[string]any{"password": pw}), http.StatusOK)
	expectStatus(t, other.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	if list, _, err := h.store.ListSessions(context.Background(), "self@example.com", time.Now(), nil, 100); err != nil || len(list) != 0 {
		t.Errorf("sessions left after self-delete: %d (%v)", len(list), err)
	}
}

func TestSessionLifetimes(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock))
	h.addUser("life@example.com", pw, false)
	advance := clock.Advance

	plain, remembered := h.client(), h.client()
	plain.mustLogin("life@example.com", pw)
	expectStatus(t, remembered.do("POST", "/v1/auth/login", map[string]any{
		"email_address": "life@example.com", "password": pw, "remember_me": true,
	}), http.StatusOK)

	advance(90 * time.Minute) // used within the idle timeout: stays valid and is touched
	expectStatus(t, plain.do("GET", "/v1/test", nil), http.StatusOK)
	advance(90 * time.Minute) // 90 min idle since the touch: still valid
	expectStatus(t, plain.do("GET", "/v1/test", nil), http.StatusOK)
	advance(2*time.Hour + time.Second) // idle for longer than 2h
	expectStatus(t, plain.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	// A remember-me login has no idle timeout...
	expectStatus(t, remembered.do("GET", "/v1/test", nil), http.StatusOK)
	// ...but does end at its absolute lifetime.
	advance(720 * time.Hour)
	expectStatus(t, remembered.do("GET", "/v1/test", nil), http.StatusUnauthorized)
}

func TestAbsoluteLifetimeEndsABusySession(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock))
	h.addUser("busy@example.com", pw, false)
	c := h.client()
	c.mustLogin("busy@example.com", pw)
	for i := 0; i < 12; i++ { // used every hour, never idle
		clock.Advance(time.Hour)
		want := http.StatusOK
		if i == 11 { // 12h after login
			want = http.StatusUnauthorized
		}
		expectStatus(t, c.do("GET", "/v1/test", nil), want)
	}
}
