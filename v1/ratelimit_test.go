package v1

import (
	"net/http"
	"net/netip"
	"testing"
)

// oneEvery10s is a bucket of two that refills one token every ten seconds.
var oneEvery10s = RateLimit{PerMinute: 6, Burst: 2}

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
