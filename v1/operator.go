package v1

import (
	"context"
	"time"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/page"
	"esauth/lib/password"
	"esauth/lib/session"
	"esauth/lib/user"
)

// OperatorActor is the actor of the audit events the command line records.
const OperatorActor = "operator (command line)"

// OperatorStore is what the command line reads and changes.
type OperatorStore interface {
	userUpdater
	DeleteUser(ctx context.Context, email string) error
	SearchUsers(ctx context.Context, q string, after *page.Cursor, size int) ([]user.User, *page.Cursor, error)
	ListSessions(ctx context.Context, email string, now time.Time, after *page.Cursor, size int) ([]session.Session, *page.Cursor, error)
	DeleteSessionOf(ctx context.Context, email, id string) error
	ListEvents(ctx context.Context, email string, since time.Time, after *audit.Cursor, size int) ([]audit.Event, *audit.Cursor, error)
	ClearFailures(ctx context.Context, c user.Counter, email string) error
}

// Operator is what "esauth user …", "esauth sessions …" and "esauth
// audit" do, under the API's own rules: the same validation and password
// screening, disabling and password changes end every session, and each
// change is an audit event whose actor is OperatorActor. The operator has
// the cluster's credentials, so nothing here is refused for want of a
// role; removing the last admin is allowed (the command line can make one).
type Operator struct {
	Store  OperatorStore
	Hasher *password.Hasher
	Screen PasswordScreen
	Audit  audit.Recorder
	Now    func() time.Time
}

func (o Operator) record(event, email, outcome string) {
	o.Audit.Record(audit.Event{Event: event, Email: email, Actor: OperatorActor, UserAgent: "esauth", Outcome: outcome})
}

// Get returns one user.
func (o Operator) Get(ctx context.Context, email string) (user.User, error) {
	return o.Store.GetUser(ctx, user.NormalizeEmail(email))
}

// Update changes names, role or is_active as PATCH /v1/users/{email} does
// for an admin; disabling ends every session.
func (o Operator) Update(ctx context.Context, email string, change UserUpdate) (user.User, error) {
	email = user.NormalizeEmail(email)
	_, u, err := applyUpdate(ctx, o.Store, o.Now, email, change)
	if err != nil {
		return user.User{}, err
	}
	event := audit.UserUpdated
	if change.IsActive != nil && !*change.IsActive {
		event = audit.UserDisabled
	}
	o.record(event, u.Email, audit.Success)
	return u, nil
}

// Delete deletes a user with their sessions and linked accounts.
func (o Operator) Delete(ctx context.Context, email string) error {
	email = user.NormalizeEmail(email)
	if err := o.Store.DeleteUser(ctx, email); err != nil {
		return err
	}
	o.record(audit.UserDeleted, email, audit.Success)
	return nil
}

// SetPassword gives a user a new password, screened as at signup; every
// session of the user ends and any lockout is lifted.
func (o Operator) SetPassword(ctx context.Context, email, pw string) (int, error) {
	email = user.NormalizeEmail(email)
	if m := user.ValidatePassword(pw); m != "" {
		return 0, errs.InvalidFields(map[string]string{"password": m})
	}
	if m := o.Screen.problem(ctx, pw, email); m != "" {
		return 0, errs.InvalidFields(map[string]string{"password": m})
	}
	hash, err := o.Hasher.Hash(ctx, pw)
	if err := busy(err); err != nil {
		return 0, err
	}
	t := o.Now().UTC()
	_, n, err := endAllSessions(ctx, o.Store, email, "", func(u *user.User) error {
		u.PasswordHash, u.PasswordChangedAt, u.UpdatedAt = hash, t, t
		return nil
	})
	if err != nil {
		return 0, err
	}
	// The password lock only: a new password is no right second-factor
	// code, and only a code or a recovery lifts that lock.
	if err := o.Store.ClearFailures(ctx, user.PasswordCounter, email); err != nil {
		return n, err
	}
	o.record(audit.PasswordChanged, email, audit.Success)
	return n, nil
}

// Sessions lists the user's sessions that are still valid, newest first,
// at most limit.
func (o Operator) Sessions(ctx context.Context, email string, policy session.Policy, limit int) ([]SessionView, error) {
	email = user.NormalizeEmail(email)
	u, err := o.Store.GetUser(ctx, email)
	if err != nil {
		return nil, err
	}
	now := o.Now()
	return collect(limit, func(after *page.Cursor, size int) ([]SessionView, *page.Cursor, error) {
		batch, next, err := o.Store.ListSessions(ctx, email, now, after, size)
		var out []SessionView
		for _, s := range batch {
			if policy.Accepts(s, u, now) {
				out = append(out, SessionView{ID: s.ID, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt,
					LastSeenAt: s.LastSeenAt, UserAgent: s.UserAgent, IP: s.IP, Remember: s.Remember,
					SecondFactor: s.SecondFactor, Pending: s.Pending})
			}
		}
		return out, next, err
	})
}

// RevokeSession ends one session of the user (another user's id: not found).
func (o Operator) RevokeSession(ctx context.Context, email, id string) error {
	email = user.NormalizeEmail(email)
	if err := o.Store.DeleteSessionOf(ctx, email, id); err != nil {
		return err
	}
	o.record(audit.SessionRevoked, email, audit.Success)
	return nil
}

// RevokeAll ends every session of the user at once (a new session epoch),
// and returns how many session documents it deleted.
func (o Operator) RevokeAll(ctx context.Context, email string) (int, error) {
	email = user.NormalizeEmail(email)
	_, n, err := endAllSessions(ctx, o.Store, email, "", nil)
	if err != nil {
		return 0, err
	}
	o.record(audit.LogoutAll, email, audit.Success)
	return n, nil
}

// Events returns up to limit of the email's audit events, newest first.
func (o Operator) Events(ctx context.Context, email string, limit int) ([]audit.Event, error) {
	email = user.NormalizeEmail(email)
	return collect(limit, func(after *page.Cursor, size int) ([]audit.Event, *page.Cursor, error) {
		return o.Store.ListEvents(ctx, email, time.Time{}, after, size)
	})
}

// Users returns up to limit users matching q (all when q is ""), newest first.
func (o Operator) Users(ctx context.Context, q string, limit int) ([]user.User, error) {
	return collect(limit, func(after *page.Cursor, size int) ([]user.User, *page.Cursor, error) {
		return o.Store.SearchUsers(ctx, q, after, size)
	})
}

// collect pages through a list with fetch (at most maxPage a page) until
// it has limit items or the list ends.
func collect[T any](limit int, fetch func(after *page.Cursor, size int) ([]T, *page.Cursor, error)) ([]T, error) {
	var out []T
	var after *page.Cursor
	for len(out) < limit {
		batch, next, err := fetch(after, min(limit-len(out), maxPage))
		if err != nil {
			return nil, err
		}
		out = append(out, batch...)
		if next == nil {
			break
		}
		after = next
	}
	return out, nil
}
