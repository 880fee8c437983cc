// Package estest gives tests a Store on the real Elasticsearch, with indices
// of their own that are deleted when the test ends.
//
// The cluster is ELASTICSEARCH_URL (default http://127.0.0.1:9200), one
// address or several separated by commas (the nodes of one cluster: stores
// made for tests spread their calls over all of them). When it does not
// answer, tests are skipped, unless ESAUTH_REQUIRE_ES=1 (set by
// "make test" and CI), when they fail: a green run must mean the storage
// really was tested.
package estest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"

	"esauth/lib/elastic"
)

// URL returns the Elasticsearch URL tests send their own requests to: the
// first of URLs.
func URL() string {
	return URLs()[0]
}

// URLs returns every address of ELASTICSEARCH_URL (comma-separated, blanks
// ignored), or the local node's when it is unset.
func URLs() []string {
	var urls []string
	for _, u := range strings.Split(os.Getenv("ELASTICSEARCH_URL"), ",") {
		if u = strings.TrimSpace(u); u != "" {
			urls = append(urls, u)
		}
	}
	if len(urls) == 0 {
		return []string{"http://127.0.0.1:9200"}
	}
	return urls
}

// Concrete returns the index an alias of the test cluster names (an
// index's own name when it is not an alias). Some calls (DELETE) refuse
// aliases.
func Concrete(t testing.TB, alias string) string {
	t.Helper()
	body := MustDo(t, "GET", "/"+alias+"/_alias", "")
	var a map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &a); err != nil || len(a) != 1 {
		t.Fatalf("%s names %d indices (%v): %s", alias, len(a), err, body)
	}
	for name := range a {
		return name
	}
	return ""
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

// Config returns a store config on the test cluster (every address of
// URLs) with a fresh prefix.
func Config() elastic.Config {
	return elastic.Config{Addresses: URLs(), IndexPrefix: Prefix(), Timeout: 10 * time.Second}
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

// Do sends one request to the test cluster, as an operator's curl would,
// and returns the status and the body. Tests use it to do to their own
// indices what an operator might: block, close, delete, create by hand.
func Do(t testing.TB, method, path, body string) (int, string) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, URL()+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return res.StatusCode, string(b)
}

// MustDo is Do that fails the test unless Elasticsearch answers 2xx.
func MustDo(t testing.TB, method, path, body string) string {
	t.Helper()
	status, b := Do(t, method, path, body)
	if status/100 != 2 {
		t.Fatalf("%s %s: %d %s", method, path, status, b)
	}
	return b
}

// CountingTransport is an HTTP transport that counts the requests that
// reach Elasticsearch, for tests that prove a path makes none (or one).
type CountingTransport struct{ n atomic.Int64 }

// RoundTrip counts the request and sends it on.
func (c *CountingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// Count is how many requests were sent so far.
func (c *CountingTransport) Count() int64 { return c.n.Load() }

// DeadURL is the address of a node that is down: a listener, kept open
// until the test ends, that drops every connection the moment it is made,
// before a byte of answer. It stands for a node that does not answer.
//
// A closed httptest server's address does not: once its port is free, any
// server of a test running beside it may be given the same port and answer
// (a 404 is "no such user", not "store down"), and a client may even be
// connected to itself through it. Both made tests flaky under CI's load.
func DeadURL(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return // closed at the test's end
			}
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetLinger(0) // a reset, as from a node that is not there
			}
			c.Close()
		}
	}()
	return "http://" + l.Addr().String()
}
