package user

import "time"

// Lockout throttles one account after repeated failed logins: from the
// Threshold-th consecutive failure on, the account is locked for Base,
// doubling with each further failure, capped at Max. The count lives on the
// user document, so every instance sees the same lock.
type Lockout struct {
	Threshold int
	Base      time.Duration
	Max       time.Duration
}

// LockedFor returns how long u stays locked at now (0 when it is not).
func (l Lockout) LockedFor(u User, now time.Time) time.Duration {
	if l.Threshold <= 0 || !now.Before(u.LockedUntil) {
		return 0
	}
	return u.LockedUntil.Sub(now)
}

// Fail records one failed login at now and returns whether it locked the account.
func (l Lockout) Fail(u *User, now time.Time) bool {
	u.FailedLogins++
	if l.Threshold <= 0 || u.FailedLogins < l.Threshold {
		return false
	}
	u.LockedUntil = now.Add(l.duration(u.FailedLogins - l.Threshold))
	return true
}

// duration is Base·2^n, capped at Max, without overflowing.
func (l Lockout) duration(n int) time.Duration {
	d := l.Base
	for i := 0; i < n && d < l.Max; i++ {
		d *= 2
	}
	return min(d, l.Max)
}

// Succeed clears the count after a successful login.
func (l Lockout) Succeed(u *User) {
	u.FailedLogins = 0
	u.LockedUntil = time.Time{}
}
