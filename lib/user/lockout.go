package user

import "time"

// Attempts is the failed-password record of one email address, whether or
// not an account has it: a real account and an unknown email are counted,
// stored and locked alike, so a lockout never tells which accounts exist.
type Attempts struct {
	// Failures counts consecutive failed password checks.
	Failures int
	// LockedUntil is when a lock the failures caused ends.
	LockedUntil time.Time
	UpdatedAt   time.Time
	// ExpiresAt is when the record may be forgotten (purged): Retention
	// after the last failure.
	ExpiresAt time.Time
	// Email is the account's address when an account has it, so the
	// security console lists locked accounts by name; the record of an
	// email no account has holds none, so the index never keeps what was
	// typed in the email box.
	Email string
	// Version is the stored revision the record was read at (zero when it
	// is not stored), so a write can refuse to overwrite a newer count.
	Version Version
}

// Counter names one of the failure counts kept per email address. Each
// counts on its own: a right password clears the password failures, never
// the second-factor ones, or an attacker who has the password could log
// in again after every few wrong codes and guess codes without end
// (issue 17).
type Counter int

// The counters.
const (
	// PasswordCounter counts wrong passwords (logins and the checks made
	// with a session); a right password clears it.
	PasswordCounter Counter = iota
	// SecondFactorCounter counts wrong second-factor codes and recovery
	// codes; only a right code or an account recovery clears it.
	SecondFactorCounter
)

// Version identifies one stored revision of a document for optimistic
// concurrency. Only the store interprets it.
type Version struct {
	SeqNo, PrimaryTerm int64
}

// Stored reports whether v names a stored revision.
func (v Version) Stored() bool { return v.PrimaryTerm > 0 }

// Retention is how long a failed-password record is kept after its last
// failure. Failures further apart than this no longer add up.
const Retention = 24 * time.Hour

// Lockout throttles one email address after repeated failed password
// checks: from the Threshold-th consecutive failure on, it is locked for
// Base, doubling with each further failure, capped at Max. The record
// lives in Elasticsearch, so every instance sees the same lock.
type Lockout struct {
	Threshold int
	Base      time.Duration
	Max       time.Duration
}

// On reports whether the lockout is in force (a threshold above zero).
func (l Lockout) On() bool { return l.Threshold > 0 }

// LockedFor returns how long a stays locked at now (0 when it is not).
func (l Lockout) LockedFor(a Attempts, now time.Time) time.Duration {
	if !l.On() || !now.Before(a.LockedUntil) {
		return 0
	}
	return a.LockedUntil.Sub(now)
}

// Fail records one failed check at now and returns whether it locked the
// address.
func (l Lockout) Fail(a *Attempts, now time.Time) bool {
	a.Failures++
	a.UpdatedAt = now
	a.ExpiresAt = now.Add(max(Retention, l.Max))
	if !l.On() || a.Failures < l.Threshold {
		return false
	}
	a.LockedUntil = now.Add(l.duration(a.Failures - l.Threshold))
	if a.LockedUntil.After(a.ExpiresAt) {
		a.ExpiresAt = a.LockedUntil
	}
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

// Lock is one locked failure record, as the security console lists it.
type Lock struct {
	// Key is the start of the record's id (the email's SHA-256), which
	// tells records apart when no account has the email.
	Key     string
	Counter Counter
	Attempts
}
