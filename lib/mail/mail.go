// Package mail composes esauth's mail: email-verification and
// password-recovery links, and security notices ("your password was
// changed", "two-factor authentication was turned off", ...).
//
// This package is the pure part: a Composer turns the embedded templates
// into Messages, and a Sender delivers one. The senders themselves live in
// esauth/lib/mail/outbox — SMTP in production, Log in development (the
// links go to the log, where a developer copies them), and a Queue that
// wraps a Sender so that a request never waits for SMTP or fails because
// of it — so that importing this package pulls in no SMTP client, logger
// or net/http. The package knows no tokens and no routes: callers pass the
// links fully built.
package mail

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"strings"
)

// Message is one mail to one recipient. Text and HTML are the two
// alternative bodies of the same content; they hold one-time links, so this
// package never logs them.
type Message struct {
	To, Subject, Text, HTML string
}

// Sender delivers a message, or says why it could not.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Permanent marks err as a failure that sending again cannot fix (an
// invalid message, a 5xx reply such as an unknown mailbox or refused
// credentials), so an outbox.Queue gives up at once instead of retrying.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err, or an error it wraps, was marked by
// Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

type permanentError struct{ err error }

func (e permanentError) Error() string { return e.err.Error() }
func (e permanentError) Unwrap() error { return e.err }

// Validate refuses a message that no sender should try: one recipient
// address, and no line break in the subject. Line breaks are how header
// injection works; go-mail (outbox.SMTP) would encode them harmlessly, but
// a subject with one is a bug upstream, and we say so rather than send
// something odd. Every Sender calls it first.
func (m Message) Validate() error {
	if strings.ContainsAny(m.To, "\r\n") {
		return errors.New("mail: the recipient contains a line break")
	}
	addr, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("mail: the recipient %q is not an email address: %w", m.To, err)
	}
	if addr.Address == "" {
		return fmt.Errorf("mail: the recipient %q is not an email address", m.To)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return errors.New("mail: the subject contains a line break")
	}
	if strings.TrimSpace(m.Subject) == "" {
		return errors.New("mail: the subject is empty")
	}
	if strings.TrimSpace(m.Text) == "" {
		return errors.New("mail: the text body is empty")
	}
	return nil
}
