package elastic

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"esauth/lib/limit"
)

var _ limit.Exchange = (*Store)(nil)

// usageDoc is a document of <prefix>limits.
type usageDoc struct {
	Limit     string    `json:"limit"`
	Key       string    `json:"key"`
	Instance  string    `json:"instance"`
	Used      int64     `json:"used"`
	UpdatedAt time.Time `json:"updated_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// usageID is a record's _id: one per limit, key and instance, so each
// instance only ever overwrites its own records and no write conflicts.
func usageID(u limit.Usage) string {
	h := sha256.Sum256([]byte(u.Limit + "\x00" + u.Instance + "\x00" + u.Key))
	return hex.EncodeToString(h[:])
}

// PutUsage writes this instance's usage records in one _bulk request
// (plain index operations: a later total replaces an earlier one).
func (s *Store) PutUsage(ctx context.Context, us []limit.Usage) error {
	if len(us) == 0 {
		return nil
	}
	if err := s.ensure(ctx); err != nil {
		return err
	}
	var body strings.Builder
	enc := json.NewEncoder(&body)
	for _, u := range us {
		_ = enc.Encode(map[string]any{"index": map[string]string{"_index": s.limits, "_id": usageID(u)}})
		_ = enc.Encode(usageDoc{Limit: u.Limit, Key: u.Key, Instance: u.Instance, Used: u.Used,
			UpdatedAt: u.UpdatedAt.UTC(), ExpiresAt: u.ExpiresAt.UTC()})
	}
	const op = "put limits' usage"
	r, err := s.call(ctx, op, esapi.BulkRequest{Body: strings.NewReader(body.String())})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return unexpected(op, r)
	}
	if status, e, failed := r.firstItemError(); failed {
		if err := clusterFailure(op, status, e); err != nil {
			return err
		}
		return unexpected(op, r)
	}
	return nil
}

// UsageSince returns the usage records of the other instances updated at
// or after since, newest first, at most max. It searches without a
// refresh: a record written within the last second is read by the next
// call (lib/limit reads again a few seconds back).
func (s *Store) UsageSince(ctx context.Context, instance string, since time.Time, max int) ([]limit.Usage, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	q := map[string]any{
		"size": max,
		"query": map[string]any{"bool": map[string]any{
			"filter": []any{map[string]any{"range": map[string]any{
				"updated_at": map[string]any{"gte": since.UTC().Format(time.RFC3339Nano)}}}},
			"must_not": []any{map[string]any{"term": map[string]any{"instance": instance}}},
		}},
		"sort": []any{map[string]any{"updated_at": "desc"}},
	}
	const op = "read limits' usage"
	r, err := s.call(ctx, op, esapi.SearchRequest{Index: []string{s.limits}, Body: jsonBody(q)})
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, unexpected(op, r)
	}
	var a struct {
		Hits struct {
			Hits []struct {
				Source usageDoc `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := decode(op, r, &a); err != nil {
		return nil, err
	}
	out := make([]limit.Usage, 0, len(a.Hits.Hits))
	for _, h := range a.Hits.Hits {
		d := h.Source
		out = append(out, limit.Usage{Limit: d.Limit, Key: d.Key, Instance: d.Instance, Used: d.Used,
			UpdatedAt: d.UpdatedAt, ExpiresAt: d.ExpiresAt})
	}
	return out, nil
}
