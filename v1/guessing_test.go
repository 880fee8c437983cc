package v1

import (
	"context"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"esauth/lib/audit"
	"esauth/lib/elastic/estest"
	"esauth/lib/user"
)

func withLockout(threshold int) harnessOption {
	return func(d *Deps) { d.Lockout = user.Lockout{Threshold: threshold, Base: time.Minute, Max: time.Hour} }
}

func TestWrongPasswordsWithASessionCountTowardTheLockout(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   func(email string) string
		body   func(pw string) map[string]any
	}{
		{"password change", "POST", func(string) string { return "/v1/auth/password" },
			func(pw string) map[string]any {
				return map[string]any{"old_password": pw, "new_password": "a fresh new passphrase"}
			}},
		{"self-delete", "DELETE", func(email string) string { return "/v1/users/" + email },
			func(pw string) map[string]any { return map[string]any{"password": pw} }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, withLockout(3))
			const email = "guess@example.com"
			h.addUser(email, pw, false)
			thief := h.client().in(t)
			thief.in(t).mustLogin(email, pw) // a stolen cookie
			for i := 0; i < 3; i++ {
				expectStatus(t, thief.in(t).do(tt.method, tt.path(email), tt.body("guess number "+string(rune('1'+i)))), http.StatusForbidden)
			}
			// Locked now: even the right password is refused, here and at login.
			right := thief.in(t).do(tt.method, tt.path(email), tt.body(pw))
			expectStatus(t, right, http.StatusTooManyRequests)
			if right.Header.Get("Retry-After") == "" {
				t.Error("a 429 without Retry-After")
			}
			expectStatus(t, h.client().in(t).login(email, pw), http.StatusTooManyRequests)
			// And nothing happened to the account.
			if _, err := h.store.GetUser(context.Background(), email); err != nil {
				t.Errorf("the account is gone or unreadable: %v", err)
			}
		})
	}
}

func TestPasswordChecksAreRateLimitedPerSession(t *testing.T) {
	// Lockout off: only the per-session limit stands between a stolen
	// cookie and unlimited guessing.
	h := newHarness(t, func(d *Deps) { d.LoginLimit = RateLimit{PerMinute: 1, Burst: 3} })
	const email = "session-limit@example.com"
	h.addUser(email, pw, false)
	thief := h.client().in(t)
	thief.mustLogin(email, pw)
	change := func(old string) answer {
		return thief.do("POST", "/v1/auth/password", map[string]any{"old_password": old, "new_password": "a fresh new passphrase"})
	}
	for i := 0; i < 3; i++ {
		expectStatus(t, change("wrong guess "+string(rune('a'+i))), http.StatusForbidden)
	}
	expectStatus(t, change("wrong guess d"), http.StatusTooManyRequests)
	expectStatus(t, change(pw), http.StatusTooManyRequests)
	// Another session of the same user is not slowed by this one.
	owner := h.client().in(t)
	owner.mustLogin(email, pw)
	expectStatus(t, owner.do("POST", "/v1/auth/password", map[string]any{"old_password": pw, "new_password": "a fresh new passphrase"}), http.StatusOK)
}

func TestRealAndUnknownEmailsLockOutAlikeAcrossInstances(t *testing.T) {
	first := newHarness(t, withLockout(5))
	second := newHarnessOn(t, first.store, withLockout(5))
	first.addUser("real@example.com", pw, false)
	statuses := func(email string) []int {
		var got []int
		for i := 0; i < 6; i++ {
			h := []*harness{first, second}[i%2] // alternate between instances
			got = append(got, h.client().in(t).login(email, "wrong password").Status)
		}
		return got
	}
	real, unknown := statuses("real@example.com"), statuses("unknown@example.com")
	want := []int{401, 401, 401, 401, 401, 429}
	for i := range want {
		if real[i] != want[i] || unknown[i] != want[i] {
			t.Fatalf("real account %v, unknown email %v; want both %v", real, unknown, want)
		}
	}
	// A restarted instance (a new server on the same cluster) sees the same lock.
	third := newHarnessOn(t, first.store, withLockout(5))
	for _, email := range []string{"real@example.com", "unknown@example.com"} {
		expectStatus(t, third.client().in(t).login(email, "wrong password"), http.StatusTooManyRequests)
	}
}

func TestWithLockoutOffAFailedLoginWritesNothing(t *testing.T) {
	h := newHarness(t, withLockout(0))
	h.addUser("quiet@example.com", pw, false)
	for _, email := range []string{"quiet@example.com", "nobody@example.com"} {
		expectStatus(t, h.client().in(t).login(email, "wrong password"), http.StatusUnauthorized)
		if _, _, a, err := h.store.LookupLogin(context.Background(), email, true); err != nil || a.Version.Stored() {
			t.Errorf("%s: a failure record was written with lockout off: %+v, %v", email, a, err)
		}
	}
}

func TestAnInvalidLoginEmailIsNeverAuditedOrLoggedAsTyped(t *testing.T) {
	h := newHarness(t)
	h.addUser("ada@example.com", pw, false)
	const typed = "my secret password typed in the wrong box"
	expectStatus(t, h.client().in(t).login(typed, "whatever it is"), http.StatusUnauthorized)
	h.flushAudit()
	events, _, err := h.store.ListEvents(context.Background(), "<invalid>", time.Time{}, nil, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Event != audit.LoginFailure || events[0].Actor != "<invalid>" {
		t.Errorf("events for %q: %+v; want one login failure", "<invalid>", events)
	}
	for _, e := range h.logs.All() {
		for _, f := range e.Context {
			if strings.Contains(f.String, typed) {
				t.Errorf("log line %q carries what was typed in the email box", e.Message)
			}
		}
	}
}

func TestAdminsCannotDeleteThemselves(t *testing.T) {
	h := newHarness(t)
	h.addUser("root@example.com", pw, true)
	admin := h.client().in(t)
	admin.mustLogin("root@example.com", pw)
	expectStatus(t, admin.do("DELETE", "/v1/users/root@example.com", nil), http.StatusForbidden)
	expectStatus(t, admin.do("GET", "/v1/test", nil), http.StatusOK)
}

func TestTwoAdminsRemovingEachOtherLeaveAnAdmin(t *testing.T) {
	for _, how := range []string{"demote", "disable", "delete"} {
		t.Run(how, func(t *testing.T) {
			h := newHarness(t)
			h.addUser("a@example.com", pw, true)
			h.addUser("b@example.com", pw, true)
			a, b := h.client().in(t), h.client().in(t)
			a.in(t).mustLogin("a@example.com", pw)
			b.in(t).mustLogin("b@example.com", pw)
			remove := func(c *client, other string) chan int {
				done := make(chan int, 1)
				go func() {
					var res answer
					var err error
					switch how {
					case "demote":
						res, err = c.try("PATCH", "/v1/users/"+other, map[string]any{"role": "user"})
					case "disable":
						res, err = c.try("PATCH", "/v1/users/"+other, map[string]any{"is_active": false})
					case "delete":
						res, err = c.try("DELETE", "/v1/users/"+other, nil)
					}
					if err != nil {
						t.Error(err)
					}
					done <- res.Status
				}()
				return done
			}
			da, db := remove(a, "b@example.com"), remove(b, "a@example.com")
			sa, sb := <-da, <-db
			admins := 0
			for _, email := range []string{"a@example.com", "b@example.com"} {
				if u, err := h.store.GetUser(context.Background(), email); err == nil && u.IsAdmin() && u.IsActive {
					admins++
				}
			}
			if admins == 0 {
				t.Errorf("no active admin left (answers %d and %d)", sa, sb)
			}
		})
	}
}

func TestMannWhitneyZ(t *testing.T) {
	tests := []struct {
		name string
		a, b []float64
		want func(z float64) bool
	}{
		{"identical samples give 0", []float64{1, 2, 3, 4}, []float64{1, 2, 3, 4}, func(z float64) bool { return z == 0 }},
		{"a sample all above the other gives a large positive z", []float64{10, 11, 12, 13, 14, 15}, []float64{1, 2, 3, 4, 5, 6}, func(z float64) bool { return z > 2.5 }},
		{"swapping the samples flips the sign", []float64{1, 2, 3, 4, 5, 6}, []float64{10, 11, 12, 13, 14, 15}, func(z float64) bool { return z < -2.5 }},
		// U = 3 for these (hand-computed), mean 8, sd √(16·9/12) = √12.
		{"a textbook case", []float64{1, 3, 5, 7}, []float64{4, 6, 8, 9}, func(z float64) bool { return math.Abs(z-(3-8)/math.Sqrt(12)) < 1e-9 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if z := mannWhitneyZ(tt.a, tt.b); !tt.want(z) {
				t.Errorf("z = %v", z)
			}
		})
	}
}

func TestAnAdminDeletingManyUsersIsNoPasswordGuessing(t *testing.T) {
	// The per-session limit is for password checks; an admin's deletes
	// check no password and are not slowed by it.
	h := newHarness(t, func(d *Deps) { d.LoginLimit = RateLimit{PerMinute: 1, Burst: 2} })
	h.addUser("root@example.com", pw, true)
	admin := h.client().in(t)
	admin.mustLogin("root@example.com", pw)
	for i := range 5 {
		email := "gone" + string(rune('a'+i)) + "@example.com"
		h.addUser(email, pw, false)
		expectStatus(t, admin.do("DELETE", "/v1/users/"+email, nil), http.StatusOK)
	}
}

func TestSessionListsPageThroughTheAPI(t *testing.T) {
	h := newHarness(t)
	h.addUser("pager@example.com", pw, false)
	var last *client
	for range 5 {
		last = h.client().in(t)
		last.mustLogin("pager@example.com", pw)
	}
	seen := map[string]bool{}
	path := "/v1/auth/sessions?limit=2"
	for pages := 0; path != ""; pages++ {
		a := last.do("GET", path, nil)
		expectStatus(t, a, http.StatusOK)
		var page []SessionView
		a.data(t, &page)
		for _, s := range page {
			if seen[s.ID] {
				t.Errorf("session %s listed twice", s.ID)
			}
			seen[s.ID] = true
		}
		var env struct {
			NextCursor string `json:"next_cursor"`
		}
		if err := jsonUnmarshal(a.Raw, &env); err != nil {
			t.Fatal(err)
		}
		path = ""
		if env.NextCursor != "" {
			path = "/v1/auth/sessions?limit=2&cursor=" + env.NextCursor
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
	}
	if len(seen) != 5 {
		t.Errorf("listed %d sessions over the pages; want 5", len(seen))
	}
	for _, q := range []string{"limit=", "limit=0", "limit=201", "cursor=not-a-cursor"} {
		expectStatus(t, last.do("GET", "/v1/auth/sessions?"+q, nil), http.StatusUnprocessableEntity)
	}
}

func TestASessionCapEndsTheOldestSessions(t *testing.T) {
	h := newHarness(t, func(d *Deps) { d.MaxSessions = 3 })
	h.addUser("capped@example.com", pw, false)
	var clients []*client
	for range 5 {
		c := h.client().in(t)
		c.mustLogin("capped@example.com", pw)
		clients = append(clients, c)
	}
	// The trim does not refresh the index (see TrimSessions); make the
	// five visible, then one more login trims to the cap: itself and the
	// two newest before it.
	estest.MustDo(t, "POST", "/"+h.store.SessionsIndex()+"/_refresh", "")
	newest := h.client().in(t)
	newest.mustLogin("capped@example.com", pw)
	expectStatus(t, newest.do("GET", "/v1/test", nil), http.StatusOK)
	for _, c := range clients[:3] {
		expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	}
	for _, c := range clients[3:] {
		expectStatus(t, c.do("GET", "/v1/test", nil), http.StatusOK)
	}
}
