package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"go.uber.org/zap"

	"esauth/lib/errs"
	"esauth/lib/page"
	"esauth/lib/session"
	"esauth/lib/user"
)

// sessionDoc is a session as stored: a conversion of session.Session, so
// the compiler keeps the two in step. Its id is the document _id, and is
// also stored as the tie-breaker that pages session lists.
type sessionDoc struct {
	ID         string    `json:"id"`
	Email      string    `json:"email_address"`
	CreatedAt  time.Time `json:"created_at"`
	ExpiresAt  time.Time `json:"expires_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	Remember   bool      `json:"remember"`
	UserAgent  string    `json:"user_agent"`
	IP         string    `json:"ip"`
	UserEpoch  string    `json:"user_epoch"`
	// omitempty: a session of an older esauth has neither, and most have
	// no second factor; the loader reads absent as false.
	SecondFactor bool `json:"second_factor,omitempty"`
	Pending      bool `json:"pending,omitempty"`
}

// toSession returns the session of a stored document; id is the document
// _id, which older documents do not repeat in their source.
func (d sessionDoc) toSession(id string) session.Session {
	d.ID = id
	return session.Session(d)
}

// CreateSession stores a new session. Its id is the hash of 256 random
// bits, so a conflict can only be this very write, applied once already
// and re-sent by the client after a broken connection: that is success.
func (s *Store) CreateSession(ctx context.Context, sess session.Session) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	r, err := s.call(ctx, "create session", esapi.IndexRequest{
		Index:      s.sessions,
		DocumentID: sess.ID,
		OpType:     "create",
		Body:       jsonBody(sessionDoc(sess)),
	})
	if err != nil {
		return err
	}
	switch r.status {
	case http.StatusCreated, http.StatusOK:
		s.obs.Sessions(SessionsCreated, 1)
		return nil
	case http.StatusConflict:
		return nil // counted when it was made
	}
	return unexpected("create session", r)
}

// mgetDoc is one entry of an _mget answer, its source decoded as T. An
// entry can fail on its own (its index closed, missing or unavailable)
// while the call as a whole answers 200: Error is then set and Found says
// nothing.
type mgetDoc[T any] struct {
	ID          string `json:"_id"`
	Found       bool   `json:"found"`
	SeqNo       int64  `json:"_seq_no"`
	PrimaryTerm int64  `json:"_primary_term"`
	Source      T      `json:"_source"`
	Error       *struct {
		Type   string `json:"type"`
		Reason string `json:"reason"`
	} `json:"error"`
}

// mgetAnswer is an _mget answer whose sources decode as T.
type mgetAnswer[T any] struct {
	Docs []mgetDoc[T] `json:"docs"`
}

// mget reads documents in one realtime round trip; body is the request,
// for n documents whose sources decode as T. An entry that failed is an
// unavailable store, never "not found": reading a closed index's session
// as missing would log users out, or let a logout answer 200 without
// revoking anything.
func mget[T any](ctx context.Context, s *Store, op string, body []byte, n int) ([]mgetDoc[T], error) {
	r, err := s.call(ctx, op, esapi.MgetRequest{Body: bytes.NewReader(body)})
	if err != nil {
		return nil, err
	}
	return mgetDocs[T](s, op, r, n)
}

// mgetDocs reads an _mget answer of n entries with encoding/json.
func mgetDocs[T any](s *Store, op string, r result, n int) ([]mgetDoc[T], error) {
	if r.status != http.StatusOK {
		return nil, unexpected(op, r)
	}
	var a mgetAnswer[T]
	if err := decode(op, r, &a); err != nil {
		return nil, err
	}
	if len(a.Docs) != n {
		return nil, unexpected(op, r)
	}
	for _, d := range a.Docs {
		if d.Error != nil {
			if d.Error.Type == "index_not_found_exception" {
				s.ready.Store(false) // set the index up again on the next call
			}
			return nil, unavailable(fmt.Errorf("%s: %s: %s", op, d.ID, d.Error.Type))
		}
	}
	return a.Docs, nil
}

// loadSource is the _source of either document the loader reads, so the
// answer decodes in one pass: a session's fields, and those of a user
// (email_address and created_at they share).
type loadSource struct {
	sessionDoc
	FirstName    string    `json:"first_name"`
	LastName     string    `json:"last_name"`
	Role         string    `json:"role"`
	IsActive     bool      `json:"is_active"`
	UpdatedAt    time.Time `json:"updated_at"`
	SessionEpoch string    `json:"session_epoch"`
	// What the loader needs of the second factor and the address.
	EmailVerifiedAt time.Time `json:"email_verified_at"`
	TOTPEnabledAt   time.Time `json:"totp_enabled_at"`
}

func (l loadSource) user() user.User {
	return user.User{
		Email: l.Email, FirstName: l.FirstName, LastName: l.LastName, Role: l.Role, IsActive: l.IsActive,
		CreatedAt: l.CreatedAt, UpdatedAt: l.UpdatedAt, SessionEpoch: l.SessionEpoch,
		EmailVerifiedAt: l.EmailVerifiedAt, TOTPEnabledAt: l.TOTPEnabledAt,
	}
}

// loadBody is the loader's _mget request: the session by id, then the
// user by email. It is assembled from parts made once, as it is on every
// request.
//
// It asks for whole documents, unfiltered: measured by scripts/bench,
// `_source` includes and `filter_path` each made Elasticsearch parse and
// rewrite every answer (about 30 µs of its CPU per request, more than
// esauth saved decoding less), while an unfiltered source is copied as
// stored. loadSource has no field for the password hash, so the decoder
// skips it and it is never held in the request's memory.
func (s *Store) loadBody(sessionID, email string) []byte {
	quoted, _ := json.Marshal(user.NormalizeEmail(email)) // in JSON the id needs no URL escaping
	b := make([]byte, 0, len(s.loadHead)+len(sessionID)+len(s.loadMiddle)+len(quoted)+3)
	b = append(b, s.loadHead...)
	b = append(b, sessionID...) // hex, or refused below
	b = append(b, s.loadMiddle...)
	b = append(b, quoted...)
	return append(b, "}]}"...)
}

// loadParts makes the fixed parts of loadBody for the store's indices.
func loadParts(sessions, users string) (head, middle string) {
	idx := func(name string) string { b, _ := json.Marshal(name); return string(b) }
	return `{"docs":[{"_index":` + idx(sessions) + `,"_id":"`,
		`"},{"_index":` + idx(users) + `,"_id":`
}

// Load reads a session and its user in ONE round trip (_mget), which is the
// whole cost of knowing who makes a request. Both reads are realtime, so a
// session revoked or a user disabled a moment ago is seen at once. A
// missing session or user is errs.Unauthenticated; whether the session
// proves the user (lifetime, epoch, active) is the caller's policy.
func (s *Store) Load(ctx context.Context, sessionID, email string) (user.User, session.Session, error) {
	if !validSessionID(sessionID) {
		return user.User{}, session.Session{}, errs.E(errs.Unauthenticated, "Your session has ended; log in again.")
	}
	if err := s.ensure(ctx); err != nil {
		return user.User{}, session.Session{}, err
	}
	docs, err := s.loadDocs(ctx, s.loadBody(sessionID, email))
	if err != nil {
		return user.User{}, session.Session{}, err
	}
	if !docs[0].Found || !docs[1].Found {
		return user.User{}, session.Session{}, errs.E(errs.Unauthenticated, "Your session has ended; log in again.")
	}
	return docs[1].Source.user(), docs[0].Source.sessionDoc.toSession(sessionID), nil
}

// loadDocs is the loader's _mget: mget for exactly its two documents,
// with the answer read into a pooled buffer and decoded by the fast path
// into an array, so a request with a cookie leaves little garbage. The
// fast path gives up on an entry with an error, so such an answer, like
// anything else unusual, is read by mgetDocs.
func (s *Store) loadDocs(ctx context.Context, body []byte) ([2]mgetDoc[loadSource], error) {
	const op = "load session"
	var docs [2]mgetDoc[loadSource]
	r, err := s.callPooled(ctx, op, esapi.MgetRequest{Body: bytes.NewReader(body)})
	defer r.release()
	if err != nil {
		return docs, err
	}
	if r.status == http.StatusOK && decodeLoadDocs(r.body, &docs) {
		return docs, nil
	}
	slow, err := mgetDocs[loadSource](s, op, r, len(docs))
	copy(docs[:], slow)
	return docs, err
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
	// A missing document was revoked meanwhile, which is not this call's concern.
	if r.status != http.StatusOK && !docMissing(r) {
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
	if r.status == http.StatusOK {
		s.obs.Sessions(SessionsRevoked, 1)
		return nil
	}
	if !docMissing(r) {
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
	if docMissing(r) {
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
	// The owner was checked above and a session never changes owner, so
	// no version check is needed: a touch in between changes nothing.
	return s.DeleteSession(ctx, id)
}

// refresh makes every document written to index so far visible to
// search. Gets and _mget are realtime, but search only sees refreshed
// documents: without this, a login made a second before "log out
// everywhere" would be missed by its clean-up.
func (s *Store) refresh(ctx context.Context, index string) error {
	r, err := s.call(ctx, "refresh "+index, esapi.IndicesRefreshRequest{Index: []string{index}})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return unexpected("refresh "+index, r)
	}
	return nil
}

// RevokeSessions deletes every session of email except the one with id
// except (none when except is ""), and returns how many it deleted.
//
// Deleting is housekeeping, not what ends the sessions: whatever must end
// them all changes the user's session epoch first, which the loader
// checks. A search sees only refreshed documents, so a session stored
// after the search (a login that read the user just before the change)
// would survive a revocation that relied on deleting alone.
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
	n, err := s.deleteWhere(ctx, "revoke sessions", s.sessions, q)
	s.obs.Sessions(SessionsRevoked, n)
	return n, err
}

// sweepSessions removes the documents of sessions that a change of epoch
// or a deleted user already ended. It is best effort: a failure is logged
// and leaves documents that the loader refuses and the hourly purge
// removes when they expire.
func (s *Store) sweepSessions(ctx context.Context, email string) {
	if _, err := s.RevokeSessions(ctx, email, ""); err != nil {
		s.log.Warn("could not delete ended sessions; they are refused and will be purged when they expire", zap.Error(err))
	}
}

// deleteBatch is how many documents one search-then-bulk-delete round removes.
const deleteBatch = 1000

// deleteWhere deletes the documents of index matching query by searching
// their ids and deleting them with _bulk, batch by batch. It does not use
// _delete_by_query because that lives in Elasticsearch's reindex module,
// which not every distribution ships (the integ-test-zip used in tests does
// not). Each round refreshes first, so documents written a moment ago are
// found too.
func (s *Store) deleteWhere(ctx context.Context, op, index string, query map[string]any) (int, error) {
	deleted := 0
	for round := 0; round < 1000; round++ {
		if err := s.refresh(ctx, index); err != nil {
			return deleted, err
		}
		ids, err := s.searchIDs(ctx, op, index, map[string]any{"query": query}, 0, deleteBatch)
		if err != nil || len(ids) == 0 {
			return deleted, err
		}
		n, err := s.deleteIDs(ctx, op, index, ids)
		deleted += n
		if err != nil || len(ids) < deleteBatch {
			return deleted, err
		}
	}
	return deleted, nil
}

// deleteIDs deletes documents of index by id in one _bulk request and
// returns how many it deleted; ids already gone are no error.
func (s *Store) deleteIDs(ctx context.Context, op, index string, ids []string) (int, error) {
	var body strings.Builder
	enc := json.NewEncoder(&body)
	for _, id := range ids {
		_ = enc.Encode(map[string]any{"delete": map[string]string{"_index": index, "_id": id}})
	}
	r, err := s.call(ctx, op, esapi.BulkRequest{Body: strings.NewReader(body.String())})
	if err != nil {
		return 0, err
	}
	if r.status != http.StatusOK {
		return 0, unexpected(op, r)
	}
	var a struct {
		Items []map[string]bulkItem `json:"items"`
	}
	if err := decode(op, r, &a); err != nil {
		return 0, err
	}
	deleted := 0
	for _, item := range a.Items {
		switch it := item["delete"]; {
		case it.Status == http.StatusOK:
			deleted++
		case it.Status == http.StatusNotFound && it.Error == nil: // gone meanwhile: fine
		default:
			// A bulk answers 200 even when items fail (a block, a full
			// queue): classified like any answer.
			return deleted, s.itemError(op, it)
		}
	}
	return deleted, nil
}

// searchIDs returns the ids of the documents body (a search body with its
// query and sort) selects, from from, at most size.
func (s *Store) searchIDs(ctx context.Context, op, index string, body map[string]any, from, size int) ([]string, error) {
	body["from"], body["size"], body["_source"] = from, size, false
	r, err := s.call(ctx, op, esapi.SearchRequest{Index: []string{index}, Body: jsonBody(body)})
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

// newestFirst sorts sessions by creation, newest first, with the id to
// break ties, so keyset paging never skips or repeats one.
var newestFirst = []any{
	map[string]any{"created_at": "desc"},
	map[string]any{"id": map[string]any{"order": "desc", "missing": "_last"}},
}

// ownSessions selects the sessions of email that have not expired at now.
func ownSessions(email string, now time.Time) map[string]any {
	return map[string]any{"bool": map[string]any{"filter": []any{
		map[string]any{"term": map[string]any{"email_address": user.NormalizeEmail(email)}},
		map[string]any{"range": map[string]any{"expires_at": map[string]any{"gt": now.UTC().Format(time.RFC3339Nano)}}},
	}}}
}

// ListSessions returns up to size sessions of email that have not expired
// at now, newest first, starting after cursor (nil for the first page),
// and the cursor of the next page (nil on the last). Idle-timeout
// filtering is the caller's policy.
func (s *Store) ListSessions(ctx context.Context, email string, now time.Time, after *page.Cursor, size int) ([]session.Session, *page.Cursor, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, nil, err
	}
	if err := s.refresh(ctx, s.sessions); err != nil {
		return nil, nil, err
	}
	query := map[string]any{
		"size":  size + 1, // one more tells whether a next page exists
		"sort":  newestFirst,
		"query": ownSessions(email, now),
	}
	if after != nil {
		query["search_after"] = []any{after.AtMillis, after.ID}
	}
	r, err := s.call(ctx, "list sessions", esapi.SearchRequest{Index: []string{s.sessions}, Body: jsonBody(query)})
	if err != nil {
		return nil, nil, err
	}
	if r.status == http.StatusBadRequest && after != nil {
		return nil, nil, errs.E(errs.BadRequest, "The cursor is not valid.")
	}
	if r.status != http.StatusOK {
		return nil, nil, unexpected("list sessions", r)
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
		return nil, nil, err
	}
	hits := a.Hits.Hits
	var next *page.Cursor
	if len(hits) > size {
		hits = hits[:size]
		last := hits[len(hits)-1]
		next = &page.Cursor{AtMillis: last.Source.CreatedAt.UnixMilli(), ID: last.ID}
	}
	out := make([]session.Session, 0, len(hits))
	for _, h := range hits {
		out = append(out, h.Source.toSession(h.ID))
	}
	return out, next, nil
}

// TrimSessions deletes the oldest sessions of email so that at most keep
// remain, counting newest, the session just made, which it never deletes.
// It searches without refreshing (a refresh on every login would cost the
// whole cluster), so sessions made within the last second (the refresh
// interval) are not seen and are trimmed by a later login instead.
func (s *Store) TrimSessions(ctx context.Context, email string, keep int, newest string, now time.Time) (int, error) {
	if err := s.ensure(ctx); err != nil {
		return 0, err
	}
	query := ownSessions(email, now)
	query["bool"].(map[string]any)["must_not"] = []any{map[string]any{"ids": map[string]any{"values": []string{newest}}}}
	body := map[string]any{"sort": newestFirst, "query": query}
	ids, err := s.searchIDs(ctx, "trim sessions", s.sessions, body, max(keep-1, 0), deleteBatch)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	n, err := s.deleteIDs(ctx, "trim sessions", s.sessions, ids)
	s.obs.Sessions(SessionsTrimmed, n)
	return n, err
}

// PurgeExpired deletes sessions whose absolute lifetime ended before now,
// failed-password records past their retention, expired one-time tokens
// and the rate limits' records of buckets full again, so no index grows
// without bound. Sessions that ended by idle timeout are refused by the
// loader and go when their expiry passes.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time) (int, error) {
	if err := s.ensure(ctx); err != nil {
		return 0, err
	}
	q := map[string]any{"range": map[string]any{
		"expires_at": map[string]any{"lte": now.UTC().Format(time.RFC3339Nano)},
	}}
	n, err := s.deleteWhere(ctx, "purge sessions", s.sessions, q)
	s.obs.Sessions(SessionsPurged, n)
	if err != nil {
		return n, err
	}
	m, err := s.deleteWhere(ctx, "purge attempts", s.attempts, q)
	if err != nil {
		return n + m, err
	}
	k, err := s.deleteWhere(ctx, "purge tokens", s.tokens, q)
	if err != nil {
		return n + m + k, err
	}
	l, err := s.deleteWhere(ctx, "purge limits", s.limits, q)
	return n + m + k + l, err
}
