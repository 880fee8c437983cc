package v1

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"go.uber.org/zap"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/mail"
	"esauth/lib/token"
	"esauth/lib/user"
)

// Mailer queues a mail to be sent in the background (mail.Queue): a
// request never waits for the mail server, and never fails because of it.
type Mailer interface {
	Enqueue(m mail.Message) bool
}

// tokenStore keeps the one-time tokens of mailed links.
type tokenStore interface {
	CreateToken(ctx context.Context, t token.Token) error
	UseToken(ctx context.Context, id string, purpose token.Purpose, now time.Time, check func(token.Token) error) (token.Token, error)
}

// Mail is what esauth mails with. Its zero value mails nothing (tests of
// other concerns); the server always has one (main: SMTP, or the log in
// development).
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
func (ml mailings) sendLink(ctx context.Context, u user.User, purpose token.Purpose) error {
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
		loggerFrom(ctx).Warn("the mail queue is full; a mail was not sent", zap.String("purpose", string(purpose)))
	}
	return nil
}

// notify queues a security notice to u ("your password was changed…").
func (ml mailings) notify(r *http.Request, u user.User, kind mail.NoticeKind) {
	if !ml.mail.on() {
		return
	}
	if !ml.mail.Queue.Enqueue(ml.mail.Compose.Notice(u.Email, u.FirstName, kind, ml.now(), clientIP(r))) {
		loggerFrom(r.Context()).Warn("the mail queue is full; a notice was not sent", zap.String("kind", string(kind)))
	}
}

// --- verification ---

type tokenRequest struct {
	Token string `json:"token"`
}

func (t tokenRequest) Valid() map[string]string {
	if t.Token == "" {
		return map[string]string{"token": "Token is required."}
	}
	return nil
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

// Verification owns proving an address: the link mailed at signup (and on
// request), and its use.
type Verification struct {
	mailings
	users userUpdater
	rec   audit.Recorder
}

// Verify marks the address of the token's user verified. It works once,
// needs no login (the link may be opened on another device), and fails
// alike for every bad link.
func (v Verification) Verify(r *http.Request, secret string) (user.User, error) {
	t, err := useLink(r.Context(), v.tokens, secret, token.VerifyEmail, v.now(), nil)
	if err != nil {
		return user.User{}, err
	}
	u, err := v.users.UpdateUser(r.Context(), t.Email, func(u *user.User) error {
		if u.Email != t.Email || !u.CreatedAt.Equal(t.UserCreatedAt) {
			// The account was deleted and signed up again after the mail.
			return errLinkInvalid
		}
		if u.EmailVerifiedAt.IsZero() {
			u.EmailVerifiedAt = v.now().UTC()
		}
		return nil
	})
	if errs.Is(err, errs.NotFound) {
		return user.User{}, errLinkInvalid
	}
	if err != nil {
		return user.User{}, err
	}
	record(v.rec, r, audit.EmailVerified, u.Email, audit.Success)
	return u, nil
}

// Resend mails the logged-in user a new verification link.
func (v Verification) Resend(r *http.Request) error {
	u := current(r).User
	if !u.EmailVerifiedAt.IsZero() {
		return errs.E(errs.Conflict, "Your email address is verified already.")
	}
	if err := v.sendLink(r.Context(), u, token.VerifyEmail); err != nil {
		return err
	}
	record(v.rec, r, audit.VerificationSent, u.Email, audit.Success)
	return nil
}

// handleVerifyEmail: POST /v1/auth/verification {token}.
func handleVerifyEmail(v Verification) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[tokenRequest](r)
		if err != nil {
			return err
		}
		u, err := v.Verify(r, req.Token)
		if err != nil {
			return err
		}
		writeOK(w, http.StatusOK, "Your email address is verified.", u.Public())
		return nil
	})
}

// handleResendVerification: POST /v1/auth/verification/resend.
func handleResendVerification(v Verification) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		if err := v.Resend(r); err != nil {
			return err
		}
		writeOK(w, http.StatusAccepted, "A new link is on its way to your address.", nil)
		return nil
	})
}
