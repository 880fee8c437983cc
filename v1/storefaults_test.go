package v1

import (
	"context"
	"net/http"
	"testing"

	"esauth/lib/elastic/estest"
)

// blockWrites puts a write block on index until the test ends.
func blockWrites(t *testing.T, index string) {
	t.Helper()
	estest.MustDo(t, "PUT", "/"+index+"/_settings", `{"index.blocks.write": true}`)
	t.Cleanup(func() { estest.MustDo(t, "PUT", "/"+index+"/_settings", `{"index.blocks.write": null}`) })
}

// closeIndex closes index until the test ends.
func closeIndex(t *testing.T, index string) {
	t.Helper()
	estest.MustDo(t, "POST", "/"+index+"/_close", "")
	t.Cleanup(func() { estest.MustDo(t, "POST", "/"+index+"/_open?wait_for_active_shards=1", "") })
}

func TestAWriteBlockedUsersIndexIs503AndChangesNothing(t *testing.T) {
	h := newHarness(t, withLockout(5))
	h.addUser("blocked@example.com", pw, false)
	c := h.client().in(t)
	c.mustLogin("blocked@example.com", pw)
	before := c.cookie()
	blockWrites(t, h.store.UsersIndex())

	expectStatus(t, h.client().in(t).signup("new@example.com", pw), http.StatusServiceUnavailable)
	expectStatus(t, c.do("PATCH", "/v1/users/blocked@example.com", map[string]any{"first_name": "X"}), http.StatusServiceUnavailable)
	// A wrong password writes only the attempts index: the usual 401.
	expectStatus(t, h.client().in(t).login("blocked@example.com", "wrong password"), http.StatusUnauthorized)
	a := c.do("POST", "/v1/auth/password", map[string]any{"old_password": pw, "new_password": "a fresh new passphrase"})
	expectStatus(t, a, http.StatusServiceUnavailable)
	expectStatus(t, c.do("POST", "/v1/auth/logout/all", nil), http.StatusServiceUnavailable)
	// Nothing changed: the same cookie works, the old password works.
	if c.cookie() != before {
		t.Error("a failed password change replaced the cookie")
	}
	expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusOK)
	expectStatus(t, h.client().in(t).login("blocked@example.com", pw), http.StatusOK)
}

func TestAWriteBlockedSessionsIndexIs503ButRevocationsStillHold(t *testing.T) {
	h := newHarness(t)
	h.addUser("admin@example.com", pw, true)
	h.addUser("bob@example.com", pw, false)
	admin, bob := h.client().in(t), h.client().in(t)
	admin.mustLogin("admin@example.com", pw)
	bob.mustLogin("bob@example.com", pw)
	blockWrites(t, h.store.SessionsIndex())

	expectStatus(t, h.client().in(t).login("bob@example.com", pw), http.StatusServiceUnavailable)
	expectStatus(t, bob.do("POST", "/v1/auth/password", map[string]any{
		"old_password": pw, "new_password": "a fresh new passphrase",
	}), http.StatusServiceUnavailable)
	// The password did not change.
	if u, err := h.store.GetUser(context.Background(), "bob@example.com"); err != nil || u.PasswordChangedAt.After(u.CreatedAt) {
		t.Errorf("a password change that answered 503 was applied: %+v, %v", u, err)
	}
	expectStatus(t, bob.do("POST", "/v1/auth/logout", nil), http.StatusServiceUnavailable)
	// Disabling Bob works although his session document cannot be
	// deleted: the new epoch ends it, now and after re-enabling.
	expectStatus(t, admin.do("PATCH", "/v1/users/bob@example.com", map[string]any{"is_active": false}), http.StatusOK)
	expectStatus(t, bob.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	expectStatus(t, admin.do("PATCH", "/v1/users/bob@example.com", map[string]any{"is_active": true}), http.StatusOK)
	expectStatus(t, bob.do("GET", "/v1/test", nil), http.StatusUnauthorized)
}

func TestAWriteBlockedAttemptsIndexRefusesLoginsUncounted(t *testing.T) {
	h := newHarness(t, withLockout(5))
	h.addUser("counted@example.com", pw, false)
	blockWrites(t, h.store.AttemptsIndex())
	for _, email := range []string{"counted@example.com", "unknown@example.com"} {
		expectStatus(t, h.client().in(t).login(email, pw), http.StatusServiceUnavailable)
	}
}

func TestAClosedSessionsIndexIs503NotLoggedOut(t *testing.T) {
	h := newHarness(t)
	h.addUser("closed@example.com", pw, false)
	c := h.client().in(t)
	c.mustLogin("closed@example.com", pw)
	closeIndex(t, h.store.SessionsIndex())
	expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusServiceUnavailable)
	// Before, the closed index read as "no session", and logout answered
	// 200 without revoking anything.
	expectStatus(t, c.do("POST", "/v1/auth/logout", nil), http.StatusServiceUnavailable)
}

func TestADeletedSessionsIndexComesBackWorking(t *testing.T) {
	h := newHarness(t)
	h.addUser("gone@example.com", pw, false)
	c := h.client().in(t)
	c.mustLogin("gone@example.com", pw)
	estest.MustDo(t, "DELETE", "/"+estest.Concrete(t, h.store.SessionsIndex()), "")
	// The session is gone with its index: 401 or, while the index is
	// being set up again, 503; never a 500.
	if s := c.do("GET", "/v1/test", nil).Status; s != http.StatusUnauthorized && s != http.StatusServiceUnavailable {
		t.Fatalf("with the sessions index deleted: %d", s)
	}
	// Logins work again, and "log out everywhere" finds their sessions
	// (with a guessed mapping, email_address would be text and match nothing).
	one, two := h.client().in(t), h.client().in(t)
	one.mustLogin("gone@example.com", pw)
	two.mustLogin("gone@example.com", pw)
	a := one.do("POST", "/v1/auth/logout/all", nil)
	expectStatus(t, a, http.StatusOK)
	var rv revokedView
	a.data(t, &rv)
	if rv.Revoked != 2 {
		t.Errorf("logout everywhere deleted %d sessions; want 2", rv.Revoked)
	}
	expectStatus(t, two.do("GET", "/v1/test", nil), http.StatusUnauthorized)
}
