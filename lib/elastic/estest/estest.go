// Package estest gives tests a Store on the real Elasticsearch, with indices
// of their own that are deleted when the test ends.
//
// The cluster is ELASTICSEARCH_URL (default http://127.0.0.1:9200). When it
// does not answer, tests are skipped, unless ESAUTH_REQUIRE_ES=1 (set by
// "make test" and CI), when they fail: a green run must mean the storage
// really was tested.
package estest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"esauth/lib/elastic"
)

// URL returns the Elasticsearch URL tests use.
func URL() string {
	if u := os.Getenv("ELASTICSEARCH_URL"); u != "" {
		return strings.Split(u, ",")[0]
	}
	return "http://127.0.0.1:9200"
}

// Require skips or fails t when Elasticsearch does not answer.
func Require(t testing.TB) {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	res, err := client.Get(URL() + "/_cluster/health")
	if err == nil {
		res.Body.Close()
		if res.StatusCode == http.StatusOK {
			return
		}
	}
	if os.Getenv("ESAUTH_REQUIRE_ES") == "1" {
		t.Fatalf("Elasticsearch at %s is required (ESAUTH_REQUIRE_ES=1) but does not answer: %v; start it with scripts/elasticsearch.sh start", URL(), err)
	}
	t.Skipf("Elasticsearch at %s does not answer; run scripts/elasticsearch.sh start (or make test)", URL())
}

// Prefix returns a fresh index prefix for one test.
func Prefix() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "esauth-test-" + hex.EncodeToString(b[:]) + "-"
}

// Config returns a store config on the test cluster with a fresh prefix.
func Config() elastic.Config {
	return elastic.Config{Addresses: []string{URL()}, IndexPrefix: Prefix(), Timeout: 10 * time.Second}
}

// New returns a Store on the real Elasticsearch with its own indices,
// created now and deleted when the test ends.
func New(t testing.TB) *elastic.Store {
	t.Helper()
	Require(t)
	return NewWith(t, Config())
}

// NewWith is New with a given config (to share a prefix between stores).
func NewWith(t testing.TB, cfg elastic.Config) *elastic.Store {
	t.Helper()
	s, err := elastic.New(cfg, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.EnsureIndices(ctx); err != nil {
		t.Fatalf("creating test indices: %v", err)
	}
	t.Cleanup(func() {
		if err := s.DeleteIndices(context.Background()); err != nil {
			t.Errorf("deleting test indices: %v", err)
		}
	})
	return s
}
