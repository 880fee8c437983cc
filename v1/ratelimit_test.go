package v1

import (
	"net/http"
	"net/http/httptest"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"esauth/lib/limit"
)

// oneEvery10s is a bucket of two that refills one token every ten seconds.
var oneEvery10s = RateLimit{PerMinute: 6, Burst: 2}

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
	k := limit.NewKeyed(oneEvery10s, maxTrackedIPs)
	for i := range maxTrackedIPs {
		// A different /64 each time, as a client holding many would send.
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 15: 1})
		k.Allow(ipKey(a.String(), 64), now)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := k.Len(); n != maxTrackedIPs {
		t.Fatalf("limiter holds %d keys, want %d", n, maxTrackedIPs)
	}
	total := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(k)
	t.Logf("a full limiter of %d IPv6 /64 keys (%q and the like): %d bytes (%.1f MiB), %d bytes an entry",
		maxTrackedIPs, ipKey("2001:db8::1", 64), total, float64(total)/(1<<20), total/maxTrackedIPs)
	if total > 200<<20 {
		t.Errorf("a full limiter takes %d MiB", total>>20)
	}
}
