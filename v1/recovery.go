package v1

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/mail"
	"esauth/lib/password"
	"esauth/lib/token"
	"esauth/lib/user"
)

// recoveryUsers is what account recovery reads and changes.
type recoveryUsers interface {
	epochChanger
	GetUser(ctx context.Context, email string) (user.User, error)
	ClearFailures(ctx context.Context, c user.Counter, email string) error
}

// Recovery owns getting back into an account by email: the request, which
// answers the same whether or not the account exists, and the new
// password, which ends every session and logs the user in.
type Recovery struct {
	mailings
	users    recoveryUsers
	hasher   *password.Hasher
	screen   PasswordScreen
	starter  sessionStarter
	rec      audit.Recorder
	perEmail *keyedLimiter
	// work bounds the requests looked up in the background at once.
	work chan struct{}
	log  *zap.Logger
}

// recoveryWorkers bounds the lookups running in the background.
const recoveryWorkers = 16

// recoveryPerEmail bounds the recovery mails one address gets: three at
// once, then one every five minutes (per instance).
var recoveryPerEmail = RateLimit{PerMinute: 0.2, Burst: 3}

// Request asks for a recovery mail to email. The answer never depends on
// the account: the lookup, the token and the mail happen after it, in the
// background, so neither its content nor its timing tells whether the
// address has an account. Beyond a few requests per address the extra
// ones are dropped, the same silently.
func (rc Recovery) Request(r *http.Request, email string) error {
	email = user.NormalizeEmail(email)
	if m := user.ValidateEmail(email); m != "" {
		return errs.InvalidFields(map[string]string{"email_address": m})
	}
	ip, agent := clientIP(r), r.UserAgent()
	if ok, _ := rc.perEmail.allow(email, rc.now()); !ok {
		rc.log.Info("recovery requests for one address over the limit; dropped")
		return nil
	}
	select {
	case rc.work <- struct{}{}:
	default:
		rc.log.Warn("too many recovery requests at once; one dropped")
		return nil
	}
	go func() {
		defer func() { <-rc.work }()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		rc.send(ctx, email, ip, agent)
	}()
	return nil
}

// send is the background half of Request.
func (rc Recovery) send(ctx context.Context, email, ip, agent string) {
	event := audit.Event{Event: audit.RecoveryRequested, Email: email, Actor: email, IP: ip, UserAgent: agent}
	u, err := rc.users.GetUser(ctx, email)
	switch {
	case errs.Is(err, errs.NotFound):
		event.Outcome = audit.Failure // no account: nothing is sent
	case err != nil:
		rc.log.Warn("could not look up a recovery request", zap.Error(err))
		event.Outcome = audit.Failure
	case !u.IsActive:
		event.Outcome = audit.Refused // a disabled account is not recovered by mail
	default:
		if err := rc.sendLink(ctx, u, token.Recovery); err != nil {
			rc.log.Warn("could not store a recovery token", zap.Error(err))
			event.Outcome = audit.Failure
		} else {
			event.Outcome = audit.Success
		}
	}
	rc.rec.Record(event)
}

type recoveryRequest struct {
	Email string `json:"email_address"`
}

func (q recoveryRequest) Valid() map[string]string {
	if q.Email == "" {
		return map[string]string{"email_address": "Email address is required."}
	}
	return nil
}

type recoveryCompletion struct {
	Token       string `json:"token"`
	NewPassword string `json:"new_password"`
}

func (c recoveryCompletion) Valid() map[string]string {
	f := map[string]string{}
	if c.Token == "" {
		f["token"] = "Token is required."
	}
	if m := user.ValidatePassword(c.NewPassword); m != "" {
		f["new_password"] = m
	}
	return f
}

// Complete sets a new password with a recovery link: it checks the
// password first (a weak one spends no token), spends the token, stores
// the password, lifts any lockout, ends every session, proves the
// address (the link came to it), and logs the user in on w.
func (rc Recovery) Complete(w http.ResponseWriter, r *http.Request, secret, pw string) (user.User, error) {
	if m := user.ValidatePassword(pw); m != "" {
		return user.User{}, errs.InvalidFields(map[string]string{"new_password": m})
	}
	if _, ok := token.IDOf(secret); !ok {
		return user.User{}, errLinkInvalid
	}
	hash, err := rc.hasher.Hash(r.Context(), pw)
	if err := busy(err); err != nil {
		return user.User{}, err
	}
	// Screened against the token's address before the token is spent.
	t, err := useLink(r.Context(), rc.tokens, secret, token.Recovery, rc.now(), func(t token.Token) error {
		return rc.screen.check(r, "new_password", pw, t.Email)
	})
	if err != nil {
		return user.User{}, err
	}
	now := rc.now().UTC()
	u, _, err := endAllSessions(r.Context(), rc.users, t.Email, "", func(u *user.User) error {
		if !u.CreatedAt.Equal(t.UserCreatedAt) {
			return errLinkInvalid // the account was deleted and signed up again since the mail
		}
		if !u.PasswordChangedAt.Equal(t.UserPasswordChangedAt) {
			// Another link was used, or the password changed, since this
			// one was mailed: a link sets the password it was mailed
			// about, never a newer one. Checked in the conditional
			// update, so two links racing set one password.
			return errLinkInvalid
		}
		if !u.IsActive {
			return errs.E(errs.Forbidden, "This account is disabled.")
		}
		u.PasswordHash, u.PasswordChangedAt, u.UpdatedAt = hash, now, now
		if u.EmailVerifiedAt.IsZero() {
			u.EmailVerifiedAt = now
		}
		return nil
	})
	if errs.Is(err, errs.NotFound) {
		return user.User{}, errLinkInvalid
	}
	if err != nil {
		return user.User{}, err
	}
	// A recovery lifts both locks: the link proves the mailbox, which is
	// what the lockout notice told the owner to use.
	for _, c := range []user.Counter{user.PasswordCounter, user.SecondFactorCounter} {
		if err := rc.users.ClearFailures(r.Context(), c, u.Email); err != nil {
			loggerFrom(r.Context()).Warn("could not lift the lockout after a recovery", zap.Error(err))
		}
	}
	record(rc.rec, r, audit.PasswordRecovered, u.Email, audit.Success)
	rc.notify(r, u, mail.Recovered)
	// A mailed link is one factor: a user with a second factor still owes
	// its code, so the session starts half-authenticated.
	stage := stageFull
	if u.TOTPEnabled() {
		stage = stagePending
	}
	if _, err := rc.starter.begin(w, r, u, false, stage); err != nil {
		// The password is set; only the login failed: the user logs in.
		return u, err
	}
	return u, nil
}

// handleRecoveryRequest: POST /v1/auth/recovery {email_address}.
func handleRecoveryRequest(rc Recovery) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[recoveryRequest](r)
		if err != nil {
			return err
		}
		if err := rc.Request(r, req.Email); err != nil {
			return err
		}
		writeOK(w, http.StatusAccepted, "If an account has this address, a link to choose a new password is on its way.", nil)
		return nil
	})
}

// handleRecoveryComplete: POST /v1/auth/recovery/complete {token, new_password}.
func handleRecoveryComplete(rc Recovery) http.Handler {
	return handlerFunc(func(w http.ResponseWriter, r *http.Request) error {
		req, err := decode[recoveryCompletion](r)
		if err != nil {
			return err
		}
		u, err := rc.Complete(w, r, req.Token, req.NewPassword)
		if err != nil {
			return err
		}
		if u.TOTPEnabled() {
			writeOK(w, http.StatusOK, "Your password is set and every other session is logged out; enter the code of your authenticator app to log in.",
				loginView{Public: u.Public(), SecondFactorRequired: true})
			return nil
		}
		writeOK(w, http.StatusOK, "Your password is set, every other session is logged out, and you are logged in.", u.Public())
		return nil
	})
}
