package limit

import (
	"fmt"
	"slices"
	"testing"
	"time"
)

// oneEvery10s is a bucket of two that refills one token every ten seconds.
var oneEvery10s = Rate{PerMinute: 6, Burst: 2}

func TestKeyedLimiterBucket(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	type try struct {
		key      string
		at       time.Duration // after start
		want     bool
		maxWait  time.Duration // when refused: the wait is in (0, maxWait]
		describe string
	}
	tests := []struct {
		name  string
		limit Rate
		tries []try
	}{
		{"the burst passes and the next request waits for one token", oneEvery10s, []try{
			{"a", 0, true, 0, "first of the burst"},
			{"a", 0, true, 0, "second of the burst"},
			{"a", 0, false, 10 * time.Second, "over the burst"},
		}},
		{"another key has its own bucket", oneEvery10s, []try{
			{"a", 0, true, 0, "a"}, {"a", 0, true, 0, "a"}, {"a", 0, false, 10 * time.Second, "a over"},
			{"b", 0, true, 0, "b is untouched"},
		}},
		{"after the wait the key may try again", oneEvery10s, []try{
			{"a", 0, true, 0, "a"}, {"a", 0, true, 0, "a"},
			{"a", 5 * time.Second, false, 5 * time.Second, "half-way through the wait"},
			{"a", 10 * time.Second, true, 0, "once the token is back"},
			{"a", 10 * time.Second, false, 10 * time.Second, "and only one came back"},
		}},
		{"refused requests take no token", oneEvery10s, []try{
			{"a", 0, true, 0, "a"}, {"a", 0, true, 0, "a"},
			{"a", time.Second, false, 9 * time.Second, "refused"},
			{"a", 2 * time.Second, false, 8 * time.Second, "refused again"},
			{"a", 10 * time.Second, true, 0, "on time as if never refused"},
		}},
		{"a zero limit allows everything", Rate{}, []try{
			{"a", 0, true, 0, "1"}, {"a", 0, true, 0, "2"}, {"a", 0, true, 0, "3"}, {"a", 0, true, 0, "4"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := NewKeyed(tt.limit, 10)
			for _, try := range tt.tries {
				ok, wait := k.Allow(try.key, start.Add(try.at))
				if ok != try.want {
					t.Fatalf("%s: allowed=%v, want %v", try.describe, ok, try.want)
				}
				if ok && wait != 0 {
					t.Errorf("%s: allowed with a wait of %v", try.describe, wait)
				}
				if !ok && (wait <= 0 || wait > try.maxWait) {
					t.Errorf("%s: wait %v, want in (0, %v]", try.describe, wait, try.maxWait)
				}
			}
		})
	}
}

func TestKeyedLimiterEvictsOneEntryAtATimePreferringRefilledOnes(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	type use struct {
		key string
		at  time.Duration // after start
		n   int           // requests
	}
	tests := []struct {
		name     string
		limit    Rate
		capacity int
		uses     []use    // the last use brings a new key into a full limiter
		kept     []string // the keys tracked afterwards
	}{
		{
			"a new key evicts exactly the least recently used entry",
			oneEvery10s, 3,
			[]use{{"a", 0, 1}, {"b", 0, 1}, {"c", 0, 1}, {"d", 0, 1}},
			[]string{"b", "c", "d"},
		},
		{
			"using a key makes it recent again",
			oneEvery10s, 3,
			[]use{{"a", 0, 1}, {"b", 0, 1}, {"c", 0, 1}, {"a", 0, 1}, {"d", 0, 1}},
			[]string{"a", "c", "d"},
		},
		{
			"a refused request makes a key recent too",
			oneEvery10s, 3,
			// All three are throttled, so recency alone decides.
			[]use{{"a", 0, 2}, {"b", 0, 2}, {"c", 0, 2}, {"a", time.Second, 1}, {"d", time.Second, 1}},
			[]string{"a", "c", "d"},
		},
		{
			"a refilled entry is evicted before a throttled one",
			oneEvery10s, 3,
			// At 11s b (one token used at 0) has refilled; a (its whole
			// burst used at 9s) and c are throttled.
			[]use{{"b", 0, 1}, {"a", 9 * time.Second, 3}, {"c", 10 * time.Second, 2}, {"d", 11 * time.Second, 1}},
			[]string{"a", "c", "d"},
		},
		{
			"a refilled entry is evicted before an older one still refilling",
			Rate{PerMinute: 6, Burst: 5}, 3,
			// At 11s a (three tokens used at 0) still misses one; b (one
			// used at 1s) is full again though used later.
			[]use{{"a", 0, 3}, {"b", time.Second, 1}, {"c", 10 * time.Second, 4}, {"d", 11 * time.Second, 1}},
			[]string{"a", "c", "d"},
		},
		{
			"a throttled entry outlives newer ones that still have tokens",
			oneEvery10s, 3,
			[]use{{"a", 0, 3}, {"b", 0, 1}, {"c", 0, 1}, {"d", 0, 1}, {"e", 0, 1}},
			[]string{"a", "d", "e"},
		},
		{
			"when every entry is throttled, only the least recently used goes",
			oneEvery10s, 3,
			[]use{{"a", 0, 3}, {"b", 0, 3}, {"c", 0, 3}, {"d", 0, 1}},
			[]string{"b", "c", "d"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := NewKeyed(tt.limit, tt.capacity)
			for _, u := range tt.uses {
				for range u.n {
					k.Allow(u.key, start.Add(u.at))
				}
			}
			if got := trackedKeys(k); !slices.Equal(got, tt.kept) {
				t.Errorf("tracked %v, want %v", got, tt.kept)
			}
		})
	}
}

// trackedKeys lists the keys k holds, sorted, after checking that its map
// and its list agree.
func trackedKeys(k *Keyed) []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var keys []string
	for e := k.order.Front(); e != nil; e = e.Next() {
		keys = append(keys, e.Value.(*bucket).key)
	}
	if len(keys) != len(k.byKey) {
		panic(fmt.Sprintf("list holds %d keys, map %d", len(keys), len(k.byKey)))
	}
	slices.Sort(keys)
	return keys
}

func TestAThrottledClientStaysThrottledThroughAFloodOfOtherKeys(t *testing.T) {
	const flood = MaxTracked + 500
	start := time.Unix(1_000_000, 0)
	tests := []struct {
		name       string
		throttled  int  // clients that use their whole burst before the flood
		retryEvery int  // a throttled client tries again every this many flood keys; 0 never
		tick       bool // the flood takes a microsecond a key instead of no time
	}{
		{"a client that waits quietly stays throttled", 1, 0, false},
		{"a client that keeps trying stays throttled", 1, 1000, false},
		{"ten quiet clients all stay throttled", 10, 0, false},
		{"quiet clients stay throttled while the clock runs", 10, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := NewKeyed(oneEvery10s, MaxTracked)
			now := start
			client := func(i int) string { return fmt.Sprintf("client-%d", i) }
			for i := range tt.throttled {
				for range oneEvery10s.Burst {
					if ok, _ := k.Allow(client(i), now); !ok {
						t.Fatalf("%s refused within its burst", client(i))
					}
				}
			}
			for i := range flood {
				if tt.tick {
					now = now.Add(time.Microsecond)
				}
				if ok, _ := k.Allow(fmt.Sprintf("flood-%d", i), now); !ok {
					t.Fatalf("new key %d refused", i)
				}
				if tt.retryEvery > 0 && i%tt.retryEvery == 0 {
					for c := range tt.throttled {
						if ok, _ := k.Allow(client(c), now); ok {
							t.Fatalf("%s allowed during the flood at key %d", client(c), i)
						}
					}
				}
			}
			if n := len(k.byKey); n != MaxTracked {
				t.Errorf("limiter holds %d keys, want its capacity %d", n, MaxTracked)
			}
			for c := range tt.throttled {
				if ok, _ := k.Allow(client(c), now); ok {
					t.Errorf("%s is free again after %d other keys", client(c), flood)
				}
			}
		})
	}
}
