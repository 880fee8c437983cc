package elastic_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/zap"

	"esauth/lib/elastic"
	"esauth/lib/elastic/estest"
)

func reportOf(t *testing.T, reports []elastic.MigrateReport, index string) elastic.MigrateReport {
	t.Helper()
	for _, r := range reports {
		if r.Index == index {
			return r
		}
	}
	t.Fatalf("no report for %s in %v", index, reports)
	return elastic.MigrateReport{}
}

func countOf(t *testing.T, index string) int {
	t.Helper()
	estest.MustDo(t, "POST", "/"+index+"/_refresh", "")
	var count struct{ Count int }
	_ = json.Unmarshal([]byte(estest.MustDo(t, "GET", "/"+index+"/_count", "")), &count)
	return count.Count
}

func TestSetUpPutsEachIndexBehindAnAliasWithItsVersion(t *testing.T) {
	s := estest.New(t)
	for _, alias := range s.IndexNames() {
		concrete := estest.Concrete(t, alias)
		if concrete != alias+"-000001" {
			t.Errorf("%s names %s; want %s-000001", alias, concrete, alias)
		}
		body := estest.MustDo(t, "GET", "/"+concrete+"/_mapping", "")
		if !strings.Contains(body, `"esauth_mapping_version":`+strconv.Itoa(elastic.MappingVersion)) {
			t.Errorf("%s has no mapping version in _meta: %s", concrete, body)
		}
	}
}

// An index auto-created with a guessed mapping, made before aliases, is
// moved into <alias>-000001 with the right mapping, keeping its documents.
func TestMigrateMovesAWrongIndexAndKeepsItsDocuments(t *testing.T) {
	s := unsetStore(t)
	ctx := context.Background()
	emails := []string{"a@example.com", "b@example.com", "c#d@example.com"}
	docs := map[string]string{}
	for _, e := range emails {
		docs[e] = guessed(e)
	}
	autoCreateUsers(t, s, docs)

	reports, err := s.Migrate(ctx)
	if err != nil {
		t.Fatalf("migrate: %v (%v)", err, reports)
	}
	users := reportOf(t, reports, s.UsersIndex())
	if !users.Moved() || users.From != s.UsersIndex() || users.To != s.UsersIndex()+"-000001" ||
		users.Copied != len(emails) || users.Dropped["password"] != len(emails) || len(users.Problems) == 0 {
		t.Errorf("users report = %+v, want moved to -000001 with %d copied and password dropped from each", users, len(emails))
	}
	if r := reportOf(t, reports, s.SessionsIndex()); !r.Created {
		t.Errorf("sessions report = %+v; want created", r)
	}
	if err := s.EnsureIndices(ctx); err != nil {
		t.Fatalf("set-up after the migration: %v", err)
	}
	if got := estest.Concrete(t, s.UsersIndex()); got != s.UsersIndex()+"-000001" {
		t.Errorf("the alias names %s", got)
	}
	wantStrictUsers(t, s)
	for _, e := range emails {
		u, err := s.GetUser(ctx, e)
		if err != nil || u.FirstName != "Ada" || u.PasswordHash != "$argon2id$x" {
			t.Errorf("user %s after the migration: %+v, %v", e, u, err)
		}
	}
	again, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range again {
		if r.Moved() || r.Created {
			t.Errorf("a second migration did something to %s: %v", r.Index, r)
		}
	}
}

// A document the right mapping cannot hold (a value of another type) stops
// the move of its index before anything is deleted, and lifts the block.
func TestMigrateStopsBeforeDeletingWhenADocumentCannotBeCopied(t *testing.T) {
	s := unsetStore(t)
	estest.MustDo(t, "PUT", "/"+s.UsersIndex(), `{"mappings":{"properties":{"email_address":{"type":"keyword"},"created_at":{"type":"keyword"}}}}`)
	autoCreateUsers(t, s, map[string]string{
		"good@example.com": `{"email_address":"good@example.com","created_at":"2024-01-01T00:00:00Z"}`,
		"bad@example.com":  `{"email_address":"bad@example.com","created_at":"last tuesday"}`,
	})
	_, err := s.Migrate(context.Background())
	if err == nil || !strings.Contains(err.Error(), "bad@example.com") {
		t.Fatalf("err = %v, want one naming bad@example.com", err)
	}
	if n := countOf(t, s.UsersIndex()); n != 2 {
		t.Errorf("the old index holds %d documents after the failed move, want 2", n)
	}
	if status, body := estest.Do(t, "PUT", "/"+s.UsersIndex()+"/_doc/x", `{"email_address":"x"}`); status/100 != 2 {
		t.Errorf("the write block was left on the index: %d %s", status, body)
	}
	if status, _ := estest.Do(t, "GET", "/"+s.UsersIndex()+"-000001", ""); status != http.StatusNotFound {
		t.Errorf("the half-filled index is left over (status %d)", status)
	}
}

// A migration that stopped mid-copy left the old index blocked and the new
// one half filled; the next run finishes it.
func TestMigrateFinishesAnInterruptedMove(t *testing.T) {
	s := unsetStore(t)
	ctx := context.Background()
	autoCreateUsers(t, s, map[string]string{"one@example.com": guessed("one@example.com"), "two@example.com": guessed("two@example.com")})
	// The set-up refuses the guessed mapping, but puts the templates first.
	var me *elastic.MappingError
	if err := s.EnsureIndices(ctx); !errors.As(err, &me) {
		t.Fatalf("set-up over a guessed mapping: %v", err)
	}
	// What the interrupted run did: the block, and the new index (made here
	// through the template, with the right mapping) holding one document.
	estest.MustDo(t, "PUT", "/"+s.UsersIndex()+"/_settings", `{"index.blocks.write": true}`)
	copied := strings.Replace(guessed("one@example.com"), `,"password":"plain text"`, "", 1)
	estest.MustDo(t, "PUT", "/"+s.UsersIndex()+"-000001/_doc/one@example.com", copied)

	reports, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r := reportOf(t, reports, s.UsersIndex()); r.To != s.UsersIndex()+"-000001" || r.Copied != 2 {
		t.Errorf("users report = %+v; want the move into -000001 finished with 2 documents", r)
	}
	for _, e := range []string{"one@example.com", "two@example.com"} {
		if _, err := s.GetUser(ctx, e); err != nil {
			t.Errorf("%s after the finished move: %v", e, err)
		}
	}
}

// An index of an older mapping version behind the alias moves to the next
// generation.
func TestMigrateMovesAnOlderVersionToTheNextIndex(t *testing.T) {
	s := unsetStore(t)
	ctx := context.Background()
	// The layout of an older esauth: an alias over -000003, no version.
	estest.MustDo(t, "PUT", "/"+s.UsersIndex()+"-000003", `{"aliases":{"`+s.UsersIndex()+`":{}},"mappings":{"dynamic":"strict","properties":{`+
		`"email_address":{"type":"keyword"},"first_name":{"type":"text","fields":{"raw":{"type":"keyword","ignore_above":256}}},`+
		`"last_name":{"type":"text","fields":{"raw":{"type":"keyword","ignore_above":256}}},"password_hash":{"type":"keyword","index":false,"doc_values":false},`+
		`"role":{"type":"keyword"},"is_active":{"type":"boolean"},"created_at":{"type":"date"},"updated_at":{"type":"date"},`+
		`"password_changed_at":{"type":"date"},"session_epoch":{"type":"keyword"}}}}`)
	estest.MustDo(t, "PUT", "/"+s.UsersIndex()+"/_doc/old@example.com?refresh=true",
		`{"email_address":"old@example.com","first_name":"O","last_name":"L","password_hash":"$argon2id$x","role":"user","is_active":true,`+
			`"created_at":"2024-01-01T00:00:00Z","updated_at":"2024-01-01T00:00:00Z","password_changed_at":"2024-01-01T00:00:00Z","session_epoch":"e"}`)
	// It works as it is (the mapping is right), but migrate moves it on.
	if err := s.EnsureIndices(ctx); err != nil {
		t.Fatal(err)
	}
	reports, err := s.Migrate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	r := reportOf(t, reports, s.UsersIndex())
	if r.From != s.UsersIndex()+"-000003" || r.To != s.UsersIndex()+"-000004" || r.FromVersion != 0 || r.Copied != 1 {
		t.Errorf("users report = %+v; want -000003 (version 0) moved to -000004", r)
	}
	if got := estest.Concrete(t, s.UsersIndex()); got != s.UsersIndex()+"-000004" {
		t.Errorf("the alias names %s", got)
	}
	if status, _ := estest.Do(t, "GET", "/"+s.UsersIndex()+"-000003", ""); status != http.StatusNotFound {
		t.Errorf("the old index is left (status %d)", status)
	}
	if _, err := s.GetUser(ctx, "old@example.com"); err != nil {
		t.Error(err)
	}
}

// An index a newer esauth migrated (a mapping version this one does not
// know) stops the set-up and the migration: this esauth must not write it.
func TestANewerMappingVersionIsRefused(t *testing.T) {
	s := estest.New(t)
	estest.MustDo(t, "PUT", "/"+s.SessionsIndex()+"/_mapping", `{"_meta":{"esauth_mapping_version":99}}`)
	fresh, err := elastic.New(elastic.Config{Addresses: []string{estest.URL()}, IndexPrefix: strings.TrimSuffix(s.UsersIndex(), "users")}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	var ve *elastic.VersionError
	if err := fresh.EnsureIndices(context.Background()); !errors.As(err, &ve) || ve.Version != 99 || !strings.Contains(err.Error(), "newer") {
		t.Errorf("set-up: %v; want a VersionError for version 99", err)
	}
	if _, err := fresh.Migrate(context.Background()); !errors.As(err, &ve) {
		t.Errorf("migrate: %v; want a VersionError", err)
	}
	if err := fresh.Ready(context.Background()); err == nil || !strings.Contains(err.Error(), "newer") {
		t.Errorf("ready: %v", err)
	}
}

func TestShardsAndReplicasAreSettings(t *testing.T) {
	cfg := estest.Config()
	cfg.Shards, cfg.Replicas = 2, "0"
	s := estest.NewWith(t, cfg)
	body := estest.MustDo(t, "GET", "/"+estest.Concrete(t, s.UsersIndex())+"/_settings?flat_settings=true", "")
	for _, want := range []string{`"index.number_of_shards":"2"`, `"index.number_of_replicas":"0"`, `"index.auto_expand_replicas":"false"`} {
		if !strings.Contains(body, want) {
			t.Errorf("settings lack %s: %s", want, body)
		}
	}
	for _, bad := range []struct {
		shards   int
		replicas string
	}{{0, "x"}, {-1, "0"}, {1, "1-"}, {1, "-1"}, {2000, "0"}} {
		cfg := estest.Config()
		cfg.Shards, cfg.Replicas = bad.shards, bad.replicas
		if _, err := elastic.New(cfg, zap.NewNop()); err == nil {
			t.Errorf("shards %d, replicas %q accepted", bad.shards, bad.replicas)
		}
	}
}
