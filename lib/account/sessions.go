package account

import (
	"context"
	"time"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/page"
	"esauth/lib/reqlog"
	"esauth/lib/session"
	"esauth/lib/user"
)

// Started is a session a rule began: the surface hands Token to the
// client (the cookie carries it with Session.Email). Only Token's hash is
// stored, as the session's id.
type Started struct {
	Session session.Session
	Token   string
}

// The stages of a new session.
const (
	stageFull         = iota // logged in (no second factor, or none needed)
	stagePending             // the password was right; the code is owed
	stageSecondFactor        // logged in, the second factor passed
)

// PendingTTL is how long a half-authenticated session waits for its code.
const PendingTTL = 5 * time.Minute

// begin stores a new session of u at a stage for a's client. The session
// records u's epoch as read before the password check, so a revocation
// that happened since (password change, disable, delete) already refuses
// it. A pending one lives PendingTTL and counts as anonymous everywhere
// but the second factor's check. Beyond the cap, the user's oldest
// sessions end (best effort).
func (s *Service) begin(ctx context.Context, a Actor, u user.User, remember bool, stage int) (Started, error) {
	now := s.now().UTC()
	ss, tok := s.policy.New(u, remember, now, a.UserAgent, a.IP)
	switch stage {
	case stagePending:
		ss.Pending, ss.ExpiresAt = true, now.Add(PendingTTL)
	case stageSecondFactor:
		ss.SecondFactor = true
	}
	if err := s.store.CreateSession(ctx, ss); err != nil {
		return Started{}, err
	}
	if s.maxSessions > 0 {
		if _, err := s.store.TrimSessions(ctx, u.Email, s.maxSessions, ss.ID, now); err != nil {
			reqlog.From(ctx).Warnw("could not end sessions beyond the cap", "error", err)
		}
	}
	return Started{Session: ss, Token: tok}, nil
}

// endPresented ends the session a's credential names, if any: a login
// replaces it, so a cookie planted before the login is never the one
// valid after it.
func (s *Service) endPresented(ctx context.Context, a Actor) error {
	if a.Presented == "" {
		return nil
	}
	return s.store.DeleteSession(ctx, a.Presented)
}

// LogOut ends the session a's credential names, if any, in Elasticsearch,
// so a copy of the cookie is dead too. It asks no proof that the session
// still works: ending a dead one is harmless.
func (s *Service) LogOut(ctx context.Context, a Actor) error {
	if a.Presented == "" {
		return nil
	}
	email := a.PresentedEmail
	if email == "" {
		// A bearer token names no email; the event names the owner. The
		// token of a session already gone names nobody: nothing to end,
		// and no account to record it under.
		owner, err := s.store.SessionOwner(ctx, a.Presented)
		if errs.Is(err, errs.Unauthenticated) {
			return nil
		}
		if err != nil {
			return err
		}
		email = owner
	}
	if err := s.store.DeleteSession(ctx, a.Presented); err != nil {
		return err
	}
	s.record(a, audit.Logout, email, audit.Success)
	return nil
}

// endAllSessions ends every session of email at once by giving the user a
// new session epoch, then deletes the sessions' documents as housekeeping.
// The epoch is what makes it hold: a login that read the user before the
// change stores a session with the old epoch, which the loader refuses,
// even though the deletion's search could not see it. A failed deletion is
// logged, not an error: the sessions are already over. change may make
// other changes in the same write.
func (s *Service) endAllSessions(ctx context.Context, email, except string, change func(*user.User) error) (user.User, int, error) {
	u, err := s.store.UpdateUser(ctx, email, func(u *user.User) error {
		if change != nil {
			if err := change(u); err != nil {
				return err
			}
		}
		u.SessionEpoch = user.NewEpoch()
		return nil
	})
	if err != nil {
		return user.User{}, 0, err
	}
	n, err := s.store.RevokeSessions(ctx, email, except)
	if err != nil {
		reqlog.From(ctx).Warnw("sessions ended, but their documents could not all be deleted; they are refused and purged when they expire", "error", err)
	}
	return u, n, nil
}

// LogOutEverywhere ends every session of email (a's own, or any for the
// operator), a's included, and returns how many session documents it
// deleted.
func (s *Service) LogOutEverywhere(ctx context.Context, a Actor, email string) (int, error) {
	email, err := s.authorize(a, email)
	if err != nil {
		return 0, err
	}
	_, n, err := s.endAllSessions(ctx, email, "", func(u *user.User) error {
		u.UpdatedAt = s.now().UTC()
		return nil
	})
	if err != nil {
		return 0, err
	}
	s.record(a, audit.LogoutAll, email, audit.Success)
	return n, nil
}

// SessionView is a session as its user (or the operator) sees it.
type SessionView struct {
	ID         string    `json:"id"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	Remember   bool      `json:"remember"`
	Current    bool      `json:"current"`
	// SecondFactor: the login passed the second factor. Pending: it has
	// not yet (its code is owed; it works for nothing else).
	SecondFactor bool `json:"second_factor"`
	Pending      bool `json:"pending"`
}

// viewOf is the one way a session becomes a view; current is the id of
// the session asking.
func viewOf(ss session.Session, current string) SessionView {
	return SessionView{
		ID: ss.ID, CreatedAt: ss.CreatedAt, ExpiresAt: ss.ExpiresAt, LastSeenAt: ss.LastSeenAt,
		UserAgent: ss.UserAgent, IP: ss.IP, Remember: ss.Remember, Current: ss.ID == current,
		SecondFactor: ss.SecondFactor, Pending: ss.Pending,
	}
}

// Sessions is one page of email's sessions that are still valid, newest
// first: a's own, or anyone's for the operator.
func (s *Service) Sessions(ctx context.Context, a Actor, email string, after *page.Cursor, limit int) ([]SessionView, *page.Cursor, error) {
	email, err := s.authorize(a, email)
	if err != nil {
		return nil, nil, err
	}
	u := a.User
	if a.Operator {
		if u, err = s.store.GetUser(ctx, email); err != nil {
			return nil, nil, err
		}
	}
	t := s.now()
	list, next, err := s.store.ListSessions(ctx, email, t, after, limit)
	if err != nil {
		return nil, nil, err
	}
	out := make([]SessionView, 0, len(list))
	for _, ss := range list {
		// Expired ones are left out by the store; idle ones and those
		// of an earlier epoch are refused by the loader, so not listed.
		if s.policy.Accepts(ss, u, t) {
			out = append(out, viewOf(ss, a.Session.ID))
		}
	}
	return out, next, nil
}

// RevokeSession ends one of email's sessions (a's own, or anyone's for
// the operator); another user's id is 404.
func (s *Service) RevokeSession(ctx context.Context, a Actor, email, id string) error {
	email, err := s.authorize(a, email)
	if err != nil {
		return err
	}
	if err := s.store.DeleteSessionOf(ctx, email, id); err != nil {
		return err
	}
	s.record(a, audit.SessionRevoked, email, audit.Success)
	return nil
}

// authorize returns the normalized email a acts on: the operator acts on
// anyone, a logged-in user only on themselves ("" means a's own).
func (s *Service) authorize(a Actor, email string) (string, error) {
	switch {
	case a.Operator:
		return user.NormalizeEmail(email), nil
	case !a.LoggedIn:
		return "", errs.E(errs.Unauthenticated, "Log in first.")
	case email == "" || user.NormalizeEmail(email) == a.User.Email:
		return a.User.Email, nil
	}
	return "", errs.E(errs.Forbidden, "You may only see and change your own account.")
}
