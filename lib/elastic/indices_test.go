package elastic_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"esauth/lib/audit"
	"esauth/lib/elastic"
	"esauth/lib/elastic/estest"
	"esauth/lib/errs"
	"esauth/lib/session"
	"esauth/lib/user"
)

func someUser(email string) user.User {
	t := time.Now().UTC()
	return user.User{
		Email: email, FirstName: "Grace", LastName: "Hopper", PasswordHash: "$argon2id$not-a-real-hash",
		Role: user.RoleUser, IsActive: true, CreatedAt: t, UpdatedAt: t, PasswordChangedAt: t,
	}
}

func someSession(email string) session.Session {
	t := time.Now().UTC()
	return session.Session{
		ID: strings.Repeat("ab", 32), Email: email, CreatedAt: t, ExpiresAt: t.Add(time.Hour), LastSeenAt: t,
	}
}

func someEvents() []audit.Event {
	return []audit.Event{{ID: audit.NewID(), Event: "login", Email: "a@example.com", At: time.Now().UTC(), Outcome: "success"}}
}

// setBlock puts an index block (write, read_only) on one test index and
// lifts it when the test ends; closeIndex closes one and reopens it.
func setBlock(t *testing.T, index, block string) {
	t.Helper()
	estest.MustDo(t, "PUT", "/"+index+"/_settings", `{"index.blocks.`+block+`": true}`)
	t.Cleanup(func() { estest.Do(t, "PUT", "/"+index+"/_settings", `{"index.blocks.`+block+`": null}`) })
}

func closeIndex(t *testing.T, index string) {
	t.Helper()
	estest.MustDo(t, "POST", "/"+index+"/_close", "")
	t.Cleanup(func() { estest.Do(t, "POST", "/"+index+"/_open", "") })
}

// An operator's block or close on an index is the cluster's state, not a
// bug: every call that meets it is Unavailable (503), never Internal.
func TestBlockedAndClosedIndicesAreUnavailable(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name      string
		breakIt   func(t *testing.T, s *elastic.Store)
		call      func(s *elastic.Store) error
		wantCause string
	}{
		{
			"a write block on users refuses a new user",
			func(t *testing.T, s *elastic.Store) { setBlock(t, s.UsersIndex(), "write") },
			func(s *elastic.Store) error { return s.CreateUser(ctx, someUser("new@example.com")) },
			"blocked",
		},
		{
			"a read-only users index refuses a new user",
			func(t *testing.T, s *elastic.Store) { setBlock(t, s.UsersIndex(), "read_only") },
			func(s *elastic.Store) error { return s.CreateUser(ctx, someUser("new@example.com")) },
			"blocked",
		},
		{
			"a write block on users refuses an update",
			func(t *testing.T, s *elastic.Store) {
				if err := s.CreateUser(ctx, someUser("old@example.com")); err != nil {
					t.Fatal(err)
				}
				setBlock(t, s.UsersIndex(), "write")
			},
			func(s *elastic.Store) error {
				_, err := s.UpdateUser(ctx, "old@example.com", func(u *user.User) error { u.LastName = "B"; return nil })
				return err
			},
			"blocked",
		},
		{
			"a write block on sessions refuses a new session",
			func(t *testing.T, s *elastic.Store) { setBlock(t, s.SessionsIndex(), "write") },
			func(s *elastic.Store) error { return s.CreateSession(ctx, someSession("a@example.com")) },
			"blocked",
		},
		{
			"a write block on audit refuses events",
			func(t *testing.T, s *elastic.Store) { setBlock(t, s.AuditIndex(), "write") },
			func(s *elastic.Store) error { return s.WriteEvents(ctx, someEvents()) },
			"blocked",
		},
		{
			"a closed users index refuses reads",
			func(t *testing.T, s *elastic.Store) { closeIndex(t, s.UsersIndex()) },
			func(s *elastic.Store) error { _, err := s.GetUser(ctx, "a@example.com"); return err },
			"closed",
		},
		{
			"a closed users index refuses a new user",
			func(t *testing.T, s *elastic.Store) { closeIndex(t, s.UsersIndex()) },
			func(s *elastic.Store) error { return s.CreateUser(ctx, someUser("new@example.com")) },
			"closed",
		},
		{
			"a closed sessions index refuses a new session",
			func(t *testing.T, s *elastic.Store) { closeIndex(t, s.SessionsIndex()) },
			func(s *elastic.Store) error { return s.CreateSession(ctx, someSession("a@example.com")) },
			"closed",
		},
		{
			"a closed audit index refuses events and their listing",
			func(t *testing.T, s *elastic.Store) { closeIndex(t, s.AuditIndex()) },
			func(s *elastic.Store) error {
				if err := s.WriteEvents(ctx, someEvents()); !errs.Is(err, errs.Unavailable) {
					return errors.Join(errors.New("WriteEvents"), err)
				}
				_, _, err := s.ListEvents(ctx, "a@example.com", time.Time{}, nil, 10)
				return err
			},
			"closed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := estest.New(t)
			tt.breakIt(t, s)
			err := tt.call(s)
			if !errs.Is(err, errs.Unavailable) {
				t.Fatalf("err = %v, want unavailable", err)
			}
			if !strings.Contains(err.Error(), tt.wantCause) {
				t.Errorf("cause %q does not say %q", err, tt.wantCause)
			}
		})
	}
}

// indexMapping reads one index's mapping from Elasticsearch.
type indexMapping struct {
	Dynamic    string `json:"dynamic"`
	Properties map[string]struct {
		Type string `json:"type"`
	} `json:"properties"`
}

func mappingOf(t *testing.T, index string) indexMapping {
	t.Helper()
	var m map[string]struct {
		Mappings indexMapping `json:"mappings"`
	}
	if err := json.Unmarshal([]byte(estest.MustDo(t, "GET", "/"+index+"/_mapping", "")), &m); err != nil {
		t.Fatal(err)
	}
	if len(m) != 1 {
		t.Fatalf("%s names %d indices", index, len(m))
	}
	for _, v := range m { // keyed by the index behind the alias
		return v.Mappings
	}
	return indexMapping{}
}

func wantStrictUsers(t *testing.T, s *elastic.Store) {
	t.Helper()
	m := mappingOf(t, s.UsersIndex())
	if m.Dynamic != "strict" || m.Properties["email_address"].Type != "keyword" {
		t.Errorf("users mapping: dynamic %q, email_address %q; want strict and keyword", m.Dynamic, m.Properties["email_address"].Type)
	}
}

// An index deleted by hand under a running store comes back with its
// strict mapping: on the next write through the index template, and on
// the next read through a fresh set-up.
func TestAnIndexDeletedUnderARunningStoreComesBackStrict(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()

	estest.MustDo(t, "DELETE", "/"+estest.Concrete(t, s.UsersIndex()), "")
	if err := s.CreateUser(ctx, someUser("after@example.com")); err != nil {
		t.Fatalf("the write after the delete: %v", err)
	}
	wantStrictUsers(t, s)
	if _, err := s.GetUser(ctx, "after@example.com"); err != nil {
		t.Errorf("the user written after the delete: %v", err)
	}

	estest.MustDo(t, "DELETE", "/"+estest.Concrete(t, s.UsersIndex()), "")
	if _, err := s.GetUser(ctx, "after@example.com"); !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("the read after the delete: err = %v, want unavailable saying the index does not exist", err)
	}
	if _, err := s.GetUser(ctx, "after@example.com"); !errs.Is(err, errs.NotFound) {
		t.Fatalf("the next read: err = %v, want not found (the index set up again)", err)
	}
	wantStrictUsers(t, s)
}

// unsetStore is a store on the test cluster whose indices are not set up
// yet, deleted (with their templates) when the test ends.
func unsetStore(t *testing.T) *elastic.Store {
	t.Helper()
	estest.Require(t)
	s, err := elastic.New(estest.Config(), zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		estest.Do(t, "DELETE", "/"+s.UsersIndex()+"-repair?ignore_unavailable=true", "")
		if err := s.DeleteIndices(context.Background()); err != nil {
			t.Errorf("deleting test indices: %v", err)
		}
	})
	return s
}

// autoCreateUsers writes users documents before esauth set anything up,
// so Elasticsearch makes the index with a mapping guessed from them.
func autoCreateUsers(t *testing.T, s *elastic.Store, docs map[string]string) {
	t.Helper()
	for id, doc := range docs {
		estest.MustDo(t, "PUT", "/"+s.UsersIndex()+"/_doc/"+url.PathEscape(id), doc)
	}
}

const guessedUser = `{"email_address":"%s","first_name":"Ada","last_name":"Lovelace","password_hash":"$argon2id$x",` +
	`"role":"user","is_active":true,"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z",` +
	`"password_changed_at":"2024-01-01T00:00:00Z","failed_logins":0,"password":"plain text"}`

func guessed(email string) string { return strings.Replace(guessedUser, "%s", email, 1) }

func TestAWrongMappingIsRefusedNamingTheIndexAndTheField(t *testing.T) {
	s := unsetStore(t)
	autoCreateUsers(t, s, map[string]string{"a@example.com": guessed("a@example.com")})

	err := s.EnsureIndices(context.Background())
	var me *elastic.MappingError
	if !errors.As(err, &me) || !errs.Is(err, errs.Unavailable) {
		t.Fatalf("err = %v, want an unavailable MappingError", err)
	}
	for _, want := range []string{s.UsersIndex(), "field email_address is text, want keyword", "password_hash", "esauth migrate"} {
		if !strings.Contains(me.Error(), want) {
			t.Errorf("%q does not say %q", me.Error(), want)
		}
	}
	if got := me.Indices(); len(got) != 1 || got[0] != s.UsersIndex() {
		t.Errorf("indices with problems = %v, want only %s", got, s.UsersIndex())
	}
	if _, err := s.GetUser(context.Background(), "a@example.com"); !errs.Is(err, errs.Unavailable) {
		t.Errorf("a request on the wrong mapping: err = %v, want unavailable", err)
	}
}

// Concurrent set-ups share one; a caller whose context ends stops waiting
// at once, while the others still get the set-up done. The proxy in front
// of the real cluster only slows the set-up's calls down.
func TestConcurrentSetUpReturnsPromptlyToACallerWhoseContextEnds(t *testing.T) {
	estest.Require(t)
	target, err := url.Parse(estest.URL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut { // templates and index creation
			time.Sleep(400 * time.Millisecond)
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
	t.Cleanup(func() { _ = s.DeleteIndices(context.Background()) })

	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); errc <- s.EnsureIndices(context.Background()) }()
	}
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	err = s.EnsureIndices(ctx)
	if took := time.Since(start); took > time.Second {
		t.Errorf("the cancelled caller waited %v", took)
	}
	if !errs.Is(err, errs.Unavailable) {
		t.Errorf("the cancelled caller: err = %v, want unavailable", err)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil {
			t.Errorf("a patient caller: %v", err)
		}
	}
	wantStrictUsers(t, s)
}
