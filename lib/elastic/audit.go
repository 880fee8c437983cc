package elastic

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/user"
)

var _ audit.Sink = (*Store)(nil)

// AuditIndex names the audit index.
func (s *Store) AuditIndex() string { return s.audit }

// WriteEvents appends events to the audit index in one _bulk request. Each
// is a create, so an event, once written, is never overwritten.
func (s *Store) WriteEvents(ctx context.Context, events []audit.Event) error {
	if len(events) == 0 {
		return nil
	}
	if err := s.ensure(ctx); err != nil {
		return err
	}
	var body strings.Builder
	enc := json.NewEncoder(&body)
	for _, e := range events {
		_ = enc.Encode(map[string]any{"create": map[string]string{"_index": s.audit, "_id": e.ID}})
		_ = enc.Encode(e)
	}
	// Event ids are random, so an id that exists can only be this event's,
	// stored by an earlier attempt whose answer was lost: bulkCreate counts
	// it as written.
	return s.bulkCreate(ctx, "write audit events", body.String())
}

// ListEvents returns up to size events about email at or after since (all
// when since is zero), newest first, starting after cursor (nil for the
// first page), and the cursor of the next page (nil when this page is the
// last).
func (s *Store) ListEvents(ctx context.Context, email string, since time.Time, after *audit.Cursor, size int) ([]audit.Event, *audit.Cursor, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, nil, err
	}
	filter := []any{map[string]any{"term": map[string]any{"email": user.NormalizeEmail(email)}}}
	if !since.IsZero() {
		filter = append(filter, map[string]any{"range": map[string]any{"at": map[string]any{"gte": since.UTC().Format(time.RFC3339Nano)}}})
	}
	q := map[string]any{
		"size":  size + 1, // one more tells whether a next page exists
		"query": map[string]any{"bool": map[string]any{"filter": filter}},
		"sort":  []any{map[string]any{"at": "desc"}, map[string]any{"event_id": "desc"}},
	}
	if after != nil {
		q["search_after"] = []any{after.AtMillis, after.ID}
	}
	r, err := s.call(ctx, "list audit events", esapi.SearchRequest{Index: []string{s.audit}, Body: jsonBody(q)})
	if err != nil {
		return nil, nil, err
	}
	if r.status != http.StatusOK {
		if r.status == http.StatusBadRequest {
			return nil, nil, errs.E(errs.BadRequest, "The cursor is not valid.")
		}
		return nil, nil, unexpected("list audit events", r)
	}
	var a struct {
		Hits struct {
			Hits []struct {
				Source audit.Event `json:"_source"`
				Sort   []any       `json:"sort"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := decode("list audit events", r, &a); err != nil {
		return nil, nil, err
	}
	hits := a.Hits.Hits
	var next *audit.Cursor
	if len(hits) > size {
		hits = hits[:size]
		last := hits[len(hits)-1].Source
		next = &audit.Cursor{AtMillis: last.At.UnixMilli(), ID: last.ID}
	}
	out := make([]audit.Event, 0, len(hits))
	for _, h := range hits {
		out = append(out, h.Source)
	}
	return out, next, nil
}
