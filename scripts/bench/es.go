package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"time"
)

// esClient talks to Elasticsearch directly, for what the benchmark does
// behind esauth's back: seeding users in bulk and cleaning up.
type esClient struct {
	url string
	pid int // the node's process id when it runs here; -1 when it does not
}

func (e *esClient) do(method, path string, body []byte, contentType string) ([]byte, error) {
	req, err := http.NewRequest(method, e.url+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := (&http.Client{Timeout: 10 * time.Minute}).Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode/100 != 2 {
		return b, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	return b, nil
}

// userHash is the stored password hash of email: every seeded user gets
// it, since hashing a million passwords would take hours.
func (e *esClient) userHash(prefix, email string) (string, error) {
	b, err := e.do("GET", "/"+prefix+"users/_doc/"+email, nil, "")
	if err != nil {
		return "", err
	}
	var d struct {
		Source struct {
			Hash string `json:"password_hash"`
		} `json:"_source"`
	}
	if err := json.Unmarshal(b, &d); err != nil || d.Source.Hash == "" {
		return "", fmt.Errorf("no hash for %s: %v", email, err)
	}
	return d.Source.Hash, nil
}

// bulkUsers writes n users (user-<i>@example.com) straight into the
// users index with _bulk, 5,000 a request, then refreshes it.
func (e *esClient) bulkUsers(prefix string, n int, hash string) error {
	const start = 0
	now := time.Now().UTC().Format(time.RFC3339Nano)
	var buf bytes.Buffer
	flush := func() error {
		if buf.Len() == 0 {
			return nil
		}
		err := e.bulk(buf.Bytes())
		buf.Reset()
		return err
	}
	for i := 0; i < n; i++ {
		email := fmt.Sprintf("user-%d@example.com", start+i)
		meta, _ := json.Marshal(map[string]any{"create": map[string]string{"_index": prefix + "users", "_id": email}})
		doc, _ := json.Marshal(map[string]any{
			"email_address": email, "first_name": "Seed", "last_name": "User", "password_hash": hash,
			"role": "user", "is_active": true, "created_at": now, "updated_at": now, "password_changed_at": now,
			"session_epoch": fmt.Sprintf("%032x", start+i),
		})
		buf.Write(meta)
		buf.WriteByte('\n')
		buf.Write(doc)
		buf.WriteByte('\n')
		if (i+1)%5000 == 0 {
			if err := flush(); err != nil {
				return err
			}
		}
	}
	if err := flush(); err != nil {
		return err
	}
	_, err := e.do("POST", "/"+prefix+"users/_refresh", nil, "")
	return err
}

// bulk sends one _bulk request; a document refused fails it. Only the
// items' errors come back (filter_path), not 5,000 acknowledgements.
func (e *esClient) bulk(body []byte) error {
	b, err := e.do("POST", "/_bulk?filter_path=errors,items.*.error", body, "application/x-ndjson")
	if err != nil {
		return err
	}
	if bytes.Contains(b[:min(len(b), 64)], []byte(`"errors":true`)) {
		return fmt.Errorf("bulk load: some documents failed: %.300s", b[max(0, bytes.Index(b, []byte(`"error"`))):])
	}
	return nil
}

// bulkLoad writes n documents with _bulk, 5,000 a request, from two
// goroutines. gen writes the action and source lines of the documents
// [from, to) into buf; batch is the request's number, for a generator
// whose randomness must not depend on which goroutine runs it.
func (e *esClient) bulkLoad(n int, gen func(batch, from, to int, buf *bytes.Buffer)) error {
	const perRequest, senders = 5000, 2
	batches := (n + perRequest - 1) / perRequest
	errc := make(chan error, senders)
	var failed atomic.Bool
	for w := range senders {
		go func() {
			var buf bytes.Buffer
			for b := w; b < batches && !failed.Load(); b += senders {
				buf.Reset()
				gen(b, b*perRequest, min(n, (b+1)*perRequest), &buf)
				if err := e.bulk(buf.Bytes()); err != nil {
					failed.Store(true)
					errc <- err
					return
				}
			}
			errc <- nil
		}()
	}
	var first error
	for range senders {
		if err := <-errc; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// count is the number of documents of index query selects (nil: all),
// after a refresh.
func (e *esClient) count(index string, query any) (int, error) {
	if _, err := e.do("POST", "/"+index+"/_refresh", nil, ""); err != nil {
		return 0, err
	}
	var body []byte
	if query != nil {
		body, _ = json.Marshal(map[string]any{"query": query})
	}
	b, err := e.do("POST", "/"+index+"/_count", body, "application/json")
	if err != nil {
		return 0, err
	}
	var a struct {
		Count int `json:"count"`
	}
	if err := json.Unmarshal(b, &a); err != nil {
		return 0, fmt.Errorf("count of %s: %s", index, b)
	}
	return a.Count, nil
}

// waitForMerges waits (up to 10 minutes) until the node runs no merge,
// so that a bulk load's background work is over before measuring.
func (e *esClient) waitForMerges() error {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		b, err := e.do("GET", "/_nodes/_local/stats/indices/merge?filter_path=nodes.*.indices.merges.current", nil, "")
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(`"current":0`)) {
			return nil
		}
		time.Sleep(time.Second)
	}
	return fmt.Errorf("merges still running after 10 minutes")
}

// indexBytes is the store size of index.
func (e *esClient) indexBytes(index string) (int64, error) {
	b, err := e.do("GET", "/_cat/indices/"+index+"?bytes=b&h=store.size&format=json", nil, "")
	if err != nil {
		return 0, err
	}
	var rows []struct {
		Size string `json:"store.size"`
	}
	if err := json.Unmarshal(b, &rows); err != nil || len(rows) != 1 {
		return 0, fmt.Errorf("index size of %s: %s", index, b)
	}
	var n int64
	_, err = fmt.Sscan(rows[0].Size, &n)
	return n, err
}

// deleteIndices removes what the run made: esauth's indices and templates.
func (e *esClient) deleteIndices(prefix string) {
	for _, name := range []string{"users", "sessions", "audit", "attempts", "identities", "leases", "tokens", "limits", "credentials"} {
		_, _ = e.do("DELETE", "/_index_template/"+prefix+name, nil, "")
		// The index behind the alias first (a delete must name it; that
		// also removes the alias), then one made before aliases, if any.
		_, _ = e.do("DELETE", "/"+prefix+name+"-000001?ignore_unavailable=true", nil, "")
		_, _ = e.do("DELETE", "/"+prefix+name+"?ignore_unavailable=true", nil, "")
	}
}

// cpuTime is the CPU time the node that answers has used. For a node on
// this machine it is read from /proc, exactly; otherwise from the node's
// own process stats, which Elasticsearch refreshes only about once a
// second (0 when unknown).
func (e *esClient) cpuTime() time.Duration {
	if e.pid == 0 {
		e.pid = -1
		b, err := e.do("GET", "/_nodes/_local/process?filter_path=nodes.*.process.id", nil, "")
		var a struct {
			Nodes map[string]struct {
				Process struct {
					ID int `json:"id"`
				} `json:"process"`
			} `json:"nodes"`
		}
		if err == nil && json.Unmarshal(b, &a) == nil && len(a.Nodes) == 1 {
			for _, n := range a.Nodes {
				if _, err := os.Stat(fmt.Sprintf("/proc/%d/stat", n.Process.ID)); err == nil && strings.Contains(e.url, "127.0.0.1") {
					e.pid = n.Process.ID
				}
			}
		}
	}
	if e.pid > 0 {
		return procCPU(e.pid)
	}
	b, err := e.do("GET", "/_nodes/_local/stats/process?filter_path=nodes.*.process.cpu.total_in_millis", nil, "")
	if err != nil {
		return 0
	}
	var a struct {
		Nodes map[string]struct {
			Process struct {
				CPU struct {
					Millis int64 `json:"total_in_millis"`
				} `json:"cpu"`
			} `json:"process"`
		} `json:"nodes"`
	}
	if json.Unmarshal(b, &a) != nil || len(a.Nodes) != 1 {
		return 0
	}
	for _, n := range a.Nodes {
		return time.Duration(n.Process.CPU.Millis) * time.Millisecond
	}
	return 0
}

func numCPU() int { return runtime.NumCPU() }
