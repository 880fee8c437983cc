// Package limit holds the token buckets esauth throttles with: per client
// network (the surfaces' per-IP limits) and per session or address (the
// application layer's password checks and recovery mails). Each decision
// is made in memory; a Board shares what each instance took with the
// others (shared.go). It knows nothing of HTTP; per-account throttling is
// the lockout stored in Elasticsearch.
package limit

import (
	"container/list"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rate is a token bucket: PerMinute requests a minute on average, up to
// Burst at once. The zero value means no limit.
type Rate struct {
	PerMinute float64
	Burst     int
}

// Off says the limit is turned off: either field at zero or below.
func (l Rate) Off() bool { return l.PerMinute <= 0 || l.Burst <= 0 }

// MaxTracked bounds each per-IP limiter's memory under a flood from many
// addresses: about 210 bytes a key, 20 MiB when full (measured by
// TestAFullLimiterOfIPv6NetworksStaysSmall).
const MaxTracked = 100_000

// evictScan is how many of the least recently used entries eviction looks
// at for one it can forget for free. It bounds the work of each insertion.
const evictScan = 16

// Keyed keeps one token bucket per key (a client network, a session
// id), in memory: it slows one key down on one instance. (Per-account
// throttling, which every instance shares, is stored in Elasticsearch.)
//
// It holds at most capacity keys, so a flood of new keys cannot grow its
// memory. When it is full, a new key evicts exactly one entry, chosen among
// the evictScan least recently used:
//   - first, one whose bucket has refilled: it is indistinguishable from a
//     new one, so forgetting it changes nothing;
//   - else the least recently used one that still has a token: forgetting
//     it gives its client back only the tokens it has not refilled yet;
//   - throttled entries (not one token left) are passed over and moved to
//     the front, so a flood of new keys does not push them out; only when
//     all evictScan are throttled is the least recently used of them
//     forgotten, because the bound on memory must hold.
//
// This is safe enough. The entry forgotten is the least recently used, so
// the one that has had longest to refill and the closest to being new
// anyway; its client gains at most one bucket. To get any entry forgotten an
// attacker must first send new keys, about capacity of them, each of which
// already had a whole bucket of its own; and nothing is ever forgotten in
// bulk, so other throttled clients stay throttled.
type Keyed struct {
	limit    Rate
	capacity int
	// name is set when the limiter is shared through a Board: keys are
	// then its digests (see digest), and tokens taken are counted for the
	// other instances.
	name string

	mu    sync.Mutex
	order *list.List // of *bucket, most recently used first
	byKey map[string]*list.Element
	dirty map[string]struct{} // shared: keys whose used grew since the last publish
}

type bucket struct {
	key string
	lim *rate.Limiter
	// Shared limiters only: used counts the tokens this instance has
	// taken since the bucket was made (what it publishes), and seen the
	// last total read from each other instance (what it has charged).
	used int64
	seen map[string]int64
}

// NewKeyed returns a limiter that keeps at most capacity keys. A zero
// Rate allows everything; a capacity below 1 counts as 1.
func NewKeyed(l Rate, capacity int) *Keyed {
	return &Keyed{limit: l, capacity: max(capacity, 1), order: list.New(), byKey: map[string]*list.Element{}, dirty: map[string]struct{}{}}
}

// Off says the limiter allows everything.
func (k *Keyed) Off() bool { return k.limit.Off() }

// Allow takes one token for key at now, or says how long to wait for one.
func (k *Keyed) Allow(key string, now time.Time) (bool, time.Duration) {
	if k.limit.Off() {
		return true, 0
	}
	if k.name != "" {
		key = digest(k.name, key)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.bucketOf(key, now)
	r := b.lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Minute
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	if k.name != "" {
		b.used++
		k.dirty[key] = struct{}{}
	}
	return true, 0
}

// bucketOf returns key's bucket, made (and another evicted when full) if
// it has none, as the most recently used. The caller holds k.mu.
func (k *Keyed) bucketOf(key string, now time.Time) *bucket {
	e, ok := k.byKey[key]
	if ok {
		k.order.MoveToFront(e)
		return e.Value.(*bucket)
	}
	if k.order.Len() >= k.capacity {
		k.evictOne(now)
	}
	b := &bucket{key: key, lim: rate.NewLimiter(rate.Limit(k.limit.PerMinute/60), k.limit.Burst)}
	k.byKey[key] = k.order.PushFront(b)
	return b
}

// evictOne forgets one entry to make room, as the type's comment says.
// The caller holds k.mu.
func (k *Keyed) evictOne(now time.Time) {
	var refilled, partial *list.Element
	throttled := make([]*list.Element, 0, evictScan)
	e := k.order.Back()
	for i := 0; i < evictScan && e != nil && refilled == nil; i, e = i+1, e.Prev() {
		switch tokens := e.Value.(*bucket).lim.TokensAt(now); {
		case tokens >= float64(k.limit.Burst):
			refilled = e
		case tokens < 1:
			throttled = append(throttled, e)
		case partial == nil:
			partial = e
		}
	}
	victim := refilled
	if victim == nil {
		victim = partial
	}
	if victim == nil {
		// Every entry looked at is throttled: the bound on memory wins,
		// for the one of them that has waited longest.
		victim, throttled = throttled[0], throttled[1:]
	}
	for _, t := range throttled {
		k.order.MoveToFront(t)
	}
	k.order.Remove(victim)
	delete(k.byKey, victim.Value.(*bucket).key)
	delete(k.dirty, victim.Value.(*bucket).key)
}

// Len is how many keys the limiter holds.
func (k *Keyed) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.byKey)
}
