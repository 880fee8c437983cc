package v1

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"esauth/lib/audit"
	"esauth/lib/elastic/estest"
	"esauth/lib/session"
	"esauth/lib/user"
)

// consoleEvents writes events straight into the audit index (as the
// background writer would), with chosen times, addresses and agents.
func consoleEvents(t *testing.T, h *harness, events ...audit.Event) {
	t.Helper()
	for i := range events {
		if events[i].ID == "" {
			events[i].ID = audit.NewID()
		}
	}
	if err := h.store.WriteEvents(context.Background(), events); err != nil {
		t.Fatal(err)
	}
	h.flushAudit()
}

func adminClient(t *testing.T, h *harness) *client {
	t.Helper()
	h.addUser("root@example.com", pw, true)
	c := h.client().in(t)
	c.mustLogin("root@example.com", pw)
	return c
}

// eventsOf runs an event search and returns the ids found, in order.
func eventsOf(t *testing.T, c *client, query string) ([]audit.Event, string) {
	t.Helper()
	a := c.do("GET", "/v1/admin/events?"+query, nil)
	expectStatus(t, a, http.StatusOK)
	var evs []audit.Event
	a.data(t, &evs)
	var env struct {
		NextCursor string `json:"next_cursor"`
	}
	_ = jsonUnmarshal(a.Raw, &env)
	return evs, env.NextCursor
}

func idsOf(evs []audit.Event) []string {
	var ids []string
	for _, e := range evs {
		ids = append(ids, e.ID)
	}
	return ids
}

const firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
const chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"

func TestTheEventSearchFiltersOnEveryFieldAcrossAccounts(t *testing.T) {
	h := newHarness(t)
	admin := adminClient(t, h)
	base := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return base.Add(time.Duration(m) * time.Minute) }
	consoleEvents(t, h,
		audit.Event{ID: "e1", Event: audit.LoginFailure, Email: "ann@example.com", Actor: "ann@example.com", IP: "203.0.113.7", UserAgent: firefox, At: at(1), Outcome: audit.Failure},
		audit.Event{ID: "e2", Event: audit.LoginFailure, Email: "bob@example.com", Actor: "bob@example.com", IP: "203.0.113.200", UserAgent: chrome, At: at(2), Outcome: audit.Failure},
		audit.Event{ID: "e3", Event: audit.LoginSuccess, Email: "ann@example.com", Actor: "ann@example.com", IP: "198.51.100.1", UserAgent: firefox, At: at(3), Outcome: audit.Success, NewDevice: true},
		audit.Event{ID: "e4", Event: audit.PasskeyRefused, Email: "bob@example.com", Actor: "bob@example.com", IP: "2001:db8:1::5", UserAgent: chrome, At: at(4), Outcome: "refused: origin"},
		audit.Event{ID: "e5", Event: audit.UserDisabled, Email: "bob@example.com", Actor: "root@example.com", IP: "192.0.2.9", UserAgent: "curl/8.5.0", At: at(5), Outcome: audit.Success},
		audit.Event{ID: "e6", Event: audit.Lockout, Email: "ann@example.com", Actor: "ann@example.com", IP: "", UserAgent: "", At: at(6), Outcome: audit.Refused},
	)
	window := "&from=2026-11-20&to=2026-11-20" // the day: leaves out the admin's own login
	for _, c := range []struct {
		name, query string
		want        []string
	}{
		{"all of the day, newest first", "", []string{"e6", "e5", "e4", "e3", "e2", "e1"}},
		{"one type", "event=login_failure", []string{"e2", "e1"}},
		{"types comma-separated and repeated", "event=login_failure,lockout&event=user_disabled", []string{"e6", "e5", "e2", "e1"}},
		{"outcome", "outcome=failure", []string{"e2", "e1"}},
		{"refused takes its reasons", "outcome=refused", []string{"e6", "e4"}},
		{"email, any case", "email=ANN@example.com", []string{"e6", "e3", "e1"}},
		{"actor", "actor=root@example.com", []string{"e5"}},
		{"an address", "ip=203.0.113.7", []string{"e1"}},
		{"a network", "ip=203.0.113.0/24", []string{"e2", "e1"}},
		{"an IPv6 network", "ip=2001:db8::/32", []string{"e4"}},
		{"a network given unmasked", "ip=203.0.113.77/24", []string{"e2", "e1"}},
		{"user agent words", "user_agent=firefox linux", []string{"e3", "e1"}},
		{"user agent words all needed", "user_agent=firefox windows", nil},
		{"new device", "new_device=true", []string{"e3"}},
		{"not a new device", "new_device=false&event=login_success,login_failure", []string{"e2", "e1"}},
		{"a time range", "from=2026-11-20T12:02:00Z&to=2026-11-20T12:04:00Z", []string{"e3", "e2"}},
		{"query syntax is literal", "email=ann@example.com OR bob@example.com", nil},
		{"a star is literal", "email=*", nil},
		{"a regex is literal", "actor=.*", nil},
		{"a pattern in the agent is words", "user_agent=fire*", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := c.query + window
			if strings.Contains(c.query, "from=") {
				q = c.query
			}
			evs, _ := eventsOf(t, admin, strings.ReplaceAll(q, " ", "+"))
			if got := idsOf(evs); !slices.Equal(got, c.want) {
				t.Errorf("%s: %v, want %v", q, got, c.want)
			}
		})
	}
	// An event shows its device and network.
	evs, _ := eventsOf(t, admin, "event=login_success"+window)
	if len(evs) != 1 || !evs[0].NewDevice {
		t.Fatalf("the new-device login reads %+v", evs)
	}
}

func TestTheEventSearchPagesWithoutSkippingOrRepeating(t *testing.T) {
	h := newHarness(t)
	admin := adminClient(t, h)
	same := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	var events []audit.Event
	for i := range 23 {
		at := same
		if i%3 == 0 {
			at = same.Add(time.Duration(i) * time.Second)
		}
		events = append(events, audit.Event{ID: fmt.Sprintf("p%02d", i), Event: audit.LoginFailure, Email: "page@example.com", Actor: "page@example.com", IP: "192.0.2.1", At: at, Outcome: audit.Failure})
	}
	consoleEvents(t, h, events...)
	seen := map[string]bool{}
	cursor, pages := "", 0
	for {
		evs, next := eventsOf(t, admin, "email=page@example.com&limit=5&cursor="+url.QueryEscape(cursor))
		pages++
		for i, e := range evs {
			if seen[e.ID] {
				t.Fatalf("page %d repeats %s", pages, e.ID)
			}
			seen[e.ID] = true
			if i > 0 && evs[i-1].At.Before(e.At) {
				t.Errorf("page %d is not newest first", pages)
			}
		}
		if next == "" {
			break
		}
		cursor = next
	}
	if len(seen) != 23 || pages != 5 {
		t.Errorf("%d events in %d pages; want 23 in 5", len(seen), pages)
	}
}

func TestHostileEventFiltersAreRefusedNotRun(t *testing.T) {
	h := newHarness(t)
	admin := adminClient(t, h)
	for _, c := range []struct{ query, field string }{
		{"event=login_*", "event"},
		{"event=" + strings.Repeat("x", 5000), "event"},
		{"outcome=refused:*", "outcome"},
		{"ip=203.0.113.*", "ip"},
		{"ip=10.0.0.0/33", "ip"},
		{"ip=fe80::1%25eth0", "ip"},
		{"from=yesterday", "from"},
		{"from=0001-01-01", "from"},
		{"to=99999-01-01", "to"},
		{"from=2026-12-02&to=2026-12-01", "to"},
		{"new_device=maybe", "new_device"},
		{"email=" + strings.Repeat("a", 300) + "@example.com", "email"},
		{"user_agent=" + strings.Repeat("w+", 150), "user_agent"},
		{"q=*", "q"},
		{"query={\"match_all\":{}}", "query"},
		{"limit=0", "limit"},
		{"limit=201", "limit"},
		{"cursor=not-a-cursor", "cursor"},
		{"cursor=" + url.QueryEscape("WyJ4IiwieSJd"), "cursor"}, // ["x","y"]: a time that is not a number
	} {
		a := admin.do("GET", "/v1/admin/events?"+c.query, nil)
		if a.Status != http.StatusUnprocessableEntity || a.Fields[c.field] == "" {
			t.Errorf("%.80s: %d %s; want 422 naming %s", c.query, a.Status, a.Raw, c.field)
		}
	}
	// A cursor tampered into a valid shape is a place to start, nothing more.
	a := admin.do("GET", "/v1/admin/events?cursor=WzkyMjMzNzIwMzY4NTQ3NzU4MDcsInp6eiJd", nil) // [max int64,"zzz"]
	if a.Status != http.StatusOK && a.Status != http.StatusUnprocessableEntity {
		t.Errorf("a cursor at the end of time: %d %s", a.Status, a.Raw)
	}
	// The widest range the filter takes is run, bounded by the page.
	h.flushAudit()
	evs, _ := eventsOf(t, admin, "from=1970-01-01&to=9999-12-31&limit=200")
	if len(evs) == 0 {
		t.Error("the widest range finds not even the admin's login")
	}
}

func TestOnlyAdminsSearchEvents(t *testing.T) {
	h := newHarness(t)
	h.addUser("plain@example.com", pw, false)
	plain := h.client().in(t)
	plain.mustLogin("plain@example.com", pw)
	for _, path := range []string{"/v1/admin/events", "/v1/admin/events/stats", "/v1/admin/events?ip=bad"} {
		expectStatus(t, plain.do("GET", path, nil), http.StatusForbidden)
		expectStatus(t, h.client().in(t).do("GET", path, nil), http.StatusUnauthorized)
	}
}

func TestTheStatsCountByTypeOutcomeAndLeaders(t *testing.T) {
	h := newHarness(t)
	admin := adminClient(t, h)
	day := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	var events []audit.Event
	add := func(n int, e audit.Event, hour int) {
		for i := range n {
			e.ID, e.At = "", day.Add(time.Duration(hour)*time.Hour+time.Duration(i)*time.Second)
			events = append(events, e)
		}
	}
	add(7, audit.Event{Event: audit.LoginFailure, Email: "target@example.com", IP: "203.0.113.9", UserAgent: "curl/8.5.0", Outcome: audit.Failure}, 1)
	add(3, audit.Event{Event: audit.LoginFailure, Email: "other@example.com", IP: "203.0.113.9", UserAgent: firefox, Outcome: audit.Failure}, 2)
	add(4, audit.Event{Event: audit.LoginSuccess, Email: "other@example.com", IP: "198.51.100.4", UserAgent: firefox, Outcome: audit.Success}, 5)
	add(2, audit.Event{Event: audit.Lockout, Email: "target@example.com", IP: "203.0.113.9", UserAgent: "curl/8.5.0", Outcome: audit.Refused}, 23)
	for i := range events {
		events[i].ID = audit.NewID()
	}
	consoleEvents(t, h, events...)
	// Two emails locked now, one whose lock has ended.
	ctx := context.Background()
	for email, until := range map[string]time.Time{"target@example.com": time.Now().Add(time.Hour), "nobody@example.com": time.Now().Add(time.Minute), "past@example.com": time.Now().Add(-time.Minute)} {
		if _, err := h.store.RecordFailure(ctx, user.PasswordCounter, email, user.Attempts{}, func(a *user.Attempts) error {
			a.Failures, a.LockedUntil, a.ExpiresAt = 10, until, time.Now().Add(2*time.Hour)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	estest.MustDo(t, "POST", "/"+h.store.AttemptsIndex()+"/_refresh", "")
	a := admin.do("GET", "/v1/admin/events/stats?from=2026-11-22&to=2026-11-22", nil)
	expectStatus(t, a, http.StatusOK)
	var st struct {
		audit.Stats
		Interval string `json:"interval"`
	}
	a.data(t, &st)
	if st.Total != 16 || st.Interval != "30m" || len(st.Histogram) != 48 {
		t.Fatalf("total %d, interval %q, %d buckets; want 16 events in 48 buckets of 30m: %s", st.Total, st.Interval, len(st.Histogram), a.Raw)
	}
	sum, byType := 0, map[string]int{}
	for _, b := range st.Histogram {
		sum += b.Count
		for _, e := range b.Events {
			byType[e.Key] += e.Count
		}
	}
	if sum != 16 || byType[audit.LoginFailure] != 10 || byType[audit.LoginSuccess] != 4 || byType[audit.Lockout] != 2 {
		t.Errorf("the histogram sums to %d, by type %v", sum, byType)
	}
	if b := st.Histogram[2]; b.Count != 7 || len(b.Outcomes) != 1 || b.Outcomes[0] != (audit.Count{Key: audit.Failure, Count: 7}) {
		t.Errorf("01:00–01:30 reads %+v; want the 7 failures", b)
	}
	if len(st.TopIPs) == 0 || st.TopIPs[0] != (audit.Count{Key: "203.0.113.9", Count: 12}) {
		t.Errorf("top IPs %+v", st.TopIPs)
	}
	if len(st.TopFailedEmails) != 2 || st.TopFailedEmails[0] != (audit.Count{Key: "target@example.com", Count: 7}) {
		t.Errorf("top failing emails %+v", st.TopFailedEmails)
	}
	if len(st.TopUserAgents) != 2 || st.TopUserAgents[0].Key != "curl/8.5.0" {
		t.Errorf("top user agents %+v", st.TopUserAgents)
	}
	if st.LockedEmails != 2 {
		t.Errorf("%d emails locked; want 2", st.LockedEmails)
	}
	// The same filters apply.
	a = admin.do("GET", "/v1/admin/events/stats?from=2026-11-22&to=2026-11-22&ip=198.51.100.0/24", nil)
	expectStatus(t, a, http.StatusOK)
	a.data(t, &st)
	if st.Total != 4 || len(st.TopFailedEmails) != 0 {
		t.Errorf("filtered by network: total %d, failing %v", st.Total, st.TopFailedEmails)
	}
	// Ranges: the default is the last week; more than two years is refused.
	a = admin.do("GET", "/v1/admin/events/stats", nil)
	expectStatus(t, a, http.StatusOK)
	a.data(t, &st)
	if d := st.To.Sub(st.From); d != 7*24*time.Hour || st.Interval != "3h" {
		t.Errorf("the default range is %v in %s buckets", d, st.Interval)
	}
	for _, q := range []string{"from=1970-01-01&to=9999-12-31", "from=2020-01-01&to=2026-01-01", "from=2999-01-01"} {
		if a := admin.do("GET", "/v1/admin/events/stats?"+q, nil); a.Status != http.StatusUnprocessableEntity || a.Fields["from"] == "" {
			t.Errorf("stats %s: %d %s; want 422", q, a.Status, a.Raw)
		}
	}
}

// storedSession puts a session straight into the index, with a chosen
// address, agent and creation time.
func storedSession(t *testing.T, h *harness, email, ip, ua string, created time.Time) string {
	t.Helper()
	_, id := session.NewToken()
	u, err := h.store.GetUser(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.store.CreateSession(context.Background(), session.Session{
		ID: id, Email: email, CreatedAt: created, ExpiresAt: time.Now().Add(time.Hour), LastSeenAt: created,
		UserAgent: ua, IP: ip, UserEpoch: u.SessionEpoch,
	}); err != nil {
		t.Fatal(err)
	}
	return id
}

func sessionIDs(t *testing.T, c *client, query string) []string {
	t.Helper()
	a := c.do("GET", "/v1/admin/sessions?"+query, nil)
	expectStatus(t, a, http.StatusOK)
	var list []struct {
		ID    string `json:"id"`
		Email string `json:"email_address"`
	}
	a.data(t, &list)
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	return ids
}

func TestAdminsFindSessionsOfEveryAccountByAddressAgentAndTime(t *testing.T) {
	h := newHarness(t)
	admin := adminClient(t, h)
	h.addUser("s1@example.com", pw, false)
	h.addUser("s2@example.com", pw, false)
	old := time.Now().Add(-48 * time.Hour).UTC()
	a := storedSession(t, h, "s1@example.com", "203.0.113.10", firefox, old)
	b := storedSession(t, h, "s2@example.com", "203.0.113.99", chrome, old.Add(time.Hour))
	c := storedSession(t, h, "s2@example.com", "2001:db8::7", "curl/8.5.0", time.Now().UTC())
	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"ip=203.0.113.0/24", []string{b, a}},
		{"ip=2001:db8::/48", []string{c}},
		{"email=S2@example.com", []string{c, b}},
		{"user_agent=firefox", []string{a}},
		{"created_to=" + old.Add(30*time.Minute).Format(time.RFC3339), []string{a}},
		{"ip=203.0.113.0/24&user_agent=chrome", []string{b}},
		{"email=*", nil},
	} {
		if got := sessionIDs(t, admin, strings.ReplaceAll(tc.query, "+", "%2B")); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.query, got, tc.want)
		}
	}
	for _, q := range []string{"ip=nope", "created_from=2026-13-01", "seen_from=2026-12-02&seen_to=2026-12-01", "q=x", "cursor=zz"} {
		if r := admin.do("GET", "/v1/admin/sessions?"+q, nil); r.Status != http.StatusUnprocessableEntity {
			t.Errorf("%s: %d %s; want 422", q, r.Status, r.Raw)
		}
	}
}

func TestRevokingByQueryEndsTheMatchingSessionsButTheAdminsOwn(t *testing.T) {
	h := newHarness(t)
	admin := adminClient(t, h)
	var victims []*client
	for i := range 3 {
		email := fmt.Sprintf("v%d@example.com", i)
		h.addUser(email, pw, false)
		c := h.client().in(t)
		c.mustLogin(email, pw)
		victims = append(victims, c)
	}
	h.addUser("far@example.com", pw, false)
	far := storedSession(t, h, "far@example.com", "198.51.100.1", firefox, time.Now().UTC())

	// Everyone here logged in from 127.0.0.1: the admin too.
	body := map[string]any{"ip": "127.0.0.1"}
	dry := admin.do("POST", "/v1/admin/sessions/revoke?dry_run=true", body)
	expectStatus(t, dry, http.StatusOK)
	var rev struct {
		Sessions, Users int
		DryRun          bool `json:"dry_run"`
		PerUser         bool `json:"per_user"`
	}
	dry.data(t, &rev)
	if rev.Sessions != 3 || rev.Users != 3 || !rev.DryRun {
		t.Fatalf("the dry run counts %+v; want 3 sessions of 3 users, the admin's left out", rev)
	}
	for _, v := range victims {
		expectStatus(t, v.do("GET", "/v1/test", nil), http.StatusOK)
	}

	done := admin.do("POST", "/v1/admin/sessions/revoke", body)
	expectStatus(t, done, http.StatusOK)
	done.data(t, &rev)
	if rev.Sessions != 3 || rev.DryRun || rev.PerUser {
		t.Errorf("the revocation says %+v", rev)
	}
	for _, v := range victims {
		expectStatus(t, v.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	}
	expectStatus(t, admin.do("GET", "/v1/test", nil), http.StatusOK)
	if got := sessionIDs(t, admin, "email=far@example.com"); !slices.Equal(got, []string{far}) {
		t.Errorf("a session elsewhere: %v", got)
	}

	// One event, with the filter and the count.
	h.flushAudit()
	evs, _ := eventsOf(t, admin, "event=sessions_revoked")
	if len(evs) != 1 || evs[0].Actor != "root@example.com" || !strings.Contains(evs[0].Detail, "ip=127.0.0.1%2F32") || !strings.Contains(evs[0].Detail, "sessions=3") {
		t.Errorf("the audit trail holds %+v", evs)
	}
}

func TestRevokingOneAccountByQueryGoesThroughItsEpoch(t *testing.T) {
	h := newHarness(t)
	admin := adminClient(t, h)
	h.addUser("one@example.com", pw, false)
	v := h.client().in(t)
	v.mustLogin("one@example.com", pw)
	before, _ := h.store.GetUser(context.Background(), "one@example.com")
	a := admin.do("POST", "/v1/admin/sessions/revoke", map[string]any{"email": "One@Example.com"})
	expectStatus(t, a, http.StatusOK)
	var rev struct {
		Sessions int
		PerUser  bool `json:"per_user"`
	}
	a.data(t, &rev)
	after, _ := h.store.GetUser(context.Background(), "one@example.com")
	if !rev.PerUser || rev.Sessions != 1 || after.SessionEpoch == before.SessionEpoch {
		t.Errorf("%+v, epoch %q → %q; want the account's epoch changed", rev, before.SessionEpoch, after.SessionEpoch)
	}
	expectStatus(t, v.do("GET", "/v1/test", nil), http.StatusUnauthorized)
}

func TestRevocationsThatMustBeRefused(t *testing.T) {
	h := newHarness(t)
	admin := adminClient(t, h)
	h.addUser("plain@example.com", pw, false)
	plain := h.client().in(t)
	plain.mustLogin("plain@example.com", pw)
	for _, c := range []struct {
		who    *client
		path   string
		body   any
		status int
	}{
		{admin, "/v1/admin/sessions/revoke", map[string]any{}, http.StatusUnprocessableEntity},
		{admin, "/v1/admin/sessions/revoke", "null", http.StatusUnprocessableEntity},
		{admin, "/v1/admin/sessions/revoke", map[string]any{"ip": "*"}, http.StatusUnprocessableEntity},
		{admin, "/v1/admin/sessions/revoke", map[string]any{"query": "x"}, http.StatusBadRequest},
		{admin, "/v1/admin/sessions/revoke", map[string]any{"email": "root@example.com"}, http.StatusConflict},
		{admin, "/v1/admin/sessions/revoke?dry_run=yes", map[string]any{"ip": "127.0.0.1"}, http.StatusUnprocessableEntity},
		{plain, "/v1/admin/sessions/revoke", map[string]any{"ip": "127.0.0.1"}, http.StatusForbidden},
		{h.client().in(t), "/v1/admin/sessions/revoke", map[string]any{"ip": "127.0.0.1"}, http.StatusUnauthorized},
		{plain, "/v1/admin/sessions", nil, http.StatusForbidden},
	} {
		method := "POST"
		if c.body == nil {
			method = "GET"
		}
		if a := c.who.do(method, c.path, c.body); a.Status != c.status {
			t.Errorf("%s %v: %d %s; want %d", c.path, c.body, a.Status, a.Raw, c.status)
		}
	}
	expectStatus(t, plain.do("GET", "/v1/test", nil), http.StatusOK)
}

func TestAdminsListAndLiftLockouts(t *testing.T) {
	h := newHarness(t, withLockout(2))
	admin := adminClient(t, h)
	h.addUser("locked@example.com", pw, false)
	anon := h.client().in(t)
	for _, email := range []string{"locked@example.com", "nobody-here@example.com"} {
		for range 2 {
			anon.login(email, "wrong password 1")
		}
	}
	expectStatus(t, anon.login("locked@example.com", pw), http.StatusTooManyRequests)

	a := admin.do("GET", "/v1/admin/lockouts", nil)
	expectStatus(t, a, http.StatusOK)
	var v struct {
		Total    int `json:"total"`
		Lockouts []struct {
			Email       string    `json:"email_address"`
			Key         string    `json:"key"`
			Counter     string    `json:"counter"`
			Failures    int       `json:"failures"`
			LockedUntil time.Time `json:"locked_until"`
		} `json:"lockouts"`
	}
	a.data(t, &v)
	emails := map[string]bool{}
	for _, l := range v.Lockouts {
		emails[l.Email] = true
		if l.Counter != "password" || l.Failures < 2 || !l.LockedUntil.After(time.Now()) || len(l.Key) != 16 {
			t.Errorf("a lock reads %+v", l)
		}
	}
	// The account is named; the unknown email is listed, but as typed nowhere.
	if v.Total != 2 || !emails["locked@example.com"] || !emails[""] || strings.Contains(a.Raw, "nobody-here") {
		t.Fatalf("the lockouts read %s", a.Raw)
	}

	expectStatus(t, admin.do("DELETE", "/v1/admin/lockouts/Locked@Example.com", nil), http.StatusOK)
	expectStatus(t, anon.login("locked@example.com", pw), http.StatusOK)
	expectStatus(t, admin.do("DELETE", "/v1/admin/lockouts/locked@example.com", nil), http.StatusNotFound)
	// An unknown email is lifted the same way, by its address.
	expectStatus(t, admin.do("DELETE", "/v1/admin/lockouts/nobody-here@example.com", nil), http.StatusOK)
	a = admin.do("GET", "/v1/admin/lockouts", nil)
	a.data(t, &v)
	if v.Total != 0 {
		t.Errorf("after lifting both: %s", a.Raw)
	}
	h.flushAudit()
	evs, _ := eventsOf(t, admin, "event=lockout_cleared")
	if len(evs) != 2 || evs[1].Email != "locked@example.com" || evs[0].Actor != "root@example.com" {
		t.Errorf("the audit trail: %+v", evs)
	}

	h.addUser("plain@example.com", pw, false)
	plain := h.client().in(t)
	plain.mustLogin("plain@example.com", pw)
	expectStatus(t, plain.do("GET", "/v1/admin/lockouts", nil), http.StatusForbidden)
	expectStatus(t, plain.do("DELETE", "/v1/admin/lockouts/plain@example.com", nil), http.StatusForbidden)
	expectStatus(t, admin.do("GET", "/v1/admin/lockouts?limit=500", nil), http.StatusUnprocessableEntity)
}
