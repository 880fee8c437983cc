package v1

import (
	"net/http"
	"net/netip"
	"time"

	"esauth/lib/errs"
	"esauth/lib/limit"
)

// RateLimit is a per-key token bucket (limit.Rate): PerMinute on average,
// up to Burst at once; the zero value is no limit.
type RateLimit = limit.Rate

// maxTrackedIPs bounds each per-IP limiter's memory (limit.MaxTracked).
const maxTrackedIPs = limit.MaxTracked

// limitByIP answers 429 with Retry-After when the client is over its budget
// for this route. It runs before the handler touches Elasticsearch, so
// unknown and known emails are throttled alike. An IPv4 client is counted by
// its address; an IPv6 client by its /ipv6Prefix network (0 means 64),
// because one subscriber is usually given a whole /64 and can answer from
// any address in it.
func limitByIP(l RateLimit, ipv6Prefix int, now func() time.Time) Middleware {
	if l.Off() {
		return func(next http.Handler) http.Handler { return next }
	}
	if ipv6Prefix <= 0 || ipv6Prefix > 128 {
		ipv6Prefix = 64
	}
	lim := limit.NewKeyed(l, maxTrackedIPs)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ok, wait := lim.Allow(ipKey(clientIP(r), ipv6Prefix), now()); !ok {
				writeError(w, r, errs.TooManyAttempts("Too many attempts from your address; try again later.", wait))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// ipKey is the bucket a client address counts against: the IPv4 address
// (IPv4-mapped IPv6 included), or the IPv6 network of ipv6Prefix bits. An
// address that does not parse (no socket address) counts as itself.
func ipKey(ip string, ipv6Prefix int) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = plain(a)
	if a.Is4() {
		return a.String()
	}
	p, err := a.Prefix(ipv6Prefix)
	if err != nil {
		return a.String()
	}
	return p.String()
}
