package v1

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"esauth/lib/audit"
	"esauth/lib/user"
)

func TestSecurityEventsAreAuditedAndPagedNewestFirst(t *testing.T) {
	h := newHarness(t, func(d *Deps) { d.Lockout = user.Lockout{Threshold: 2, Base: time.Minute, Max: time.Hour} })
	h.addUser("root@example.com", pw, true)
	c := h.client()
	expectStatus(t, c.signup("aud@example.com", pw), http.StatusCreated)
	expectStatus(t, c.login("aud@example.com", "wrong password"), http.StatusUnauthorized)
	expectStatus(t, c.login("aud@example.com", "wrong password"), http.StatusUnauthorized) // locks
	expectStatus(t, c.login("aud@example.com", pw), http.StatusTooManyRequests)

	admin := h.client()
	admin.mustLogin("root@example.com", pw)
	expectStatus(t, admin.do("PATCH", "/v1/users/aud@example.com", map[string]any{"last_name": "Audited"}), http.StatusOK)
	h.flushAudit()

	a := admin.do("GET", "/v1/users/aud@example.com/audit", nil)
	expectStatus(t, a, http.StatusOK)
	var events []audit.Event
	a.data(t, &events)
	type ev struct{ event, outcome, actor string }
	want := []ev{ // newest first
		{audit.UserUpdated, audit.Success, "root@example.com"},
		{audit.LoginFailure, audit.Refused, "aud@example.com"},
		{audit.Lockout, audit.Success, "aud@example.com"},
		{audit.LoginFailure, audit.Failure, "aud@example.com"},
		{audit.LoginFailure, audit.Failure, "aud@example.com"},
		{audit.Signup, audit.Success, "aud@example.com"},
	}
	if len(events) != len(want) {
		t.Fatalf("got %d events, want %d: %s", len(events), len(want), a.Raw)
	}
	// Events recorded in one request (failure, then lockout) may share a
	// millisecond, so the kinds are compared as a multiset and the order by
	// timestamps.
	got := map[ev]int{}
	for i, e := range events {
		got[ev{e.Event, e.Outcome, e.Actor}]++
		if e.Email != "aud@example.com" || e.IP == "" || e.At.IsZero() {
			t.Errorf("event %d lacks details: %+v", i, e)
		}
		// Elasticsearch sorts dates by the millisecond.
		if i > 0 && e.At.Truncate(time.Millisecond).After(events[i-1].At.Truncate(time.Millisecond)) {
			t.Errorf("event %d is newer than event %d", i, i-1)
		}
	}
	for _, w := range want {
		if got[w] == 0 {
			t.Errorf("no %+v event in %s", w, a.Raw)
		}
		got[w]--
	}
	if events[0].Event != audit.UserUpdated || events[len(events)-1].Event != audit.Signup {
		t.Errorf("not newest first: first %s, last %s", events[0].Event, events[len(events)-1].Event)
	}

	t.Run("pages follow the cursor without gaps or repeats", func(t *testing.T) {
		seen := map[string]bool{}
		cursor := ""
		pages := 0
		for {
			path := "/v1/users/aud@example.com/audit?limit=4"
			if cursor != "" {
				path += "&cursor=" + url.QueryEscape(cursor)
			}
			p := admin.in(t).do("GET", path, nil)
			expectStatus(t, p, http.StatusOK)
			var page []audit.Event
			p.data(t, &page)
			for _, e := range page {
				if seen[e.ID] {
					t.Errorf("event %s on two pages", e.ID)
				}
				seen[e.ID] = true
			}
			pages++
			cursor = nextCursor(t, p)
			if cursor == "" || pages > 5 {
				break
			}
		}
		if len(seen) != len(want) || pages != 2 {
			t.Errorf("saw %d events on %d pages, want %d on 2", len(seen), pages, len(want))
		}
	})

	t.Run("users see their own trail only", func(t *testing.T) {
		h.addUser("other@example.com", pw, false)
		o := h.client()
		o.in(t).mustLogin("other@example.com", pw)
		expectStatus(t, o.in(t).do("GET", "/v1/users/aud@example.com/audit", nil), http.StatusForbidden)
		expectStatus(t, o.in(t).do("GET", "/v1/users/other@example.com/audit", nil), http.StatusOK)
		expectStatus(t, h.client().in(t).do("GET", "/v1/users/aud@example.com/audit", nil), http.StatusUnauthorized)
	})

	t.Run("bad paging parameters are 422", func(t *testing.T) {
		for _, q := range []string{"limit=", "limit=0", "limit=201", "limit=x", "cursor=not-a-cursor", "cursor=" + url.QueryEscape("WzEsMl0")} {
			expectStatus(t, admin.in(t).do("GET", "/v1/users/aud@example.com/audit?"+q, nil), http.StatusUnprocessableEntity)
		}
	})
}

// nextCursor reads next_cursor from an answer's envelope.
func nextCursor(t *testing.T, a answer) string {
	t.Helper()
	var env struct {
		NextCursor string `json:"next_cursor"`
	}
	if err := jsonUnmarshal(a.Raw, &env); err != nil {
		t.Fatal(err)
	}
	return env.NextCursor
}
