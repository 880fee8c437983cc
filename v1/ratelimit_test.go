package v1

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"
)

// oneEvery10s is a bucket of two that refills one token every ten seconds.
var oneEvery10s = RateLimit{PerMinute: 6, Burst: 2}

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
		limit RateLimit
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
		{"a zero limit allows everything", RateLimit{}, []try{
			{"a", 0, true, 0, "1"}, {"a", 0, true, 0, "2"}, {"a", 0, true, 0, "3"}, {"a", 0, true, 0, "4"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := newKeyedLimiter(tt.limit, 10)
			for _, try := range tt.tries {
				ok, wait := k.allow(try.key, start.Add(try.at))
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
		limit    RateLimit
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
			RateLimit{PerMinute: 6, Burst: 5}, 3,
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
			k := newKeyedLimiter(tt.limit, tt.capacity)
			for _, u := range tt.uses {
				for range u.n {
					k.allow(u.key, start.Add(u.at))
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
func trackedKeys(k *keyedLimiter) []string {
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
	const flood = maxTrackedIPs + 500
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
			k := newKeyedLimiter(oneEvery10s, maxTrackedIPs)
			now := start
			client := func(i int) string { return fmt.Sprintf("client-%d", i) }
			for i := range tt.throttled {
				for range oneEvery10s.Burst {
					if ok, _ := k.allow(client(i), now); !ok {
						t.Fatalf("%s refused within its burst", client(i))
					}
				}
			}
			for i := range flood {
				if tt.tick {
					now = now.Add(time.Microsecond)
				}
				if ok, _ := k.allow(fmt.Sprintf("flood-%d", i), now); !ok {
					t.Fatalf("new key %d refused", i)
				}
				if tt.retryEvery > 0 && i%tt.retryEvery == 0 {
					for c := range tt.throttled {
						if ok, _ := k.allow(client(c), now); ok {
							t.Fatalf("%s allowed during the flood at key %d", client(c), i)
						}
					}
				}
			}
			if n := len(k.byKey); n != maxTrackedIPs {
				t.Errorf("limiter holds %d keys, want its capacity %d", n, maxTrackedIPs)
			}
			for c := range tt.throttled {
				if ok, _ := k.allow(client(c), now); ok {
					t.Errorf("%s is free again after %d other keys", client(c), flood)
				}
			}
		})
	}
}

func TestLimitByIPCountsIPv6ClientsByNetwork(t *testing.T) {
	type req struct {
		remote string
		want   int
	}
	tests := []struct {
		name   string
		prefix int
		reqs   []req
	}{
		{"rotating addresses inside one /64 gets 429 after the burst", 64, []req{
			{"[2001:db8:1:2::1]:4711", 200},
			{"[2001:db8:1:2::2]:4711", 200},
			{"[2001:db8:1:2:ffff:ffff:ffff:ffff]:4711", 429},
			{"[2001:db8:1:2:abcd::9]:4711", 429},
		}},
		{"another /64 is unaffected", 64, []req{
			{"[2001:db8:1:2::1]:4711", 200},
			{"[2001:db8:1:2::2]:4711", 200},
			{"[2001:db8:1:2::3]:4711", 429},
			{"[2001:db8:1:3::1]:4711", 200},
		}},
		{"prefix 0 means 64", 0, []req{
			{"[2001:db8:1:2::1]:4711", 200},
			{"[2001:db8:1:2::2]:4711", 200},
			{"[2001:db8:1:2::3]:4711", 429},
			{"[2001:db8:1:3::1]:4711", 200},
		}},
		{"with prefix 128 single addresses are separate", 128, []req{
			{"[2001:db8:1:2::1]:4711", 200},
			{"[2001:db8:1:2::1]:4711", 200},
			{"[2001:db8:1:2::2]:4711", 200},
			{"[2001:db8:1:2::1]:4711", 429},
		}},
		{"with prefix 48 neighbouring /64s share a bucket", 48, []req{
			{"[2001:db8:1:2::1]:4711", 200},
			{"[2001:db8:1:3::1]:4711", 200},
			{"[2001:db8:1:4::1]:4711", 429},
			{"[2001:db8:2::1]:4711", 200},
		}},
		{"IPv4 clients are counted one address at a time", 64, []req{
			{"198.51.100.1:4711", 200},
			{"198.51.100.1:4712", 200},
			{"198.51.100.1:4713", 429},
			{"198.51.100.2:4711", 200},
		}},
		{"an IPv4-mapped address shares its IPv4 bucket", 64, []req{
			{"198.51.100.1:4711", 200},
			{"198.51.100.1:4711", 200},
			{"[::ffff:198.51.100.1]:4711", 429},
		}},
		{"link-local addresses on different interfaces share their /64", 64, []req{
			{"[fe80::1%eth0]:4711", 200},
			{"[fe80::2%eth1]:4711", 200},
			{"[fe80::3]:4711", 429},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := time.Unix(1_000_000, 0)
			ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
			h := limitByIP(oneEvery10s, tt.prefix, func() time.Time { return now })(ok)
			for i, rq := range tt.reqs {
				r := httptest.NewRequest(http.MethodPost, "/v1/auth/login", nil)
				r.RemoteAddr = rq.remote
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != rq.want {
					t.Fatalf("request %d from %s: status %d, want %d", i+1, rq.remote, w.Code, rq.want)
				}
				if w.Code == http.StatusTooManyRequests && w.Header().Get("Retry-After") == "" {
					t.Errorf("request %d: 429 without Retry-After", i+1)
				}
			}
		})
	}
}

func TestClientsBehindAProxyThatAddsPortsAreLimitedSeparately(t *testing.T) {
	h := newHarness(t, withClock(newFakeClock()), func(d *Deps) {
		d.LoginLimit = oneEvery10s
		d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")}
	})
	tests := []struct {
		name      string
		forwarded string
		want      int
	}{
		{"the first client's first login is heard", "198.51.100.1:4711", 401},
		{"the first client's second login is heard", "198.51.100.1:4711", 401},
		{"the first client from another port is still the first client", "198.51.100.1:50123", 429},
		{"a second client behind the proxy is heard", "198.51.100.2:4711", 401},
		{"an IPv6 client with a port is heard", "[2001:db8:1:2::1]:4711", 401},
		{"its neighbour in the same /64 shares its budget", "[2001:db8:1:2::2]:4711", 401},
		{"a third address in that /64 is over the budget", "[2001:db8:1:2::3]:4711", 429},
		{"a client in another /64 is heard", "[2001:db8:1:3::1]:4711", 401},
		{"the second client still has its own budget", "198.51.100.2:4711", 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.client().in(t).doWith("POST", "/v1/auth/login",
				map[string]any{"email_address": "nobody@example.com", "password": "wrong password"},
				http.Header{"X-Forwarded-For": {"203.0.113.9, " + tt.forwarded}})
			expectStatus(t, a, tt.want)
		})
	}
}

// TestAFullLimiterOfIPv6NetworksStaysSmall measures what maxTrackedIPs
// costs: the figure in the README's known limits comes from its log.
func TestAFullLimiterOfIPv6NetworksStaysSmall(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	k := newKeyedLimiter(oneEvery10s, maxTrackedIPs)
	for i := range maxTrackedIPs {
		// A different /64 each time, as a client holding many would send.
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 15: 1})
		k.allow(ipKey(a.String(), 64), now)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := len(k.byKey); n != maxTrackedIPs {
		t.Fatalf("limiter holds %d keys, want %d", n, maxTrackedIPs)
	}
	total := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(k)
	t.Logf("a full limiter of %d IPv6 /64 keys (%q and the like): %d bytes (%.1f MiB), %d bytes an entry",
		maxTrackedIPs, k.order.Front().Value.(*bucket).key, total, float64(total)/(1<<20), total/maxTrackedIPs)
	if total > 200<<20 {
		t.Errorf("a full limiter takes %d MiB", total>>20)
	}
}
