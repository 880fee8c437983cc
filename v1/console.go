package v1

import (
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/gorilla/mux"

	"esauth/lib/account"
	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/httpkit"
	"esauth/lib/page"
	"esauth/lib/session"
)

// eventParams are the query parameters of the event search and stats.
var eventParams = []string{"event", "outcome", "email", "actor", "ip", "user_agent", "new_device", "from", "to"}

// onlyParams refuses (422) a query parameter not in allowed: a filter
// misspelt would otherwise be ignored, and the answer look filtered.
func onlyParams(q url.Values, allowed ...[]string) error {
	var unknown []string
	for k := range q {
		if !slices.ContainsFunc(allowed, func(set []string) bool { return slices.Contains(set, k) }) {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	sort.Strings(unknown)
	var known []string
	for _, set := range allowed {
		known = append(known, set...)
	}
	return errs.InvalidFields(map[string]string{clipParam(unknown[0]): "Unknown parameter; the parameters are " + strings.Join(known, ", ") + "."})
}

// clipParam bounds a parameter's name echoed as a field name.
func clipParam(k string) string {
	if len(k) > 64 {
		return k[:64]
	}
	return k
}

var pageParamNames = []string{"limit", "cursor"}

// handleSearchEvents: GET /v1/admin/events, admins only.
func handleSearchEvents(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		a := httpkit.ActorOf(r)
		if err := svc.MayUseConsole(a); err != nil { // before the parameters
			return err
		}
		q := r.URL.Query()
		if err := onlyParams(q, eventParams, pageParamNames); err != nil {
			return err
		}
		f, problems := audit.ParseFilter(q)
		if problems != nil {
			return errs.InvalidFields(problems)
		}
		limit, after, err := pageParams(r)
		if err != nil {
			return err
		}
		events, next, err := svc.SearchEvents(r.Context(), a, f, after, limit)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, envelope{Success: true, Message: "Security events, newest first.", Data: events, NextCursor: page.Encode(next)})
		return nil
	})
}

// handleEventStats: GET /v1/admin/events/stats, admins only.
func handleEventStats(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		a := httpkit.ActorOf(r)
		if err := svc.MayUseConsole(a); err != nil {
			return err
		}
		q := r.URL.Query()
		if err := onlyParams(q, eventParams); err != nil {
			return err
		}
		f, problems := audit.ParseFilter(q)
		if problems != nil {
			return errs.InvalidFields(problems)
		}
		st, err := svc.EventStats(r.Context(), a, f)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Security event statistics.", st)
		return nil
	})
}

// handleSearchSessions: GET /v1/admin/sessions, admins only.
func handleSearchSessions(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		a := httpkit.ActorOf(r)
		if err := svc.MayUseConsole(a); err != nil {
			return err
		}
		q := r.URL.Query()
		if err := onlyParams(q, session.FilterParams, pageParamNames); err != nil {
			return err
		}
		f, problems := session.ParseFilter(q)
		if problems != nil {
			return errs.InvalidFields(problems)
		}
		limit, after, err := pageParams(r)
		if err != nil {
			return err
		}
		list, next, err := svc.SearchSessions(r.Context(), a, f, after, limit)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, envelope{Success: true, Message: "Live sessions, newest first.", Data: list, NextCursor: page.Encode(next)})
		return nil
	})
}

// revokeRequest is the body of a revocation by query: the session filter's
// fields, as text.
type revokeRequest struct {
	Email       string `json:"email"`
	IP          string `json:"ip"`
	UserAgent   string `json:"user_agent"`
	CreatedFrom string `json:"created_from"`
	CreatedTo   string `json:"created_to"`
	SeenFrom    string `json:"seen_from"`
	SeenTo      string `json:"seen_to"`
}

func (b revokeRequest) values() url.Values {
	v := url.Values{}
	for k, val := range map[string]string{"email": b.Email, "ip": b.IP, "user_agent": b.UserAgent,
		"created_from": b.CreatedFrom, "created_to": b.CreatedTo, "seen_from": b.SeenFrom, "seen_to": b.SeenTo} {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

func (b revokeRequest) Valid() map[string]string {
	_, problems := session.ParseFilter(b.values())
	return problems
}

// handleRevokeSessions: POST /v1/admin/sessions/revoke[?dry_run=true],
// admins only.
func handleRevokeSessions(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		a := httpkit.ActorOf(r)
		if err := svc.MayUseConsole(a); err != nil {
			return err
		}
		q := r.URL.Query()
		if err := onlyParams(q, []string{"dry_run"}); err != nil {
			return err
		}
		dry, ok := map[string]bool{"": false, "false": false, "true": true}[q.Get("dry_run")]
		if !ok {
			return errs.InvalidFields(map[string]string{"dry_run": "dry_run is true or false."})
		}
		body, err := decode[revokeRequest](r)
		if err != nil {
			return err
		}
		f, _ := session.ParseFilter(body.values())
		rev, err := svc.RevokeSessionsWhere(r.Context(), a, f, dry)
		if err != nil {
			return err
		}
		msg := "Sessions ended."
		if dry {
			msg = "Dry run: nothing was ended."
		}
		writeOK(w, http.StatusOK, msg, rev)
		return nil
	})
}

type lockoutsView struct {
	Total    int                `json:"total"`
	Lockouts []account.LockView `json:"lockouts"`
}

// handleListLockouts: GET /v1/admin/lockouts, admins only.
func handleListLockouts(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		a := httpkit.ActorOf(r)
		if err := svc.MayUseConsole(a); err != nil {
			return err
		}
		if err := onlyParams(r.URL.Query(), []string{"limit"}); err != nil {
			return err
		}
		limit, _, err := pageParams(r)
		if err != nil {
			return err
		}
		list, total, err := svc.Lockouts(r.Context(), a, limit)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Emails locked now, the longest lock first.", lockoutsView{Total: total, Lockouts: list})
		return nil
	})
}

// handleClearLockout: DELETE /v1/admin/lockouts/{email}, admins only.
func handleClearLockout(svc *account.Service) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := svc.ClearLockout(r.Context(), httpkit.ActorOf(r), mux.Vars(r)["email"]); err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "The lockout is lifted.", nil)
		return nil
	})
}
