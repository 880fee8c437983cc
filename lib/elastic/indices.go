package elastic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"go.uber.org/zap"
)

// Ping reports whether Elasticsearch answers and the indices exist.
func (s *Store) Ping(ctx context.Context) error {
	return s.ensure(ctx)
}

// ensure makes sure the indices exist before any read or write. Without it
// the first write after a cluster came up would let Elasticsearch
// auto-create the index with a guessed mapping, which would then store
// password hashes as searchable text. Once the indices are known to exist
// this is one atomic load.
func (s *Store) ensure(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	return s.EnsureIndices(ctx)
}

// setupCalls bounds one shared index set-up at this many call timeouts.
// On a healthy cluster its dozen calls take milliseconds; on a hanging one
// it ends, and the next caller starts a fresh one.
const setupCalls = 4

// EnsureIndices puts the index templates, creates the indices with their
// mappings when they are missing, and checks the mappings of those that
// exist. It is safe when several instances start at once: an index another
// instance created first counts as success.
//
// Concurrent callers share one set-up, which runs with its own deadline;
// each caller waits for it only as long as its own context allows, so a
// hanging cluster holds no request past its deadline.
//
// An index whose mapping esauth cannot use gives an errs.Unavailable
// error that wraps a *MappingError naming the index and the field.
func (s *Store) EnsureIndices(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	ch := s.setup.DoChan("indices", func() (any, error) {
		// No caller's context may end the set-up the others wait for.
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), setupCalls*s.timeout)
		defer cancel()
		return nil, s.setUp(ctx)
	})
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return unavailable(fmt.Errorf("waiting for the index set-up: %w", ctx.Err()))
	}
}

func (s *Store) setUp(ctx context.Context) error {
	// Templates first: from then on, an index deleted by hand and
	// auto-created by the next write gets its strict mapping, not one
	// guessed from that document (email_address as text, which no term
	// query matches).
	if err := s.putTemplates(ctx); err != nil {
		return err
	}
	var problems []MappingProblem
	for _, idx := range s.indices() {
		p, err := s.createOrCheck(ctx, idx)
		if err != nil {
			return err
		}
		problems = append(problems, p...)
	}
	if len(problems) > 0 {
		return unavailable(&MappingError{Problems: problems})
	}
	s.ready.Store(true)
	return nil
}

// concreteName is the n-th index behind alias: <alias>-00000n.
func concreteName(alias string, n int) string { return fmt.Sprintf("%s-%06d", alias, n) }

// generation is n of an index named concreteName(alias, n); 0 for an
// index named alias itself (made before aliases, or auto-created).
func generation(alias, concrete string) int {
	n, err := strconv.Atoi(strings.TrimPrefix(concrete, alias+"-"))
	if err != nil || !strings.HasPrefix(concrete, alias+"-") {
		return 0
	}
	return n
}

// templatePriority ranks esauth's templates above any wider template of
// the cluster (Elasticsearch's built-in ones use 100 to 500), since only
// the highest-priority template that matches an index applies. Two
// templates with overlapping patterns cannot share a priority; esauth's
// patterns are its own names.
const templatePriority = 1000

// putTemplates puts one composable index template per index, matching its
// alias's name and the names of the indices behind it (<alias>-000001, …),
// with the index's settings and mappings. An index Elasticsearch
// auto-creates under either name (a write after the index was deleted by
// hand) so gets the strict mapping, not one guessed from that document.
func (s *Store) putTemplates(ctx context.Context) error {
	for _, idx := range s.indices() {
		body := map[string]any{
			"index_patterns": []string{idx.name, idx.name + "-*"},
			"priority":       templatePriority,
			"template":       json.RawMessage(idx.definition),
			"_meta": map[string]string{
				"managed_by":  "esauth",
				"description": "Settings and mapping of " + idx.name + " when Elasticsearch creates it on a write",
			},
		}
		op := "put index template " + idx.name
		r, err := s.call(ctx, op, esapi.IndicesPutIndexTemplateRequest{Name: idx.name, Body: jsonBody(body)})
		if err != nil {
			return err
		}
		if r.status != http.StatusOK {
			return unexpected(op, r)
		}
	}
	return nil
}

// createOrCheck creates idx, as its first index with the alias, when the
// alias names nothing; otherwise it checks the mapping and version of what
// it names. Of instances racing to create it, the others find it made.
func (s *Store) createOrCheck(ctx context.Context, idx indexDef) ([]MappingProblem, error) {
	got, err := s.getMappings(ctx, idx.name)
	if err != nil {
		return nil, err
	}
	if len(got) == 0 {
		created, err := s.createAliased(ctx, idx, concreteName(idx.name, 1))
		if err != nil || created {
			return nil, err
		}
	}
	return s.checkIndex(ctx, idx)
}

// createAliased creates concrete with idx's definition and idx's alias on
// it, in one request, so no other write can come between. It reports
// false when concrete, or an index named as the alias, exists already.
func (s *Store) createAliased(ctx context.Context, idx indexDef, concrete string) (bool, error) {
	var def map[string]json.RawMessage
	if err := json.Unmarshal([]byte(idx.definition), &def); err != nil {
		return false, fmt.Errorf("definition of %s: %w", idx.name, err)
	}
	def["aliases"], _ = json.Marshal(map[string]any{idx.name: map[string]any{"is_write_index": true}})
	op := "create index " + concrete
	r, err := s.call(ctx, op, esapi.IndicesCreateRequest{Index: concrete, Body: jsonBody(def)})
	if err != nil {
		return false, err
	}
	switch {
	case r.status == http.StatusOK:
		s.log.Info("created index", zap.String("index", concrete), zap.String("alias", idx.name))
		return true, nil
	case r.status == http.StatusBadRequest &&
		(r.errorType() == "resource_already_exists_exception" || r.errorType() == "invalid_alias_name_exception"):
		return false, nil
	}
	return false, unexpected(op, r)
}

// checkIndex compares the mapping of an existing index (made by another
// instance, an older version, by hand, or auto-created) with idx's. It
// returns what put mapping cannot change; fields this version maps and the
// index lacks are added (mappings only grow), so an upgrade needs no repair.
func (s *Store) checkIndex(ctx context.Context, idx indexDef) ([]MappingProblem, error) {
	got, err := s.getMappings(ctx, idx.name)
	if err != nil {
		return nil, err
	}
	if len(got) == 0 {
		// Deleted since it was found: the next call sets it up again.
		s.ready.Store(false)
		return nil, unavailable(fmt.Errorf("check mapping: %w: %s", errIndexMissing, idx.name))
	}
	want := idx.mapping()
	var problems []MappingProblem
	missing := false
	for _, concrete := range sortedKeys(got) {
		if v := got[concrete].Meta.Version; v > idx.version {
			return nil, unavailable(&VersionError{Index: concrete, Version: v, Known: idx.version})
		}
		if v := got[concrete].Meta.Version; v < idx.version {
			s.log.Warn("index has an older mapping version; run esauth migrate",
				zap.String("index", concrete), zap.Int("version", v), zap.Int("current", idx.version))
		}
		p, m := compareMappings(concrete, want, got[concrete])
		problems = append(problems, p...)
		missing = missing || m
	}
	if len(got) > 1 {
		problems = append(problems, MappingProblem{idx.name, "", fmt.Sprintf("is an alias of %d indices (%s), want one", len(got), strings.Join(sortedKeys(got), ", "))})
	}
	if len(problems) == 0 && missing {
		return nil, s.putMapping(ctx, idx)
	}
	return problems, nil
}

// VersionError says an index has a mapping version newer than this esauth
// knows: a newer esauth migrated it. This one must not write to it.
type VersionError struct {
	Index          string
	Version, Known int
}

func (e *VersionError) Error() string {
	return fmt.Sprintf("index %s has mapping version %d, newer than the %d this esauth knows: run a newer esauth", e.Index, e.Version, e.Known)
}

// getMappings returns the mapping of index by concrete index name: one
// entry, or several when index is an alias, or none when it does not exist.
func (s *Store) getMappings(ctx context.Context, index string) (map[string]mapping, error) {
	op := "get mapping " + index
	r, err := s.call(ctx, op, esapi.IndicesGetMappingRequest{Index: []string{index}, IgnoreUnavailable: boolPtr(true)})
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, unexpected(op, r)
	}
	var a map[string]struct {
		Mappings mapping `json:"mappings"`
	}
	if err := decode(op, r, &a); err != nil {
		return nil, err
	}
	out := make(map[string]mapping, len(a))
	for name, m := range a {
		out[name] = m.Mappings
	}
	return out, nil
}

// putMapping applies the mappings of idx to the existing index.
func (s *Store) putMapping(ctx context.Context, idx indexDef) error {
	var def struct {
		Mappings map[string]json.RawMessage `json:"mappings"`
	}
	if err := json.Unmarshal([]byte(idx.definition), &def); err != nil {
		return fmt.Errorf("mapping of %s: %w", idx.name, err)
	}
	// Fields only: the version in _meta says how the index was made, and
	// only a migration (which makes a new index) moves it on.
	delete(def.Mappings, "_meta")
	op := "put mapping " + idx.name
	r, err := s.call(ctx, op, esapi.IndicesPutMappingRequest{
		Index: []string{idx.name},
		Body:  jsonBody(def.Mappings),
	})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return unexpected(op, r)
	}
	return nil
}

// mapping is the part of an index mapping the check compares.
type mapping struct {
	Dynamic    json.RawMessage  `json:"dynamic"`
	Properties map[string]field `json:"properties"`
	Meta       struct {
		Version int `json:"esauth_mapping_version"`
	} `json:"_meta"`
}

type field struct {
	Type      string           `json:"type"`
	Index     *bool            `json:"index"`
	DocValues *bool            `json:"doc_values"`
	Fields    map[string]field `json:"fields"`
}

// mapping returns the mappings of the definition.
func (idx indexDef) mapping() mapping {
	var def struct {
		Mappings mapping `json:"mappings"`
	}
	if err := json.Unmarshal([]byte(idx.definition), &def); err != nil {
		panic(fmt.Sprintf("elastic: mapping of %s: %v", idx.name, err)) // a constant of this package
	}
	return def.Mappings
}

// MappingProblem is one way an index's mapping differs from the one esauth
// needs, in a way put mapping cannot change.
type MappingProblem struct {
	Index string
	// Field is the field's path ("first_name.raw"), or "" for the mapping
	// as a whole.
	Field   string
	Problem string
}

func (p MappingProblem) String() string {
	if p.Field == "" {
		return fmt.Sprintf("index %s: mapping %s", p.Index, p.Problem)
	}
	return fmt.Sprintf("index %s: field %s %s", p.Index, p.Field, p.Problem)
}

// MappingError says that indices exist whose mappings esauth cannot use: a
// field of another type (an index Elasticsearch auto-created maps
// email_address as text, which no term query matches), a hash that is
// searchable, a mapping that accepts any field. Only copying the documents
// into a new index fixes that: `esauth migrate`.
type MappingError struct {
	Problems []MappingProblem
}

func (e *MappingError) Error() string {
	var b strings.Builder
	for _, p := range e.Problems {
		b.WriteString(p.String())
		b.WriteString("; ")
	}
	b.WriteString("run `esauth migrate` to copy the documents into indices with the right mappings")
	return b.String()
}

// Indices lists the indices that have problems, once each.
func (e *MappingError) Indices() []string {
	var out []string
	for _, p := range e.Problems {
		if !slices.Contains(out, p.Index) {
			out = append(out, p.Index)
		}
	}
	return out
}

// compareMappings returns the problems of got against want, and whether
// got lacks fields of want (which put mapping adds).
func compareMappings(index string, want, got mapping) (problems []MappingProblem, missing bool) {
	if d := dynamicOf(got.Dynamic); d != dynamicOf(want.Dynamic) {
		problems = append(problems, MappingProblem{index, "", fmt.Sprintf("has dynamic %q, want %q", d, dynamicOf(want.Dynamic))})
	}
	for _, name := range sortedKeys(want.Properties) {
		g, ok := got.Properties[name]
		if !ok {
			missing = true
			continue
		}
		p, m := compareField(index, name, want.Properties[name], g)
		problems = append(problems, p...)
		missing = missing || m
	}
	return problems, missing
}

func compareField(index, path string, want, got field) (problems []MappingProblem, missing bool) {
	gotType := got.Type
	if gotType == "" {
		gotType = "object"
	}
	if gotType != want.Type {
		return []MappingProblem{{index, path, fmt.Sprintf("is %s, want %s", gotType, want.Type)}}, false
	}
	if isFalse(want.Index) && !isFalse(got.Index) {
		problems = append(problems, MappingProblem{index, path, "is indexed, want not indexed"})
	}
	if isFalse(want.DocValues) && !isFalse(got.DocValues) {
		problems = append(problems, MappingProblem{index, path, "has doc values, want none"})
	}
	for _, sub := range sortedKeys(want.Fields) {
		g, ok := got.Fields[sub]
		if !ok {
			missing = true
			continue
		}
		p, m := compareField(index, path+"."+sub, want.Fields[sub], g)
		problems = append(problems, p...)
		missing = missing || m
	}
	return problems, missing
}

// dynamicOf reads a mapping's "dynamic", which Elasticsearch may give as a
// string or a boolean and which defaults to true.
func dynamicOf(raw json.RawMessage) string {
	d := strings.Trim(string(raw), `"`)
	if d == "" {
		return "true"
	}
	return d
}

func isFalse(b *bool) bool { return b != nil && !*b }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// SetupInBackground retries EnsureIndices until it succeeds or ctx ends, so
// a server started before its cluster sets up the indices once the cluster
// answers. Requests in the meantime get 503 (or do the setup themselves).
func (s *Store) SetupInBackground(ctx context.Context) {
	delay := 500 * time.Millisecond
	for {
		err := s.EnsureIndices(ctx)
		if err == nil {
			return
		}
		var me *MappingError
		var ve *VersionError
		if errors.As(err, &me) || errors.As(err, &ve) {
			// Only an operator can fix this; every request gets 503 until then.
			s.log.Error("the indices cannot be used; requests get 503 until an operator fixes them", zap.Error(err))
		} else {
			s.log.Warn("Elasticsearch is not ready; will retry", zap.Error(err), zap.Duration("in", delay))
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		if delay < 10*time.Second {
			delay *= 2
		}
	}
}

// DeleteIndices removes the store's indices and index templates. Tests use
// it to clean up.
func (s *Store) DeleteIndices(ctx context.Context) error {
	for _, idx := range s.indices() {
		op := "delete index template " + idx.name
		r, err := s.call(ctx, op, esapi.IndicesDeleteIndexTemplateRequest{Name: idx.name})
		if err != nil {
			return err
		}
		if r.status != http.StatusOK && r.status != http.StatusNotFound {
			return unexpected(op, r)
		}
	}
	// The indices behind the aliases, and any left by a migration: a
	// delete must name concrete indices (not aliases, not wildcards).
	var names []string
	for _, idx := range s.indices() {
		got, err := s.getMappings(ctx, idx.name+","+idx.name+"-*")
		if err != nil {
			return err
		}
		names = append(names, sortedKeys(got)...)
	}
	if len(names) > 0 {
		r, err := s.call(ctx, "delete indices", esapi.IndicesDeleteRequest{Index: names, IgnoreUnavailable: boolPtr(true)})
		if err != nil {
			return err
		}
		if r.status != http.StatusOK {
			return unexpected("delete indices", r)
		}
	}
	s.ready.Store(false)
	return nil
}

func boolPtr(b bool) *bool { return &b }

// Ready reports, without changing anything, whether Elasticsearch answers
// and every index exists with the mapping this version expects. Its error
// is a short reason for an orchestrator's readiness probe: it names
// indices and fields, never addresses or credentials (the cause goes to
// the log).
func (s *Store) Ready(ctx context.Context) error {
	for _, idx := range s.indices() {
		got, err := s.getMappings(ctx, idx.name)
		if err != nil {
			s.log.Warn("readiness check failed", zap.Error(err))
			return errors.New("elasticsearch does not answer, or refuses esauth")
		}
		if len(got) == 0 {
			return fmt.Errorf("index %s does not exist", idx.name)
		}
		want := idx.mapping()
		for _, concrete := range sortedKeys(got) {
			if v := got[concrete].Meta.Version; v > idx.version {
				return fmt.Errorf("index %s has mapping version %d, newer than this esauth's %d", concrete, v, idx.version)
			}
			problems, missing := compareMappings(concrete, want, got[concrete])
			if len(problems) > 0 {
				return fmt.Errorf("index %s has a wrong mapping: %s (esauth migrate)", concrete, problems[0])
			}
			if missing {
				return fmt.Errorf("index %s lacks fields of this version's mapping (the next set-up adds them)", concrete)
			}
		}
	}
	return nil
}
