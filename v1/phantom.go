package v1

import (
	"crypto/sha256"
	"sync"
	"time"

	"esauth/lib/user"
)

// maxPhantoms bounds the memory of phantom lockouts.
const maxPhantoms = 100_000

// phantomLocks applies the account lockout to emails that have no account,
// in memory, so that five failed logins lock an unknown email exactly as
// they lock a real one: a 429 after repeated guesses does not tell an
// attacker that the account exists. (Real accounts' counts live in
// Elasticsearch and are shared by every instance; these are per instance,
// which is enough to keep the answers alike.)
type phantomLocks struct {
	policy user.Lockout
	mu     sync.Mutex
	m      map[string]*user.User
}

func newPhantomLocks(policy user.Lockout) *phantomLocks {
	return &phantomLocks{policy: policy, m: map[string]*user.User{}}
}

// key keeps the map's memory fixed per entry, whatever the client sent.
func key(email string) string {
	sum := sha256.Sum256([]byte(email))
	return string(sum[:])
}

// lockedFor is how long the unknown email stays locked.
func (p *phantomLocks) lockedFor(email string, now time.Time) time.Duration {
	p.mu.Lock()
	defer p.mu.Unlock()
	if u, ok := p.m[key(email)]; ok {
		return p.policy.LockedFor(*u, now)
	}
	return 0
}

// fail counts one failed login for the unknown email.
func (p *phantomLocks) fail(email string, now time.Time) {
	if p.policy.Threshold <= 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	k := key(email)
	u, ok := p.m[k]
	if !ok {
		if len(p.m) >= maxPhantoms {
			p.sweep(now)
		}
		u = &user.User{}
		p.m[k] = u
	}
	p.policy.Fail(u, now)
}

// sweep forgets emails that are not locked; under a flood of distinct
// emails it forgets them all rather than grow.
func (p *phantomLocks) sweep(now time.Time) {
	for e, u := range p.m {
		if p.policy.LockedFor(*u, now) == 0 {
			delete(p.m, e)
		}
	}
	if len(p.m) >= maxPhantoms {
		clear(p.m)
	}
}
