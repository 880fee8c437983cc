package elastic

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"esauth/lib/errs"
	"esauth/lib/session"
	"esauth/lib/user"
)

// sessionDoc is a session as stored; its id is the document _id.
type sessionDoc struct {
	Email      string    `json:"email_address"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	Remember   bool      `json:"remember"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
}

func toSessionDoc(s session.Session) sessionDoc {
	return sessionDoc{
		Email: s.Email, CreatedAt: s.CreatedAt, ExpiresAt: s.ExpiresAt, LastSeenAt: s.LastSeenAt,
		Remember: s.Remember, UserAgent: s.UserAgent, IP: s.IP,
	}
}

func (d sessionDoc) toSession(id string) session.Session {
	return session.Session{
		ID: id, Email: d.Email, CreatedAt: d.CreatedAt, ExpiresAt: d.ExpiresAt, LastSeenAt: d.LastSeenAt,
		Remember: d.Remember, UserAgent: d.UserAgent, IP: d.IP,
	}
}

// CreateSession stores a new session.
func (s *Store) CreateSession(ctx context.Context, sess session.Session) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	r, err := s.call(ctx, "create session", esapi.IndexRequest{
		Index:      s.sessions,
		DocumentID: sess.ID,
		OpType:     "create",
		Body:       jsonBody(toSessionDoc(sess)),
	})
	if err != nil {
		return err
	}
	if r.status != http.StatusCreated && r.status != http.StatusOK {
		return unexpected("create session", r)
	}
	return nil
}

type mgetAnswer struct {
	Docs []struct {
		ID     string          `json:"_id"`
		Found  bool            `json:"found"`
		Source json.RawMessage `json:"_source"`
	} `json:"docs"`
}

// Load reads a session and its user in ONE round trip (_mget), which is the
// whole cost of knowing who makes a request. Both reads are realtime, so a
// session revoked or a user disabled a moment ago is seen at once. A
// missing session or user is errs.Unauthenticated; whether the session is
// still valid in time is the caller's policy.
func (s *Store) Load(ctx context.Context, sessionID, email string) (user.User, session.Session, error) {
	if err := s.ensure(ctx); err != nil {
		return user.User{}, session.Session{}, err
	}
	body := map[string]any{"docs": []map[string]string{
		{"_index": s.sessions, "_id": sessionID},
		{"_index": s.users, "_id": user.NormalizeEmail(email)}, // in JSON: no escaping
	}}
	r, err := s.call(ctx, "load session", esapi.MgetRequest{Body: jsonBody(body)})
	if err != nil {
		return user.User{}, session.Session{}, err
	}
	if r.status != http.StatusOK {
		return user.User{}, session.Session{}, unexpected("load session", r)
	}
	var a mgetAnswer
	if err := decode("load session", r, &a); err != nil {
		return user.User{}, session.Session{}, err
	}
	if len(a.Docs) != 2 {
		return user.User{}, session.Session{}, unexpected("load session", r)
	}
	gone := errs.E(errs.Unauthenticated, "Your session has ended; log in again.")
	if !a.Docs[0].Found || !a.Docs[1].Found {
		return user.User{}, session.Session{}, gone
	}
	var sd sessionDoc
	var ud userDoc
	if json.Unmarshal(a.Docs[0].Source, &sd) != nil || json.Unmarshal(a.Docs[1].Source, &ud) != nil {
		return user.User{}, session.Session{}, unexpected("load session", r)
	}
	return ud.toUser(), sd.toSession(sessionID), nil
}

// TouchSession records that the session was used at t.
func (s *Store) TouchSession(ctx context.Context, id string, t time.Time) error {
	r, err := s.call(ctx, "touch session", esapi.UpdateRequest{
		Index:           s.sessions,
		DocumentID:      id,
		Body:            jsonBody(map[string]any{"doc": map[string]any{"last_seen_at": t}}),
		RetryOnConflict: intPtr(3),
	})
	if err != nil {
		return err
	}
	// 404: revoked meanwhile, which is not this call's concern.
	if r.status != http.StatusOK && r.status != http.StatusNotFound {
		return unexpected("touch session", r)
	}
	return nil
}

func intPtr(i int) *int { return &i }

// validSessionID reports whether id can be a session id (hex SHA-256).
// Ids come from URLs; anything else is refused before it reaches a request
// path.
func validSessionID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// DeleteSession removes one session by id. A session already gone is no error.
func (s *Store) DeleteSession(ctx context.Context, id string) error {
	if !validSessionID(id) {
		return nil
	}
	if err := s.ensure(ctx); err != nil {
		return err
	}
	r, err := s.call(ctx, "delete session", esapi.DeleteRequest{Index: s.sessions, DocumentID: id})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK && r.status != http.StatusNotFound {
		return unexpected("delete session", r)
	}
	return nil
}

// DeleteSessionOf removes the session id only if it belongs to email, so a
// user can never revoke another user's session by guessing its id.
func (s *Store) DeleteSessionOf(ctx context.Context, email, id string) error {
	notFound := errs.E(errs.NotFound, "No such session.")
	if !validSessionID(id) {
		return notFound
	}
	if err := s.ensure(ctx); err != nil {
		return err
	}
	r, err := s.call(ctx, "get session", esapi.GetRequest{Index: s.sessions, DocumentID: id})
	if err != nil {
		return err
	}
	if r.status == http.StatusNotFound {
		return notFound
	}
	if r.status != http.StatusOK {
		return unexpected("get session", r)
	}
	var a getAnswer
	if err := decode("get session", r, &a); err != nil {
		return err
	}
	var d sessionDoc
	if json.Unmarshal(a.Source, &d) != nil {
		return unexpected("get session", r)
	}
	if d.Email != user.NormalizeEmail(email) {
		return notFound
	}
	r, err = s.call(ctx, "delete session", esapi.DeleteRequest{
		Index: s.sessions, DocumentID: id, IfSeqNo: &a.SeqNo, IfPrimaryTerm: &a.PrimaryTerm,
	})
	if err != nil {
		return err
	}
	switch r.status {
	case http.StatusOK, http.StatusNotFound, http.StatusConflict:
		// 409 here means the session was touched meanwhile; it is still
		// this user's, so delete it without the version check.
		if r.status == http.StatusConflict {
			return s.DeleteSession(ctx, id)
		}
		return nil
	}
	return unexpected("delete session", r)
}

// refreshSessions makes every session written so far visible to search.
// Gets and _mget are realtime, but search and delete_by_query only see
// refreshed documents: without this, a login made a second before "log out
// everywhere" could survive it.
func (s *Store) refreshSessions(ctx context.Context) error {
	r, err := s.call(ctx, "refresh sessions", esapi.IndicesRefreshRequest{Index: []string{s.sessions}})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return unexpected("refresh sessions", r)
	}
	return nil
}

// RevokeSessions deletes every session of email except the one with id
// except (none when except is ""), and returns how many it deleted.
func (s *Store) RevokeSessions(ctx context.Context, email, except string) (int, error) {
	if err := s.ensure(ctx); err != nil {
		return 0, err
	}
	q := map[string]any{"bool": map[string]any{
		"filter": []any{map[string]any{"term": map[string]any{"email_address": user.NormalizeEmail(email)}}},
	}}
	if except != "" {
		q["bool"].(map[string]any)["must_not"] = []any{map[string]any{"ids": map[string]any{"values": []string{except}}}}
	}
	return s.deleteSessionsWhere(ctx, "revoke sessions", q)
}

// deleteBatch is how many sessions one search-then-bulk-delete round removes.
const deleteBatch = 1000

// deleteSessionsWhere deletes the sessions matching query by searching their
// ids and deleting them with _bulk, batch by batch. It does not use
// _delete_by_query because that lives in Elasticsearch's reindex module,
// which not every distribution ships (the integ-test-zip used in tests does
// not). Each round refreshes first, so sessions written a moment ago are
// found too.
func (s *Store) deleteSessionsWhere(ctx context.Context, op string, query map[string]any) (int, error) {
	deleted := 0
	for round := 0; ; round++ {
		if err := s.refreshSessions(ctx); err != nil {
			return deleted, err
		}
		ids, err := s.searchSessionIDs(ctx, op, query, deleteBatch)
		if err != nil || len(ids) == 0 {
			return deleted, err
		}
		var body strings.Builder
		for _, id := range ids {
			body.WriteString(`{"delete":{"_index":`)
			b, _ := json.Marshal(s.sessions)
			body.Write(b)
			body.WriteString(`,"_id":`)
			b, _ = json.Marshal(id)
			body.Write(b)
			body.WriteString("}}\n")
		}
		r, err := s.call(ctx, op, esapi.BulkRequest{Body: strings.NewReader(body.String())})
		if err != nil {
			return deleted, err
		}
		if r.status != http.StatusOK {
			return deleted, unexpected(op, r)
		}
		var a struct {
			Items []map[string]struct {
				Status int `json:"status"`
			} `json:"items"`
		}
		if err := decode(op, r, &a); err != nil {
			return deleted, err
		}
		for _, item := range a.Items {
			switch item["delete"].Status {
			case http.StatusOK:
				deleted++
			case http.StatusNotFound: // gone meanwhile: fine
			default:
				return deleted, unexpected(op, r)
			}
		}
		if len(ids) < deleteBatch || round > 1000 {
			return deleted, nil
		}
	}
}

// searchSessionIDs returns the ids of up to size sessions matching query.
func (s *Store) searchSessionIDs(ctx context.Context, op string, query map[string]any, size int) ([]string, error) {
	r, err := s.call(ctx, op, esapi.SearchRequest{
		Index: []string{s.sessions},
		Body:  jsonBody(map[string]any{"query": query, "size": size, "_source": false}),
	})
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, unexpected(op, r)
	}
	var a struct {
		Hits struct {
			Hits []struct {
				ID string `json:"_id"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := decode(op, r, &a); err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(a.Hits.Hits))
	for _, h := range a.Hits.Hits {
		ids = append(ids, h.ID)
	}
	return ids, nil
}

// maxListedSessions caps the session list; a user with more live sessions
// than this sees the newest ones.
const maxListedSessions = 1000

// ListSessions returns the sessions of email that have not expired at now,
// newest first. Idle-timeout filtering is the caller's policy.
func (s *Store) ListSessions(ctx context.Context, email string, now time.Time) ([]session.Session, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	if err := s.refreshSessions(ctx); err != nil {
		return nil, err
	}
	query := map[string]any{
		"size": maxListedSessions,
		"sort": []any{map[string]any{"created_at": "desc"}},
		"query": map[string]any{"bool": map[string]any{"filter": []any{
			map[string]any{"term": map[string]any{"email_address": user.NormalizeEmail(email)}},
			map[string]any{"range": map[string]any{"expires_at": map[string]any{"gt": now.UTC().Format(time.RFC3339Nano)}}},
		}}},
	}
	r, err := s.call(ctx, "list sessions", esapi.SearchRequest{Index: []string{s.sessions}, Body: jsonBody(query)})
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, unexpected("list sessions", r)
	}
	var a struct {
		Hits struct {
			Hits []struct {
				ID     string     `json:"_id"`
				Source sessionDoc `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := decode("list sessions", r, &a); err != nil {
		return nil, err
	}
	out := make([]session.Session, 0, len(a.Hits.Hits))
	for _, h := range a.Hits.Hits {
		out = append(out, h.Source.toSession(h.ID))
	}
	return out, nil
}

// PurgeExpired deletes sessions whose absolute lifetime ended before now,
// so the sessions index does not grow without bound. Sessions that ended by
// idle timeout are refused by the loader and go when their expiry passes.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	if err := s.ensure(ctx); err != nil {
		return 0, err
	}
	q := map[string]any{"range": map[string]any{
		"expires_at": map[string]any{"lte": now.UTC().Format(time.RFC3339Nano)},
	}}
	return s.deleteSessionsWhere(ctx, "purge sessions", q)
}
