package elastic_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"esauth/lib/elastic/estest"
)

func TestALeaseHasOneHolderUntilItExpires(t *testing.T) {
	store := estest.New(t)
	ctx := context.Background()
	now := time.Now()
	const ttl = time.Hour
	for _, step := range []struct {
		name   string
		holder string
		at     time.Time
		want   bool
	}{
		{"the first instance takes a lease nobody holds", "a", now, true},
		{"another instance is refused while it lasts", "b", now.Add(time.Minute), false},
		{"the holder renews its own lease", "a", now.Add(30 * time.Minute), true},
		{"the renewal moved the expiry: still refused after the first hour", "b", now.Add(ttl + time.Minute), false},
		{"once it has expired, another instance takes it over", "b", now.Add(30*time.Minute + ttl + time.Second), true},
		{"and the old holder is refused", "a", now.Add(30*time.Minute + ttl + 2*time.Second), false},
	} {
		got, err := store.TakeLease(ctx, "purge", step.holder, ttl, step.at)
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if got != step.want {
			t.Errorf("%s: took = %v; want %v", step.name, got, step.want)
		}
	}
}

// Many instances racing for one lease: exactly one gets it, when nobody
// holds it and again when it has expired.
func TestInstancesRacingForALeaseGiveItToExactlyOne(t *testing.T) {
	store := estest.New(t)
	now := time.Now()
	race := func(at time.Time) int64 {
		var won atomic.Int64
		var wg sync.WaitGroup
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := store.TakeLease(context.Background(), "purge", fmt.Sprintf("racer-%d-%d", at.Unix(), i), time.Minute, at)
				if err != nil {
					t.Error(err)
				}
				if ok {
					won.Add(1)
				}
			}()
		}
		wg.Wait()
		return won.Load()
	}
	if n := race(now); n != 1 {
		t.Errorf("%d instances took a lease nobody held; want 1", n)
	}
	if n := race(now.Add(2 * time.Minute)); n != 1 {
		t.Errorf("%d instances took over the expired lease; want 1", n)
	}
}
