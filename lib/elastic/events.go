package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/page"
)

// searchTimeout is what Elasticsearch may spend on one console search or
// aggregation before it answers with what it found (timed_out): a filter
// that matches millions of events costs at most this.
const searchTimeout = "2s"

// cutShort is the error for a console search that Elasticsearch stopped at
// searchTimeout. Its hits are only those of the shards and segments it had
// searched: a page with gaps, or a count too low, that would look whole —
// and a revocation counted from it would end fewer sessions than its dry
// run said. The admin narrows the filter (field names where to begin).
func cutShort(field, what string) error {
	return errs.InvalidFields(map[string]string{field: "This search took too long over this many " + what + "; narrow the time range or add a filter."})
}

// eventClauses turns a filter into filter clauses: terms, prefixes, ranges
// and one full-text match, each on the field its value is meant for. No
// value is ever parsed as query syntax (no query_string), and no pattern
// starts with a wildcard.
func eventClauses(f audit.Filter) []any {
	var c []any
	term := func(field string, v any) { c = append(c, map[string]any{"term": map[string]any{field: v}}) }
	if len(f.Events) > 0 {
		c = append(c, map[string]any{"terms": map[string]any{"event": f.Events}})
	}
	switch f.Outcome {
	case "":
	case audit.Refused: // "refused" and "refused: <reason>"
		c = append(c, map[string]any{"bool": map[string]any{"should": []any{
			map[string]any{"term": map[string]any{"outcome": audit.Refused}},
			map[string]any{"prefix": map[string]any{"outcome": audit.Refused + ":"}},
		}, "minimum_should_match": 1}})
	default:
		term("outcome", f.Outcome)
	}
	if f.Email != "" {
		term("email", f.Email)
	}
	if f.Actor != "" {
		term("actor", f.Actor)
	}
	if f.Network.IsValid() {
		term("ip.addr", f.Network.String())
	}
	if f.UserAgent != "" {
		c = append(c, map[string]any{"match": map[string]any{"user_agent.text": map[string]any{"query": f.UserAgent, "operator": "and"}}})
	}
	if f.NewDevice != nil {
		if *f.NewDevice {
			term("new_device", true)
		} else {
			c = append(c, map[string]any{"bool": map[string]any{"must_not": []any{map[string]any{"term": map[string]any{"new_device": true}}}}})
		}
	}
	if r := timeRange(f.From, f.To); r != nil {
		c = append(c, map[string]any{"range": map[string]any{"at": r}})
	}
	return c
}

// timeRange is [from, to) as a range clause's bounds; nil for neither.
func timeRange(from, to time.Time) map[string]any {
	// In milliseconds: the end of 9999-12-31 is year 10000, which the
	// date format does not write.
	r := map[string]any{"format": "epoch_millis"}
	if !from.IsZero() {
		r["gte"] = from.UnixMilli()
	}
	if !to.IsZero() {
		r["lt"] = to.UnixMilli()
	}
	if len(r) == 1 {
		return nil
	}
	return r
}

// SearchEvents returns up to size events f selects, newest first (time,
// then event id: a stable order), starting after cursor, and the cursor of
// the next page. It pages with search_after, never from, so a deep page
// costs what the first does.
func (s *Store) SearchEvents(ctx context.Context, f audit.Filter, after *page.Cursor, size int) ([]audit.Event, *page.Cursor, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, nil, err
	}
	q := map[string]any{
		"size":             size + 1, // one more tells whether a next page exists
		"query":            map[string]any{"bool": map[string]any{"filter": eventClauses(f)}},
		"sort":             []any{map[string]any{"at": "desc"}, map[string]any{"event_id": "desc"}},
		"timeout":          searchTimeout,
		"track_total_hits": false,
	}
	if after != nil {
		q["search_after"] = []any{after.AtMillis, after.ID}
	}
	const op = "search audit events"
	r, err := s.call(ctx, op, esapi.SearchRequest{Index: []string{s.audit}, Body: jsonBody(q)})
	if err != nil {
		return nil, nil, err
	}
	if r.status != http.StatusOK {
		if r.status == http.StatusBadRequest && after != nil {
			return nil, nil, errs.InvalidFields(map[string]string{"cursor": "The cursor is not valid; use next_cursor from the previous page."})
		}
		return nil, nil, unexpected(op, r)
	}
	var a struct {
		TimedOut bool `json:"timed_out"`
		Hits     struct {
			Hits []struct {
				Source audit.Event `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := decode(op, r, &a); err != nil {
		return nil, nil, err
	}
	if a.TimedOut {
		return nil, nil, cutShort("from", "events")
	}
	hits := a.Hits.Hits
	var next *page.Cursor
	if len(hits) > size {
		hits = hits[:size]
		last := hits[len(hits)-1].Source
		next = &page.Cursor{AtMillis: last.At.UnixMilli(), ID: last.ID}
	}
	out := make([]audit.Event, 0, len(hits))
	for _, h := range hits {
		out = append(out, h.Source)
	}
	return out, next, nil
}

// EventStats answers the histogram (fixed interval, in milliseconds), the
// top addresses, emails with failed logins and user agents (top of each),
// and the emails locked at now, in two calls: one _msearch counts the
// events f selects and the emails locked, then one search aggregates.
//
// Above 2×sample events the aggregations run under random_sampler at
// probability sample/total: their cost follows the sample, not the index
// (30 days of 10 million events took Elasticsearch's whole 2 s exactly, on
// 2 cores). Elasticsearch scales the sampled counts back up; the answer
// says Sampled, and Total stays the exact count. Below that the counts are
// exact. The seed is fixed, so reloading the same stats draws the same
// sample and the chart does not flicker.
func (s *Store) EventStats(ctx context.Context, f audit.Filter, interval time.Duration, top, sample int, now time.Time) (audit.Stats, error) {
	if err := s.ensure(ctx); err != nil {
		return audit.Stats{}, err
	}
	query := map[string]any{"bool": map[string]any{"filter": eventClauses(f)}}
	total, timedOut, locked, err := s.countEvents(ctx, query, now)
	if err != nil {
		return audit.Stats{}, err
	}
	st := audit.Stats{Total: total, Interval: interval, LockedEmails: locked, Partial: timedOut}
	terms := func(field string) map[string]any {
		return map[string]any{"terms": map[string]any{"field": field, "size": top}}
	}
	hist := map[string]any{
		"date_histogram": map[string]any{"field": "at", "fixed_interval": audit.IntervalName(interval), "min_doc_count": 0},
		"aggs": map[string]any{
			"event":   map[string]any{"terms": map[string]any{"field": "event", "size": len(audit.Types)}},
			"outcome": map[string]any{"terms": map[string]any{"field": "outcome", "size": 20}},
		},
	}
	if r := timeRange(f.From, f.To); r != nil {
		// The histogram spans the asked range, not only where events are.
		b := map[string]any{}
		if !f.From.IsZero() {
			b["min"] = f.From.UnixMilli()
		}
		if !f.To.IsZero() {
			b["max"] = f.To.UnixMilli() - 1
		}
		if len(b) == 2 {
			hist["date_histogram"].(map[string]any)["extended_bounds"] = b
		}
	}
	aggs := map[string]any{
		"histogram":   hist,
		"top_ips":     terms("ip"),
		"top_agents":  terms("user_agent"),
		"top_failing": map[string]any{"filter": map[string]any{"term": map[string]any{"event": audit.LoginFailure}}, "aggs": map[string]any{"emails": terms("email")}},
	}
	if sample > 0 && total > 2*sample {
		// random_sampler takes a probability below 0.5 (or exactly 1).
		st.Sampled, st.SampleProbability = true, float64(sample)/float64(total)
		aggs = map[string]any{"sample": map[string]any{
			"random_sampler": map[string]any{"probability": st.SampleProbability, "seed": statsSeed},
			"aggs":           aggs,
		}}
	}
	q := map[string]any{
		"size":             0,
		"timeout":          searchTimeout,
		"track_total_hits": false,
		"query":            query,
		"aggs":             aggs,
	}
	const op = "audit event stats"
	r, err := s.call(ctx, op, esapi.SearchRequest{Index: []string{s.audit}, Body: jsonBody(q)})
	if err != nil {
		return audit.Stats{}, err
	}
	if r.status != http.StatusOK {
		return audit.Stats{}, unexpected(op, r)
	}
	type bucket struct {
		Key   any `json:"key"`
		Count int `json:"doc_count"`
	}
	type termsAgg struct {
		Buckets []bucket `json:"buckets"`
	}
	type statsAggs struct {
		Histogram struct {
			Buckets []struct {
				Key     int64    `json:"key"`
				Count   int      `json:"doc_count"`
				Event   termsAgg `json:"event"`
				Outcome termsAgg `json:"outcome"`
			} `json:"buckets"`
		} `json:"histogram"`
		TopIPs     termsAgg `json:"top_ips"`
		TopAgents  termsAgg `json:"top_agents"`
		TopFailing struct {
			Emails termsAgg `json:"emails"`
		} `json:"top_failing"`
	}
	var a struct {
		TimedOut bool `json:"timed_out"`
		Aggs     struct {
			statsAggs
			Sample *statsAggs `json:"sample"`
		} `json:"aggregations"`
	}
	if err := decode(op, r, &a); err != nil {
		return audit.Stats{}, err
	}
	got := &a.Aggs.statsAggs
	if st.Sampled {
		if a.Aggs.Sample == nil {
			return audit.Stats{}, unexpected(op, r)
		}
		got = a.Aggs.Sample
	}
	st.Partial = st.Partial || a.TimedOut
	counts := func(t termsAgg) []audit.Count {
		out := make([]audit.Count, 0, len(t.Buckets))
		for _, b := range t.Buckets {
			if k, ok := b.Key.(string); ok {
				out = append(out, audit.Count{Key: k, Count: b.Count})
			}
		}
		return out
	}
	st.TopIPs, st.TopUserAgents = counts(got.TopIPs), counts(got.TopAgents)
	st.TopFailedEmails = counts(got.TopFailing.Emails)
	for _, b := range got.Histogram.Buckets {
		st.Histogram = append(st.Histogram, audit.Bucket{
			At: time.UnixMilli(b.Key).UTC(), Count: b.Count,
			Events: counts(b.Event), Outcomes: counts(b.Outcome),
		})
	}
	return st, nil
}

// statsSeed is random_sampler's seed: any fixed number draws the same
// sample of the same documents at every call.
const statsSeed = 21

// countEvents counts exactly what query selects in the audit index and the
// emails locked at now (in the attempts index), in one _msearch. A count
// over a time range alone is cheap even over millions of events
// (Elasticsearch counts a range from its index of points, without visiting
// the documents).
func (s *Store) countEvents(ctx context.Context, query any, now time.Time) (total int, timedOut bool, locked int, err error) {
	events := map[string]any{"size": 0, "timeout": searchTimeout, "track_total_hits": true, "query": query}
	lockedQ := map[string]any{
		"size":             0,
		"track_total_hits": true,
		"query":            map[string]any{"range": map[string]any{"locked_until": map[string]any{"gt": now.UTC().Format(time.RFC3339Nano)}}},
	}
	var body []byte
	for _, part := range []any{map[string]any{"index": s.audit}, events, map[string]any{"index": s.attempts}, lockedQ} {
		b, _ := json.Marshal(part)
		body = append(append(body, b...), '\n')
	}
	const op = "audit event count"
	r, err := s.call(ctx, op, esapi.MsearchRequest{Body: bytes.NewReader(body)})
	if err != nil {
		return 0, false, 0, err
	}
	if r.status != http.StatusOK {
		return 0, false, 0, unexpected(op, r)
	}
	var a struct {
		Responses []struct {
			Status   int             `json:"status"`
			Error    json.RawMessage `json:"error"`
			TimedOut bool            `json:"timed_out"`
			Hits     struct {
				Total struct {
					Value int `json:"value"`
				} `json:"total"`
			} `json:"hits"`
		} `json:"responses"`
	}
	if err := decode(op, r, &a); err != nil {
		return 0, false, 0, err
	}
	if len(a.Responses) != 2 {
		return 0, false, 0, unexpected(op, r)
	}
	for _, res := range a.Responses {
		if res.Error != nil || res.Status != http.StatusOK {
			return 0, false, 0, unexpected(op, result{status: res.Status, body: res.Error})
		}
	}
	return a.Responses[0].Hits.Total.Value, a.Responses[0].TimedOut, a.Responses[1].Hits.Total.Value, nil
}

// knownLogins are the events that tell a client has signed in to the
// account: what a new login is compared with.
var knownLogins = []string{audit.Signup, audit.LoginSuccess, audit.OAuthLogin, audit.OAuthSignup}

// SeenClient tells whether email signed up or logged in since since at all
// (any) and from the client's device family and network (same), in one
// size-0 search: a filter aggregation over the account's own recent
// logins, which the term on email keeps to a few documents.
func (s *Store) SeenClient(ctx context.Context, email, device, network string, since time.Time) (anyLogin, same bool, err error) {
	if err := s.ensure(ctx); err != nil {
		return false, false, err
	}
	q := map[string]any{
		"size": 0, "track_total_hits": 1, "timeout": searchTimeout,
		"query": map[string]any{"bool": map[string]any{"filter": []any{
			map[string]any{"term": map[string]any{"email": email}},
			map[string]any{"terms": map[string]any{"event": knownLogins}},
			map[string]any{"range": map[string]any{"at": map[string]any{"gte": since.UnixMilli(), "format": "epoch_millis"}}},
		}}},
		"aggs": map[string]any{"same": map[string]any{"filter": map[string]any{"bool": map[string]any{"filter": []any{
			map[string]any{"term": map[string]any{"device": device}},
			map[string]any{"term": map[string]any{"network": network}},
		}}}}},
	}
	const op = "compare the client with recent logins"
	r, err := s.call(ctx, op, esapi.SearchRequest{Index: []string{s.audit}, Body: jsonBody(q)})
	if err != nil {
		return false, false, err
	}
	if r.status != http.StatusOK {
		return false, false, unexpected(op, r)
	}
	var a struct {
		TimedOut bool `json:"timed_out"`
		Hits     struct {
			Total struct {
				Value int `json:"value"`
			} `json:"total"`
		} `json:"hits"`
		Aggs struct {
			Same struct {
				Count int `json:"doc_count"`
			} `json:"same"`
		} `json:"aggregations"`
	}
	if err := decode(op, r, &a); err != nil {
		return false, false, err
	}
	if a.TimedOut {
		// Counts of part of the index: "not seen" may be wrong, and a
		// false notice is worse than none (the login goes on unmarked).
		return false, false, unavailable(fmt.Errorf("%s: cut short at %s", op, searchTimeout))
	}
	return a.Hits.Total.Value > 0, a.Aggs.Same.Count > 0, nil
}
