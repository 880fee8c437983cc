package v1

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/page"
	"esauth/lib/session"
)

// record adds a security event about email. The actor is the logged-in
// user when there is one, else the email itself (a login attempt, a
// signup). Recording never blocks or fails the request.
func record(rec audit.Recorder, r *http.Request, event, email, outcome string) {
	// A login attempt's email is whatever the client sent; cap it so a
	// hostile one cannot make the event unstorable.
	email = session.Clip(email, 320)
	actor := email
	if cur, ok := currentOf(r.Context()); ok {
		actor = cur.User.Email
	}
	rec.Record(audit.Event{Event: event, Email: email, Actor: actor, IP: clientIP(r), UserAgent: session.Clip(r.UserAgent(), 512), Outcome: outcome})
}

// AuditLister pages through the audit trail.
type AuditLister interface {
	ListEvents(ctx context.Context, email string, since time.Time, after *audit.Cursor, size int) ([]audit.Event, *audit.Cursor, error)
}

const (
	defaultPage = 50
	maxPage     = 200
)

// pageParams reads ?limit= (1–200, default 50) and ?cursor= (the
// next_cursor of the previous page) of a paged list.
func pageParams(r *http.Request) (int, *page.Cursor, error) {
	q := r.URL.Query()
	limit := defaultPage
	if q.Has("limit") { // present but empty is no number either
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > maxPage {
			return 0, nil, errs.InvalidFields(map[string]string{"limit": "limit must be a whole number from 1 to 200."})
		}
		limit = n
	}
	after, err := page.Decode(q.Get("cursor"))
	if err != nil {
		return 0, nil, errs.InvalidFields(map[string]string{"cursor": "The cursor is not valid; use next_cursor from the previous page."})
	}
	return limit, after, nil
}

// anAdministrator stands for the admin who acted on an ordinary user's
// account in that user's own trail: users learn that an admin acted, not
// which one.
const anAdministrator = "an administrator"

// handleListAudit pages through the security events of a user, newest
// first: ?limit= (1–200, default 50) and ?cursor= (next_cursor of the
// previous page). Events are written in the background, so the newest
// may take a second or two to appear.
//
// A user sees only events since their account was created, so an email
// signed up again does not show the previous owner's logins, IPs and
// devices; admins see the email's whole history.
func handleListAudit(store AuditLister) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		target, cur, err := authorizeSelfOrAdmin(r)
		if err != nil {
			return err
		}
		limit, after, err := pageParams(r)
		if err != nil {
			return err
		}
		var since time.Time
		if !cur.User.IsAdmin() {
			since = cur.User.CreatedAt
		}
		events, next, err := store.ListEvents(r.Context(), target, since, after, limit)
		if err != nil {
			return err
		}
		events = asSeenBy(events, target, cur.User.IsAdmin())
		writeJSON(w, http.StatusOK, envelope{
			Success: true, Message: "Audit events, newest first.", Data: events, NextCursor: page.Encode(next),
		})
		return nil
	})
}

// asSeenBy is a user's events as the viewer may see them: an admin sees
// every actor; the user sees "an administrator" for any admin who acted.
func asSeenBy(events []audit.Event, owner string, admin bool) []audit.Event {
	if !admin {
		for i := range events {
			if events[i].Actor != owner {
				events[i].Actor = anAdministrator
			}
		}
	}
	return events
}
