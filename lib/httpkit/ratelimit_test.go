package httpkit

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
var oneEvery10s = limit.Rate{PerMinute: 6, Burst: 2}

// statusOnly refuses with the status and Retry-After alone.
func statusOnly(w http.ResponseWriter, _ *http.Request, err error) {
	SetRetryAfter(w, err)
	w.WriteHeader(StatusOf(err))
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
			h := NewIPLimit(limit.NewKeyed(oneEvery10s, limit.MaxTracked), tt.prefix, func() time.Time { return now }).Refusing(statusOnly)(ok)
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

// TestAFullLimiterOfIPv6NetworksStaysSmall measures what limit.MaxTracked
// costs: the figure in the README's known limits comes from its log.
func TestAFullLimiterOfIPv6NetworksStaysSmall(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	k := limit.NewKeyed(oneEvery10s, limit.MaxTracked)
	for i := range limit.MaxTracked {
		// A different /64 each time, as a client holding many would send.
		a := netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 15: 1})
		k.Allow(ipKey(a.String(), 64), now)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	if n := k.Len(); n != limit.MaxTracked {
		t.Fatalf("limiter holds %d keys, want %d", n, limit.MaxTracked)
	}
	total := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	runtime.KeepAlive(k)
	t.Logf("a full limiter of %d IPv6 /64 keys (%q and the like): %d bytes (%.1f MiB), %d bytes an entry",
		limit.MaxTracked, ipKey("2001:db8::1", 64), total, float64(total)/(1<<20), total/limit.MaxTracked)
	if total > 200<<20 {
		t.Errorf("a full limiter takes %d MiB", total>>20)
	}
}
