package elastic_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"esauth/lib/elastic/estest"
	"esauth/lib/limit"
)

// Two instances' boards on one real Elasticsearch: what one takes, the
// other cannot take again, and the records hold no address.
func TestTwoBoardsShareABucketThroughElasticsearch(t *testing.T) {
	store := estest.New(t)
	ctx := context.Background()
	now := time.Now()
	rate := limit.Rate{PerMinute: 1, Burst: 3}
	a, b := limit.NewBoard(store, "instance-a"), limit.NewBoard(store, "instance-b")
	ka, kb := a.Keyed("login", rate, 100), b.Keyed("login", rate, 100)
	for i := range 2 {
		if ok, _ := ka.Allow("198.51.100.7", now); !ok {
			t.Fatalf("a refused request %d", i+1)
		}
	}
	if err := a.Sync(ctx, now); err != nil {
		t.Fatal(err)
	}
	estest.MustDo(t, "POST", "/"+store.LimitsIndex()+"/_refresh", "")
	if err := b.Sync(ctx, now); err != nil {
		t.Fatal(err)
	}
	if ok, _ := kb.Allow("198.51.100.7", now); !ok {
		t.Fatal("b refused the third token of the shared burst")
	}
	if ok, _ := kb.Allow("198.51.100.7", now); ok {
		t.Fatal("b allowed a fourth request: it did not hear of a's two")
	}
	if ok, _ := kb.Allow("198.51.100.8", now); !ok {
		t.Fatal("another address was refused")
	}

	// b's own records are not read back as another instance's.
	if err := b.Sync(ctx, now); err != nil {
		t.Fatal(err)
	}
	estest.MustDo(t, "POST", "/"+store.LimitsIndex()+"/_refresh", "")
	theirs, err := store.UsageSince(ctx, "instance-b", now.Add(-time.Minute), 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(theirs) != 1 || theirs[0].Instance != "instance-a" || theirs[0].Used != 2 {
		t.Errorf("b reads %+v; want a's one record of 2", theirs)
	}
	if got, _ := store.UsageSince(ctx, "instance-b", now.Add(time.Minute), 100); len(got) != 0 {
		t.Errorf("records updated before since were read: %+v", got)
	}

	raw := estest.MustDo(t, "GET", "/"+store.LimitsIndex()+"/_search?size=100", "")
	if strings.Contains(raw, "198.51") {
		t.Errorf("the limits index holds a client address: %s", raw)
	}
	var hits struct {
		Hits struct {
			Total struct{ Value int } `json:"total"`
		} `json:"hits"`
	}
	_ = json.Unmarshal([]byte(raw), &hits)
	if hits.Hits.Total.Value != 3 { // a's one key, b's two
		t.Errorf("%d records; want 3 (one per limit, key and instance)", hits.Hits.Total.Value)
	}

	// A bucket full again is purged; the purge leaves the others.
	if _, err := store.PurgeExpired(ctx, now.Add(3*time.Minute+time.Second)); err != nil {
		t.Fatal(err)
	}
	estest.MustDo(t, "POST", "/"+store.LimitsIndex()+"/_refresh", "")
	if got, _ := store.UsageSince(ctx, "nobody", now.Add(-time.Minute), 100); len(got) != 0 {
		t.Errorf("records of buckets full again were not purged: %+v", got)
	}
}

// A bad day for the limits' index: written-blocked, then deleted under the
// running store. Requests never wait on it (each instance decides in
// memory); the sync fails while it cannot write, and once it can, what
// was taken meanwhile reaches the other instance.
func TestTheLimitsSurviveABlockedAndADeletedIndex(t *testing.T) {
	store := estest.New(t)
	ctx := context.Background()
	now := time.Now()
	rate := limit.Rate{PerMinute: 1, Burst: 2}
	a, b := limit.NewBoard(store, "instance-a"), limit.NewBoard(store, "instance-b")
	ka, kb := a.Keyed("signup", rate, 100), b.Keyed("signup", rate, 100)
	block := func(on bool) {
		estest.MustDo(t, "PUT", "/"+store.LimitsIndex()+"/_settings", fmt.Sprintf(`{"index.blocks.write":%v}`, on))
	}
	block(true)
	t.Cleanup(func() { estest.Do(t, "PUT", "/"+store.LimitsIndex()+"/_settings", `{"index.blocks.write":false}`) })
	for i := range 2 {
		if ok, _ := ka.Allow("203.0.113.5", now); !ok {
			t.Fatalf("a refused request %d with its index blocked", i+1)
		}
	}
	if err := a.Sync(ctx, now); err == nil {
		t.Fatal("a sync into a write-blocked index succeeded")
	}
	if ok, _ := ka.Allow("203.0.113.5", now); ok {
		t.Error("with the index blocked, a stopped limiting on its own")
	}
	block(false)
	syncBoth := func() {
		t.Helper()
		for _, bd := range []*limit.Board{a, b} {
			if err := bd.Sync(ctx, now); err != nil {
				t.Fatal(err)
			}
			estest.MustDo(t, "POST", "/"+store.LimitsIndex()+"/_refresh", "")
		}
	}
	syncBoth()
	if ok, _ := kb.Allow("203.0.113.5", now); ok {
		t.Error("b never heard of what a took while the index was blocked")
	}

	estest.MustDo(t, "DELETE", "/"+estest.Concrete(t, store.LimitsIndex()), "")
	if ok, _ := ka.Allow("203.0.113.6", now); !ok {
		t.Fatal("a refused a new client with its index deleted")
	}
	// The first sync may find the index gone (503) and set it up again;
	// the next works.
	_ = a.Sync(ctx, now)
	syncBoth()
	if ok, _ := kb.Allow("203.0.113.6", now); !ok {
		t.Fatal("b refused the second token of a new client")
	}
	if ok, _ := kb.Allow("203.0.113.6", now); ok {
		t.Error("after the index came back, b never heard of what a took")
	}
}
