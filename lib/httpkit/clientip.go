package httpkit

import (
	"net"
	"net/http"
	"net/netip"
	"strings"

	"go.uber.org/zap"

	"esauth/lib/reqlog"
)

// WithClientIP finds the client's address once per request. It is the
// socket's peer, unless that peer is a trusted proxy: then it is the
// right-most X-Forwarded-For entry that is not itself a trusted proxy.
// Entries left of that were written by the client and prove nothing.
func WithClientIP(trusted []netip.Prefix) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ip := resolveClientIP(r.RemoteAddr, r.Header.Values("X-Forwarded-For"), trusted)
			info := infoFrom(r.Context())
			if info == nil { // without accessLog outside, as in some tests
				info = &reqInfo{log: zap.NewNop()}
				r = r.WithContext(reqlog.NewContext(r.Context(), info))
			}
			info.ip, info.hasIP = ip, true
			next.ServeHTTP(w, r)
		})
	}
}

// PeerAddr is the socket peer's address: remoteAddr without its port, and
// false (with the text as it was) when that is no IP address.
func PeerAddr(remoteAddr string) (netip.Addr, string, bool) {
	peer := remoteAddr
	if host, _, err := net.SplitHostPort(remoteAddr); err == nil {
		peer = host
	}
	addr, err := netip.ParseAddr(peer)
	if err != nil {
		return netip.Addr{}, peer, false
	}
	return plain(addr), peer, true
}

func resolveClientIP(remoteAddr string, forwarded []string, trusted []netip.Prefix) string {
	addr, peer, ok := PeerAddr(remoteAddr)
	if !ok {
		return peer
	}
	if !IsTrusted(addr, trusted) {
		return addr.String()
	}
	var hops []string
	for _, h := range forwarded {
		hops = append(hops, strings.Split(h, ",")...)
	}
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHop(hops[i])
		if !ok {
			break // garbage: stop trusting the chain here
		}
		if !IsTrusted(hop, trusted) {
			return hop.String()
		}
	}
	return addr.String()
}

// parseHop reads one X-Forwarded-For entry. Some proxies write the port
// they saw ("198.51.100.1:4711", "[2001:db8::1]:4711"); reading those as
// garbage would make every client behind such a proxy the proxy itself,
// sharing one rate limit. An IPv6 address without brackets is read whole:
// "2001:db8::1:80" is an address, not an address and a port.
func parseHop(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return plain(ap.Addr()), true
	}
	if len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
		if a, err := netip.ParseAddr(s); err == nil && a.Is6() {
			return plain(a), true
		}
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, false
	}
	return plain(a), true
}

// plain drops what names the same client twice: a zone ("fe80::1%eth0")
// names an interface on the machine that saw the address, which means
// nothing to us and would never match a trusted prefix, and an IPv4-mapped
// IPv6 address is the IPv4 client it maps.
func plain(a netip.Addr) netip.Addr {
	return a.WithZone("").Unmap()
}

// IsTrusted reports whether a is in one of the trusted prefixes.
func IsTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	a = plain(a)
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// ClientIP returns the address WithClientIP found (the socket's peer when
// the middleware did not run).
func ClientIP(r *http.Request) string {
	if info := infoFrom(r.Context()); info != nil && info.hasIP {
		return info.ip
	}
	return resolveClientIP(r.RemoteAddr, nil, nil)
}
