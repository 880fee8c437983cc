package user_test

import (
	"testing"
	"time"

	"esauth/lib/user"
)

func TestLockoutBacksOffExponentiallyUpToTheCap(t *testing.T) {
	l := user.Lockout{Threshold: 5, Base: time.Second, Max: 15 * time.Minute}
	now := time.Unix(1_000_000, 0)
	want := map[int]time.Duration{
		1: 0, 4: 0, // under the threshold: no lock
		5: time.Second, 6: 2 * time.Second, 7: 4 * time.Second, 14: 512 * time.Second,
		15: 15 * time.Minute, 40: 15 * time.Minute, 100: 15 * time.Minute, // capped, no overflow
	}
	var a user.Attempts
	for n := 1; n <= 100; n++ {
		locked := l.Fail(&a, now)
		if a.Failures != n {
			t.Fatalf("after %d failures the count is %d", n, a.Failures)
		}
		if d, ok := want[n]; ok {
			if got := l.LockedFor(a, now); got != d || locked != (d > 0) {
				t.Errorf("failure %d: locked for %v (locked=%v), want %v", n, got, locked, d)
			}
		}
	}
	if got := l.LockedFor(a, now.Add(15*time.Minute)); got != 0 {
		t.Errorf("still locked when the lock ended: %v", got)
	}
	if !a.ExpiresAt.Equal(now.Add(user.Retention)) {
		t.Errorf("record expires at %v, want a retention of %v after the last failure", a.ExpiresAt, user.Retention)
	}
}

func TestAnAttemptsRecordOutlivesItsLock(t *testing.T) {
	l := user.Lockout{Threshold: 1, Base: 48 * time.Hour, Max: 72 * time.Hour}
	now := time.Unix(1_000_000, 0)
	var a user.Attempts
	l.Fail(&a, now)
	if a.ExpiresAt.Before(a.LockedUntil) {
		t.Errorf("record expires at %v, before its lock ends at %v: purging it would unlock early", a.ExpiresAt, a.LockedUntil)
	}
}

func TestLockoutWithThresholdZeroIsOff(t *testing.T) {
	l := user.Lockout{}
	var a user.Attempts
	for i := 0; i < 50; i++ {
		if l.Fail(&a, time.Now()) {
			t.Fatal("locked with lockout off")
		}
	}
	if l.On() || l.LockedFor(a, time.Now()) != 0 {
		t.Fatal("locked with lockout off")
	}
}
