package account

import (
	"context"
	"net/url"
	"time"

	"esauth/lib/audit"
	"esauth/lib/device"
	"esauth/lib/errs"
	"esauth/lib/mail"
	"esauth/lib/reqlog"
	"esauth/lib/token"
	"esauth/lib/user"
)

// Mailer queues a mail to be sent in the background (lib/mail/outbox's Queue): a
// request never waits for the mail server, and never fails because of it.
type Mailer interface {
	Enqueue(m mail.Message) bool
}

// Mail is what esauth mails with. Its zero value mails nothing (the
// command line, tests of other concerns); the server always has one
// (main: SMTP, or the log in development).
type Mail struct {
	Queue   Mailer
	Compose *mail.Composer
	// PublicURL is the base of the links (ESAUTH_PUBLIC_URL).
	PublicURL string
}

func (m Mail) on() bool { return m.Queue != nil && m.Compose != nil }

// The pages the links open (in web/); each asks before it spends the
// token, so a mail scanner that follows links spends nothing.
const (
	VerifyEmailPath   = "/verify-email"
	ResetPasswordPath = "/reset-password"
)

func (m Mail) link(path, secret string) string {
	return m.PublicURL + path + "?token=" + url.QueryEscape(secret)
}

// tokenStore keeps the one-time tokens of mailed links.
type tokenStore interface {
	CreateToken(ctx context.Context, t token.Token) error
	UseToken(ctx context.Context, id string, purpose token.Purpose, now time.Time, check func(token.Token) error) (token.Token, error)
}

// mailings sends the mails with links: it stores a token, then queues
// the mail that carries its secret. Only the token's hash is stored.
type mailings struct {
	mail   Mail
	tokens tokenStore
	now    func() time.Time
}

// sendLink makes a token of purpose for u and queues its mail. A store
// failure is returned; a full queue is logged (the owner of the address
// can ask again).
func (ml mailings) sendLink(ctx context.Context, log reqlog.Logger, u user.User, purpose token.Purpose) error {
	if !ml.mail.on() {
		return nil
	}
	ttl, path, compose := token.VerifyEmailTTL, VerifyEmailPath, ml.mail.Compose.Verification
	if purpose == token.Recovery {
		ttl, path, compose = token.RecoveryTTL, ResetPasswordPath, ml.mail.Compose.Recovery
	}
	t, secret := token.New(purpose, u.Email, ml.now(), ttl)
	t.UserCreatedAt, t.UserPasswordChangedAt = u.CreatedAt, u.PasswordChangedAt
	if err := ml.tokens.CreateToken(ctx, t); err != nil {
		return err
	}
	if !ml.mail.Queue.Enqueue(compose(u.Email, u.FirstName, ml.mail.link(path, secret), ttl)) {
		log.Warnw("the mail queue is full; a mail was not sent", "purpose", string(purpose))
	}
	return nil
}

// notify queues a security notice to u ("your password was changed…"),
// naming the address a acted from.
func (ml mailings) notify(ctx context.Context, a Actor, u user.User, kind mail.NoticeKind) {
	if !ml.mail.on() {
		return
	}
	if !ml.mail.Queue.Enqueue(ml.mail.Compose.Notice(u.Email, u.FirstName, kind, ml.now(), a.IP, device.Family(a.UserAgent))) {
		reqlog.From(ctx).Warnw("the mail queue is full; a notice was not sent", "kind", string(kind))
	}
}

// errLinkInvalid is every way a link can fail: unknown, used, expired, of
// another purpose, its user gone.
var errLinkInvalid = errs.E(errs.Invalid, "This link is invalid, expired or already used.")

// useLink spends the token whose secret the client sent; check (may be
// nil) sees it first and can refuse without spending it.
func useLink(ctx context.Context, tokens tokenStore, secret string, purpose token.Purpose, now time.Time, check func(token.Token) error) (token.Token, error) {
	id, ok := token.IDOf(secret)
	if !ok {
		return token.Token{}, errLinkInvalid
	}
	t, err := tokens.UseToken(ctx, id, purpose, now, check)
	if errs.Is(err, errs.Invalid) {
		return token.Token{}, errLinkInvalid
	}
	return t, err
}

// VerifyEmail marks the address of the link's user verified. It works
// once, needs no login (the link may be opened on another device), and
// fails alike for every bad link.
func (s *Service) VerifyEmail(ctx context.Context, a Actor, secret string) (user.User, error) {
	t, err := useLink(ctx, s.store, secret, token.VerifyEmail, s.now(), nil)
	if err != nil {
		return user.User{}, err
	}
	u, err := s.store.UpdateUser(ctx, t.Email, func(u *user.User) error {
		if u.Email != t.Email || !u.CreatedAt.Equal(t.UserCreatedAt) {
			// The account was deleted and signed up again after the mail.
			return errLinkInvalid
		}
		if u.EmailVerifiedAt.IsZero() {
			u.EmailVerifiedAt = s.now().UTC()
		}
		return nil
	})
	if errs.Is(err, errs.NotFound) {
		return user.User{}, errLinkInvalid
	}
	if err != nil {
		return user.User{}, err
	}
	s.record(a, audit.EmailVerified, u.Email, audit.Success)
	return u, nil
}

// ResendVerification mails the logged-in user a new verification link.
func (s *Service) ResendVerification(ctx context.Context, a Actor) error {
	u := a.User
	if !u.EmailVerifiedAt.IsZero() {
		return errs.E(errs.Conflict, "Your email address is verified already.")
	}
	if err := s.mail.sendLink(ctx, reqlog.From(ctx), u, token.VerifyEmail); err != nil {
		return err
	}
	s.record(a, audit.VerificationSent, u.Email, audit.Success)
	return nil
}
