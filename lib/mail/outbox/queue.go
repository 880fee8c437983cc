// Package outbox sends esauth's mail (see esauth/lib/mail, which composes
// it): SMTP delivers a Message in production, Log in development (the links
// go to the log, where a developer copies them), and a Queue wraps a Sender
// so that a request never waits for SMTP or fails because of it. These are
// kept apart from lib/mail so that what only composes mail, or only needs
// its types, does not pull in the SMTP client or the logger.
package outbox

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"esauth/lib/mail"
)

// Errors given to OnFailure for messages that were never tried.
var (
	ErrQueueFull   = errors.New("mail: queue full, message dropped")
	ErrQueueClosed = errors.New("mail: queue closed, message not sent")
)

// QueueOptions tune a Queue; zero values take the defaults.
type QueueOptions struct {
	// Size is how many messages may wait (default 100). Beyond it Enqueue
	// drops: a mail server that is down must not grow memory without bound.
	Size int
	// Workers send in parallel (default 1, plenty for an auth service).
	Workers int
	// Attempts is how many times a message is tried (default 5); 1 means no
	// retry. A failure marked Permanent is not retried.
	Attempts int
	// Backoff is the wait after the first failed attempt (default 2s); it
	// doubles after each further one, up to MaxBackoff (default 1m). With
	// the defaults a message is given up after about 30s of waiting.
	Backoff, MaxBackoff time.Duration
	// OnFailure, if set, is called once for each message that is not sent:
	// after its last attempt failed (on a worker goroutine), or when it is
	// dropped (on the caller's goroutine, so it must be quick). The server
	// logs and audits there; the message's bodies hold one-time links and
	// must not be logged. When OnFailure is nil, the Queue logs the failure
	// itself (recipient and subject only).
	OnFailure func(m mail.Message, err error)
}

func (o QueueOptions) withDefaults() QueueOptions {
	if o.Size <= 0 {
		o.Size = 100
	}
	if o.Workers <= 0 {
		o.Workers = 1
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = time.Minute
	}
	if o.MaxBackoff < o.Backoff {
		o.MaxBackoff = o.Backoff
	}
	return o
}

// Queue sends messages in the background, so that a request never waits
// for the mail server or fails because of it: Enqueue never blocks, and
// failures go to OnFailure and the counters.
type Queue struct {
	s    mail.Sender
	log  *zap.Logger
	opts QueueOptions

	mu     sync.RWMutex // guards closed against a send on the closed ch
	closed bool
	ch     chan mail.Message

	// ctx is cancelled when Close gives up waiting: in-flight sends and
	// backoff waits end, and what is left is reported as failed.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when every worker has returned

	sent, failed, dropped atomic.Int64
}

// NewQueue starts the workers; Close stops them. log gets the retries, and
// the failures when there is no OnFailure; nil discards them.
func NewQueue(s mail.Sender, log *zap.Logger, opts QueueOptions) *Queue {
	if log == nil {
		log = zap.NewNop()
	}
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	q := &Queue{
		s: s, log: log, opts: opts,
		ch:  make(chan mail.Message, opts.Size),
		ctx: ctx, cancel: cancel,
		done: make(chan struct{}),
	}
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Go(q.work)
	}
	go func() {
		wg.Wait()
		close(q.done)
	}()
	return q
}

// Enqueue hands m to the workers and returns at once. It returns false, and
// counts and reports m as dropped, when the queue is full or closed.
func (q *Queue) Enqueue(m mail.Message) bool {
	q.mu.RLock()
	err := ErrQueueClosed
	if !q.closed {
		select {
		case q.ch <- m:
			err = nil
		default:
			err = ErrQueueFull
		}
	}
	q.mu.RUnlock()
	if err != nil {
		q.dropped.Add(1)
		q.report(m, err, "mail dropped")
		return false
	}
	return true
}

// Close stops taking messages, sends those already queued, and returns
// when they are done. If ctx ends first, Close cancels the sends in flight
// and the waits between attempts, reports every message left as failed
// (ErrQueueClosed), and returns ctx's error once the workers have stopped,
// which, with a Sender that honours its context, is at once.
func (q *Queue) Close(ctx context.Context) error {
	q.mu.Lock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
	q.mu.Unlock()
	select {
	case <-q.done:
		q.cancel()
		return nil
	case <-ctx.Done():
		q.cancel()
		<-q.done
		return ctx.Err()
	}
}

// Sent, Failed and Dropped count the messages delivered, given up after
// their attempts (or abandoned by Close), and refused by Enqueue.
func (q *Queue) Sent() int64    { return q.sent.Load() }
func (q *Queue) Failed() int64  { return q.failed.Load() }
func (q *Queue) Dropped() int64 { return q.dropped.Load() }

func (q *Queue) work() {
	for m := range q.ch {
		if err := q.deliver(m); err != nil {
			q.failed.Add(1)
			q.report(m, err, "mail not sent")
			continue
		}
		q.sent.Add(1)
	}
}

// deliver tries m up to Attempts times with exponential backoff.
func (q *Queue) deliver(m mail.Message) error {
	delay := q.opts.Backoff
	for attempt := 1; ; attempt++ {
		if q.ctx.Err() != nil {
			return ErrQueueClosed
		}
		err := q.s.Send(q.ctx, m)
		if err == nil {
			return nil
		}
		if q.ctx.Err() != nil {
			return errors.Join(ErrQueueClosed, err)
		}
		if mail.IsPermanent(err) || attempt >= q.opts.Attempts {
			return err
		}
		q.log.Warn("mail send failed; will retry",
			zap.String("to", m.To), zap.String("subject", m.Subject),
			zap.Int("attempt", attempt), zap.Duration("retry_in", delay), zap.Error(err))
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-q.ctx.Done():
			t.Stop()
			return errors.Join(ErrQueueClosed, err)
		}
		delay = min(2*delay, q.opts.MaxBackoff)
	}
}

// report hands a message that was not sent to OnFailure, or logs it if
// there is none; never its bodies.
func (q *Queue) report(m mail.Message, err error, what string) {
	if q.opts.OnFailure != nil {
		q.opts.OnFailure(m, err)
		return
	}
	q.log.Error(what, zap.String("to", m.To), zap.String("subject", m.Subject), zap.Error(err))
}
