package httpkit

import (
	"net/http"
	"net/netip"
	"testing"
)

func TestClientIPBelievesForwardedForOnlyFromTrustedProxies(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("::1/128"), netip.MustParsePrefix("fd00::/8")}
	tests := []struct {
		name      string
		remote    string
		forwarded []string
		want      string
	}{
		{"a direct client is its socket address", "203.0.113.7:5555", nil, "203.0.113.7"},
		{"a direct client cannot claim another address", "203.0.113.7:5555", []string{"198.51.100.1"}, "203.0.113.7"},
		{"behind a trusted proxy the forwarded address counts", "10.1.2.3:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"the right-most untrusted hop counts, not what the client wrote", "10.1.2.3:80", []string{"1.2.3.4, 198.51.100.1"}, "198.51.100.1"},
		{"trusted hops are skipped", "10.1.2.3:80", []string{"198.51.100.1, 10.9.9.9"}, "198.51.100.1"},
		{"several headers are one chain", "10.1.2.3:80", []string{"1.2.3.4", "198.51.100.1"}, "198.51.100.1"},
		{"garbage in the chain stops the search", "10.1.2.3:80", []string{"198.51.100.1, not-an-ip"}, "10.1.2.3"},
		{"an IPv6 trusted proxy works", "[::1]:80", []string{"2001:db8::5"}, "2001:db8::5"},
		{"a chain of only trusted hops is the proxy", "10.1.2.3:80", []string{"10.2.2.2"}, "10.1.2.3"},

		// Proxies that add the client's port, and IPv6 spellings.
		{"an IPv4 hop with a port is its address", "10.1.2.3:80", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"a bracketed IPv6 hop with a port is its address", "10.1.2.3:80", []string{"[2001:db8::5]:4711"}, "2001:db8::5"},
		{"a bracketed IPv6 hop without a port is its address", "10.1.2.3:80", []string{"[2001:db8::5]"}, "2001:db8::5"},
		{"an unbracketed IPv6 hop is read whole, not as address and port", "10.1.2.3:80", []string{"2001:db8::5:80"}, "2001:db8::5:80"},
		{"a zone id is dropped", "10.1.2.3:80", []string{"fe80::1%eth0"}, "fe80::1"},
		{"a zone id inside brackets with a port is dropped", "10.1.2.3:80", []string{"[2001:db8::5%eth0]:4711"}, "2001:db8::5"},
		{"an IPv4-mapped hop with a port is the IPv4 address", "10.1.2.3:80", []string{"[::ffff:198.51.100.1]:4711"}, "198.51.100.1"},
		{"a trusted hop with a port is skipped", "10.1.2.3:80", []string{"198.51.100.1:4711, 10.9.9.9:80"}, "198.51.100.1"},
		{"a trusted zoned hop is skipped", "10.1.2.3:80", []string{"198.51.100.1, [fd00::2%eth1]:80"}, "198.51.100.1"},
		{"spaces around a hop with a port are ignored", "10.1.2.3:80", []string{" 1.2.3.4:1 ,  198.51.100.1:4711 "}, "198.51.100.1"},

		// Garbage still ends the trusted chain.
		{"a port without an address stops the search", "10.1.2.3:80", []string{":4711"}, "10.1.2.3"},
		{"a bad port stops the search", "10.1.2.3:80", []string{"198.51.100.1:http"}, "10.1.2.3"},
		{"a port out of range stops the search", "10.1.2.3:80", []string{"198.51.100.1:70000"}, "10.1.2.3"},
		{"brackets around IPv4 stop the search", "10.1.2.3:80", []string{"[198.51.100.1]:4711"}, "10.1.2.3"},
		{"an unclosed bracket stops the search", "10.1.2.3:80", []string{"[2001:db8::5:4711"}, "10.1.2.3"},
		{"an empty zone stops the search", "10.1.2.3:80", []string{"fe80::1%"}, "10.1.2.3"},
		{"garbage right of a good hop with a port wins", "10.1.2.3:80", []string{"198.51.100.1:4711, unknown"}, "10.1.2.3"},
		{"garbage left of the right-most untrusted hop is never read", "10.1.2.3:80", []string{"not-an-ip, [x]:1, 198.51.100.1:4711"}, "198.51.100.1"},
		{"a hostname with a port stops the search", "10.1.2.3:80", []string{"example.com:443"}, "10.1.2.3"},

		// The socket's own address.
		{"a zoned peer is trusted by its network and dropped from the answer", "[fd00::9%eth0]:80", []string{"198.51.100.1:4711"}, "198.51.100.1"},
		{"an untrusted zoned peer is its address without the zone", "[2001:db8::9%eth0]:80", nil, "2001:db8::9"},
		{"an IPv4-mapped peer is its IPv4 address", "[::ffff:203.0.113.7]:5555", nil, "203.0.113.7"},
		{"an IPv4-mapped trusted peer is trusted", "[::ffff:10.1.2.3]:80", []string{"198.51.100.1"}, "198.51.100.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resolveClientIP(tt.remote, tt.forwarded, trusted); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestClientIPFallsBackToTheSocketWithoutTheMiddleware(t *testing.T) {
	r, err := http.NewRequest(http.MethodGet, "/", nil)
	if err != nil {
		t.Fatal(err)
	}
	r.RemoteAddr = "[2001:db8::7]:4711"
	r.Header.Set("X-Forwarded-For", "198.51.100.1")
	if got := ClientIP(r); got != "2001:db8::7" {
		t.Errorf("got %s, want the socket's address 2001:db8::7", got)
	}
}
