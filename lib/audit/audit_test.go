package audit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"esauth/lib/audit"
)

// memSink keeps what it is given; block, when set, holds every write until
// it is closed. (The Elasticsearch sink is tested against Elasticsearch in
// lib/elastic; this one tests the writer's buffering alone.)
type memSink struct {
	mu      sync.Mutex
	batches [][]audit.Event
	block   chan struct{}
	fail    bool
}

func (s *memSink) WriteEvents(ctx context.Context, events []audit.Event) error {
	if s.block != nil {
		<-s.block
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail {
		return errors.New("store down")
	}
	s.batches = append(s.batches, append([]audit.Event(nil), events...))
	return nil
}

func (s *memSink) events() []audit.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []audit.Event
	for _, b := range s.batches {
		all = append(all, b...)
	}
	return all
}

func TestFlushWritesEverythingInBatches(t *testing.T) {
	sink := &memSink{}
	w := audit.NewWriter(sink, zap.NewNop().Sugar(), 100, 3, time.Hour)
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	for i := 0; i < 7; i++ {
		w.Record(audit.Event{Event: audit.LoginFailure, Email: "a@example.com"})
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := sink.events()
	if len(got) != 7 {
		t.Fatalf("wrote %d events, want 7", len(got))
	}
	ids := map[string]bool{}
	for _, e := range got {
		if e.ID == "" || e.At.IsZero() || ids[e.ID] {
			t.Errorf("event without a unique id or time: %+v", e)
		}
		ids[e.ID] = true
	}
	for _, b := range sink.batches {
		if len(b) > 3 {
			t.Errorf("a batch of %d, over the limit of 3", len(b))
		}
	}
	if w.Dropped() != 0 || w.Written() != 7 {
		t.Errorf("dropped %d, written %d; want 0 and 7", w.Dropped(), w.Written())
	}
}

func TestAFullBufferDropsAndCountsInsteadOfBlocking(t *testing.T) {
	sink := &memSink{block: make(chan struct{})}
	core, logs := observer.New(zap.InfoLevel)
	w := audit.NewWriter(sink, zap.New(core).Sugar(), 2, 1, time.Hour)
	t.Cleanup(func() { _ = w.Close(context.Background()) })
	// The first event is taken by the loop, which then blocks writing it;
	// two more fill the buffer; the rest must be dropped, not wait.
	done := make(chan struct{})
	go func() {
		for i := 0; i < 10; i++ {
			w.Record(audit.Event{Event: audit.LoginFailure})
		}
		close(done)
	}()
	<-done // Record returned for all ten while the sink is stuck
	if d := w.Dropped(); d < 7 || d > 8 {
		t.Errorf("dropped %d, want 7 or 8 of 10 with a buffer of 2", d)
	}
	close(sink.block)
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := len(sink.events()) + int(w.Dropped()); got != 10 {
		t.Errorf("written + dropped = %d, want 10", got)
	}
	if w.Written() != int64(len(sink.events())) {
		t.Errorf("Written() = %d, but the sink holds %d", w.Written(), len(sink.events()))
	}
	if logs.FilterMessage("audit events dropped").Len() == 0 {
		t.Error("the dropped count was not logged")
	}
	if logs.FilterMessage("audit").Len() != 10 {
		t.Errorf("%d audit log lines, want one per event", logs.FilterMessage("audit").Len())
	}
}

func TestAFailingStoreCountsTheLostBatch(t *testing.T) {
	sink := &memSink{fail: true}
	w := audit.NewWriter(sink, zap.NewNop().Sugar(), 10, 10, time.Hour)
	for i := 0; i < 4; i++ {
		w.Record(audit.Event{Event: audit.Logout})
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if w.Dropped() != 4 || w.Written() != 0 {
		t.Errorf("dropped %d, written %d; want 4 and 0", w.Dropped(), w.Written())
	}
	_ = w.Close(context.Background())
}

func TestCloseWritesWhatIsBuffered(t *testing.T) {
	sink := &memSink{}
	w := audit.NewWriter(sink, zap.NewNop().Sugar(), 10, 10, time.Hour)
	w.Record(audit.Event{Event: audit.Signup})
	w.Record(audit.Event{Event: audit.LoginSuccess})
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(sink.events()) != 2 {
		t.Errorf("wrote %d events on close, want 2", len(sink.events()))
	}
	if err := w.Flush(context.Background()); err != nil {
		t.Errorf("Flush after Close: %v", err)
	}
}
