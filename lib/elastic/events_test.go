package elastic_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"esauth/lib/audit"
	"esauth/lib/elastic/estest"
)

// A server of mapping version 2 runs on the audit index of version 1 as
// it is (put mapping adds the subfields; no downtime), events written from
// then on are found by network at once, and the older ones once esauth
// migrate has copied them into the next index.
func TestAnOlderAuditIndexWorksAndMigrateIndexesItsEventsByNetwork(t *testing.T) {
	s := unsetStore(t)
	ctx := context.Background()
	alias := s.AuditIndex()
	estest.MustDo(t, "PUT", "/"+alias+"-000001", `{"aliases":{"`+alias+`":{"is_write_index":true}},"mappings":{"_meta":{"esauth_mapping_version":1,"managed_by":"esauth"},"dynamic":"strict","properties":{`+
		`"event_id":{"type":"keyword"},"event":{"type":"keyword"},"email":{"type":"keyword"},"actor":{"type":"keyword"},"ip":{"type":"keyword"},`+
		`"user_agent":{"type":"keyword","ignore_above":512},"at":{"type":"date"},"outcome":{"type":"keyword"}}}}`)
	estest.MustDo(t, "PUT", "/"+alias+"/_doc/old?refresh=true",
		`{"event_id":"old","event":"login_failure","email":"a@example.com","actor":"a@example.com","ip":"203.0.113.5","user_agent":"curl/8","at":"2026-11-01T00:00:00Z","outcome":"failure"}`)
	if err := s.EnsureIndices(ctx); err != nil {
		t.Fatalf("a version-1 audit index stops the server: %v", err)
	}
	if err := s.WriteEvents(ctx, []audit.Event{{ID: "new", Event: audit.LoginFailure, Email: "a@example.com", IP: "203.0.113.6", At: time.Now().UTC(), Outcome: audit.Failure, Device: "curl", Network: "203.0.113.0/24"}}); err != nil {
		t.Fatalf("writing an event with the new fields: %v", err)
	}
	estest.MustDo(t, "POST", "/"+alias+"/_refresh", "")
	net := audit.Filter{Network: netip.MustParsePrefix("203.0.113.0/24")}
	found := func() []string {
		evs, _, err := s.SearchEvents(ctx, net, nil, 10)
		if err != nil {
			t.Fatal(err)
		}
		var ids []string
		for _, e := range evs {
			ids = append(ids, e.ID)
		}
		return ids
	}
	if got := found(); len(got) != 1 || got[0] != "new" {
		t.Errorf("before migrate, the network finds %v; want the new event only (the old one is not indexed by address yet)", got)
	}
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if got := estest.Concrete(t, alias); got != alias+"-000002" {
		t.Errorf("the alias names %s after migrate", got)
	}
	if got := found(); len(got) != 2 {
		t.Errorf("after migrate, the network finds %v; want both events", got)
	}
}

// Many events are aggregated over a random sample, scaled back up and
// marked so, with the exact total; few are counted exactly. The counts of
// a sample vary, so the checks are wide: about a sixth of 4,000 events is
// drawn, and the estimates must land within a quarter of the truth.
func TestStatsOverManyEventsAreSampledAndFewAreExact(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	ips := []string{"203.0.113.1", "203.0.113.1", "203.0.113.1", "203.0.113.1", "203.0.113.1", "198.51.100.2", "198.51.100.2", "192.0.2.3"}
	var evs []audit.Event
	for i := range 4000 {
		e := audit.Event{ID: audit.NewID(), Event: audit.LoginFailure, Outcome: audit.Failure, Email: "many@example.com",
			IP: ips[i%len(ips)], UserAgent: "curl/8", At: day.Add(time.Duration(i) * 43 * time.Second)}
		if i%4 == 0 {
			e.Event, e.Outcome = audit.LoginSuccess, audit.Success
		}
		evs = append(evs, e)
	}
	for i := range 5 {
		evs = append(evs, audit.Event{ID: audit.NewID(), Event: audit.LoginFailure, Outcome: audit.Failure, Email: "few@example.com",
			IP: "192.0.2.9", At: day.Add(time.Duration(i) * time.Hour)})
	}
	if err := s.WriteEvents(ctx, evs); err != nil {
		t.Fatal(err)
	}
	estest.MustDo(t, "POST", "/"+s.AuditIndex()+"/_refresh", "")
	all := audit.Filter{From: day, To: day.Add(48 * time.Hour)}
	sum := func(st audit.Stats) (n, failures int) {
		for _, b := range st.Histogram {
			n += b.Count
			for _, o := range b.Outcomes {
				if o.Key == audit.Failure {
					failures += o.Count
				}
			}
		}
		return n, failures
	}
	near := func(what string, got, want int) {
		t.Helper()
		if got < want*3/4 || got > want*5/4 {
			t.Errorf("%s: %d; want about %d", what, got, want)
		}
	}

	exact, err := s.EventStats(ctx, all, time.Hour, 3, 10_000, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n, f := sum(exact); exact.Sampled || exact.Total != 4005 || n != 4005 || f != 3005 {
		t.Errorf("under the sample size: sampled %v, total %d, histogram %d, failures %d; want exact 4005 and 3005", exact.Sampled, exact.Total, n, f)
	}

	st, err := s.EventStats(ctx, all, time.Hour, 3, 500, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if !st.Sampled || st.Total != 4005 || st.SampleProbability <= 0 || st.SampleProbability >= 0.5 {
		t.Fatalf("over twice the sample size: sampled %v at %v, total %d; want sampled below 0.5 and the exact total 4005", st.Sampled, st.SampleProbability, st.Total)
	}
	n, f := sum(st)
	t.Logf("sampled at %.3f: %d events, %d failures, top %v", st.SampleProbability, n, f, st.TopIPs)
	near("the sampled histogram's events", n, 4005)
	near("its failures", f, 3005)
	if len(st.TopIPs) == 0 || st.TopIPs[0].Key != "203.0.113.1" {
		t.Errorf("the sampled top addresses: %v; want 203.0.113.1 first", st.TopIPs)
	} else {
		near("the top address's events", st.TopIPs[0].Count, 2500)
	}
	if len(st.TopFailedEmails) == 0 || st.TopFailedEmails[0].Key != "many@example.com" {
		t.Errorf("the sampled top failing emails: %v", st.TopFailedEmails)
	}
	again, err := s.EventStats(ctx, all, time.Hour, 3, 500, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := sum(again); m != n {
		t.Errorf("the same stats again count %d, then %d: the sample is not drawn the same way", n, m)
	}

	few := audit.Filter{From: day, To: day.Add(48 * time.Hour), Email: "few@example.com"}
	st, err = s.EventStats(ctx, few, time.Hour, 3, 500, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n, f := sum(st); st.Sampled || st.Total != 5 || n != 5 || f != 5 || len(st.TopIPs) != 1 || st.TopIPs[0].Count != 5 {
		t.Errorf("a filter selecting 5 of 4,005 events: sampled %v, total %d, histogram %d, failures %d, ips %v; want all exact", st.Sampled, st.Total, n, f, st.TopIPs)
	}
}
