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

// RepairReport says what repairing one index did.
type RepairReport struct {
	Index string
	// Problems is what was wrong with the mapping; none when it was right,
	// or when the index did not exist (set-up creates it).
	Problems []MappingProblem
	// Resumed says that an earlier repair had stopped after deleting the
	// broken index, and its documents were restored from its spare copy.
	Resumed bool
	// Copied counts the documents copied back into the rebuilt index.
	Copied int
	// Dropped counts, per field the strict mapping refuses, the documents
	// that lost it.
	Dropped map[string]int
}

// Repaired says whether the index was rebuilt.
func (r RepairReport) Repaired() bool { return len(r.Problems) > 0 || r.Resumed }

func (r RepairReport) String() string {
	if !r.Repaired() {
		return r.Index + ": nothing to repair"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s: rebuilt with its mapping, %d documents copied", r.Index, r.Copied)
	if r.Resumed {
		b.WriteString(" (from the copy an interrupted repair left)")
	}
	for _, f := range sortedKeys(r.Dropped) {
		fmt.Fprintf(&b, "; dropped field %s from %d documents", f, r.Dropped[f])
	}
	return b.String()
}

// spareSuffix names the index that holds an index's documents while it is
// rebuilt. It matches none of esauth's templates, and it outlives an
// interrupted repair, so the next one can finish the job.
const spareSuffix = "-repair"

// RepairIndices rebuilds every index whose mapping esauth cannot use (see
// MappingError): it blocks writes to it, copies its documents into a spare
// index with the right mapping, deletes it, creates it again with the
// right mapping and copies the documents back. Fields the strict mapping
// refuses are dropped and counted. A document that cannot be copied for
// another reason (a value of the wrong type) stops the repair of its index
// before anything is deleted.
//
// It pages with scroll and writes with _bulk, because _reindex is not in
// every distribution (the integ-test-zip lacks the reindex module). esauth
// should be stopped meanwhile: a running server's writes to a blocked index
// fail with 503, and those made between the delete and the re-creation
// land in the new index, where the copy keeps them.
func (s *Store) RepairIndices(ctx context.Context) ([]RepairReport, error) {
	if err := s.putTemplates(ctx); err != nil {
		return nil, err
	}
	var reports []RepairReport
	for _, idx := range s.indices() {
		rep, err := s.repairIndex(ctx, idx)
		reports = append(reports, rep)
		if err != nil {
			return reports, fmt.Errorf("repairing %s: %w", idx.name, err)
		}
	}
	s.ready.Store(false) // EnsureIndices checks everything again
	return reports, nil
}

func (s *Store) repairIndex(ctx context.Context, idx indexDef) (RepairReport, error) {
	rep := RepairReport{Index: idx.name}
	spare := idx.name + spareSuffix
	got, err := s.getMappings(ctx, idx.name)
	if err != nil {
		return rep, err
	}
	for _, concrete := range sortedKeys(got) {
		if concrete != idx.name {
			return rep, fmt.Errorf("%s is an alias of %s; esauth repairs only indices of its own", idx.name, concrete)
		}
		rep.Problems, _ = compareMappings(concrete, idx.mapping(), got[concrete])
	}
	spares, err := s.getMappings(ctx, spare)
	if err != nil {
		return rep, err
	}
	switch {
	case len(rep.Problems) > 0:
		if len(spares) > 0 {
			// An earlier repair stopped while filling the spare; the
			// broken index still holds every document, so start again.
			if err := s.deleteIndex(ctx, spare); err != nil {
				return rep, err
			}
		}
		return rep, s.rebuild(ctx, idx, spare, &rep)
	case len(spares) > 0:
		// An earlier repair stopped after deleting the broken index: its
		// documents are in the spare only.
		rep.Resumed = true
		return rep, s.restore(ctx, idx, spare, &rep)
	}
	return rep, nil
}

// rebuild copies the broken index into the spare, then deletes it and
// restores it from the spare.
func (s *Store) rebuild(ctx context.Context, idx indexDef, spare string, rep *RepairReport) error {
	// A server left running gets 503 for its writes rather than writing
	// documents the copy would miss.
	if err := s.setWriteBlock(ctx, idx.name, true); err != nil {
		return err
	}
	if _, err := s.createIndex(ctx, spare, idx.definition); err != nil {
		return err
	}
	dropped, err := s.copyDocs(ctx, idx.name, spare, idx.mapping())
	if err != nil {
		// Leave the broken index as it was: it still holds everything.
		undo := context.WithoutCancel(ctx)
		if derr := s.deleteIndex(undo, spare); derr != nil {
			s.log.Warn("could not delete the spare index", zap.String("index", spare), zap.Error(derr))
		}
		if berr := s.setWriteBlock(undo, idx.name, false); berr != nil {
			s.log.Warn("could not lift the write block", zap.String("index", idx.name), zap.Error(berr))
		}
		return err
	}
	rep.Dropped = dropped
	if err := s.deleteIndex(ctx, idx.name); err != nil {
		return err
	}
	return s.restore(ctx, idx, spare, rep)
}

// restore creates the index with its mapping, copies the spare into it
// and deletes the spare.
func (s *Store) restore(ctx context.Context, idx indexDef, spare string, rep *RepairReport) error {
	if _, err := s.createIndex(ctx, idx.name, idx.definition); err != nil {
		return err
	}
	// It may have existed already: auto-created (through the template) by a
	// server's write, or by an earlier repair that stopped while copying back.
	got, err := s.getMappings(ctx, idx.name)
	if err != nil {
		return err
	}
	for name, m := range got {
		if p, _ := compareMappings(name, idx.mapping(), m); len(p) > 0 {
			return fmt.Errorf("%s was re-created with another mapping (%s); its documents are safe in %s", idx.name, p[0], spare)
		}
	}
	copied, err := s.countDocs(ctx, spare)
	if err != nil {
		return err
	}
	if _, err := s.copyDocs(ctx, spare, idx.name, idx.mapping()); err != nil {
		return fmt.Errorf("%w; the documents are safe in %s: run the repair again", err, spare)
	}
	rep.Copied = copied
	return s.deleteIndex(ctx, spare)
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
	op := "count " + index
	if err := s.refresh(ctx, index); err != nil {
		return 0, err
	}
	r, err := s.call(ctx, op, esapi.CountRequest{Index: []string{index}})
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
