// Package audit records security events — signups, logins, lockouts,
// logouts, password changes, admin actions — without ever slowing down or
// failing the request that caused them: events go into a bounded buffer and
// a background loop writes them in batches to a Sink (Elasticsearch's
// append-only audit index). When the buffer is full, events are dropped and
// counted, and the count is logged.
package audit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"time"

	"esauth/lib/device"
	"esauth/lib/page"
	"esauth/lib/reqlog"
)

// The events.
const (
	Signup         = "signup"
	LoginSuccess   = "login_success"
	LoginFailure   = "login_failure"
	Lockout        = "lockout"
	Logout         = "logout"
	LogoutAll      = "logout_all"
	SessionRevoked = "session_revoked"
	// SessionsRevoked is an admin's revocation by query: its detail is
	// the filter and the count.
	SessionsRevoked = "sessions_revoked"
	PasswordChanged = "password_changed"
	UserUpdated     = "user_updated"
	UserDisabled    = "user_disabled"
	UserDeleted     = "user_deleted"
	// OAuthLogin and OAuthSignup are logins with an external provider (the
	// second made the account); OAuthRefused is a callback that logged
	// nobody in, its outcome "refused: <reason>".
	OAuthLogin       = "oauth_login"
	OAuthSignup      = "oauth_signup"
	OAuthRefused     = "oauth_refused"
	IdentityLinked   = "identity_linked"
	IdentityUnlinked = "identity_unlinked"
	// Mail: a verification link sent and used, a recovery asked for and
	// completed, and a mail that could not be sent.
	VerificationSent  = "verification_sent"
	EmailVerified     = "email_verified"
	RecoveryRequested = "recovery_requested"
	PasswordRecovered = "password_recovered"
	MailFailed        = "mail_failed"
	// The second factor: a password accepted that still owes its code, a
	// code (or recovery code) that passed or failed, and the factor
	// turned on and off.
	SecondFactorRequired = "second_factor_required"
	SecondFactorPassed   = "second_factor_passed"
	SecondFactorFailed   = "second_factor_failed"
	TOTPEnrolled         = "totp_enrolled"
	TOTPEnabled          = "totp_enabled"
	TOTPDisabled         = "totp_disabled"

	// Passkeys: a refusal's outcome says why ("refused: origin").
	PasskeyRegistered = "passkey_registered"
	PasskeyLogin      = "passkey_login"
	PasskeyRefused    = "passkey_refused"
	PasskeyRenamed    = "passkey_renamed"
	PasskeyRemoved    = "passkey_removed"

	// LockoutCleared: an admin lifted an email's lockout.
	LockoutCleared = "lockout_cleared"
)

// Outcomes.
const (
	Success = "success"
	Failure = "failure"
	Refused = "refused" // e.g. a login refused while the account is locked
)

// Event is one security event. Email is whose account it concerns; Actor
// who caused it (the same user, an admin, or, for a login, the email tried).
type Event struct {
	ID        string    `json:"event_id"`
	Event     string    `json:"event"`
	Email     string    `json:"email"`
	Actor     string    `json:"actor"`
	IP        string    `json:"ip"`
	UserAgent string    `json:"user_agent"`
	At        time.Time `json:"at"`
	Outcome   string    `json:"outcome"`
	// Device and Network are the client's family ("Firefox on Linux")
	// and network (the /24 or /64 of IP), written with every event so a
	// login is compared with earlier ones in one query (lib/device).
	Device  string `json:"device,omitempty"`
	Network string `json:"network,omitempty"`
	// NewDevice marks a login from a device and network the user had not
	// signed in from recently (a notice was mailed).
	NewDevice bool `json:"new_device,omitempty"`
	// Detail says more where the event needs it (a revocation's filter).
	Detail string `json:"detail,omitempty"`
}

// NewID returns a random event id; it is also the tie-breaker that makes
// paging stable when two events share a timestamp.
func NewID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Cursor is where a page of events ends: the sort values (time, then id)
// of its last event.
type Cursor = page.Cursor

// Sink stores batches of events.
type Sink interface {
	WriteEvents(ctx context.Context, events []Event) error
}

// Recorder takes events; Record must not block.
type Recorder interface {
	Record(e Event)
}

// Discard is a Recorder that drops everything (for tests of other concerns).
type Discard struct{}

// Record drops e.
func (Discard) Record(Event) {}

// Writer is the Recorder that batches events into a Sink.
type Writer struct {
	sink    Sink
	log     reqlog.Logger
	ch      chan Event
	batch   int
	every   time.Duration
	timeout time.Duration
	dropped atomic.Int64
	written atomic.Int64
	flushes chan chan struct{}
	stop    chan struct{}
	done    chan struct{}
	once    sync.Once
}

// NewWriter starts a Writer holding at most buffer events, writing up to
// batch events at a time, at least every interval. log (zap's
// SugaredLogger, say) gets a line per event, the failed writes and the
// dropped count.
func NewWriter(sink Sink, log reqlog.Logger, buffer, batch int, every time.Duration) *Writer {
	w := &Writer{
		sink: sink, log: log, ch: make(chan Event, buffer), batch: batch, every: every,
		timeout: 10 * time.Second,
		flushes: make(chan chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
	go w.loop()
	return w
}

// Record logs e and queues it for storage. It never blocks: when the buffer
// is full the event is dropped and counted.
func (w *Writer) Record(e Event) {
	if e.ID == "" {
		e.ID = NewID()
	}
	if e.At.IsZero() {
		e.At = time.Now().UTC()
	}
	if e.Device == "" && e.UserAgent != "" {
		e.Device = device.Family(e.UserAgent)
	}
	if e.Network == "" {
		e.Network = device.Network(e.IP)
	}
	w.log.Infow("audit",
		"event", e.Event, "outcome", e.Outcome, "email", e.Email,
		"actor", e.Actor, "ip", e.IP)
	select {
	case w.ch <- e:
	default:
		w.dropped.Add(1)
	}
}

// Dropped is how many events were lost so far (buffer full or store failing).
func (w *Writer) Dropped() int64 { return w.dropped.Load() }

// Written is how many events were stored so far.
func (w *Writer) Written() int64 { return w.written.Load() }

// Flush writes every event recorded before the call, then returns.
func (w *Writer) Flush(ctx context.Context) error {
	ack := make(chan struct{})
	select {
	case w.flushes <- ack:
	case <-ctx.Done():
		return ctx.Err()
	case <-w.done:
		return nil
	}
	select {
	case <-ack:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close writes what is buffered and stops the loop.
func (w *Writer) Close(ctx context.Context) error {
	w.once.Do(func() { close(w.stop) })
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) loop() {
	defer close(w.done)
	tick := time.NewTicker(w.every)
	defer tick.Stop()
	var reported int64
	pending := make([]Event, 0, w.batch)
	write := func() {
		for len(pending) > 0 {
			n := min(len(pending), w.batch)
			ctx, cancel := context.WithTimeout(context.Background(), w.timeout)
			if err := w.sink.WriteEvents(ctx, pending[:n]); err != nil {
				w.dropped.Add(int64(n))
				w.log.Warnw("could not store audit events", "count", n, "error", err)
			} else {
				w.written.Add(int64(n))
			}
			cancel()
			pending = pending[n:]
		}
		pending = pending[:0]
		if d := w.dropped.Load(); d != reported {
			reported = d
			w.log.Warnw("audit events dropped", "dropped_total", d)
		}
	}
	drain := func() {
		for {
			select {
			case e := <-w.ch:
				pending = append(pending, e)
			default:
				return
			}
		}
	}
	for {
		select {
		case e := <-w.ch:
			pending = append(pending, e)
			if len(pending) >= w.batch {
				write()
			}
		case <-tick.C:
			drain()
			write()
		case ack := <-w.flushes:
			drain()
			write()
			close(ack)
		case <-w.stop:
			drain()
			write()
			return
		}
	}
}
