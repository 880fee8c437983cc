package v1

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"go.uber.org/zap"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/mail"
	"esauth/lib/page"
	"esauth/lib/password"
	"esauth/lib/session"
	"esauth/lib/token"
	"esauth/lib/user"
)

// SignupRequest is what a new account is made from.
type SignupRequest struct {
	Email     string `json:"email_address"`
	Password  string `json:"password"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

// Valid checks the fields on their own; password screening needs more
// (see Signup.Create).
func (s SignupRequest) Valid() map[string]string {
	p := map[string]string{}
	if m := user.ValidateEmail(user.NormalizeEmail(s.Email)); m != "" {
		p["email_address"] = m
	}
	if m := user.ValidatePassword(s.Password); m != "" {
		p["password"] = m
	}
	if m := user.ValidateName("First name", s.FirstName); m != "" {
		p["first_name"] = m
	}
	if m := user.ValidateName("Last name", s.LastName); m != "" {
		p["last_name"] = m
	}
	return p
}

// userCreator is what signup needs from storage.
type userCreator interface {
	CreateUser(ctx context.Context, u user.User) error
}

// Signup owns the rule for making an account: the API's signup and the
// command line's "user create" both call Create, so neither can skip a
// check the other makes.
type Signup struct {
	Store  userCreator
	Hasher *password.Hasher
	Screen PasswordScreen
	Now    func() time.Time
	// mail sends the new user a link to verify the address (the API's
	// and the pages' signups; the command line's sends none).
	mail mailings
}

// Create validates req (fields, then password screening: 422 with field
// messages), hashes the password and stores the account with role, in
// one create call, so a failure anywhere leaves either a whole user or
// none. Every account starts with a new session epoch, so nothing of a
// deleted account with the same email carries over.
func (su Signup) Create(ctx context.Context, req SignupRequest, role string) (user.User, error) {
	if fields := req.Valid(); len(fields) > 0 {
		return user.User{}, errs.InvalidFields(fields)
	}
	if m := su.Screen.problem(ctx, req.Password, req.Email); m != "" {
		return user.User{}, errs.InvalidFields(map[string]string{"password": m})
	}
	hash, err := su.Hasher.Hash(ctx, req.Password)
	if err := busy(err); err != nil {
		return user.User{}, err
	}
	t := su.Now().UTC()
	u := user.User{
		Email:             user.NormalizeEmail(req.Email),
		FirstName:         req.FirstName,
		LastName:          req.LastName,
		PasswordHash:      hash,
		Role:              role,
		IsActive:          true,
		CreatedAt:         t,
		UpdatedAt:         t,
		PasswordChangedAt: t,
		SessionEpoch:      user.NewEpoch(),
	}
	if err := su.Store.CreateUser(ctx, u); err != nil {
		return user.User{}, err
	}
	// The account exists: a link that could not be stored is logged, and
	// the user asks for another (POST /v1/auth/verification/resend).
	if err := su.mail.sendLink(ctx, u, token.VerifyEmail); err != nil {
		loggerFrom(ctx).Warn("could not store the verification link of a new user", zap.Error(err))
	}
	return u, nil
}

// handleCreateUser signs a user up.
func handleCreateUser(signup Signup, rec audit.Recorder) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[SignupRequest](r)
		if err != nil {
			return err
		}
		u, err := signup.Create(r.Context(), req, user.RoleUser)
		if err != nil {
			return err
		}
		record(rec, r, audit.Signup, u.Email, audit.Success)
		writeOK(w, http.StatusCreated, "User created.", u.Public())
		return nil
	})
}

// authorizeSelfOrAdmin returns the normalized email of the {email} path
// variable if the caller is that user or an admin. Others get 403 before
// any lookup, so they cannot learn whether the email exists.
func authorizeSelfOrAdmin(r *http.Request) (string, session.Current, error) {
	cur := current(r)
	target := user.NormalizeEmail(mux.Vars(r)["email"])
	if target != cur.User.Email && !cur.User.IsAdmin() {
		return "", cur, errs.E(errs.Forbidden, "You may only see and change your own account.")
	}
	// No user can have an invalid address; saying so here keeps odd ids
	// away from the store and answers admins the same 404 as for a stranger.
	if user.ValidateEmail(target) != "" {
		return "", cur, errs.E(errs.NotFound, "No user has this email address.")
	}
	return target, cur, nil
}

// UserSearcher pages through the users matching a search.
type UserSearcher interface {
	SearchUsers(ctx context.Context, q string, after *page.Cursor, size int) ([]user.User, *page.Cursor, error)
}

// handleSearchUsers (admins): GET /v1/users?q=&cursor=&limit=, the users
// whose email contains q or whose first or last name has words starting
// with it, newest first; no q lists everyone.
func handleSearchUsers(store UserSearcher) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if !current(r).User.IsAdmin() {
			return errs.E(errs.Forbidden, "Only admins may list users.")
		}
		limit, after, err := pageParams(r)
		if err != nil {
			return err
		}
		list, next, err := store.SearchUsers(r.Context(), r.URL.Query().Get("q"), after, limit)
		if err != nil {
			return err
		}
		out := make([]user.Public, 0, len(list))
		for _, u := range list {
			out = append(out, u.Public())
		}
		writeJSON(w, http.StatusOK, envelope{Success: true, Message: "Users, newest first.", Data: out, NextCursor: page.Encode(next)})
		return nil
	})
}

type userGetter interface {
	GetUser(ctx context.Context, email string) (user.User, error)
}

func handleGetUser(store userGetter) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		target, cur, err := authorizeSelfOrAdmin(r)
		if err != nil {
			return err
		}
		u := cur.User
		if target != cur.User.Email {
			if u, err = store.GetUser(r.Context(), target); err != nil {
				return err
			}
		}
		writeOK(w, http.StatusOK, "User found.", u.Public())
		return nil
	})
}

type updateRequest struct {
	FirstName *string `json:"first_name"`
	LastName  *string `json:"last_name"`
	Role      *string `json:"role"`
	IsActive  *bool   `json:"is_active"`
}

func (u updateRequest) Valid() map[string]string {
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

type userUpdater interface {
	GetUser(ctx context.Context, email string) (user.User, error)
	UpdateUser(ctx context.Context, email string, change func(*user.User) error) (user.User, error)
	RevokeSessions(ctx context.Context, email, except string) (int, error)
}

// handleUpdateUser changes names; an admin may also change role and
// is_active. Disabling a user ends their sessions (a new session epoch),
// so they do not come back on re-enable. An admin cannot demote or
// disable themselves, and an admin who removes another admin must still
// be one afterwards (see keepAnAdmin), so the last admin cannot be lost.
func handleUpdateUser(store userUpdater, now func() time.Time, rec audit.Recorder) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		target, _, err := authorizeSelfOrAdmin(r)
		if err != nil {
			return err
		}
		req, err := decode[updateRequest](r)
		if err != nil {
			return err
		}
		u, err := updateUser(r, store, now, rec, target, req)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "User updated.", u.Public())
		return nil
	})
}

// UserUpdate is a change to a user: names, and for admins role and
// is_active (nil: unchanged).
type UserUpdate = updateRequest

// updateUser applies req to target for the logged-in user, who is target
// or an admin: only an admin changes role or is_active, nobody demotes or
// disables themselves, disabling ends every session of the user, and an
// admin always remains.
func updateUser(r *http.Request, store userUpdater, now func() time.Time, rec audit.Recorder, target string, req updateRequest) (user.User, error) {
	cur := current(r)
	if fields := req.Valid(); len(fields) > 0 {
		return user.User{}, errs.InvalidFields(fields)
	}
	if (req.Role != nil || req.IsActive != nil) && !cur.User.IsAdmin() {
		return user.User{}, errs.E(errs.Forbidden, "Only an admin may change role or is_active.")
	}
	if target == cur.User.Email && ((req.Role != nil && *req.Role != user.RoleAdmin && cur.User.IsAdmin()) ||
		(req.IsActive != nil && !*req.IsActive)) {
		return user.User{}, errs.E(errs.Forbidden, "You cannot remove your own admin role or disable your own account.")
	}
	before, u, err := applyUpdate(r.Context(), store, now, target, req)
	if err != nil {
		return user.User{}, err
	}
	disabling := req.IsActive != nil && !*req.IsActive
	if isActiveAdmin(before) && !isActiveAdmin(u) {
		if err := keepAnAdmin(r.Context(), store, cur.User.Email, func(ctx context.Context) error {
			_, err := store.UpdateUser(ctx, target, func(u *user.User) error {
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
	record(rec, r, event, u.Email, audit.Success)
	return u, nil
}

// applyUpdate makes the change req asks of target, already allowed by
// the caller: disabling ends every session of the user. It returns the
// user before and after.
func applyUpdate(ctx context.Context, store userUpdater, now func() time.Time, target string, req updateRequest) (user.User, user.User, error) {
	if fields := req.Valid(); len(fields) > 0 {
		return user.User{}, user.User{}, errs.InvalidFields(fields)
	}
	var before user.User
	change := func(u *user.User) error {
		before = *u
		if req.FirstName != nil {
			u.FirstName = *req.FirstName
		}
		if req.LastName != nil {
			u.LastName = *req.LastName
		}
		if req.Role != nil {
			u.Role = *req.Role
		}
		if req.IsActive != nil {
			u.IsActive = *req.IsActive
		}
		u.UpdatedAt = now().UTC()
		return nil
	}
	var u user.User
	var err error
	if req.IsActive != nil && !*req.IsActive {
		u, _, err = endAllSessions(ctx, store, target, "", change)
	} else {
		u, err = store.UpdateUser(ctx, target, change)
	}
	return before, u, err
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
func keepAnAdmin(ctx context.Context, store userGetter, actor string, undo func(context.Context) error) error {
	me, err := store.GetUser(ctx, actor)
	if err == nil && isActiveAdmin(me) {
		return nil
	}
	if uerr := undo(ctx); uerr != nil {
		loggerFrom(ctx).Error("could not undo the removal of an admin", zap.Error(uerr))
		return uerr
	}
	if err != nil && !errs.Is(err, errs.NotFound) {
		return err
	}
	return errs.E(errs.Conflict, "You were removed as an admin meanwhile; the change was undone.")
}

type deleteRequest struct {
	Password string `json:"password"`
}

func (d deleteRequest) Valid() map[string]string {
	if d.Password == "" {
		return map[string]string{"password": "Password is required to delete your own account."}
	}
	return nil
}

type userDeleter interface {
	GetUser(ctx context.Context, email string) (user.User, error)
	CreateUser(ctx context.Context, u user.User) error
	DeleteUser(ctx context.Context, email string) error
}

// handleDeleteUser deletes a user and all their sessions. A user deleting
// their own account confirms with their password, which counts toward the
// lockout like a login; an admin deletes others without one, and cannot
// delete themselves (nor, through a race, the last admin).
func handleDeleteUser(store userDeleter, guard passwordGuard, cookies Cookies, rec audit.Recorder, ml mailings) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		target, cur, err := authorizeSelfOrAdmin(r)
		if err != nil {
			return err
		}
		if !cur.User.IsAdmin() {
			req, err := decode[deleteRequest](r)
			if err != nil {
				return err
			}
			res, err := guard.checkSession(r, req.Password)
			if err != nil {
				if errs.Is(err, errs.TooMany) {
					record(rec, r, audit.UserDeleted, target, audit.Refused)
				}
				return err
			}
			if !res.OK {
				record(rec, r, audit.UserDeleted, target, audit.Failure)
				if res.Locked {
					record(rec, r, audit.Lockout, target, audit.Success)
					ml.notify(r, cur.User, mail.Lockout)
				}
				return errs.E(errs.Forbidden, "The password is wrong.")
			}
		}
		if err := deleteUser(w, r, store, cookies, rec, target); err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "User deleted.", nil)
		return nil
	})
}

// deleteUser deletes target for the logged-in user, who is target (whose
// password the caller has checked) or an admin. An admin cannot delete
// themselves, and an admin always remains.
func deleteUser(w http.ResponseWriter, r *http.Request, store userDeleter, cookies Cookies, rec audit.Recorder, target string) error {
	cur := current(r)
	if target == cur.User.Email && cur.User.IsAdmin() {
		return errs.E(errs.Forbidden, "An admin cannot delete their own account; another admin can.")
	}
	var victim user.User
	var err error
	if cur.User.IsAdmin() {
		if victim, err = store.GetUser(r.Context(), target); err != nil {
			return err
		}
	}
	if err := store.DeleteUser(r.Context(), target); err != nil {
		return err
	}
	if isActiveAdmin(victim) {
		if err := keepAnAdmin(r.Context(), store, cur.User.Email, func(ctx context.Context) error {
			return store.CreateUser(ctx, victim)
		}); err != nil {
			return err
		}
	}
	record(rec, r, audit.UserDeleted, target, audit.Success)
	if target == cur.User.Email {
		cookies.clear(w)
	}
	return nil
}
