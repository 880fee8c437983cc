package v1

import (
	"fmt"
	"net/http"
	"sync"
	"testing"
)

// These tests race logins against the changes that must end every session
// of a user. Revocation by search and delete alone loses these races: a
// login that read the user before the change stores its session after the
// search, and the session lives on. The session epoch closes them.

// raceLogins logs in as email with pw from workers clients in a loop until
// stop is closed, then returns the cookies of every login that succeeded.
// Each worker marks started Done after its first login; the caller has
// added workers to it.
func raceLogins(t *testing.T, h *harness, email, pw string, workers int, started *sync.WaitGroup, stop <-chan struct{}) []string {
	t.Helper()
	var mu sync.Mutex
	var cookies []string
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			first := true
			for {
				c := h.client()
				a, err := c.try("POST", "/v1/auth/login", map[string]any{"email_address": email, "password": pw, "remember_me": true})
				if err != nil {
					t.Error(err)
					return
				}
				if a.Status == http.StatusOK {
					mu.Lock()
					cookies = append(cookies, c.cookie())
					mu.Unlock()
				}
				if first {
					started.Done()
					first = false
				}
				select {
				case <-stop:
					return
				default:
				}
			}
		}()
	}
	wg.Wait()
	return cookies
}

// raceAgainst runs change while four clients log in as email in a loop,
// and returns the cookies of every login that succeeded.
func raceAgainst(t *testing.T, h *harness, email string, change func()) []string {
	t.Helper()
	const workers = 4
	var started sync.WaitGroup
	started.Add(workers)
	stop := make(chan struct{})
	result := make(chan []string, 1)
	go func() { result <- raceLogins(t, h, email, pw, workers, &started, stop) }()
	started.Wait() // the loop runs while the change is made
	change()
	close(stop)
	return <-result
}

// survivors counts the cookies that still work.
func survivors(t *testing.T, h *harness, cookies []string) int {
	t.Helper()
	n := 0
	for _, ck := range cookies {
		c := h.client().in(t)
		c.setCookie(ck)
		if c.do("GET", "/v1/auth/verify", nil).Status != http.StatusUnauthorized {
			n++
		}
	}
	return n
}

const raceTrials = 8

func TestNoSessionSurvivesAPasswordChangeRacingALogin(t *testing.T) {
	h := newHarness(t)
	for trial := range raceTrials {
		email := "victim" + string(rune('a'+trial)) + "@example.com"
		h.addUser(email, pw, false)
		victim := h.client().in(t)
		victim.mustLogin(email, pw)

		cookies := raceAgainst(t, h, email, func() {
			expectStatus(t, victim.do("POST", "/v1/auth/password", map[string]any{
				"old_password": pw, "new_password": "the victim's new passphrase",
			}), http.StatusOK)
		})
		if n := survivors(t, h, cookies); n > 0 {
			t.Errorf("trial %d: %d of the attacker's %d sessions survive the password change", trial, n, len(cookies))
		}
		expectStatus(t, victim.do("GET", "/v1/auth/verify", nil), http.StatusOK)
	}
}

func TestNoSessionComesBackAfterADisableRacingALogin(t *testing.T) {
	h := newHarness(t)
	h.addUser("admin@example.com", pw, true)
	admin := h.client().in(t)
	admin.mustLogin("admin@example.com", pw)
	for trial := range raceTrials {
		email := "disabled" + string(rune('a'+trial)) + "@example.com"
		h.addUser(email, pw, false)
		cookies := raceAgainst(t, h, email, func() {
			expectStatus(t, admin.do("PATCH", "/v1/users/"+email, map[string]any{"is_active": false}), http.StatusOK)
		})
		expectStatus(t, admin.do("PATCH", "/v1/users/"+email, map[string]any{"is_active": true}), http.StatusOK)
		if n := survivors(t, h, cookies); n > 0 {
			t.Errorf("trial %d: %d of %d sessions work again after re-enable", trial, n, len(cookies))
		}
	}
}

func TestADeletedAccountsSessionsNeverOpenTheNextAccountWithItsEmail(t *testing.T) {
	h := newHarness(t)
	h.addUser("admin@example.com", pw, true)
	admin := h.client().in(t)
	admin.mustLogin("admin@example.com", pw)
	for trial := range raceTrials {
		email := "reused" + string(rune('a'+trial)) + "@example.com"
		h.addUser(email, pw, false)
		cookies := raceAgainst(t, h, email, func() {
			expectStatus(t, admin.do("DELETE", "/v1/users/"+email, nil), http.StatusOK)
		})
		// Someone else signs up with the freed email.
		expectStatus(t, h.client().in(t).signup(email, "the new owner's passphrase"), http.StatusCreated)
		if n := survivors(t, h, cookies); n > 0 {
			t.Errorf("trial %d: %d of the old owner's %d sessions open the new account", trial, n, len(cookies))
		}
	}
}

func TestLogoutEverywhereEndsSessionsWhoseLoginReadTheUserBefore(t *testing.T) {
	// A login that passed its password check before "log out everywhere"
	// and stores its session after it must not survive either; a login
	// made after the logout is a new login and may.
	h := newHarness(t)
	h.addUser("everywhere@example.com", pw, false)
	c := h.client().in(t)
	c.mustLogin("everywhere@example.com", pw)
	before := c.cookie()
	expectStatus(t, c.do("POST", "/v1/auth/logout/all", nil), http.StatusOK)
	old := h.client().in(t)
	old.setCookie(before)
	expectStatus(t, old.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	c.mustLogin("everywhere@example.com", pw)
	expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusOK)
}

// The one password rule under a race: eight sessions of one user change
// the password at once, each to its own. One change wins; every other is
// refused (409 for a change that read the old hash, 401 or 403 for one
// that came after the winner ended its session or changed the password),
// exactly one new password works, and only the winner's new session lives.
func TestRacingPasswordChangesSetOnePasswordAndLeaveOneSession(t *testing.T) {
	h := newHarness(t)
	const email, n = "racer@example.com", 8
	h.addUser(email, pw, false)
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = h.client()
		clients[i].mustLogin(email, pw)
	}
	type result struct {
		status int
		err    error
	}
	results := make([]result, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i, c := range clients {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			a, err := c.try("POST", "/v1/auth/password", map[string]any{"old_password": pw, "new_password": fmt.Sprintf("quiet orbit lantern %d", i)})
			results[i] = result{a.Status, err}
		}()
	}
	start.Done()
	done.Wait()
	winner := -1
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Fatalf("change %d: %v", i, r.err)
		case r.status == http.StatusOK:
			if winner >= 0 {
				t.Fatalf("changes %d and %d both succeeded", winner, i)
			}
			winner = i
		case r.status != http.StatusConflict && r.status != http.StatusUnauthorized && r.status != http.StatusForbidden:
			t.Errorf("change %d: status %d, want 409, 401 or 403", i, r.status)
		}
	}
	if winner < 0 {
		t.Fatalf("no change succeeded: %+v", results)
	}
	expectStatus(t, h.client().login(email, fmt.Sprintf("quiet orbit lantern %d", winner)), http.StatusOK)
	for i := range n {
		want := http.StatusUnauthorized
		if i == winner {
			want = http.StatusOK
		}
		expectStatus(t, clients[i].do("GET", "/v1/test", nil), want)
		if i != winner {
			// Wrong passwords now; enough of them may lock the account.
			if s := h.client().login(email, fmt.Sprintf("quiet orbit lantern %d", i)).Status; s != http.StatusUnauthorized && s != http.StatusTooManyRequests {
				t.Errorf("login with the losing password %d: %d", i, s)
			}
		}
	}
}
