package elastic_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"esauth/lib/elastic"
	"esauth/lib/elastic/estest"
	"esauth/lib/errs"
	"esauth/lib/session"
	"esauth/lib/user"
)

func newUser(email string) user.User {
	t := time.Now().UTC()
	return user.User{
		Email: email, FirstName: "Ada", LastName: "Lovelace", PasswordHash: "$argon2id$not-a-real-hash",
		Role: user.RoleUser, IsActive: true, CreatedAt: t, UpdatedAt: t, PasswordChangedAt: t,
		SessionEpoch: user.NewEpoch(),
	}
}

func getJSON(t *testing.T, path string, v any) int {
	t.Helper()
	res, err := http.Get(estest.URL() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if v != nil {
		if err := json.NewDecoder(res.Body).Decode(v); err != nil {
			t.Fatal(err)
		}
	}
	return res.StatusCode
}

func TestIndicesHaveStrictMappingsAndHashIsNotIndexed(t *testing.T) {
	s := estest.New(t)
	var m map[string]struct {
		Mappings struct {
			Dynamic    string `json:"dynamic"`
			Properties map[string]struct {
				Type      string `json:"type"`
				Index     *bool  `json:"index"`
				DocValues *bool  `json:"doc_values"`
			} `json:"properties"`
		} `json:"mappings"`
	}
	getJSON(t, "/"+s.UsersIndex()+","+s.SessionsIndex()+"/_mapping", &m)
	users, sessions := m[s.UsersIndex()+"-000001"].Mappings, m[s.SessionsIndex()+"-000001"].Mappings
	if users.Dynamic != "strict" || sessions.Dynamic != "strict" {
		t.Errorf("dynamic = %q, %q; want strict for both", users.Dynamic, sessions.Dynamic)
	}
	h := users.Properties["password_hash"]
	if h.Index == nil || *h.Index || h.DocValues == nil || *h.DocValues {
		t.Errorf("password_hash mapping = %+v; want index and doc_values false", h)
	}
	for _, f := range []string{"email_address", "first_name", "last_name", "role", "is_active", "created_at", "updated_at", "password_changed_at"} {
		if _, ok := users.Properties[f]; !ok {
			t.Errorf("users mapping lacks %s", f)
		}
	}
	for _, f := range []string{"email_address", "created_at", "expires_at", "last_seen_at", "remember", "user_agent", "ip"} {
		if _, ok := sessions.Properties[f]; !ok {
			t.Errorf("sessions mapping lacks %s", f)
		}
	}
}

func TestTwoInstancesStartingAtOnceBothSetUpTheIndices(t *testing.T) {
	estest.Require(t)
	cfg := estest.Config()
	var stores []*elastic.Store
	for i := 0; i < 4; i++ {
		s, err := elastic.New(cfg, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		stores = append(stores, s)
	}
	t.Cleanup(func() { _ = stores[0].DeleteIndices(context.Background()) })
	var wg sync.WaitGroup
	errc := make(chan error, len(stores))
	for _, s := range stores {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- s.EnsureIndices(context.Background()) }()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Errorf("EnsureIndices: %v", err)
		}
	}
}

func TestConcurrentCreatesOfOneEmailMakeExactlyOneUser(t *testing.T) {
	s := estest.New(t)
	const n = 50
	var wg sync.WaitGroup
	results := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- s.CreateUser(context.Background(), newUser("race@example.com"))
		}()
	}
	wg.Wait()
	close(results)
	created, conflicts := 0, 0
	for err := range results {
		switch {
		case err == nil:
			created++
		case errs.Is(err, errs.Conflict):
			conflicts++
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if created != 1 || conflicts != n-1 {
		t.Fatalf("created %d, conflicts %d; want 1 and %d", created, conflicts, n-1)
	}
}

func TestGetUserNormalizesTheEmailAndHidesNothingItStored(t *testing.T) {
	s := estest.New(t)
	u := newUser("mixed@example.com")
	if err := s.CreateUser(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetUser(context.Background(), "  MIXED@Example.COM ")
	if err != nil {
		t.Fatal(err)
	}
	if got.Email != u.Email || got.PasswordHash != u.PasswordHash || !got.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("got %+v, want %+v", got, u)
	}
	if _, err := s.GetUser(context.Background(), "nobody@example.com"); !errs.Is(err, errs.NotFound) {
		t.Errorf("unknown user: err = %v, want not found", err)
	}
}

func TestConcurrentUpdatesAreAllApplied(t *testing.T) {
	s := estest.New(t)
	if err := s.CreateUser(context.Background(), newUser("count@example.com")); err != nil {
		t.Fatal(err)
	}
	// Each update appends one letter to the last name; with a lost update
	// some letter would be missing. Four writers stay within the retry
	// budget of five: a writer loses a race only to another's success, so
	// each loses at most three, and every update must land.
	const n = 4
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.UpdateUser(context.Background(), "count@example.com", func(u *user.User) error {
				u.LastName += string(rune('a' + i))
				return nil
			})
			if err != nil {
				t.Errorf("update %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	u, err := s.GetUser(context.Background(), "count@example.com")
	if err != nil {
		t.Fatal(err)
	}
	// A stale write (one without if_seq_no) would overwrite another's
	// letter: every letter must be there exactly once.
	added := strings.TrimPrefix(u.LastName, "Lovelace")
	for i := 0; i < n; i++ {
		if c := strings.Count(added, string(rune('a'+i))); c != 1 {
			t.Errorf("letter %q is in %q %d times; want once", rune('a'+i), added, c)
		}
	}
}

func TestUpdateOfAMissingUserIsNotFound(t *testing.T) {
	s := estest.New(t)
	_, err := s.UpdateUser(context.Background(), "ghost@example.com", func(u *user.User) error { return nil })
	if !errs.Is(err, errs.NotFound) {
		t.Fatalf("err = %v, want not found", err)
	}
}

func newSession(email string, remember bool) session.Session {
	p := session.Policy{TTL: time.Hour, Idle: time.Hour, RememberTTL: 24 * time.Hour, TouchEvery: time.Minute}
	s, _ := p.New(user.User{Email: email}, remember, time.Now().UTC(), "test-agent", "127.0.0.1")
	return s
}

func TestLoadReadsSessionAndUserTogether(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	u := newUser("load@example.com")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	sess := newSession(u.Email, true)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	gotU, gotS, err := s.Load(ctx, sess.ID, u.Email)
	if err != nil {
		t.Fatal(err)
	}
	if gotU.Email != u.Email || gotS.ID != sess.ID || !gotS.Remember {
		t.Errorf("Load = %+v, %+v", gotU, gotS)
	}
	tests := []struct {
		name      string
		id, email string
	}{
		{"unknown session", strings.Repeat("0", 64), u.Email},
		{"unknown user", sess.ID, "other@example.com"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := s.Load(ctx, tt.id, tt.email); !errs.Is(err, errs.Unauthenticated) {
				t.Errorf("err = %v, want unauthenticated", err)
			}
		})
	}
}

func TestRevokeSessionsKeepsOnlyTheExceptedOne(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	var mine []session.Session
	for i := 0; i < 3; i++ {
		sess := newSession("me@example.com", false)
		mine = append(mine, sess)
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
	}
	other := newSession("other@example.com", false)
	if err := s.CreateSession(ctx, other); err != nil {
		t.Fatal(err)
	}
	// No refresh in between: the store must see sessions written a moment ago.
	n, err := s.RevokeSessions(ctx, "me@example.com", mine[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Errorf("revoked %d, want 2", n)
	}
	list, _, err := s.ListSessions(ctx, "me@example.com", time.Now(), nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].ID != mine[0].ID {
		t.Errorf("left %+v, want only %s", list, mine[0].ID)
	}
	if list, _, _ := s.ListSessions(ctx, "other@example.com", time.Now(), nil, 100); len(list) != 1 {
		t.Errorf("another user's sessions were touched: %+v", list)
	}
}

func TestDeleteSessionOfRefusesAnotherUsersSession(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	theirs := newSession("victim@example.com", false)
	if err := s.CreateSession(ctx, theirs); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSessionOf(ctx, "attacker@example.com", theirs.ID); !errs.Is(err, errs.NotFound) {
		t.Fatalf("err = %v, want not found", err)
	}
	if _, _, err := s.Load(ctx, theirs.ID, "victim@example.com"); !errs.Is(err, errs.Unauthenticated) {
		// The user document does not exist, so Load says unauthenticated;
		// what matters is that the session itself is still listed.
		t.Fatalf("Load: %v", err)
	}
	if list, _, _ := s.ListSessions(ctx, "victim@example.com", time.Now(), nil, 100); len(list) != 1 {
		t.Fatalf("victim's session was deleted")
	}
	if err := s.DeleteSessionOf(ctx, "victim@example.com", theirs.ID); err != nil {
		t.Fatalf("owner could not revoke: %v", err)
	}
}

func TestDeleteUserRemovesTheirSessions(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	u := newUser("bye@example.com")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, newSession(u.Email, false)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	if list, _, _ := s.ListSessions(ctx, u.Email, time.Now(), nil, 100); len(list) != 0 {
		t.Errorf("sessions left: %d", len(list))
	}
	if err := s.DeleteUser(ctx, u.Email); !errs.Is(err, errs.NotFound) {
		t.Errorf("second delete: %v, want not found", err)
	}
}

func TestPurgeExpiredDeletesOnlyExpiredSessions(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	old := newSession("p@example.com", false)
	old.ExpiresAt = time.Now().Add(-time.Minute)
	fresh := newSession("p@example.com", false)
	for _, x := range []session.Session{old, fresh} {
		if err := s.CreateSession(ctx, x); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PurgeExpired(ctx, time.Now())
	if err != nil || n != 1 {
		t.Fatalf("purged %d (%v), want 1", n, err)
	}
}

func TestTouchSessionMovesLastSeen(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	u := newUser("touch@example.com")
	sess := newSession(u.Email, false)
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	later := sess.LastSeenAt.Add(5 * time.Minute)
	if err := s.TouchSession(ctx, sess.ID, later); err != nil {
		t.Fatal(err)
	}
	_, got, err := s.Load(ctx, sess.ID, u.Email)
	if err != nil {
		t.Fatal(err)
	}
	if !got.LastSeenAt.Equal(later) {
		t.Errorf("last_seen_at = %v, want %v", got.LastSeenAt, later)
	}
}

// Fault injection: an httptest server imitates a broken Elasticsearch. It
// never stands in for storage; it only shows that failures become
// errs.Unavailable in bounded time.
func TestFailuresOfElasticsearchBecomeUnavailable(t *testing.T) {
	hang := make(chan struct{})
	t.Cleanup(func() { close(hang) })
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"server error", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Elastic-Product", "Elasticsearch")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"error":{"type":"internal"}}`)
		}},
		{"garbage", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Elastic-Product", "Elasticsearch")
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `<html>not json`)
		}},
		{"too many requests", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Elastic-Product", "Elasticsearch")
			w.WriteHeader(http.StatusTooManyRequests)
		}},
		{"hangs", func(w http.ResponseWriter, r *http.Request) {
			// Reading the body lets the server notice when the client gives
			// up, which ends r.Context().
			_, _ = io.Copy(io.Discard, r.Body)
			select {
			case <-hang:
			case <-r.Context().Done():
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			t.Cleanup(func() { srv.CloseClientConnections(); srv.Close() })
			s, err := elastic.New(elastic.Config{
				Addresses: []string{srv.URL}, IndexPrefix: "x-", Timeout: 300 * time.Millisecond,
			}, zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			_, _, err = s.Load(ctx, strings.Repeat("a", 64), "a@example.com")
			if !errs.Is(err, errs.Unavailable) {
				t.Fatalf("err = %v, want unavailable", err)
			}
			if ctx.Err() != nil {
				t.Fatalf("the store did not give up within its own timeout")
			}
			if strings.Contains(err.(*errs.Error).Message, "internal") || strings.Contains(err.(*errs.Error).Message, "html") {
				t.Errorf("client message leaks the cause: %q", err.(*errs.Error).Message)
			}
		})
	}
}

func TestUnreachableElasticsearchIsUnavailable(t *testing.T) {
	// A port nothing listens on: connection refused.
	ln := httptest.NewServer(http.NotFoundHandler())
	addr := ln.URL
	ln.Close()
	s, err := elastic.New(elastic.Config{Addresses: []string{addr}, IndexPrefix: "x-", Timeout: time.Second}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	err = s.CreateUser(context.Background(), newUser("a@example.com"))
	if !errs.Is(err, errs.Unavailable) {
		t.Fatalf("err = %v, want unavailable", err)
	}
	if got := fmt.Sprint(err.(*errs.Error).Message); strings.Contains(got, "127.0.0.1") {
		t.Errorf("client message leaks the address: %q", got)
	}
}

// A store that starts while Elasticsearch is down answers "unavailable",
// and once the cluster answers it creates the indices with their strict
// mappings before the first write, instead of letting that write
// auto-create an index with a guessed mapping. The proxy in front of the
// real cluster only injects the outage.
func TestIndicesAreSetUpOnceElasticsearchComesUp(t *testing.T) {
	estest.Require(t)
	target, err := url.Parse(estest.URL())
	if err != nil {
		t.Fatal(err)
	}
	var up atomic.Bool
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			w.Header().Set("X-Elastic-Product", "Elasticsearch")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	cfg := estest.Config()
	cfg.Addresses = []string{srv.URL}
	s, err := elastic.New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { up.Store(true); _ = s.DeleteIndices(context.Background()) })

	if err := s.CreateUser(context.Background(), newUser("early@example.com")); !errs.Is(err, errs.Unavailable) {
		t.Fatalf("while down: err = %v, want unavailable", err)
	}
	up.Store(true)
	if err := s.CreateUser(context.Background(), newUser("early@example.com")); err != nil {
		t.Fatalf("once up: %v", err)
	}
	var m map[string]struct {
		Mappings struct {
			Dynamic string `json:"dynamic"`
		} `json:"mappings"`
	}
	getJSON(t, "/"+s.UsersIndex()+"/_mapping", &m)
	if m[s.UsersIndex()+"-000001"].Mappings.Dynamic != "strict" {
		t.Fatalf("the users index was not created with its mapping: %+v", m)
	}
}

// Emails may hold characters that mean something in a URL; each must
// address exactly its own document.
func TestEmailsWithURLCharactersAddressTheirOwnDocument(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	emails := []string{"a#b@example.com", "a?b=c@example.com", "a%2fb@example.com", "a&b@example.com", "a@example.com#x"}
	for _, e := range emails {
		if err := s.CreateUser(ctx, newUser(e)); err != nil {
			t.Fatalf("create %s: %v", e, err)
		}
	}
	for _, e := range emails {
		u, err := s.GetUser(ctx, e)
		if err != nil || u.Email != e {
			t.Errorf("get %s: %+v, %v", e, u, err)
		}
	}
	// No email was cut short into another id.
	for _, stray := range []string{"a", "a@example.com"} {
		if _, err := s.GetUser(ctx, stray); !errs.Is(err, errs.NotFound) {
			t.Errorf("document %q exists: %v", stray, err)
		}
	}
	if err := s.DeleteUser(ctx, "a#b@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetUser(ctx, "a?b=c@example.com"); err != nil {
		t.Errorf("deleting one email touched another: %v", err)
	}
}

func TestMalformedSessionIDsNeverReachElasticsearch(t *testing.T) {
	estest.Require(t)
	counter := &estest.CountingTransport{}
	cfg := estest.Config()
	cfg.Transport = counter
	s := estest.NewWith(t, cfg) // sets the indices up: those requests are counted too
	before := counter.Count()
	for _, id := range []string{"x?refresh=true", "../_all", strings.Repeat("g", 64), ""} {
		if err := s.DeleteSessionOf(context.Background(), "a@example.com", id); !errs.Is(err, errs.NotFound) {
			t.Errorf("DeleteSessionOf(%q): %v, want not found", id, err)
		}
		if err := s.DeleteSession(context.Background(), id); err != nil {
			t.Errorf("DeleteSession(%q): %v, want nothing to do", id, err)
		}
	}
	if n := counter.Count() - before; n != 0 {
		t.Errorf("%d requests reached Elasticsearch for malformed ids; want none", n)
	}
}
