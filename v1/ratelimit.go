package v1

import (
	"net/http"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"esauth/lib/errs"
)

// RateLimit is a token bucket: PerMinute requests a minute on average, up to
// Burst at once. The zero value means no limit.
type RateLimit struct {
	PerMinute float64
	Burst     int
}

// maxTrackedIPs bounds the limiter's memory under a flood from many addresses.
const maxTrackedIPs = 100_000

// ipLimiter keeps one token bucket per client IP, in memory: it slows one
// address down on one instance. (Per-account throttling, which every
// instance shares, is stored on the user document.)
type ipLimiter struct {
	limit RateLimit
	mu    sync.Mutex
	m     map[string]*rate.Limiter
}

func newIPLimiter(l RateLimit) *ipLimiter {
	return &ipLimiter{limit: l, m: map[string]*rate.Limiter{}}
}

// allow takes one token for ip at now, or says how long to wait for one.
func (l *ipLimiter) allow(ip string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.m[ip]
	if !ok {
		if len(l.m) >= maxTrackedIPs {
			l.sweep(now)
		}
		lim = rate.NewLimiter(rate.Limit(l.limit.PerMinute/60), l.limit.Burst)
		l.m[ip] = lim
	}
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// sweep forgets addresses whose bucket has refilled: they are
// indistinguishable from new ones. If an attack keeps every bucket busy,
// it forgets them all rather than grow without bound.
func (l *ipLimiter) sweep(now time.Time) {
	for ip, lim := range l.m {
		if lim.TokensAt(now) >= float64(l.limit.Burst) {
			delete(l.m, ip)
		}
	}
	if len(l.m) >= maxTrackedIPs {
		clear(l.m)
	}
}

// limitByIP answers 429 with Retry-After when the client IP is over its
// budget for this route. It runs before the handler touches Elasticsearch,
// so unknown and known emails are throttled alike.
func limitByIP(l RateLimit, now func() time.Time) Middleware {
	if l.PerMinute <= 0 || l.Burst <= 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	lim := newIPLimiter(l)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if ok, wait := lim.allow(clientIP(r), now()); !ok {
				writeError(w, r, errs.TooManyAttempts("Too many attempts from your address; try again later.", wait))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
