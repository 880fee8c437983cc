package account

import (
	"context"
	"fmt"
	"time"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/page"
	"esauth/lib/session"
	"esauth/lib/user"
)

// ConsoleStore is what the security console reads: events across every
// account, their aggregations, sessions by query and lockouts.
type ConsoleStore interface {
	SearchEvents(ctx context.Context, f audit.Filter, after *page.Cursor, size int) ([]audit.Event, *page.Cursor, error)
	EventStats(ctx context.Context, f audit.Filter, interval time.Duration, top, sample int, now time.Time) (audit.Stats, error)

	SearchSessions(ctx context.Context, f session.Filter, now time.Time, after *page.Cursor, size int) ([]session.Session, *page.Cursor, error)
	CountSessions(ctx context.Context, f session.Filter, now time.Time, except string) (sessions, users int, err error)
	RevokeSessionsWhere(ctx context.Context, f session.Filter, now time.Time, except string) (int, error)

	ListLockouts(ctx context.Context, now time.Time, size int) ([]user.Lock, int, error)
	ClearLockout(ctx context.Context, email string) (int, error)

	SeenClient(ctx context.Context, email, device, network string, since time.Time) (anyLogin, same bool, err error)
}

// Bounds of the console's aggregations.
const (
	// StatsDefaultRange is what the stats cover without from.
	StatsDefaultRange = 7 * 24 * time.Hour
	// StatsMaxRange is the longest range the stats cover: the histogram
	// and the leaders are computed over every event in it.
	StatsMaxRange = 2 * 366 * 24 * time.Hour
	// StatsTop is how many leaders each list of the stats names.
	StatsTop = 10
	// StatsSample is about how many events the stats count when the filter
	// selects more than twice as many: a random sample, scaled (Sampled).
	// 100,000 events are aggregated in well under 500 ms on 2 cores, and
	// put each of 60 histogram buckets within a few percent.
	StatsSample = 100_000
)

// MayUseConsole refuses (403) anyone but an admin or the operator.
func (s *Service) MayUseConsole(a Actor) error {
	if !a.admin() {
		return errs.E(errs.Forbidden, "Only admins may use the security console.")
	}
	return nil
}

// SearchEvents is a page of the security events f selects, across every
// account, newest first, for an admin or the operator.
func (s *Service) SearchEvents(ctx context.Context, a Actor, f audit.Filter, after *page.Cursor, limit int) ([]audit.Event, *page.Cursor, error) {
	if err := s.MayUseConsole(a); err != nil {
		return nil, nil, err
	}
	return s.store.SearchEvents(ctx, f, after, limit)
}

// EventStats aggregates the events f selects, for an admin or the
// operator: over [f.From, f.To), the last StatsDefaultRange up to now when
// they are unset, at most StatsMaxRange.
func (s *Service) EventStats(ctx context.Context, a Actor, f audit.Filter) (audit.Stats, error) {
	if err := s.MayUseConsole(a); err != nil {
		return audit.Stats{}, err
	}
	now := s.now().UTC()
	if f.To.IsZero() {
		f.To = now
	}
	if f.From.IsZero() {
		f.From = f.To.Add(-StatsDefaultRange)
	}
	if !f.From.Before(f.To) {
		return audit.Stats{}, errs.InvalidFields(map[string]string{"from": "from must be before to (without to: before now)."})
	}
	if f.To.Sub(f.From) > StatsMaxRange {
		return audit.Stats{}, errs.InvalidFields(map[string]string{"from": "The stats cover at most two years; narrow from and to."})
	}
	st, err := s.store.EventStats(ctx, f, audit.StatsInterval(f.From, f.To), StatsTop, StatsSample, now)
	if err != nil {
		return audit.Stats{}, err
	}
	st.From, st.To = f.From, f.To
	return st, nil
}

// AdminSessionView is a session as the console lists it: whose it is, and
// what its owner sees of it.
type AdminSessionView struct {
	Email string `json:"email_address"`
	SessionView
}

// SearchSessions is a page of the live sessions of any account that f
// selects, newest first, for an admin or the operator. Current marks a's
// own session.
func (s *Service) SearchSessions(ctx context.Context, a Actor, f session.Filter, after *page.Cursor, limit int) ([]AdminSessionView, *page.Cursor, error) {
	if err := s.MayUseConsole(a); err != nil {
		return nil, nil, err
	}
	list, next, err := s.store.SearchSessions(ctx, f, s.now(), after, limit)
	if err != nil {
		return nil, nil, err
	}
	out := make([]AdminSessionView, 0, len(list))
	for _, ss := range list {
		out = append(out, AdminSessionView{Email: ss.Email, SessionView: viewOf(ss, a.Session.ID)})
	}
	return out, next, nil
}

// Revocation says what a revocation by query did, or, dry, would do.
type Revocation struct {
	// Sessions and Users count the sessions ended (dry: that would be)
	// and the accounts they belong to.
	Sessions int  `json:"sessions"`
	Users    int  `json:"users"`
	DryRun   bool `json:"dry_run"`
	// PerUser says the filter named one account only, whose sessions were
	// all ended through its session epoch (as by logout-all).
	PerUser bool `json:"per_user"`
}

// RevokeSessionsWhere ends every live session f selects, for an admin or
// the operator, and records one sessions_revoked event with the filter
// and the count. The admin's own session is left out. A filter naming only
// an email ends that account's sessions through its epoch, so even a login
// racing the revocation is ended; any other filter deletes each matching
// session, which the loader finds gone on its next request (a session
// made after the revocation ran is not matched). An empty filter is
// refused: ending everyone's sessions is a choice to make on purpose
// (esauth keys rotate, or a filter such as created_to).
func (s *Service) RevokeSessionsWhere(ctx context.Context, a Actor, f session.Filter, dry bool) (Revocation, error) {
	if err := s.MayUseConsole(a); err != nil {
		return Revocation{}, err
	}
	if f.Empty() {
		return Revocation{}, errs.InvalidFields(map[string]string{"filter": "Give at least one filter (email, ip, user_agent, created_from, created_to, seen_from, seen_to); a dry run counts what it selects."})
	}
	now := s.now()
	except := a.Session.ID
	rev := Revocation{DryRun: dry, PerUser: f.PerUser()}
	var err error
	if rev.Sessions, rev.Users, err = s.store.CountSessions(ctx, f, now, except); err != nil || dry {
		return rev, err
	}
	if rev.PerUser {
		if f.Email == a.User.Email && !a.Operator {
			return Revocation{}, errs.E(errs.Conflict, "To end your own sessions, log out everywhere (POST /v1/auth/logout/all).")
		}
		if _, rev.Sessions, err = s.endAllSessions(ctx, f.Email, "", func(u *user.User) error {
			u.UpdatedAt = now.UTC()
			return nil
		}); err != nil {
			return Revocation{}, err
		}
		rev.Users = min(rev.Users, 1)
	} else if rev.Sessions, err = s.store.RevokeSessionsWhere(ctx, f, now, except); err != nil {
		return Revocation{}, err
	}
	s.recordDetail(a, audit.SessionsRevoked, f.Email, audit.Success,
		fmt.Sprintf("%s; sessions=%d users=%d", f.Values().Encode(), rev.Sessions, rev.Users))
	return rev, nil
}

// LockView is a locked email as the console shows it.
type LockView struct {
	// Email is empty for an email no account has: its record keeps none.
	Email string `json:"email_address"`
	// Key is the start of the record's id, the email's SHA-256.
	Key string `json:"key"`
	// Counter is "password" or "second_factor".
	Counter     string    `json:"counter"`
	Failures    int       `json:"failures"`
	LockedUntil time.Time `json:"locked_until"`
}

// Lockouts lists up to limit emails locked now, the longest lock first,
// and how many are locked in all, for an admin or the operator. Addresses
// are never locked: the per-IP limits are token buckets that refill
// within a minute, so there is nothing to lift (the stats' top addresses
// show who is hammering).
func (s *Service) Lockouts(ctx context.Context, a Actor, limit int) ([]LockView, int, error) {
	if err := s.MayUseConsole(a); err != nil {
		return nil, 0, err
	}
	locks, total, err := s.store.ListLockouts(ctx, s.now(), limit)
	if err != nil {
		return nil, 0, err
	}
	out := make([]LockView, 0, len(locks))
	for _, l := range locks {
		c := "password"
		if l.Counter == user.SecondFactorCounter {
			c = "second_factor"
		}
		out = append(out, LockView{Email: l.Email, Key: l.Key, Counter: c, Failures: l.Failures, LockedUntil: l.LockedUntil})
	}
	return out, total, nil
}

// ClearLockout lifts the lockout of email (its password and second-factor
// failure counts both start again from zero), for an admin or the
// operator, and records lockout_cleared. Any email may be cleared, with an
// account or not: an unknown email's record is locked like a real one.
// Nothing to clear is 404.
func (s *Service) ClearLockout(ctx context.Context, a Actor, email string) error {
	if err := s.MayUseConsole(a); err != nil {
		return err
	}
	email = user.NormalizeEmail(email)
	if email == "" || len(email) > 320 {
		return errs.InvalidFields(map[string]string{"email": "Give the email whose lockout to lift."})
	}
	n, err := s.store.ClearLockout(ctx, email)
	if err != nil {
		return err
	}
	if n == 0 {
		return errs.E(errs.NotFound, "This email has no failed attempts on record.")
	}
	s.record(a, audit.LockoutCleared, email, audit.Success)
	return nil
}
