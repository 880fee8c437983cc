package elastic

import (
	"context"
	"net/http"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"esauth/lib/errs"
	"esauth/lib/page"
	"esauth/lib/session"
)

// sessionQuery selects the sessions of f that have not expired at now,
// leaving out the one with id except (none when "").
func sessionQuery(f session.Filter, now time.Time, except string) map[string]any {
	c := []any{map[string]any{"range": map[string]any{"expires_at": map[string]any{"gt": now.UnixMilli(), "format": "epoch_millis"}}}}
	if f.Email != "" {
		c = append(c, map[string]any{"term": map[string]any{"email_address": f.Email}})
	}
	if f.Network.IsValid() {
		c = append(c, map[string]any{"term": map[string]any{"ip.addr": f.Network.String()}})
	}
	if f.UserAgent != "" {
		c = append(c, map[string]any{"match": map[string]any{"user_agent.text": map[string]any{"query": f.UserAgent, "operator": "and"}}})
	}
	if r := timeRange(f.CreatedFrom, f.CreatedTo); r != nil {
		c = append(c, map[string]any{"range": map[string]any{"created_at": r}})
	}
	if r := timeRange(f.SeenFrom, f.SeenTo); r != nil {
		c = append(c, map[string]any{"range": map[string]any{"last_seen_at": r}})
	}
	q := map[string]any{"filter": c}
	if except != "" {
		q["must_not"] = []any{map[string]any{"ids": map[string]any{"values": []string{except}}}}
	}
	return map[string]any{"bool": q}
}

// SearchSessions returns up to size live sessions of any account that f
// selects, newest first, after cursor, and the next page's cursor. It
// refreshes first, so a session made a moment ago is listed.
func (s *Store) SearchSessions(ctx context.Context, f session.Filter, now time.Time, after *page.Cursor, size int) ([]session.Session, *page.Cursor, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, nil, err
	}
	if err := s.refresh(ctx, s.sessions); err != nil {
		return nil, nil, err
	}
	q := map[string]any{
		"size": size + 1, "sort": newestFirst, "query": sessionQuery(f, now, ""),
		"timeout": searchTimeout, "track_total_hits": false,
	}
	if after != nil {
		q["search_after"] = []any{after.AtMillis, after.ID}
	}
	const op = "search sessions"
	r, err := s.call(ctx, op, esapi.SearchRequest{Index: []string{s.sessions}, Body: jsonBody(q)})
	if err != nil {
		return nil, nil, err
	}
	if r.status == http.StatusBadRequest && after != nil {
		return nil, nil, errs.InvalidFields(map[string]string{"cursor": "The cursor is not valid; use next_cursor from the previous page."})
	}
	if r.status != http.StatusOK {
		return nil, nil, unexpected(op, r)
	}
	var a struct {
		TimedOut bool `json:"timed_out"`
		Hits     struct {
			Hits []struct {
				ID     string     `json:"_id"`
				Source sessionDoc `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := decode(op, r, &a); err != nil {
		return nil, nil, err
	}
	if a.TimedOut {
		return nil, nil, cutShort("created_from", "sessions")
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

// CountSessions counts the live sessions f selects (but except) and the
// accounts they belong to (exact up to 3,000 accounts, then Elasticsearch's
// cardinality estimate, within a few percent).
func (s *Store) CountSessions(ctx context.Context, f session.Filter, now time.Time, except string) (sessions, users int, err error) {
	if err := s.ensure(ctx); err != nil {
		return 0, 0, err
	}
	if err := s.refresh(ctx, s.sessions); err != nil {
		return 0, 0, err
	}
	q := map[string]any{
		"size": 0, "track_total_hits": true, "timeout": searchTimeout,
		"query": sessionQuery(f, now, except),
		"aggs":  map[string]any{"users": map[string]any{"cardinality": map[string]any{"field": "email_address", "precision_threshold": 3000}}},
	}
	const op = "count sessions"
	r, err := s.call(ctx, op, esapi.SearchRequest{Index: []string{s.sessions}, Body: jsonBody(q)})
	if err != nil {
		return 0, 0, err
	}
	if r.status != http.StatusOK {
		return 0, 0, unexpected(op, r)
	}
	var a struct {
		TimedOut bool `json:"timed_out"`
		Hits     struct {
			Total struct {
				Value int `json:"value"`
			} `json:"total"`
		} `json:"hits"`
		Aggs struct {
			Users struct {
				Value int `json:"value"`
			} `json:"users"`
		} `json:"aggregations"`
	}
	if err := decode(op, r, &a); err != nil {
		return 0, 0, err
	}
	if a.TimedOut {
		return 0, 0, cutShort("created_from", "sessions")
	}
	return a.Hits.Total.Value, a.Aggs.Users.Value, nil
}

// RevokeSessionsWhere deletes the live sessions f selects but except, and
// returns how many. Deleting the document is what ends a session here: the
// loader's realtime get finds it gone on the next request. It works
// without _delete_by_query (not in the integ-test distribution): rounds of
// refresh, a search of up to 1,000 ids and a _bulk delete, until none is
// left. A session made after the last round's refresh is not ended: the
// revocation covers the sessions that existed when it ran.
func (s *Store) RevokeSessionsWhere(ctx context.Context, f session.Filter, now time.Time, except string) (int, error) {
	if err := s.ensure(ctx); err != nil {
		return 0, err
	}
	n, err := s.deleteWhere(ctx, "revoke sessions by query", s.sessions, sessionQuery(f, now, except))
	s.obs.Sessions(SessionsRevoked, n)
	return n, err
}
