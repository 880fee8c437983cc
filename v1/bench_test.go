package v1

import (
	"io"
	"net/http"
	"testing"
	"time"
)

// BenchmarkUserLoader measures what knowing the user costs: each iteration
// makes one anonymous GET /v1/test (401, no Elasticsearch call: the
// baseline) and one with a valid cookie (the loader's single _mget). Both
// run in the same iteration, against the same server and cluster, so the
// reported ratio "authed/anon" does not depend on the machine's speed.
//
//	go test -run '^$' -bench UserLoader ./v1
func BenchmarkUserLoader(b *testing.B) {
	h := newHarness(b)
	h.addUser("bench@example.com", pw, false)
	c := h.client()
	a := c.login("bench@example.com", pw)
	if a.Status != http.StatusOK {
		b.Fatalf("login: %d", a.Status)
	}
	anon := &http.Client{}
	authed := c.c
	get := func(cl *http.Client) time.Duration {
		start := time.Now()
		res, err := cl.Get(h.srv.URL + "/v1/test")
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		return time.Since(start)
	}
	var anonTotal, authedTotal time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		anonTotal += get(anon)
		authedTotal += get(authed)
	}
	b.StopTimer()
	b.ReportMetric(float64(anonTotal.Microseconds())/float64(b.N), "anon-µs/req")
	b.ReportMetric(float64(authedTotal.Microseconds())/float64(b.N), "authed-µs/req")
	b.ReportMetric(float64(authedTotal)/float64(anonTotal), "authed/anon")
}
