package limit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"sync"
	"time"
)

// Usage is what one instance has taken from one shared bucket: the total
// since it started counting (a running total, not a delta, so reading
// it twice charges nothing twice). Key is a digest, never the address or
// email itself.
type Usage struct {
	Limit     string
	Key       string
	Instance  string
	Used      int64
	UpdatedAt time.Time
	// ExpiresAt is when the bucket would be full again with nothing more
	// taken: after it the record says nothing and is purged.
	ExpiresAt time.Time
}

// Exchange is where the instances sharing a cluster leave their usage
// for each other (lib/elastic's Store, in <prefix>limits).
type Exchange interface {
	// PutUsage writes this instance's records (one per limit, key and
	// instance; a later total replaces an earlier one).
	PutUsage(ctx context.Context, us []Usage) error
	// UsageSince returns the records of instances other than instance
	// updated at or after since, at most max of them, newest first.
	UsageSince(ctx context.Context, instance string, since time.Time, max int) ([]Usage, error)
}

// readMargin is how far before the last read each read looks again: a
// record written just before it may not have been searchable yet (the
// index refreshes every second). Totals make reading a record twice
// harmless.
const readMargin = 5 * time.Second

// maxRead bounds the records one Sync reads (the most recently updated).
const maxRead = 10_000

// Board shares the buckets of its limiters among the instances that use
// one Exchange. Each instance decides alone, in memory, with nothing on a
// request's path but its own bucket: a client over the limit on this
// instance is refused without a storage call. Sync, run every second or
// so by the server (Run), publishes the tokens this instance took and
// takes from its own buckets the tokens the others took. So N instances
// behind one balancer allow one bucket's rate between them, not N times
// it; between two Syncs, each may let a client take a whole burst before
// it hears of the others' (at most N bursts at once, then the rate).
//
// When the Exchange fails the limits go on per instance, as before a
// Board, and the next Sync catches up.
type Board struct {
	ex       Exchange
	instance string

	mu       sync.Mutex
	limits   map[string]*Keyed
	lastRead time.Time
}

// NewBoard returns a board for this instance (a name no other instance
// sharing ex has) over ex.
func NewBoard(ex Exchange, instance string) *Board {
	return &Board{ex: ex, instance: instance, limits: map[string]*Keyed{}}
}

// Keyed returns the shared limiter name at rate l (at most capacity keys
// in memory). A nil Board returns a limiter of this instance alone. The
// same name twice returns the same limiter: its rate is the first one's.
func (b *Board) Keyed(name string, l Rate, capacity int) *Keyed {
	if b == nil {
		return NewKeyed(l, capacity)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if k, ok := b.limits[name]; ok {
		return k
	}
	k := NewKeyed(l, capacity)
	if !l.Off() {
		k.name = name
		b.limits[name] = k
	}
	return k
}

// Run syncs every interval until ctx ends. It tells report when syncing
// starts to fail (the error) and when it works again (nil), not at every
// round: with Elasticsearch down for an hour, one line, not 3,600.
func (b *Board) Run(ctx context.Context, every time.Duration, now func() time.Time, report func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			err := b.Sync(ctx, now())
			if ctx.Err() != nil {
				return
			}
			if (err != nil) != failing {
				failing = err != nil
				report(err)
			}
		}
	}
}

// Sync publishes what this instance took since the last Sync and charges
// its buckets with what the others took.
func (b *Board) Sync(ctx context.Context, now time.Time) error {
	b.mu.Lock()
	limits := maps.Clone(b.limits)
	since := b.lastRead
	b.mu.Unlock()

	var mine []Usage
	for _, k := range limits {
		mine = append(mine, k.pending(b.instance, now)...)
	}
	if len(mine) > 0 {
		if err := b.ex.PutUsage(ctx, mine); err != nil {
			for _, k := range limits {
				k.unpublished(mine)
			}
			return fmt.Errorf("publish the limits' usage: %w", err)
		}
	}
	theirs, err := b.ex.UsageSince(ctx, b.instance, since.Add(-readMargin), maxRead)
	if err != nil {
		return fmt.Errorf("read the other instances' usage: %w", err)
	}
	for _, u := range theirs {
		if k := limits[u.Limit]; k != nil && u.Instance != b.instance && now.Before(u.ExpiresAt) {
			k.charge(u, now)
		}
	}
	b.mu.Lock()
	b.lastRead = now
	b.mu.Unlock()
	return nil
}

// digest is the key a shared limiter stores: the SHA-256 of its name and
// the key, so the index holds no address and no email.
func digest(name, key string) string {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return hex.EncodeToString(h.Sum(nil))
}

// refill is how long an empty bucket takes to be full again.
func (k *Keyed) refill() time.Duration {
	return time.Duration(float64(k.limit.Burst) / k.limit.PerMinute * float64(time.Minute))
}

// pending returns the usage of the keys that took tokens since the last
// publish, and forgets that they did (unpublished puts them back).
func (k *Keyed) pending(instance string, now time.Time) []Usage {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make([]Usage, 0, len(k.dirty))
	for key := range k.dirty {
		e, ok := k.byKey[key]
		if !ok {
			continue
		}
		out = append(out, Usage{Limit: k.name, Key: key, Instance: instance, Used: e.Value.(*bucket).used,
			UpdatedAt: now, ExpiresAt: now.Add(k.refill())})
	}
	clear(k.dirty)
	return out
}

// unpublished marks the keys of k among us as still to publish.
func (k *Keyed) unpublished(us []Usage) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for _, u := range us {
		if _, ok := k.byKey[u.Key]; ok && u.Limit == k.name {
			k.dirty[u.Key] = struct{}{}
		}
	}
}

// charge takes from u.Key's bucket what u.Instance took since it was last
// read. A total lower than the one seen is a new count (that instance
// forgot the key and began again): all of it is new.
func (k *Keyed) charge(u Usage, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	b := k.bucketOf(u.Key, now)
	if b.seen == nil {
		b.seen = map[string]int64{}
	}
	delta := u.Used - b.seen[u.Instance]
	if u.Used < b.seen[u.Instance] {
		delta = u.Used
	}
	b.seen[u.Instance] = u.Used
	// ReserveN takes at most a burst at once, and goes below zero, so a
	// bucket charged more than it holds makes its key wait for the
	// tokens the others took, as one bucket shared would.
	for delta > 0 {
		n := min(delta, int64(k.limit.Burst))
		b.lim.ReserveN(now, int(n))
		delta -= n
	}
}
