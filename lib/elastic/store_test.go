package elastic_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"esauth/lib/elastic/estest"
	"esauth/lib/errs"
	"esauth/lib/page"
	"esauth/lib/session"
	"esauth/lib/user"
)

func sessionOf(u user.User) session.Session {
	p := session.Policy{TTL: time.Hour, Idle: time.Hour, RememberTTL: 24 * time.Hour, TouchEvery: time.Minute}
	s, _ := p.New(u, false, time.Now().UTC(), "test-agent", "127.0.0.1")
	return s
}

func TestLoadReturnsTheEpochsOfUserAndSession(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	u := newUser("epoch@example.com")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	sess := sessionOf(u)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	gotU, gotS, err := s.Load(ctx, sess.ID, u.Email)
	if err != nil {
		t.Fatal(err)
	}
	if gotU.SessionEpoch != u.SessionEpoch || gotS.UserEpoch != u.SessionEpoch {
		t.Errorf("Load gave user epoch %q and session epoch %q; want both %q", gotU.SessionEpoch, gotS.UserEpoch, u.SessionEpoch)
	}
	if gotS != sess {
		t.Errorf("Load gave session %+v; want what was stored, %+v", gotS, sess)
	}
	// The user's source comes whole, but the loader never decodes the
	// password hash into a request's memory.
	if gotU.PasswordHash != "" || gotU.Email != u.Email || gotU.FirstName != u.FirstName || !gotU.CreatedAt.Equal(u.CreatedAt) {
		t.Errorf("Load gave user %+v", gotU)
	}
}

func TestARetriedCreateFindingItsOwnDocumentSucceeds(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	u := newUser("retry@example.com")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	// The client re-sends a create whose connection broke after it was applied.
	if err := s.CreateUser(ctx, u); err != nil {
		t.Errorf("the same create again = %v; want success (it is this account)", err)
	}
	other := newUser("retry@example.com") // another signup: another epoch
	if err := s.CreateUser(ctx, other); !errs.Is(err, errs.Conflict) {
		t.Errorf("another account with the same email = %v; want conflict", err)
	}
	sess := sessionOf(u)
	for i := 0; i < 2; i++ {
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Errorf("creating the same session, try %d = %v; want success", i+1, err)
		}
	}
}

func TestAClosedIndexIsUnavailableNeverNotFound(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	u := newUser("closed@example.com")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	sess := sessionOf(u)
	if err := s.CreateSession(ctx, sess); err != nil {
		t.Fatal(err)
	}
	load := func() error { _, _, err := s.Load(ctx, sess.ID, u.Email); return err }
	lookup := func() error { _, _, _, err := s.LookupLogin(ctx, u.Email, true); return err }
	tests := []struct {
		index string
		calls map[string]func() error
	}{
		{s.SessionsIndex(), map[string]func() error{"Load": load}},
		{s.UsersIndex(), map[string]func() error{"Load": load, "LookupLogin": lookup}},
		{s.AttemptsIndex(), map[string]func() error{"LookupLogin": lookup}},
	}
	for _, tt := range tests {
		t.Run("with "+tt.index+" closed", func(t *testing.T) {
			estest.MustDo(t, http.MethodPost, "/"+tt.index+"/_close", "")
			defer estest.MustDo(t, http.MethodPost, "/"+tt.index+"/_open?wait_for_active_shards=1", "")
			// Reading a closed index's entry as "missing" would log the
			// user out (401) and let a logout answer 200 unrevoked.
			for name, call := range tt.calls {
				if err := call(); !errs.Is(err, errs.Unavailable) {
					t.Errorf("%s = %v; want unavailable", name, err)
				}
			}
		})
	}
}

func TestLookupLoginReadsTheUserAndTheAttemptsTogether(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	u := newUser("look@example.com")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	l := user.Lockout{Threshold: 3, Base: time.Minute, Max: time.Hour}
	now := time.Now().UTC().Truncate(time.Millisecond)
	for _, email := range []string{u.Email, "nobody@example.com"} {
		got, found, a, err := s.LookupLogin(ctx, email, true)
		if err != nil {
			t.Fatal(err)
		}
		if found != (email == u.Email) || (found && got.PasswordHash != u.PasswordHash) {
			t.Errorf("%s: found = %v, user %+v", email, found, got)
		}
		if a.Failures != 0 || a.Version.Stored() {
			t.Errorf("%s: a fresh address has a record: %+v", email, a)
		}
		for i := 1; i <= 3; i++ {
			if a, err = s.RecordFailure(ctx, user.PasswordCounter, email, a, func(a *user.Attempts) error { l.Fail(a, now); return nil }); err != nil {
				t.Fatal(err)
			}
			// Read it back as the next check would.
			if _, _, a, err = s.LookupLogin(ctx, email, true); err != nil {
				t.Fatal(err)
			}
			if a.Failures != i {
				t.Fatalf("%s: after %d failures the record says %d", email, i, a.Failures)
			}
		}
		if l.LockedFor(a, now) != time.Minute {
			t.Errorf("%s: locked for %v after 3 failures; want 1m", email, l.LockedFor(a, now))
		}
		if err := s.ClearFailures(ctx, user.PasswordCounter, email); err != nil {
			t.Fatal(err)
		}
		if _, _, a, _ = s.LookupLogin(ctx, email, true); a.Failures != 0 {
			t.Errorf("%s: ClearFailures left %+v", email, a)
		}
	}
}

func TestRecordFailureFromAStaleReadNeverLosesACount(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	const email = "burst@example.com"
	fail := func(a *user.Attempts) error { a.Failures++; return nil }
	// Every writer starts from the same (empty) read, as a burst of
	// concurrent logins does; each either counts or is refused.
	const n = 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	counted, refused := 0, 0
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.RecordFailure(ctx, user.PasswordCounter, email, user.Attempts{}, fail)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				counted++
			case errs.Is(err, errs.TooMany):
				refused++
			default:
				t.Errorf("RecordFailure: %v", err)
			}
		}()
	}
	wg.Wait()
	_, _, a, err := s.LookupLogin(ctx, email, true)
	if err != nil {
		t.Fatal(err)
	}
	if a.Failures != counted || counted+refused != n || counted == 0 {
		t.Errorf("stored %d failures; %d writers were told they counted and %d refused, of %d", a.Failures, counted, refused, n)
	}
}

func TestARecordFailureThatRefusesWritesNothing(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	locked := errs.E(errs.TooMany, "locked")
	if _, err := s.RecordFailure(ctx, user.PasswordCounter, "x@example.com", user.Attempts{}, func(*user.Attempts) error { return locked }); err != locked {
		t.Fatalf("RecordFailure = %v; want the refusal itself", err)
	}
	if _, _, a, _ := s.LookupLogin(ctx, "x@example.com", true); a.Version.Stored() {
		t.Errorf("a refused failure was stored: %+v", a)
	}
}

func TestSessionListsPageNewestFirstWithoutGapsOrRepeats(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	u := newUser("pages@example.com")
	var want []string
	base := time.Now().UTC().Truncate(time.Millisecond)
	for i := range 7 {
		sess := sessionOf(u)
		// Two by two in the same millisecond: the id must break the tie.
		sess.CreatedAt = base.Add(time.Duration(i/2) * time.Millisecond)
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		want = append(want, sess.ID)
	}
	var got []string
	var last time.Time
	var after *page.Cursor
	for pages := 0; ; pages++ {
		list, next, err := s.ListSessions(ctx, u.Email, time.Now(), after, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, sess := range list {
			if len(got) > 0 && sess.CreatedAt.After(last) {
				t.Errorf("page %d is not newest first", pages)
			}
			last = sess.CreatedAt
			got = append(got, sess.ID)
		}
		if next == nil {
			break
		}
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		after = next
	}
	if len(got) != len(want) {
		t.Fatalf("listed %d sessions over the pages; want %d", len(got), len(want))
	}
	seen := map[string]bool{}
	for _, id := range got {
		if seen[id] {
			t.Errorf("session %s listed twice", id)
		}
		seen[id] = true
	}
	for _, id := range want {
		if !seen[id] {
			t.Errorf("session %s never listed", id)
		}
	}
}

func TestTrimSessionsKeepsTheNewest(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	u := newUser("trim@example.com")
	var ids []string
	base := time.Now().UTC()
	for i := range 5 {
		sess := sessionOf(u)
		sess.CreatedAt = base.Add(time.Duration(i) * time.Second)
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sess.ID)
	}
	other := sessionOf(newUser("bystander@example.com"))
	if err := s.CreateSession(ctx, other); err != nil {
		t.Fatal(err)
	}
	estest.MustDo(t, http.MethodPost, "/"+s.SessionsIndex()+"/_refresh", "")
	// The session just made (here the oldest, to show it is never the one
	// deleted) counts toward the three kept.
	n, err := s.TrimSessions(ctx, u.Email, 3, ids[0], time.Now())
	if err != nil || n != 2 {
		t.Fatalf("TrimSessions = %d, %v; want 2 deleted", n, err)
	}
	list, _, err := s.ListSessions(ctx, u.Email, time.Now(), nil, 100)
	if err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, sess := range list {
		left = append(left, sess.ID)
	}
	if want := []string{ids[4], ids[3], ids[0]}; !slices.Equal(left, want) {
		t.Errorf("left %v; want the newest two and the one just made, %v", left, want)
	}
	if l, _, _ := s.ListSessions(ctx, other.Email, time.Now(), nil, 100); len(l) != 1 {
		t.Errorf("another user's session was trimmed")
	}
}

func TestPurgeExpiredForgetsOldFailureRecords(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	stale := func(a *user.Attempts) error { a.Failures, a.ExpiresAt = 1, time.Now().Add(-time.Minute); return nil }
	fresh := func(a *user.Attempts) error { a.Failures, a.ExpiresAt = 1, time.Now().Add(time.Hour); return nil }
	if _, err := s.RecordFailure(ctx, user.PasswordCounter, "old@example.com", user.Attempts{}, stale); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordFailure(ctx, user.PasswordCounter, "new@example.com", user.Attempts{}, fresh); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PurgeExpired(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, _, a, _ := s.LookupLogin(ctx, "old@example.com", true); a.Version.Stored() {
		t.Error("an expired failure record was kept")
	}
	if _, _, a, _ := s.LookupLogin(ctx, "new@example.com", true); !a.Version.Stored() {
		t.Error("a live failure record was purged")
	}
}
