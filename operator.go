package main

import (
	"context"

	"esauth/lib/account"
	"esauth/lib/audit"
	"esauth/lib/page"
	"esauth/lib/session"
	"esauth/lib/user"
)

// accounts is the application layer for the command line: the rules the
// API and the pages run, with no mail (the operator is told on the
// terminal) and the audit trail rec.
func (a *app) accounts(rec audit.Recorder) (*account.Service, error) {
	screen, err := a.passwordScreen()
	if err != nil {
		return nil, err
	}
	return account.New(account.Deps{
		Store: a.store, Hasher: a.hasher(), Screen: screen,
		Policy: a.sessionPolicy(), Audit: rec, Log: a.log.Sugar(),
	}), nil
}

// operator is what "esauth user …", "esauth sessions …" and "esauth
// audit" do: the application layer's rules with the operator as actor
// (every change an audit event by account.OperatorName), and lists read
// to a number of items rather than by page.
type operator struct{ svc *account.Service }

var op = account.Operator()

func (o operator) Get(ctx context.Context, email string) (user.User, error) {
	return o.svc.GetUser(ctx, op, email)
}

func (o operator) Update(ctx context.Context, email string, change account.UserUpdate) (user.User, error) {
	return o.svc.UpdateUser(ctx, op, email, change)
}

func (o operator) Delete(ctx context.Context, email string) error {
	return o.svc.DeleteUser(ctx, op, email, "")
}

func (o operator) SetPassword(ctx context.Context, email, pw string) (int, error) {
	return o.svc.SetPassword(ctx, op, email, pw)
}

// Sessions are the user's valid sessions, newest first (Service.Sessions
// reads the user once, for the operator, to judge them).
func (o operator) Sessions(ctx context.Context, email string, limit int) ([]account.SessionView, error) {
	return page.Collect(limit, func(after *page.Cursor, size int) ([]account.SessionView, *page.Cursor, error) {
		return o.svc.Sessions(ctx, op, email, after, size)
	})
}

func (o operator) RevokeSession(ctx context.Context, email, id string) error {
	return o.svc.RevokeSession(ctx, op, email, id)
}

func (o operator) RevokeAll(ctx context.Context, email string) (int, error) {
	return o.svc.LogOutEverywhere(ctx, op, email)
}

func (o operator) Events(ctx context.Context, email string, limit int) ([]audit.Event, error) {
	return page.Collect(limit, func(after *page.Cursor, size int) ([]audit.Event, *page.Cursor, error) {
		return o.svc.Events(ctx, op, email, after, size)
	})
}

func (o operator) Users(ctx context.Context, q string, limit int) ([]user.User, error) {
	return page.Collect(limit, func(after *page.Cursor, size int) ([]user.User, *page.Cursor, error) {
		users, next, _, err := o.svc.SearchUsers(ctx, op, user.Search{Q: q}, after, size)
		return users, next, err
	})
}

// SearchEvents reads up to limit events f selects, newest first.
func (o operator) SearchEvents(ctx context.Context, f audit.Filter, limit int) ([]audit.Event, error) {
	return page.Collect(limit, func(after *page.Cursor, size int) ([]audit.Event, *page.Cursor, error) {
		return o.svc.SearchEvents(ctx, op, f, after, size)
	})
}

func (o operator) EventStats(ctx context.Context, f audit.Filter) (audit.Stats, error) {
	return o.svc.EventStats(ctx, op, f)
}

func (o operator) RevokeSessionsWhere(ctx context.Context, f session.Filter, dry bool) (account.Revocation, error) {
	return o.svc.RevokeSessionsWhere(ctx, op, f, dry)
}

func (o operator) Lockouts(ctx context.Context, limit int) ([]account.LockView, int, error) {
	return o.svc.Lockouts(ctx, op, limit)
}

func (o operator) ClearLockout(ctx context.Context, email string) error {
	return o.svc.ClearLockout(ctx, op, email)
}
