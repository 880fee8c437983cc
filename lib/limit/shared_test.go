package limit

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// memExchange keeps usage records in memory, by limit, instance and key,
// as <prefix>limits does (lib/elastic tests the real one). broken makes
// every call fail.
type memExchange struct {
	mu      sync.Mutex
	records map[[3]string]Usage
	broken  bool
}

func newMemExchange() *memExchange { return &memExchange{records: map[[3]string]Usage{}} }

func (m *memExchange) PutUsage(_ context.Context, us []Usage) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.broken {
		return errors.New("storage down")
	}
	for _, u := range us {
		m.records[[3]string{u.Limit, u.Instance, u.Key}] = u
	}
	return nil
}

func (m *memExchange) UsageSince(_ context.Context, instance string, since time.Time, _ int) ([]Usage, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.broken {
		return nil, errors.New("storage down")
	}
	var out []Usage
	for _, u := range m.records {
		if u.Instance != instance && !u.UpdatedAt.Before(since) {
			out = append(out, u)
		}
	}
	return out, nil
}

// TestInstancesOnOneBoardShareOneBucket drives two instances' limiters
// through a sequence of requests and syncs, and checks each decision.
func TestInstancesOnOneBoardShareOneBucket(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	type step struct {
		on   string // "a", "b", or "sync" (a, b, a: each has read what the other published)
		at   time.Duration
		key  string
		want bool
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"what one instance took, the other cannot take again", []step{
			{"a", 0, "x", true}, {"a", 0, "x", true},
			{"sync", 0, "", false},
			{"b", 0, "x", false},
		}},
		{"they share the burst between them", []step{
			{"a", 0, "x", true}, {"sync", 0, "", false},
			{"b", 0, "x", true}, {"sync", 0, "", false},
			{"a", 0, "x", false}, {"b", 0, "x", false},
		}},
		{"the shared bucket refills at the rate, once", []step{
			{"a", 0, "x", true}, {"a", 0, "x", true}, {"sync", 0, "", false},
			{"b", 10 * time.Second, "x", true}, {"sync", 10 * time.Second, "", false},
			{"a", 10 * time.Second, "x", false},
			{"a", 20 * time.Second, "x", true},
		}},
		{"reading the same total twice charges it once", []step{
			{"a", 0, "x", true}, {"sync", 0, "", false}, {"sync", 0, "", false}, {"sync", 0, "", false},
			{"b", 0, "x", true},
		}},
		{"another key is untouched", []step{
			{"a", 0, "x", true}, {"a", 0, "x", true}, {"sync", 0, "", false},
			{"b", 0, "y", true}, {"b", 0, "y", true},
		}},
		{"refused requests take nothing from the others", []step{
			{"a", 0, "x", true}, {"a", 0, "x", true}, {"a", 0, "x", false}, {"a", 0, "x", false},
			{"sync", 0, "", false},
			{"b", 10 * time.Second, "x", true},
		}},
		{"without a sync each instance decides alone", []step{
			{"a", 0, "x", true}, {"a", 0, "x", true}, {"b", 0, "x", true}, {"b", 0, "x", true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := newMemExchange()
			boards := map[string]*Board{"a": NewBoard(ex, "a"), "b": NewBoard(ex, "b")}
			keyed := map[string]*Keyed{"a": boards["a"].Keyed("login", oneEvery10s, 10), "b": boards["b"].Keyed("login", oneEvery10s, 10)}
			for i, s := range tt.steps {
				now := start.Add(s.at)
				if s.on == "sync" {
					for _, name := range []string{"a", "b", "a"} {
						if err := boards[name].Sync(context.Background(), now); err != nil {
							t.Fatal(err)
						}
					}
					continue
				}
				if ok, _ := keyed[s.on].Allow(s.key, now); ok != s.want {
					t.Fatalf("step %d (%s at %v): allowed=%v, want %v", i, s.on, s.at, ok, s.want)
				}
			}
		})
	}
}

func TestAFailedSyncPublishesItsTokensNextTime(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	ex := newMemExchange()
	a, b := NewBoard(ex, "a"), NewBoard(ex, "b")
	ka, kb := a.Keyed("signup", oneEvery10s, 10), b.Keyed("signup", oneEvery10s, 10)
	ka.Allow("x", now)
	ka.Allow("x", now)
	ex.broken = true
	if err := a.Sync(context.Background(), now); err == nil {
		t.Fatal("a sync with the storage down succeeded")
	}
	// Alone, each instance still limits.
	if ok, _ := ka.Allow("x", now); ok {
		t.Error("instance a allowed a third request with the storage down")
	}
	ex.broken = false
	for _, bd := range []*Board{a, b} {
		if err := bd.Sync(context.Background(), now); err != nil {
			t.Fatal(err)
		}
	}
	if ok, _ := kb.Allow("x", now); ok {
		t.Error("instance b never heard of the tokens a took while the storage was down")
	}
}

func TestTheRecordsHoldNeitherAddressNorEmail(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	ex := newMemExchange()
	a := NewBoard(ex, "a")
	k := a.Keyed("recovery", Rate{PerMinute: 0.2, Burst: 3}, 10)
	k.Allow("victim@example.com", now)
	a.Keyed("login", oneEvery10s, 10).Allow("198.51.100.7", now)
	if err := a.Sync(context.Background(), now); err != nil {
		t.Fatal(err)
	}
	if len(ex.records) != 2 {
		t.Fatalf("%d records, want 2", len(ex.records))
	}
	for _, u := range ex.records {
		if strings.Contains(u.Key, "victim") || strings.Contains(u.Key, "198.51") || len(u.Key) != 64 {
			t.Errorf("record key %q is not a digest", u.Key)
		}
		// A recovery bucket of three at one per five minutes is full again 15 minutes on.
		want := map[string]time.Duration{"recovery": 15 * time.Minute, "login": 20 * time.Second}[u.Limit]
		if got := u.ExpiresAt.Sub(now); got != want {
			t.Errorf("%s record expires %v after, want %v", u.Limit, got, want)
		}
		if u.Used != 1 {
			t.Errorf("%s record used %d, want 1", u.Limit, u.Used)
		}
	}
}

func TestANilBoardAndAZeroRateLimitAlone(t *testing.T) {
	var none *Board
	if k := none.Keyed("login", oneEvery10s, 10); k == nil || k.name != "" {
		t.Errorf("a nil board gave %+v, want an unshared limiter", k)
	}
	b := NewBoard(newMemExchange(), "a")
	if k := b.Keyed("login", Rate{}, 10); !k.Off() || len(b.limits) != 0 {
		t.Errorf("a zero rate was registered for sharing")
	}
	first, again := b.Keyed("login", oneEvery10s, 10), b.Keyed("login", oneEvery10s, 10)
	if first != again {
		t.Error("one name gave two limiters")
	}
}
