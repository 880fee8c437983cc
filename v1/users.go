package v1

import (
	"net/http"

	"github.com/gorilla/mux"

	"esauth/lib/account"
	"esauth/lib/errs"
	"esauth/lib/httpkit"
	"esauth/lib/page"
	"esauth/lib/user"
)

// handleCreateUser signs a user up: POST /v1/users (and /v1/users/new).
func handleCreateUser(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[SignupRequest](r)
		if err != nil {
			return err
		}
		u, err := svc.SignUp(r.Context(), httpkit.ActorOf(r), req, user.RoleUser)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusCreated, "User created.", u.Public())
		return nil
	})
}

// handleSearchUsers (admins): GET /v1/users?q=&role=&…&cursor=&limit=, the
// users the search selects (user.SearchParams), newest first, with the
// facets' counts; no parameter lists everyone.
func handleSearchUsers(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		a := httpkit.ActorOf(r)
		if err := svc.MayListUsers(a); err != nil { // before the parameters
			return err
		}
		q := r.URL.Query()
		if err := onlyParams(q, user.SearchParams, pageParamNames); err != nil {
			return err
		}
		f, problems := user.ParseSearch(q)
		if problems != nil {
			return errs.InvalidFields(problems)
		}
		limit, after, err := pageParams(r)
		if err != nil {
			return err
		}
		list, next, facets, err := svc.SearchUsers(r.Context(), a, f, after, limit)
		if err != nil {
			return err
		}
		out := make([]user.Public, 0, len(list))
		for _, u := range list {
			out = append(out, u.Public())
		}
		writeJSON(w, http.StatusOK, envelope{Success: true, Message: "Users, newest first.", Data: out, NextCursor: page.Encode(next), Facets: &facets})
		return nil
	})
}

// handleGetUser: GET /v1/users/{email}, oneself or (admins) anyone.
func handleGetUser(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		u, err := svc.GetUser(r.Context(), httpkit.ActorOf(r), mux.Vars(r)["email"])
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "User found.", u.Public())
		return nil
	})
}

// handleUpdateUser: PATCH /v1/users/{email}. Who may change whom is asked
// before the body is read, so a stranger learns nothing from a 422.
func handleUpdateUser(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		a := httpkit.ActorOf(r)
		target, err := svc.Target(a, mux.Vars(r)["email"])
		if err != nil {
			return err
		}
		req, err := decode[UserUpdate](r)
		if err != nil {
			return err
		}
		u, err := svc.UpdateUser(r.Context(), a, target, req)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "User updated.", u.Public())
		return nil
	})
}

type deleteRequest struct {
	Password string `json:"password"`
}

// Valid leaves the password to the rule: a user without one (made by a
// provider login) sends {} from a fresh login instead.
func (d deleteRequest) Valid() map[string]string { return nil }

// handleDeleteUser: DELETE /v1/users/{email}. A user deleting their own
// account sends their password ({password}), or {} within 15 minutes of a
// provider login when they have none; an admin deletes others with no
// body. Deleting oneself also expires the cookie.
func handleDeleteUser(svc *account.Service, cookies Cookies) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		a := httpkit.ActorOf(r)
		target, err := svc.Target(a, mux.Vars(r)["email"])
		if err != nil {
			return err
		}
		var req deleteRequest
		if !a.User.IsAdmin() {
			if req, err = decode[deleteRequest](r); err != nil {
				return err
			}
		}
		if err := svc.DeleteUser(r.Context(), a, target, req.Password); err != nil {
			return err
		}
		if target == a.User.Email {
			cookies.ClearFor(w, r)
		}
		writeOK(w, http.StatusOK, "User deleted.", nil)
		return nil
	})
}

// handleListAudit pages through the security events of a user, newest
// first: ?limit= (1–200, default 50) and ?cursor= (next_cursor of the
// previous page). See account.Service.Events for who sees what.
func handleListAudit(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		a := httpkit.ActorOf(r)
		target, err := svc.Target(a, mux.Vars(r)["email"])
		if err != nil {
			return err
		}
		limit, after, err := pageParams(r)
		if err != nil {
			return err
		}
		events, next, err := svc.Events(r.Context(), a, target, after, limit)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, envelope{
			Success: true, Message: "Audit events, newest first.", Data: events, NextCursor: page.Encode(next),
		})
		return nil
	})
}
