package outbox

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"esauth/lib/mail"
	"esauth/lib/mail/mailtest"
)

// senderFunc adapts a function to Sender for the queue's own logic; the
// SMTP path is tested against the real server.
type senderFunc func(ctx context.Context, m mail.Message) error

func (f senderFunc) Send(ctx context.Context, m mail.Message) error { return f(ctx, m) }

// failures records OnFailure calls.
type failures struct {
	mu   sync.Mutex
	msgs []mail.Message
	errs []error
}

func (f *failures) record(m mail.Message, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, m)
	f.errs = append(f.errs, err)
}

func (f *failures) get() ([]mail.Message, []error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]mail.Message(nil), f.msgs...), append([]error(nil), f.errs...)
}

func msg(i int) mail.Message {
	return mail.Message{To: fmt.Sprintf("user%d@example.com", i), Subject: "Hi", Text: "hi"}
}

func closeQueue(t *testing.T, q *Queue) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := q.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestQueueRetriesAFailingServerThenDeliversOnce(t *testing.T) {
	tests := []struct {
		name  string
		at    mailtest.Stage
		code  int
		fails int
	}{
		{"451 at RCPT twice", mailtest.AtRcpt, 451, 2},
		{"451 at the end of DATA twice", mailtest.AtData, 451, 2},
		{"421 at RCPT four times, one attempt left", mailtest.AtRcpt, 421, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := mailtest.Start(t)
			srv.FailNext(tt.fails, tt.at, tt.code)
			var f failures
			q := NewQueue(newSMTP(t, srv.URL()), zap.NewNop(), QueueOptions{
				Attempts: 5, Backoff: time.Millisecond, OnFailure: f.record,
			})
			if !q.Enqueue(msg(1)) {
				t.Fatal("Enqueue refused")
			}
			closeQueue(t, q)

			if got := srv.Messages(); len(got) != 1 {
				t.Fatalf("%d messages delivered, want exactly 1", len(got))
			}
			if n := srv.Attempts(); n != tt.fails+1 {
				t.Errorf("%d attempts reached RCPT, want %d", n, tt.fails+1)
			}
			if q.Sent() != 1 || q.Failed() != 0 || q.Dropped() != 0 {
				t.Errorf("sent %d failed %d dropped %d, want 1 0 0", q.Sent(), q.Failed(), q.Dropped())
			}
			if msgs, _ := f.get(); len(msgs) != 0 {
				t.Errorf("OnFailure called %d times", len(msgs))
			}
		})
	}
}

func TestQueueDoesNotRetryARefusal(t *testing.T) {
	srv := mailtest.Start(t)
	srv.FailNext(5, mailtest.AtRcpt, 550)
	var f failures
	q := NewQueue(newSMTP(t, srv.URL()), zap.NewNop(), QueueOptions{
		Attempts: 5, Backoff: time.Millisecond, OnFailure: f.record,
	})
	q.Enqueue(msg(1))
	closeQueue(t, q)

	if n := srv.Attempts(); n != 1 {
		t.Errorf("%d attempts, want 1: a 550 is not retried", n)
	}
	msgs, errs := f.get()
	if len(msgs) != 1 || msgs[0] != msg(1) || !mail.IsPermanent(errs[0]) {
		t.Errorf("OnFailure got %v %v, want the message once with a permanent error", msgs, errs)
	}
	if q.Failed() != 1 || q.Sent() != 0 {
		t.Errorf("sent %d failed %d, want 0 1", q.Sent(), q.Failed())
	}
}

func TestQueueReportsEachMessageOnceAfterItsLastAttempt(t *testing.T) {
	var mu sync.Mutex
	tries := map[string]int{}
	temporary := errors.New("421 try again later")
	s := senderFunc(func(_ context.Context, m mail.Message) error {
		mu.Lock()
		defer mu.Unlock()
		tries[m.To]++
		return temporary
	})
	var f failures
	q := NewQueue(s, zap.NewNop(), QueueOptions{Attempts: 3, Backoff: time.Millisecond, OnFailure: f.record})
	q.Enqueue(msg(1))
	q.Enqueue(msg(2))
	closeQueue(t, q)

	msgs, errs := f.get()
	if len(msgs) != 2 || msgs[0] != msg(1) || msgs[1] != msg(2) {
		t.Fatalf("OnFailure got %v, want each message once, in order", msgs)
	}
	for _, err := range errs {
		if !errors.Is(err, temporary) {
			t.Errorf("OnFailure error %v, want the sender's last error", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if tries[msg(1).To] != 3 || tries[msg(2).To] != 3 {
		t.Errorf("tries %v, want 3 each", tries)
	}
	if q.Failed() != 2 || q.Sent() != 0 || q.Dropped() != 0 {
		t.Errorf("sent %d failed %d dropped %d, want 0 2 0", q.Sent(), q.Failed(), q.Dropped())
	}
}

func TestQueueDropsWhenFullWithoutBlocking(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s := senderFunc(func(context.Context, mail.Message) error {
		once.Do(func() { close(started) })
		<-release
		return nil
	})
	var f failures
	q := NewQueue(s, zap.NewNop(), QueueOptions{Size: 2, OnFailure: f.record})
	q.Enqueue(msg(1))
	<-started // the worker holds message 1; the buffer is empty

	got := []bool{q.Enqueue(msg(2)), q.Enqueue(msg(3)), q.Enqueue(msg(4))}
	if got[0] != true || got[1] != true || got[2] != false {
		t.Errorf("Enqueue = %v, want true true false", got)
	}
	msgs, errs := f.get()
	if q.Dropped() != 1 || len(msgs) != 1 || msgs[0] != msg(4) || !errors.Is(errs[0], ErrQueueFull) {
		t.Errorf("dropped %d, OnFailure %v %v; want message 4 dropped as full", q.Dropped(), msgs, errs)
	}
	close(release)
	closeQueue(t, q)
	if q.Sent() != 3 {
		t.Errorf("sent %d, want 3", q.Sent())
	}
}

func TestQueueCloseDrainsThenRefuses(t *testing.T) {
	srv := mailtest.Start(t)
	var f failures
	q := NewQueue(newSMTP(t, srv.URL()), zap.NewNop(), QueueOptions{Size: 10, Workers: 3, OnFailure: f.record})
	for i := range 10 {
		if !q.Enqueue(msg(i)) {
			t.Fatalf("Enqueue %d refused", i)
		}
	}
	closeQueue(t, q)

	if n := len(srv.Messages()); n != 10 || q.Sent() != 10 {
		t.Errorf("%d delivered, %d counted sent; want 10 when Close returns", n, q.Sent())
	}
	if q.Enqueue(msg(11)) {
		t.Error("Enqueue after Close accepted a message")
	}
	msgs, errs := f.get()
	if q.Dropped() != 1 || len(msgs) != 1 || !errors.Is(errs[0], ErrQueueClosed) {
		t.Errorf("dropped %d, OnFailure %v %v; want one drop as closed", q.Dropped(), msgs, errs)
	}
	closeQueue(t, q) // a second Close is harmless
}

func TestQueueCloseGivesUpWhenItsContextEnds(t *testing.T) {
	tests := []struct {
		name   string
		sender mail.Sender
	}{
		{"a send in flight is cancelled", senderFunc(func(ctx context.Context, _ mail.Message) error {
			<-ctx.Done()
			return ctx.Err()
		})},
		{"a wait between attempts is cut short", senderFunc(func(context.Context, mail.Message) error {
			return errors.New("421 try again later")
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var f failures
			q := NewQueue(tt.sender, zap.NewNop(), QueueOptions{Attempts: 3, Backoff: time.Hour, OnFailure: f.record})
			for i := range 3 {
				q.Enqueue(msg(i))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			if err := q.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Close = %v, want the context's error", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("Close took %v", d)
			}
			select {
			case <-q.done:
			default:
				t.Error("workers still running after Close returned")
			}
			msgs, errs := f.get()
			if len(msgs) != 3 || q.Failed() != 3 {
				t.Fatalf("OnFailure called %d times, failed %d; want every message reported once", len(msgs), q.Failed())
			}
			for _, err := range errs {
				if !errors.Is(err, ErrQueueClosed) {
					t.Errorf("OnFailure error %v, want ErrQueueClosed", err)
				}
			}
		})
	}
}

func TestQueueOptionDefaults(t *testing.T) {
	got := QueueOptions{MaxBackoff: time.Millisecond, Backoff: time.Second}.withDefaults()
	want := QueueOptions{Size: 100, Workers: 1, Attempts: 5, Backoff: time.Second, MaxBackoff: time.Second}
	if got.Size != want.Size || got.Workers != want.Workers || got.Attempts != want.Attempts ||
		got.Backoff != want.Backoff || got.MaxBackoff != want.MaxBackoff {
		t.Errorf("withDefaults = %+v, want %+v", got, want)
	}
}
