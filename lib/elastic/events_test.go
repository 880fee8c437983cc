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
