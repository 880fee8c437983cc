package v1

import (
	"context"
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/password"
	"esauth/lib/session"
	"esauth/lib/user"
)

type signupRequest struct {
	Email     string `json:"email_address"`
	Password  string `json:"password"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

func (s signupRequest) Valid() map[string]string {
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

// handleCreateUser signs a user up. The password is hashed before the one
// create call, so a failure anywhere leaves either a whole user or none.
func handleCreateUser(store userCreator, hasher *password.Hasher, screen PasswordScreen, now func() time.Time, rec audit.Recorder) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[signupRequest](r)
		if err != nil {
			return err
		}
		if err := screen.check(r, "password", req.Password, req.Email); err != nil {
			return err
		}
		hash, err := hasher.Hash(r.Context(), req.Password)
		if err != nil {
			return errs.Wrap(errs.Unavailable, "The server is busy; try again.", err)
		}
		t := now().UTC()
		u := user.User{
			Email:             user.NormalizeEmail(req.Email),
			FirstName:         req.FirstName,
			LastName:          req.LastName,
			PasswordHash:      hash,
			Role:              user.RoleUser,
			IsActive:          true,
			CreatedAt:         t,
			UpdatedAt:         t,
			PasswordChangedAt: t,
		}
		if err := store.CreateUser(r.Context(), u); err != nil {
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
	UpdateUser(ctx context.Context, email string, change func(*user.User) error) (user.User, error)
}

type sessionRevoker interface {
	RevokeSessions(ctx context.Context, email, except string) (int, error)
}

// handleUpdateUser changes names; an admin may also change role and
// is_active. Disabling a user also revokes their sessions (the loader
// would refuse them anyway, but they should not come back on re-enable).
// An admin cannot demote or disable themselves, so the last admin cannot
// be lost by a slip.
func handleUpdateUser(store userUpdater, sessions sessionRevoker, now func() time.Time, rec audit.Recorder) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		target, cur, err := authorizeSelfOrAdmin(r)
		if err != nil {
			return err
		}
		req, err := decode[updateRequest](r)
		if err != nil {
			return err
		}
		if (req.Role != nil || req.IsActive != nil) && !cur.User.IsAdmin() {
			return errs.E(errs.Forbidden, "Only an admin may change role or is_active.")
		}
		if target == cur.User.Email && ((req.Role != nil && *req.Role != user.RoleAdmin && cur.User.IsAdmin()) ||
			(req.IsActive != nil && !*req.IsActive)) {
			return errs.E(errs.Forbidden, "You cannot remove your own admin role or disable your own account.")
		}
		u, err := store.UpdateUser(r.Context(), target, func(u *user.User) error {
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
		})
		if err != nil {
			return err
		}
		event := audit.UserUpdated
		if req.IsActive != nil && !*req.IsActive {
			event = audit.UserDisabled
		}
		if !u.IsActive {
			if _, err := sessions.RevokeSessions(r.Context(), u.Email, ""); err != nil {
				return err
			}
		}
		record(rec, r, event, u.Email, audit.Success)
		writeOK(w, http.StatusOK, "User updated.", u.Public())
		return nil
	})
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
	DeleteUser(ctx context.Context, email string) error
}

// handleDeleteUser deletes a user and all their sessions. A user deleting
// their own account confirms with their password; an admin needs none.
func handleDeleteUser(store userDeleter, hasher *password.Hasher, cookies Cookies, rec audit.Recorder) http.Handler {
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
			ok, err := checkPassword(r.Context(), hasher, req.Password, cur.User.PasswordHash)
			if err != nil {
				return err
			}
			if !ok {
				record(rec, r, audit.UserDeleted, target, audit.Failure)
				return errs.E(errs.Forbidden, "The password is wrong.")
			}
		}
		if err := store.DeleteUser(r.Context(), target); err != nil {
			return err
		}
		record(rec, r, audit.UserDeleted, target, audit.Success)
		if target == cur.User.Email {
			cookies.clear(w)
		}
		writeOK(w, http.StatusOK, "User deleted.", nil)
		return nil
	})
}
