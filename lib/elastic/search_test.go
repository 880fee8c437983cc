package elastic_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"esauth/lib/audit"
	"esauth/lib/elastic"
	"esauth/lib/elastic/estest"
	"esauth/lib/errs"
	"esauth/lib/page"
	"esauth/lib/session"
	"esauth/lib/user"
)

func TestSearchUsersByEmailOrNameNewestFirst(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	base := time.Now().UTC().Add(-time.Hour)
	people := []struct{ email, first, last string }{
		{"ada.lovelace@example.com", "Ada", "Lovelace"},
		{"grace@navy.example", "Grace", "Hopper"},
		{"alan@example.org", "Alan", "Turing"},
		{"adam*smith@example.com", "Adam", "Smith"},
		{"b@example.com", "Barbara", "Liskov"},
	}
	for i, p := range people {
		u := newUser(p.email)
		u.FirstName, u.LastName = p.first, p.last
		u.CreatedAt = base.Add(time.Duration(i) * time.Minute) // later in the list: newer
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	estest.MustDo(t, "POST", "/"+s.UsersIndex()+"/_refresh", "")
	emails := func(us []user.User) []string {
		var out []string
		for _, u := range us {
			out = append(out, u.Email)
			if u.PasswordHash != "" {
				t.Errorf("a search returned %s's password hash", u.Email)
			}
		}
		return out
	}
	tests := []struct {
		q    string
		want []string
	}{
		{"", []string{"b@example.com", "adam*smith@example.com", "alan@example.org", "grace@navy.example", "ada.lovelace@example.com"}},
		{"navy", []string{"grace@navy.example"}},
		{"EXAMPLE.COM", []string{"b@example.com", "adam*smith@example.com", "ada.lovelace@example.com"}},
		{"hop", []string{"grace@navy.example"}},                                 // the beginning of a last name
		{"ada", []string{"adam*smith@example.com", "ada.lovelace@example.com"}}, // names and emails that start with it
		{"*", []string{"adam*smith@example.com"}},                               // a literal star, not a wildcard
		{"tur", []string{"alan@example.org"}},
		{"nobody", nil},
	}
	for _, tt := range tests {
		got, next, _, err := s.SearchUsers(ctx, user.Search{Q: tt.q}, nil, 10)
		if err != nil {
			t.Fatalf("q=%q: %v", tt.q, err)
		}
		if g := emails(got); !slices.Equal(g, tt.want) || next != nil {
			t.Errorf("q=%q: %v (next %v); want %v", tt.q, g, next, tt.want)
		}
	}
	// Pages of two cover everyone once, in order.
	var all []string
	var after *page.Cursor
	for range 5 {
		got, next, _, err := s.SearchUsers(ctx, user.Search{}, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, emails(got)...)
		if next == nil {
			break
		}
		after = next
	}
	if !slices.Equal(all, tests[0].want) {
		t.Errorf("paged: %v; want %v", all, tests[0].want)
	}
}

// A user search that Elasticsearch cut short (its timeout: matching the
// email anywhere walks every email in the index) is not shown as if it
// were the whole answer, and every search carries that timeout.
func TestAUserSearchCutShortIsNotShownAsTheWholeAnswer(t *testing.T) {
	var sent atomic.Value
	f := newFakeES(t, func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, "/_search") {
			answer(http.StatusOK, `{}`)(w, r)
			return
		}
		b, _ := io.ReadAll(r.Body)
		sent.Store(string(b))
		answer(http.StatusOK, `{"took":1001,"timed_out":true,"hits":{"total":{"value":1,"relation":"eq"},
			"hits":[{"_id":"a@example.com","_source":{"email_address":"a@example.com","created_at":"2026-01-01T00:00:00Z"}}]}}`)(w, r)
	})
	users, _, _, err := f.store(t, time.Second).SearchUsers(context.Background(), user.Search{Q: "*"}, nil, 25)
	if !errs.Is(err, errs.Invalid) || users != nil {
		t.Fatalf("a search cut short gave %v, %v; want an invalid-q error and no users", users, err)
	}
	body, _ := sent.Load().(string)
	var q struct {
		Timeout string `json:"timeout"`
	}
	if json.Unmarshal([]byte(body), &q) != nil || q.Timeout == "" {
		t.Errorf("the search sent no timeout: %s", body)
	}
}

// Every search of the security console that Elasticsearch cut short at
// its timeout is refused, never shown as if it were whole: a page with
// gaps, a count below the truth (a dry run promising fewer sessions than
// a revocation ends), lockouts missing, or a login compared with part of
// its history (a false new-device notice). The searches a filter can
// narrow are 422 naming where to narrow; the others are 503, try again.
// The same answer not cut short is taken, so the fake answer is sound.
func TestConsoleSearchesCutShortAreRefused(t *testing.T) {
	ctx := context.Background()
	now := time.Now().UTC()
	lockID := strings.Repeat("ab", 32)
	tests := []struct {
		name string
		want errs.Code
		call func(s *elastic.Store) error
	}{
		{"event search", errs.Invalid, func(s *elastic.Store) error {
			_, _, err := s.SearchEvents(ctx, audit.Filter{}, nil, 50)
			return err
		}},
		{"session search", errs.Invalid, func(s *elastic.Store) error {
			_, _, err := s.SearchSessions(ctx, session.Filter{}, now, nil, 50)
			return err
		}},
		{"session count (the dry run)", errs.Invalid, func(s *elastic.Store) error {
			_, _, err := s.CountSessions(ctx, session.Filter{}, now, "")
			return err
		}},
		{"lockouts", errs.Unavailable, func(s *elastic.Store) error {
			_, _, err := s.ListLockouts(ctx, now, 50)
			return err
		}},
		{"the new-device comparison", errs.Unavailable, func(s *elastic.Store) error {
			_, _, err := s.SeenClient(ctx, "a@example.com", "Firefox on Linux", "192.0.2.0/24", now.Add(-time.Hour))
			return err
		}},
	}
	for _, tt := range tests {
		for _, timedOut := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, timed_out %v", tt.name, timedOut), func(t *testing.T) {
				f := newFakeES(t, func(w http.ResponseWriter, r *http.Request) {
					if !strings.HasSuffix(r.URL.Path, "/_search") {
						answer(http.StatusOK, `{}`)(w, r) // the refreshes
						return
					}
					answer(http.StatusOK, fmt.Sprintf(`{"took":2001,"timed_out":%v,"hits":{"total":{"value":1,"relation":"eq"},"hits":[
						{"_id":%q,"_source":{"event_id":"e1","event":"login_success","at":"2026-01-01T00:00:00Z",
						"email_address":"a@example.com","created_at":"2026-01-01T00:00:00Z","locked_until":"2099-01-01T00:00:00Z"}}]},
						"aggregations":{"users":{"value":1},"same":{"doc_count":0}}}`, timedOut, lockID))(w, r)
				})
				err := tt.call(f.store(t, time.Second))
				switch {
				case !timedOut && err != nil:
					t.Fatalf("a whole answer was refused: %v", err)
				case timedOut && !errs.Is(err, tt.want):
					t.Fatalf("an answer cut short gave %v; want a %v error", err, tt.want)
				}
			})
		}
	}
}

// BenchmarkUserSearchOverManyUsers measures what the admin's user search
// costs over ESAUTH_BENCH_SEARCH_USERS users (1,000,000 by default) with
// a q like "user-123": the words "user" (a prefix every user's email has)
// and "123" (a number, matched on the email's standard-analyzed words
// by its index_prefixes), with the facet counts the search always
// answers beside its page, against the exact lookup of one user in the
// same run, each search with a q never asked before (no cache helps). It
// reports both medians, their ratio and how many searches Elasticsearch
// cut short (userSearchTimeout). make bench runs it.
func BenchmarkUserSearchOverManyUsers(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("ESAUTH_BENCH_SEARCH_USERS")); err == nil && v > 0 {
		n = v
	}
	s := estest.New(b)
	var body strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&body, `{"create":{"_index":%q,"_id":"user-%d@example.com"}}`+"\n", s.UsersIndex(), i)
		fmt.Fprintf(&body, `{"email_address":"user-%d@example.com","first_name":"Seed","last_name":"User","role":"user","is_active":true,"created_at":"2026-01-01T00:00:00Z","session_epoch":"e"}`+"\n", i)
		if (i+1)%10_000 == 0 || i == n-1 {
			if out := estest.MustDo(b, "POST", "/_bulk", body.String()); strings.Contains(out[:min(len(out), 64)], `"errors":true`) {
				b.Fatalf("seeding: %.300s", out)
			}
			body.Reset()
		}
	}
	estest.MustDo(b, "POST", "/"+s.UsersIndex()+"/_refresh", "")
	estest.MustDo(b, "POST", "/"+s.UsersIndex()+"/_forcemerge?max_num_segments=1", "")
	ctx := context.Background()
	b.Run("words-vs-get", func(b *testing.B) {
		var search, get []float64
		cut := 0
		for i := 0; i < b.N; i++ {
			start := time.Now()
			_, _, _, err := s.SearchUsers(ctx, user.Search{Q: fmt.Sprintf("user-%d", (i*7919+13)%n)}, nil, 25)
			search = append(search, float64(time.Since(start))/float64(time.Millisecond))
			if errs.Is(err, errs.Invalid) {
				cut++
			} else if err != nil {
				b.Fatal(err)
			}
			start = time.Now()
			if _, err := s.GetUser(ctx, fmt.Sprintf("user-%d@example.com", (i*104729+7)%n)); err != nil {
				b.Fatal(err)
			}
			get = append(get, float64(time.Since(start))/float64(time.Millisecond))
		}
		ms, mg := medianOf(search), medianOf(get)
		b.ReportMetric(ms, "search-median-ms")
		b.ReportMetric(mg, "get-median-ms")
		b.ReportMetric(ms/mg, "search/get")
		b.ReportMetric(float64(cut), "cut-short")
	})
}

func medianOf(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func TestSearchUsersByFacetsCountsEachFacetUnderTheOthers(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	base := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	day := func(d int) time.Time { return base.AddDate(0, 0, d) }
	people := []struct {
		email    string
		admin    bool
		active   bool
		verified bool
		totp     bool
		passkeys int
		provs    []string
		lastDay  int // 0: never seen logging in
	}{
		{"root@example.com", true, true, true, true, 2, nil, 20},
		{"ops@example.com", true, true, true, false, 0, []string{"github"}, 10},
		{"user-12@example.com", false, true, false, false, 1, []string{"github", "google"}, 15},
		{"user-123@example.com", false, false, true, false, 0, nil, 0},
		{"grace@navy.example", false, true, true, true, 0, []string{"google"}, 25},
	}
	for i, p := range people {
		u := newUser(p.email)
		u.CreatedAt = day(i)
		if p.admin {
			u.Role = user.RoleAdmin
		}
		u.IsActive = p.active
		if p.verified {
			u.EmailVerifiedAt = day(i)
		}
		if p.totp {
			u.TOTPSecret, u.TOTPEnabledAt = "JBSWY3DPEHPK3PXP", day(i)
		}
		u.Passkeys, u.Providers = p.passkeys, p.provs
		if p.lastDay > 0 {
			u.LastLoginAt = day(p.lastDay)
		}
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	estest.MustDo(t, "POST", "/"+s.UsersIndex()+"/_refresh", "")
	yes, no := true, false
	counts := func(f user.Facets, name string) string {
		var out []string
		for _, c := range f.Counts[name] {
			out = append(out, fmt.Sprintf("%s=%d", c.Value, c.Count))
		}
		return strings.Join(out, " ")
	}
	tests := []struct {
		name   string
		search user.Search
		want   []string          // emails, newest first
		facets map[string]string // facet: counts
	}{
		{"everyone", user.Search{}, []string{"grace@navy.example", "user-123@example.com", "user-12@example.com", "ops@example.com", "root@example.com"},
			map[string]string{"role": "user=3 admin=2", "active": "true=4 false=1", "verified": "true=4 false=1", "totp": "true=2 false=3", "passkey": "true=2 false=3", "provider": "github=2 google=2"}},
		// A facet's own filter leaves its counts whole; the others narrow.
		{"admins", user.Search{Role: user.RoleAdmin}, []string{"ops@example.com", "root@example.com"},
			map[string]string{"role": "user=3 admin=2", "totp": "true=1 false=1", "provider": "github=1"}},
		{"with a passkey and github", user.Search{Passkey: &yes, Provider: "github"}, []string{"user-12@example.com"},
			map[string]string{"passkey": "true=1 false=1", "provider": "github=1 google=1", "role": "user=1"}},
		{"without a second factor, active", user.Search{TOTP: &no, Active: &yes}, []string{"user-12@example.com", "ops@example.com"}, nil},
		{"unverified", user.Search{Verified: &no}, []string{"user-12@example.com"}, nil},
		{"created in a range", user.Search{CreatedFrom: day(1), CreatedTo: day(3)}, []string{"user-12@example.com", "ops@example.com"}, nil},
		{"logged in since", user.Search{LastLoginFrom: day(15)}, []string{"grace@navy.example", "user-12@example.com", "root@example.com"}, nil},
		{"logged in before: never-seen left out", user.Search{LastLoginTo: day(16)}, []string{"user-12@example.com", "ops@example.com"}, nil},
		// Text: digits are words too, and the whole email is exact.
		{"digits", user.Search{Q: "user-12"}, []string{"user-123@example.com", "user-12@example.com"}, map[string]string{"role": "user=2"}},
		{"the whole email", user.Search{Q: "User-12@Example.com"}, []string{"user-12@example.com"}, nil},
		{"text and a facet", user.Search{Q: "example", Role: user.RoleUser}, []string{"grace@navy.example", "user-123@example.com", "user-12@example.com"}, nil},
		{"two words in two fields", user.Search{Q: "ada navy"}, []string{"grace@navy.example"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, facets, err := s.SearchUsers(ctx, tt.search, nil, 10)
			if err != nil {
				t.Fatal(err)
			}
			var emails []string
			for _, u := range got {
				emails = append(emails, u.Email)
			}
			if !slices.Equal(emails, tt.want) {
				t.Errorf("found %v; want %v", emails, tt.want)
			}
			if facets.Total != len(tt.want) {
				t.Errorf("total %d; want %d", facets.Total, len(tt.want))
			}
			for name, want := range tt.facets {
				if got := counts(facets, name); got != want {
					t.Errorf("facet %s: %s; want %s", name, got, want)
				}
			}
		})
	}
	if _, _, _, err := s.SearchUsers(ctx, user.Search{Q: "a b c d e f g h i"}, nil, 10); !errs.Is(err, errs.Invalid) {
		t.Errorf("nine words: %v; want invalid", err)
	}
}

// Migrate's backfill sets the copies from the credentials and identities
// indices: users made before the copies existed get them, stale copies are
// put right, a deleted account's records count for nobody, and a second
// run writes nothing.
func TestBackfillCountsEachUsersPasskeysAndProviders(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	mk := func(email string, passkeys int) user.User {
		u := newUser(email)
		u.CreatedAt = u.CreatedAt.Truncate(time.Millisecond)
		u.Passkeys = passkeys
		if err := s.CreateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		return u
	}
	old, stale, plain := mk("old@example.com", 0), mk("stale@example.com", 3), mk("plain@example.com", 0)
	for _, p := range []user.Passkey{passkeyOf(old, "k1"), passkeyOf(old, "k2")} {
		if err := s.CreatePasskey(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	earlier := passkeyOf(plain, "k3")
	earlier.UserCreatedAt = plain.CreatedAt.Add(-time.Hour) // an earlier account's
	if err := s.CreatePasskey(ctx, earlier); err != nil {
		t.Fatal(err)
	}
	for _, prov := range []string{"google", "github"} {
		if err := s.CreateIdentity(ctx, user.Identity{Provider: prov, Subject: "s-" + prov, Email: old.Email, UserCreatedAt: old.CreatedAt, CreatedAt: old.CreatedAt}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.BackfillUserFacets(ctx)
	if err != nil || n != 2 {
		t.Fatalf("backfill wrote %d users (%v); want 2 (old and stale)", n, err)
	}
	for _, tt := range []struct {
		email     string
		passkeys  int
		providers string
	}{{old.Email, 2, "github,google"}, {stale.Email, 0, ""}, {plain.Email, 0, ""}} {
		u, err := s.GetUser(ctx, tt.email)
		if err != nil {
			t.Fatal(err)
		}
		if u.Passkeys != tt.passkeys || strings.Join(u.Providers, ",") != tt.providers {
			t.Errorf("%s: %d passkeys, providers %v; want %d, %q", tt.email, u.Passkeys, u.Providers, tt.passkeys, tt.providers)
		}
	}
	if n, err := s.BackfillUserFacets(ctx); err != nil || n != 0 {
		t.Errorf("a second run wrote %d (%v); want 0", n, err)
	}
}
