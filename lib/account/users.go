package account

import (
	"context"
	"time"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/page"
	"esauth/lib/reqlog"
	"esauth/lib/user"
)

// Target returns the normalized email a may see and change: a's own, or
// anyone's for an admin or the operator. Others get 403 before any lookup,
// so they cannot learn whether the email exists; an address no user can
// have is 404, as for a stranger.
func (s *Service) Target(a Actor, email string) (string, error) {
	target := user.NormalizeEmail(email)
	if !a.admin() {
		if !a.LoggedIn {
			return "", errs.E(errs.Unauthenticated, "Log in first.")
		}
		if target != a.User.Email {
			return "", errs.E(errs.Forbidden, "You may only see and change your own account.")
		}
	}
	// Saying so here keeps odd ids away from the store.
	if user.ValidateEmail(target) != "" {
		return "", errs.E(errs.NotFound, "No user has this email address.")
	}
	return target, nil
}

// GetUser returns the user of email, for a (see Target).
func (s *Service) GetUser(ctx context.Context, a Actor, email string) (user.User, error) {
	target, err := s.Target(a, email)
	if err != nil {
		return user.User{}, err
	}
	if a.LoggedIn && target == a.User.Email {
		return a.User, nil
	}
	return s.store.GetUser(ctx, target)
}

// SearchUsers is a page of the users f selects (its text: the whole email,
// or word beginnings of the email and the names; its filters: role,
// active, verified, second factor, passkeys, provider, creation and last
// login), newest first, with the counts of each facet, for an admin or the
// operator.
func (s *Service) SearchUsers(ctx context.Context, a Actor, f user.Search, after *page.Cursor, limit int) ([]user.User, *page.Cursor, user.Facets, error) {
	if err := s.MayListUsers(a); err != nil {
		return nil, nil, user.Facets{}, err
	}
	return s.store.SearchUsers(ctx, f, after, limit)
}

// noteWaysIn copies into u's document how many passkeys it has and which
// providers are linked, for the admin's search and its facets; the
// credentials and identities indices stay what every login reads. The
// lists are read inside the conditional update, so of two changes racing
// the one written last counted both. A failure is logged: the copy is
// then stale until the next change, or esauth migrate.
func (s *Service) noteWaysIn(ctx context.Context, email string) {
	_, err := s.store.UpdateUser(ctx, email, func(u *user.User) error {
		keys, err := s.store.ListPasskeys(ctx, u.Email)
		if err != nil {
			return err
		}
		ids, err := s.store.ListIdentities(ctx, u.Email)
		if err != nil {
			return err
		}
		u.Passkeys, u.Providers = user.WaysIn(*u, keys, ids)
		return nil
	})
	if err != nil && !errs.Is(err, errs.NotFound) {
		reqlog.From(ctx).Warnw("could not count the account's passkeys and providers for the user search", "error", err)
	}
}

// MayListUsers refuses (403) an actor who may not list users: anyone but
// an admin or the operator.
func (s *Service) MayListUsers(a Actor) error {
	if !a.admin() {
		return errs.E(errs.Forbidden, "Only admins may list users.")
	}
	return nil
}

// anAdministrator stands for the admin who acted on an ordinary user's
// account in that user's own trail: users learn that an admin acted, not
// which one.
const anAdministrator = "an administrator"

// Events is a page of email's security events, newest first. A user sees
// only events since their account was created, so an email signed up
// again does not show the previous owner's logins, IPs and devices, and
// sees "an administrator" for any admin who acted; admins and the operator
// see the email's whole history. Events are written in the background,
// so the newest may take a second or two to appear.
func (s *Service) Events(ctx context.Context, a Actor, email string, after *audit.Cursor, limit int) ([]audit.Event, *audit.Cursor, error) {
	target, err := s.Target(a, email)
	if err != nil {
		return nil, nil, err
	}
	var since time.Time
	if !a.admin() {
		since = a.User.CreatedAt
	}
	events, next, err := s.store.ListEvents(ctx, target, since, after, limit)
	if err != nil {
		return nil, nil, err
	}
	if !a.admin() {
		for i := range events {
			if events[i].Actor != target {
				events[i].Actor = anAdministrator
			}
		}
	}
	return events, next, nil
}

// UserUpdate is a change to a user: names, and for admins role and
// is_active (nil: unchanged).
type UserUpdate struct {
	FirstName *string `json:"first_name"`
	LastName  *string `json:"last_name"`
	Role      *string `json:"role"`
	IsActive  *bool   `json:"is_active"`
}

// Valid checks the fields on their own.
func (u UserUpdate) Valid() map[string]string {
	p := map[string]string{}
	if u.FirstName != nil {
		if m := user.ValidateName("First name", *u.FirstName); m != "" {
			p["first_name"] = m
		}
	}
	if u.LastName != nil {
		if m := user.ValidateName("Last name", *u.LastName); m != "" {
			p["last_name"] = m
		}
	}
	if u.Role != nil && *u.Role != user.RoleUser && *u.Role != user.RoleAdmin {
		p["role"] = `Role must be "user" or "admin".`
	}
	if u.FirstName == nil && u.LastName == nil && u.Role == nil && u.IsActive == nil {
		p["body"] = "Send at least one of first_name, last_name, role, is_active."
	}
	return p
}

// UpdateUser applies change to email for a, who is that user, an admin or
// the operator: only an admin changes role or is_active, nobody demotes
// or disables themselves, disabling ends every session of the user (a new
// session epoch, so they do not come back on re-enable), and an admin who
// removes another admin must still be one afterwards (see keepAnAdmin),
// so the last admin cannot be lost. The operator may remove the last
// admin: the command line can make another.
func (s *Service) UpdateUser(ctx context.Context, a Actor, email string, change UserUpdate) (user.User, error) {
	target, err := s.Target(a, email)
	if err != nil {
		return user.User{}, err
	}
	if fields := change.Valid(); len(fields) > 0 {
		return user.User{}, errs.InvalidFields(fields)
	}
	if (change.Role != nil || change.IsActive != nil) && !a.admin() {
		return user.User{}, errs.E(errs.Forbidden, "Only an admin may change role or is_active.")
	}
	if !a.Operator && target == a.User.Email && ((change.Role != nil && *change.Role != user.RoleAdmin && a.User.IsAdmin()) ||
		(change.IsActive != nil && !*change.IsActive)) {
		return user.User{}, errs.E(errs.Forbidden, "You cannot remove your own admin role or disable your own account.")
	}
	var before user.User
	apply := func(u *user.User) error {
		before = *u
		if change.FirstName != nil {
			u.FirstName = *change.FirstName
		}
		if change.LastName != nil {
			u.LastName = *change.LastName
		}
		if change.Role != nil {
			u.Role = *change.Role
		}
		if change.IsActive != nil {
			u.IsActive = *change.IsActive
		}
		u.UpdatedAt = s.now().UTC()
		return nil
	}
	disabling := change.IsActive != nil && !*change.IsActive
	var u user.User
	if disabling {
		u, _, err = s.endAllSessions(ctx, target, "", apply)
	} else {
		u, err = s.store.UpdateUser(ctx, target, apply)
	}
	if err != nil {
		return user.User{}, err
	}
	if !a.Operator && isActiveAdmin(before) && !isActiveAdmin(u) {
		if err := s.keepAnAdmin(ctx, a.User.Email, func(ctx context.Context) error {
			_, err := s.store.UpdateUser(ctx, target, func(u *user.User) error {
				u.Role, u.IsActive = before.Role, before.IsActive
				return nil
			})
			return err
		}); err != nil {
			return user.User{}, err
		}
	}
	event := audit.UserUpdated
	if disabling {
		event = audit.UserDisabled
	}
	s.record(a, event, u.Email, audit.Success)
	return u, nil
}

func isActiveAdmin(u user.User) bool { return u.IsAdmin() && u.IsActive }

// keepAnAdmin runs after an admin (actor) demoted, disabled or deleted
// another admin. Admins cannot remove themselves, so the last admin can
// only be lost when two admins remove each other at once. The actor's
// own document is read again (realtime) after the write: if the actor is
// no longer an active admin, a concurrent removal got them, and undo
// restores the other admin and the request fails with 409. Of removals
// racing this way, the last one written is made by an admin who is still
// one when it checks, or is undone, so at least one admin always remains.
func (s *Service) keepAnAdmin(ctx context.Context, actor string, undo func(context.Context) error) error {
	me, err := s.store.GetUser(ctx, actor)
	if err == nil && isActiveAdmin(me) {
		return nil
	}
	if uerr := undo(ctx); uerr != nil {
		reqlog.From(ctx).Errorw("could not undo the removal of an admin", "error", uerr)
		return uerr
	}
	if err != nil && !errs.Is(err, errs.NotFound) {
		return err
	}
	return errs.E(errs.Conflict, "You were removed as an admin meanwhile; the change was undone.")
}

// DeleteUser deletes email with their sessions and linked accounts. A
// user deleting their own account confirms with their password, which
// counts toward the lockout like a login; an admin deletes others without
// one, and cannot delete themselves (nor, through a race, the last
// admin). The operator deletes anyone.
func (s *Service) DeleteUser(ctx context.Context, a Actor, email, password string) error {
	target, err := s.Target(a, email)
	if err != nil {
		return err
	}
	if !a.admin() && password == "" {
		// A user without a password (made by a provider login) leaves
		// with a fresh login instead, as they set a first password: a
		// stolen cookie alone cannot delete the account, unless it is
		// that fresh.
		if err := s.freshWithoutPassword(ctx, a, "password", "Password is required to delete your own account.",
			"Log in again with your provider, then delete your account within 15 minutes."); err != nil {
			return err
		}
	} else if !a.admin() {
		res, err := s.guard.sessionPassword(ctx, a, password, audit.UserDeleted)
		if err != nil {
			return err
		}
		if !res.OK {
			return errs.E(errs.Forbidden, "The password is wrong.")
		}
	}
	if !a.Operator && target == a.User.Email && a.User.IsAdmin() {
		return errs.E(errs.Forbidden, "An admin cannot delete their own account; another admin can.")
	}
	var victim user.User
	if a.admin() && !a.Operator {
		if victim, err = s.store.GetUser(ctx, target); err != nil {
			return err
		}
	}
	if err := s.store.DeleteUser(ctx, target); err != nil {
		return err
	}
	if isActiveAdmin(victim) {
		if err := s.keepAnAdmin(ctx, a.User.Email, func(ctx context.Context) error {
			return s.store.CreateUser(ctx, victim)
		}); err != nil {
			return err
		}
	}
	s.record(a, audit.UserDeleted, target, audit.Success)
	return nil
}

// freshWithoutPassword allows what a user without a password does in place
// of giving one (a first password, leaving the account): the user has no
// password (else field is required, with required as its message) and
// a's session began at most FirstPasswordMaxAge ago (else 403, stale).
func (s *Service) freshWithoutPassword(ctx context.Context, a Actor, field, required, stale string) error {
	u, err := s.store.GetUser(ctx, a.User.Email)
	if err != nil {
		return err
	}
	if u.PasswordHash != "" {
		return errs.InvalidFields(map[string]string{field: required})
	}
	if s.now().Sub(a.Session.CreatedAt) > FirstPasswordMaxAge {
		return errs.E(errs.Forbidden, stale)
	}
	return nil
}
