package v1

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"

	"esauth/lib/audit"
	"esauth/lib/errs"
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
	if cur, ok := session.FromContext(r.Context()); ok {
		actor = cur.User.Email
	}
	rec.Record(audit.Event{Event: event, Email: email, Actor: actor, IP: clientIP(r), UserAgent: session.Clip(r.UserAgent(), 512), Outcome: outcome})
}

// AuditLister pages through the audit trail.
type AuditLister interface {
	ListEvents(ctx context.Context, email string, after *audit.Cursor, size int) ([]audit.Event, *audit.Cursor, error)
}

const (
	defaultAuditPage = 50
	maxAuditPage     = 200
)

// encodeCursor makes a storage cursor opaque for clients.
func encodeCursor(c *audit.Cursor) string {
	if c == nil {
		return ""
	}
	b, _ := json.Marshal([]any{c.AtMillis, c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (*audit.Cursor, error) {
	if s == "" {
		return nil, nil
	}
	bad := errs.InvalidFields(map[string]string{"cursor": "The cursor is not valid; use next_cursor from the previous page."})
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 256 {
		return nil, bad
	}
	var v []json.RawMessage
	var c audit.Cursor
	if json.Unmarshal(b, &v) != nil || len(v) != 2 || json.Unmarshal(v[0], &c.AtMillis) != nil ||
		json.Unmarshal(v[1], &c.ID) != nil || c.ID == "" {
		return nil, bad
	}
	return &c, nil
}

// handleListAudit pages through the security events of a user, newest
// first: ?limit= (1–200, default 50) and ?cursor= (next_cursor of the
// previous page). Events are written in the background, so the newest
// may take a second or two to appear.
func handleListAudit(store AuditLister) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		target, _, err := authorizeSelfOrAdmin(r)
		if err != nil {
			return err
		}
		q := r.URL.Query()
		limit := defaultAuditPage
		if s := q.Get("limit"); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > maxAuditPage {
				return errs.InvalidFields(map[string]string{"limit": "limit must be a whole number from 1 to 200."})
			}
			limit = n
		}
		after, err := decodeCursor(q.Get("cursor"))
		if err != nil {
			return err
		}
		events, next, err := store.ListEvents(r.Context(), target, after, limit)
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, envelope{
			Success: true, Message: "Audit events, newest first.", Data: events, NextCursor: encodeCursor(next),
		})
		return nil
	})
}
