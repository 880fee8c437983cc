package httpkit

import (
	"net/http"
	"net/netip"
	"time"

	"esauth/lib/errs"
	"esauth/lib/limit"
)

// IPLimit is one per-IP budget (the login's, the signup's), decided in
// memory and shared with the other instances when its limiter comes from
// a limit.Board. Each surface mounts it with its own way of refusing; the
// budget is the same, so a form is one more way in, not a second
// allowance.
type IPLimit struct {
	keys       *limit.Keyed // nil: no limit
	ipv6Prefix int
	now        func() time.Time
}

// NewIPLimit returns the budget of keys (nil or a zero rate: no limit). An IPv4 client is counted by its
// address; an IPv6 client by its /ipv6Prefix network (0 means 64),
// because one subscriber is usually given a whole /64 and can answer from
// any address in it.
func NewIPLimit(keys *limit.Keyed, ipv6Prefix int, now func() time.Time) *IPLimit {
	if ipv6Prefix <= 0 || ipv6Prefix > 128 {
		ipv6Prefix = 64
	}
	il := &IPLimit{ipv6Prefix: ipv6Prefix, now: now}
	if keys != nil && !keys.Off() {
		il.keys = keys
	}
	return il
}

// Refusing is the budget as middleware: a client over it is answered 429
// with Retry-After by refuse, before the handler touches Elasticsearch,
// so unknown and known emails are throttled alike.
func (il *IPLimit) Refusing(refuse Refuse) Middleware {
	if il.keys == nil {
		return func(next http.Handler) http.Handler { return next }
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ok, wait := il.keys.Allow(ipKey(ClientIP(r), il.ipv6Prefix), il.now()); !ok {
				refuse(w, r, errs.TooManyAttempts("Too many attempts from your address; try again later.", wait))
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
