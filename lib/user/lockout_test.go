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
	var u user.User
	for n := 1; n <= 100; n++ {
		locked := l.Fail(&u, now)
		if u.FailedLogins != n {
			t.Fatalf("after %d failures the count is %d", n, u.FailedLogins)
		}
		if d, ok := want[n]; ok {
			if got := l.LockedFor(u, now); got != d || locked != (d > 0) {
				t.Errorf("failure %d: locked for %v (locked=%v), want %v", n, got, locked, d)
			}
		}
	}
	if got := l.LockedFor(u, now.Add(15*time.Minute)); got != 0 {
		t.Errorf("still locked when the lock ended: %v", got)
	}
	l.Succeed(&u)
	if u.FailedLogins != 0 || l.LockedFor(u, now) != 0 {
		t.Errorf("Succeed left %+v", u)
	}
}

func TestLockoutWithThresholdZeroIsOff(t *testing.T) {
	l := user.Lockout{}
	var u user.User
	for i := 0; i < 50; i++ {
		if l.Fail(&u, time.Now()) {
			t.Fatal("locked with lockout off")
		}
	}
	if l.LockedFor(u, time.Now()) != 0 {
		t.Fatal("locked with lockout off")
	}
}
