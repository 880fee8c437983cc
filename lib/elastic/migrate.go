package elastic

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"go.uber.org/zap"

	"esauth/lib/errs"
)

// MigrateReport says what migrating one index did.
type MigrateReport struct {
	Index string // the alias
	// From and To are the indices the documents moved between; empty when
	// nothing moved.
	From, To string
	// FromVersion is From's mapping version (0: made before aliases).
	FromVersion int
	// Problems is what was wrong with From's mapping.
	Problems []MappingProblem
	// Created says the index did not exist and was made.
	Created bool
	// Copied counts the documents copied into To.
	Copied int
	// Dropped counts, per field the strict mapping refuses, the documents
	// that lost it.
	Dropped map[string]int
}

// Moved says whether the documents were copied into a new index.
func (r MigrateReport) Moved() bool { return r.To != "" }

func (r MigrateReport) String() string {
	switch {
	case r.Created:
		return fmt.Sprintf("%s: created (%s, mapping version %d)", r.Index, concreteName(r.Index, 1), MappingVersion)
	case !r.Moved():
		return r.Index + ": up to date"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: moved from %s (mapping version %d", r.Index, r.From, r.FromVersion)
	if len(r.Problems) > 0 {
		fmt.Fprintf(&b, ", %s", r.Problems[0].Problem)
		if r.Problems[0].Field != "" {
			fmt.Fprintf(&b, " for %s", r.Problems[0].Field)
		}
	}
	fmt.Fprintf(&b, ") to %s (version %d), %d documents copied", r.To, MappingVersion, r.Copied)
	for _, f := range sortedKeys(r.Dropped) {
		fmt.Fprintf(&b, "; dropped field %s from %d documents", f, r.Dropped[f])
	}
	return b.String()
}

// Migrate brings every index to this esauth's layout and mapping version:
// each is an alias (<prefix>users) of one index (<prefix>users-00000n)
// whose mapping is right and whose _meta carries MappingVersion. An index
// that is not (made before aliases, auto-created with a guessed mapping,
// of an older version, with a wrong mapping) is moved: writes to it are
// blocked, its documents are copied into the next index with the right
// mapping (a scroll and _bulk creates, because _reindex is not in every
// distribution: the integ-test-zip lacks the reindex module), and in one
// _aliases request the alias moves to the new index and the old one is
// deleted. Fields the strict mapping refuses are dropped and counted. A
// document that cannot be copied for another reason (a value of the wrong
// type) stops the move of its index before anything is deleted, and the
// write block is lifted.
//
// It is safe to run again: an interrupted move is finished (the old index
// is still blocked, the copy skips what is there). A running server's
// writes to an index being moved fail with 503 until it is done.
func (s *Store) Migrate(ctx context.Context) ([]MigrateReport, error) {
	if err := s.putTemplates(ctx); err != nil {
		return nil, err
	}
	var reports []MigrateReport
	for _, idx := range s.indices() {
		rep, err := s.migrateIndex(ctx, idx)
		reports = append(reports, rep)
		if err != nil {
			return reports, fmt.Errorf("migrating %s: %w", idx.name, err)
		}
	}
	n, err := s.BackfillUserFacets(ctx)
	if err != nil {
		return reports, fmt.Errorf("counting the users' passkeys and providers: %w", err)
	}
	if n > 0 {
		s.log.Info("counted the passkeys and providers of users", zap.Int("users", n))
	}
	s.ready.Store(false) // EnsureIndices checks everything again
	return reports, nil
}

func (s *Store) migrateIndex(ctx context.Context, idx indexDef) (MigrateReport, error) {
	rep := MigrateReport{Index: idx.name}
	got, err := s.getMappings(ctx, idx.name)
	if err != nil {
		return rep, err
	}
	switch len(got) {
	case 0:
		created, err := s.createAliased(ctx, idx, concreteName(idx.name, 1))
		rep.Created = created
		if err != nil || created {
			return rep, err
		}
		// Made meanwhile by another instance: check it like any other.
		if got, err = s.getMappings(ctx, idx.name); err != nil {
			return rep, err
		}
		if len(got) == 0 {
			return rep, fmt.Errorf("%s was deleted while being created; run esauth migrate again", idx.name)
		}
	case 1:
	default:
		return rep, fmt.Errorf("%s is an alias of %d indices (%s); esauth migrates only an alias of one", idx.name, len(got), strings.Join(sortedKeys(got), ", "))
	}
	from := sortedKeys(got)[0]
	m := got[from]
	rep.FromVersion = m.Meta.Version
	if m.Meta.Version > idx.version {
		return rep, &VersionError{Index: from, Version: m.Meta.Version, Known: idx.version}
	}
	rep.Problems, _ = compareMappings(from, idx.mapping(), m)
	if from != idx.name && m.Meta.Version == idx.version && len(rep.Problems) == 0 {
		_, err := s.checkIndex(ctx, idx) // adds fields put mapping can add
		return rep, err
	}
	rep.From, rep.To = from, concreteName(idx.name, generation(idx.name, from)+1)
	return rep, s.move(ctx, idx, &rep)
}

// move copies rep.From into rep.To and swaps the alias over.
func (s *Store) move(ctx context.Context, idx indexDef, rep *MigrateReport) error {
	// A server left running gets 503 for its writes rather than writing
	// documents the copy would miss.
	if err := s.setWriteBlock(ctx, rep.From, true); err != nil {
		return err
	}
	// It may exist: an earlier run stopped while filling it.
	if _, err := s.createIndex(ctx, rep.To, idx.definition); err != nil {
		return err
	}
	to, err := s.getMappings(ctx, rep.To)
	if err != nil {
		return err
	}
	if p, _ := compareMappings(rep.To, idx.mapping(), to[rep.To]); len(p) > 0 || to[rep.To].Meta.Version != idx.version {
		return fmt.Errorf("%s exists with another mapping or version; delete it and run esauth migrate again", rep.To)
	}
	dropped, err := s.copyDocs(ctx, rep.From, rep.To, idx.mapping())
	if err != nil {
		// Leave the old index as it was: it still holds everything.
		undo := context.WithoutCancel(ctx)
		if derr := s.deleteIndex(undo, rep.To); derr != nil {
			s.log.Warn("could not delete the half-filled index", zap.String("index", rep.To), zap.Error(derr))
		}
		if berr := s.setWriteBlock(undo, rep.From, false); berr != nil {
			s.log.Warn("could not lift the write block", zap.String("index", rep.From), zap.Error(berr))
		}
		return err
	}
	rep.Dropped = dropped
	if rep.Copied, err = s.countDocs(ctx, rep.To); err != nil {
		return err
	}
	// One request: from here on the alias names the new index, and the
	// old one is gone, with no moment in between for a write to land in.
	op := "move alias " + idx.name
	r, err := s.call(ctx, op, esapi.IndicesUpdateAliasesRequest{Body: jsonBody(map[string]any{"actions": []any{
		map[string]any{"add": map[string]any{"index": rep.To, "alias": idx.name, "is_write_index": true}},
		map[string]any{"remove_index": map[string]any{"index": rep.From}},
	}})})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return unexpected(op, r)
	}
	s.log.Info("migrated index", zap.String("alias", idx.name), zap.String("from", rep.From), zap.String("to", rep.To), zap.Int("documents", rep.Copied))
	return nil
}

// copyBatch is how many documents one scroll page and one _bulk carry.
const copyBatch = 500

// copyDocs copies every document of from into to under the same _id,
// keeping only the fields of want, and returns how many documents lost
// each field it dropped. A document that exists in to already is kept as
// it is (create, 409): it is this copy's own, from an interrupted run, or
// newer. It fails, naming a few documents, when any could not be written,
// and checks that to holds every document of from.
func (s *Store) copyDocs(ctx context.Context, from, to string, want mapping) (map[string]int, error) {
	if err := s.refresh(ctx, from); err != nil {
		return nil, err
	}
	op := "copy " + from + " to " + to
	dropped := map[string]int{}
	seen := 0
	total, err := s.scan(ctx, op, from, func(hits []Hit) error {
		var body strings.Builder
		enc := json.NewEncoder(&body)
		for _, h := range hits {
			var fields map[string]json.RawMessage
			if err := json.Unmarshal(h.Source, &fields); err != nil {
				return unavailable(fmt.Errorf("%s: document %s: %w", op, h.ID, err))
			}
			for f := range fields {
				if _, ok := want.Properties[f]; !ok {
					delete(fields, f)
					dropped[f]++
				}
			}
			_ = enc.Encode(map[string]any{"create": map[string]string{"_index": to, "_id": h.ID}})
			_ = enc.Encode(fields)
		}
		if err := s.bulkCreate(ctx, op, body.String()); err != nil {
			if errs.Is(err, errs.Internal) {
				return fmt.Errorf("%w; fix or delete them and run the repair again", err)
			}
			return err
		}
		seen += len(hits)
		return nil
	})
	if err != nil {
		return nil, err
	}
	n, err := s.countDocs(ctx, to)
	if err != nil {
		return nil, err
	}
	if seen != total || n < total {
		return nil, fmt.Errorf("%s: %d documents to copy, %d read, %d in %s", op, total, seen, n, to)
	}
	return dropped, nil
}

// Hit is one document of a scan: its id and its source.
type Hit struct {
	ID     string          `json:"_id"`
	Source json.RawMessage `json:"_source"`
}

// scan reads every document of index, a page of copyBatch at a time in
// index order, with a scroll (which every distribution has), and returns
// how many documents the index held when the scan began. fn gets each
// page; its error stops the scan.
func (s *Store) scan(ctx context.Context, op, index string, fn func([]Hit) error) (int, error) {
	total := -1
	var scrollID string
	defer func() {
		if scrollID != "" {
			// Best effort: an open scroll only costs memory until it times out.
			_, _ = s.call(context.WithoutCancel(ctx), "clear scroll", esapi.ClearScrollRequest{
				Body: jsonBody(map[string]any{"scroll_id": scrollID}),
			})
		}
	}()
	for {
		var req esapi.Request
		if scrollID == "" {
			req = esapi.SearchRequest{
				Index:  []string{index},
				Scroll: 2 * time.Minute,
				Body:   jsonBody(map[string]any{"size": copyBatch, "sort": []string{"_doc"}, "track_total_hits": true}),
			}
		} else {
			req = esapi.ScrollRequest{Body: jsonBody(map[string]any{"scroll": "2m", "scroll_id": scrollID})}
		}
		r, err := s.call(ctx, op, req)
		if err != nil {
			return 0, err
		}
		if r.status != http.StatusOK {
			return 0, unexpected(op, r)
		}
		var page struct {
			ScrollID string `json:"_scroll_id"`
			Hits     struct {
				Total struct {
					Value int `json:"value"`
				} `json:"total"`
				Hits []Hit `json:"hits"`
			} `json:"hits"`
		}
		if err := decode(op, r, &page); err != nil {
			return 0, err
		}
		scrollID = page.ScrollID
		if total < 0 {
			total = page.Hits.Total.Value
		}
		if len(page.Hits.Hits) == 0 {
			return total, nil
		}
		if err := fn(page.Hits.Hits); err != nil {
			return 0, err
		}
	}
}

// Scan reads every document of index (any index, not only esauth's), a
// page at a time; fn's error stops it. esauth import reads the Flask
// app's users with it.
func (s *Store) Scan(ctx context.Context, index string, fn func(id string, source json.RawMessage) error) error {
	_, err := s.scan(ctx, "scan "+index, index, func(hits []Hit) error {
		for _, h := range hits {
			if err := fn(h.ID, h.Source); err != nil {
				return err
			}
		}
		return nil
	})
	return err
}

// bulkCreate sends create actions and fails, naming up to five documents,
// when any was neither created nor there already (a conflict is a document
// there already: ids are random or copied, so it is this write's own,
// applied by an earlier attempt).
func (s *Store) bulkCreate(ctx context.Context, op, body string) error {
	r, err := s.call(ctx, op, esapi.BulkRequest{Body: strings.NewReader(body)})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return unexpected(op, r)
	}
	var a struct {
		Items []map[string]bulkItem `json:"items"`
	}
	if err := decode(op, r, &a); err != nil {
		return err
	}
	var failed []string
	for _, item := range a.Items {
		it := item["create"]
		switch it.Status {
		case http.StatusCreated, http.StatusOK, http.StatusConflict:
			continue
		}
		if err := s.itemError(op, it); !errs.Is(err, errs.Internal) {
			return err // the cluster's trouble, not this document's
		}
		if len(failed) < 5 {
			e := esError{}
			if it.Error != nil {
				e = *it.Error
			}
			failed = append(failed, fmt.Sprintf("%s (%s)", it.ID, e))
		}
	}
	if len(failed) > 0 {
		slices.Sort(failed)
		return errs.Wrap(errs.Internal, msgUnexpected,
			fmt.Errorf("%s: documents the mapping refuses: %s", op, strings.Join(failed, ", ")))
	}
	return nil
}

func (s *Store) setWriteBlock(ctx context.Context, index string, on bool) error {
	var v any // null removes the setting
	if on {
		v = true
	}
	op := "write block " + index
	r, err := s.call(ctx, op, esapi.IndicesPutSettingsRequest{
		Index: []string{index},
		Body:  jsonBody(map[string]any{"index.blocks.write": v}),
	})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return unexpected(op, r)
	}
	return nil
}

// createIndex creates index with definition and says whether it did; an
// index that exists already is no error (callers check its mapping).
func (s *Store) createIndex(ctx context.Context, index, definition string) (created bool, err error) {
	op := "create index " + index
	r, err := s.call(ctx, op, esapi.IndicesCreateRequest{Index: index, Body: strings.NewReader(definition)})
	if err != nil {
		return false, err
	}
	switch {
	case r.status == http.StatusOK:
		s.log.Info("created index", zap.String("index", index))
		return true, nil
	case r.status == http.StatusBadRequest && r.errorType() == "resource_already_exists_exception":
		return false, nil
	}
	return false, unexpected(op, r)
}

func (s *Store) deleteIndex(ctx context.Context, index string) error {
	op := "delete index " + index
	r, err := s.call(ctx, op, esapi.IndicesDeleteRequest{Index: []string{index}, IgnoreUnavailable: boolPtr(true)})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return unexpected(op, r)
	}
	return nil
}

func (s *Store) countDocs(ctx context.Context, index string) (int, error) {
	if err := s.refresh(ctx, index); err != nil {
		return 0, err
	}
	return s.count(ctx, "count "+index, index, nil)
}

// count is how many documents of index match query (nil: all).
func (s *Store) count(ctx context.Context, op, index string, query any) (int, error) {
	req := esapi.CountRequest{Index: []string{index}}
	if query != nil {
		req.Body = jsonBody(map[string]any{"query": query})
	}
	r, err := s.call(ctx, op, req)
	if err != nil {
		return 0, err
	}
	if r.status != http.StatusOK {
		return 0, unexpected(op, r)
	}
	var a struct {
		Count int `json:"count"`
	}
	if err := decode(op, r, &a); err != nil {
		return 0, err
	}
	return a.Count, nil
}
