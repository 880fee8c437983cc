package account

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"time"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/mail"
	"esauth/lib/reqlog"
	"esauth/lib/token"
	"esauth/lib/user"
)

// RelyingParty runs the WebAuthn ceremonies (lib/passkey's RelyingParty):
// it checks every answer against the specification; what a passkey may
// do is decided here. A refusal it returns may say why with a method
// RefusalReason() string.
type RelyingParty interface {
	BeginRegistration(u user.User, have []user.Passkey) (user.PasskeyChallenge, error)
	FinishRegistration(u user.User, state, response []byte) (user.Passkey, error)
	BeginLogin(allow []user.Passkey) (user.PasskeyChallenge, error)
	FinishLogin(state, response []byte, find user.PasskeyFinder) (user.PasskeyAssertion, error)
}

// PasskeyStore is what the passkey rules need of storage, besides Store.
type PasskeyStore interface {
	CreatePasskey(ctx context.Context, p user.Passkey) error
	GetPasskey(ctx context.Context, id []byte) (user.Passkey, error)
	UpdatePasskey(ctx context.Context, id []byte, change func(*user.Passkey) error) (user.Passkey, error)
	ListPasskeys(ctx context.Context, email string) ([]user.Passkey, error)
	DeletePasskey(ctx context.Context, id []byte) error
}

// The kinds of ceremony.
const (
	ceremonyRegister     = "register"
	ceremonyLogin        = "login"
	ceremonySecondFactor = "second_factor"
)

// PasskeyCeremony is what a ceremony's finish needs from its beginning.
// The surface carries it to the finish in the browser that began it (an
// encrypted, signed cookie), and it works once: Record is the secret of a
// one-use record (token.PasskeyCeremony) the beginning stored, which the
// finish spends first, so an answer replayed, or a copy of the cookie,
// is refused though it decodes.
type PasskeyCeremony struct {
	Record string `json:"k"`
	Kind   string `json:"t"`
	// Email is the user's (registration, second factor) or the one typed
	// for a login; Epoch and Session the user's session epoch and session
	// id when it began: a finish from another session, or after every
	// session ended, is refused.
	Email    string `json:"e,omitempty"`
	Epoch    string `json:"p,omitempty"`
	Session  string `json:"i,omitempty"`
	Remember bool   `json:"m,omitempty"`
	// State is the relying party's own (the challenge, the passkeys asked
	// for), opaque here.
	State []byte `json:"s"`
}

// PasskeyStart is a ceremony begun: Options for the browser, the
// Ceremony for its finish.
type PasskeyStart struct {
	Options  []byte
	Ceremony PasskeyCeremony
}

// ReauthWindow is how recent the login of a user without a password must
// be to add a passkey: a stolen cookie alone, older than that, adds none
// (with a password, the password is asked instead).
const ReauthWindow = 10 * time.Minute

// maxUserPasskeys bounds one user's passkeys.
const maxUserPasskeys = 20

var (
	errPasskeysOff      = errs.E(errs.NotFound, "Passkeys are not set up on this server (ESAUTH_WEBAUTHN_RP_ID, or ESAUTH_PUBLIC_URL).")
	errCeremonyGone     = errs.E(errs.Unauthenticated, "This passkey request expired, was finished already, or was started in another browser; start again.")
	errPasskeyNotProven = errs.E(errs.Unauthenticated, "The passkey could not be verified.")
)

// passkeyRefusal is a ceremony refused for reason: audited as
// passkey_refused with it, answered with err.
func (s *Service) passkeyRefusal(a Actor, email, reason string, err error) error {
	s.record(a, audit.PasskeyRefused, orUnknown(email), audit.Refused+": "+reason)
	return &Refusal{Reason: reason, Err: err}
}

func orUnknown(email string) string {
	if email == "" {
		return "<unknown>"
	}
	return email
}

// reasonOf is the relying party's word for a refusal, or "verification".
func reasonOf(err error) string {
	var r interface{ RefusalReason() string }
	if errors.As(err, &r) {
		return r.RefusalReason()
	}
	return "verification"
}

// PasskeysOn reports whether passkeys are configured.
func (s *Service) PasskeysOn() bool { return s.passkeys != nil }

// startCeremony stores the one-use record of a ceremony and fills in c.
func (s *Service) startCeremony(ctx context.Context, c PasskeyCeremony, ch user.PasskeyChallenge, createdAt time.Time) (PasskeyStart, error) {
	rec, secret := token.New(token.PasskeyCeremony, c.Email, s.now(), token.PasskeyCeremonyTTL)
	rec.UserCreatedAt = createdAt
	if err := s.store.CreateToken(ctx, rec); err != nil {
		return PasskeyStart{}, err
	}
	c.Record, c.State = secret, ch.State
	return PasskeyStart{Options: ch.Options, Ceremony: c}, nil
}

// spendCeremony spends c's record: of finishes with copies of one
// ceremony exactly one gets past it.
func (s *Service) spendCeremony(ctx context.Context, a Actor, c PasskeyCeremony, kind string) error {
	id, ok := token.IDOf(c.Record)
	if !ok || c.Kind != kind {
		return s.passkeyRefusal(a, c.Email, "ceremony_missing", errCeremonyGone)
	}
	_, err := s.store.UseToken(ctx, id, token.PasskeyCeremony, s.now(), func(t token.Token) error {
		if t.Email != c.Email {
			return errs.E(errs.Invalid, "not this ceremony's record")
		}
		return nil
	})
	if errs.Is(err, errs.Invalid) {
		return s.passkeyRefusal(a, c.Email, "ceremony_used", errCeremonyGone)
	}
	return err
}

// ownPasskeys lists u's passkeys, leaving out stale ones of an earlier
// account with u's email.
func (s *Service) ownPasskeys(ctx context.Context, u user.User) ([]user.Passkey, error) {
	all, err := s.store.ListPasskeys(ctx, u.Email)
	if err != nil {
		return nil, err
	}
	var out []user.Passkey
	for _, p := range all {
		if p.Belongs(u) {
			out = append(out, p)
		}
	}
	return out, nil
}

// BeginPasskeyRegistration starts adding a passkey to the logged-in user.
// A user with a password gives it again (it counts toward the lockout and
// the session's budget, as every password check does); one without must
// have logged in within ReauthWindow. The user's handle is made at the
// first passkey.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, a Actor, pw string) (PasskeyStart, error) {
	if s.passkeys == nil {
		return PasskeyStart{}, errPasskeysOff
	}
	if !a.LoggedIn {
		return PasskeyStart{}, errs.E(errs.Unauthenticated, "Log in first.")
	}
	u, err := s.store.GetUser(ctx, a.User.Email)
	if err != nil {
		return PasskeyStart{}, err
	}
	if u.PasswordHash != "" {
		res, err := s.guard.sessionPassword(ctx, a, pw, audit.PasskeyRegistered)
		if err != nil {
			return PasskeyStart{}, err
		}
		if !res.OK {
			return PasskeyStart{}, errs.InvalidFields(map[string]string{"password": "The password is wrong."})
		}
	} else if s.now().Sub(a.Session.CreatedAt) > ReauthWindow {
		s.record(a, audit.PasskeyRegistered, u.Email, audit.Refused+": login_too_old")
		return PasskeyStart{}, errs.E(errs.Forbidden, "Log in again to add a passkey: your login must be at most 10 minutes old.")
	}
	have, err := s.ownPasskeys(ctx, u)
	if err != nil {
		return PasskeyStart{}, err
	}
	if len(have) >= maxUserPasskeys {
		return PasskeyStart{}, errs.E(errs.Conflict, "You have 20 passkeys, the most an account may have; remove one first.")
	}
	if len(u.WebAuthnID) == 0 {
		if u, err = s.store.UpdateUser(ctx, u.Email, func(cur *user.User) error {
			if len(cur.WebAuthnID) == 0 {
				cur.WebAuthnID = user.NewWebAuthnID()
			}
			return nil
		}); err != nil {
			return PasskeyStart{}, err
		}
	}
	ch, err := s.passkeys.BeginRegistration(u, have)
	if err != nil {
		return PasskeyStart{}, err
	}
	return s.startCeremony(ctx, PasskeyCeremony{Kind: ceremonyRegister, Email: u.Email, Epoch: a.User.SessionEpoch, Session: a.Session.ID}, ch, u.CreatedAt)
}

// FinishPasskeyRegistration checks the authenticator's answer (response)
// to the ceremony c and stores the new passkey under name (a default
// when empty). The ceremony must be the logged-in session's own.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, a Actor, c PasskeyCeremony, name string, response []byte) (PasskeyView, error) {
	if s.passkeys == nil {
		return PasskeyView{}, errPasskeysOff
	}
	if !a.LoggedIn {
		return PasskeyView{}, errs.E(errs.Unauthenticated, "Log in first.")
	}
	if name == "" {
		name = "Passkey added " + s.now().UTC().Format("2006-01-02")
	}
	if msg := user.ValidatePasskeyName(name); msg != "" {
		return PasskeyView{}, errs.InvalidFields(map[string]string{"name": msg})
	}
	if c.Email != a.User.Email || c.Epoch != a.User.SessionEpoch || c.Session != a.Session.ID {
		return PasskeyView{}, s.passkeyRefusal(a, a.User.Email, "ceremony_of_another_session", errCeremonyGone)
	}
	if err := s.spendCeremony(ctx, a, c, ceremonyRegister); err != nil {
		return PasskeyView{}, err
	}
	u, err := s.store.GetUser(ctx, a.User.Email)
	if err != nil {
		return PasskeyView{}, err
	}
	p, err := s.passkeys.FinishRegistration(u, c.State, response)
	if err != nil {
		reqlog.From(ctx).Infow("a passkey registration was refused", "error", err)
		return PasskeyView{}, s.passkeyRefusal(a, u.Email, reasonOf(err), errs.InvalidFields(map[string]string{"credential": "The authenticator's answer could not be verified; try again."}))
	}
	t := s.now().UTC()
	p.Email, p.UserCreatedAt, p.Name, p.CreatedAt = u.Email, u.CreatedAt, name, t
	if err := s.store.CreatePasskey(ctx, p); err != nil {
		return PasskeyView{}, err
	}
	s.record(a, audit.PasskeyRegistered, u.Email, audit.Success)
	s.noteWaysIn(ctx, u.Email)
	s.mail.notify(ctx, a, u, mail.PasskeyAdded)
	return PasskeyViewOf(p), nil
}

// decoys are the passkeys a login with a typed email asks for when the
// email has none (no account, or one without passkeys): the same for the
// same email every time, and like real ones, so the answer does not tell
// whether the account exists.
func (s *Service) decoys(email string) []user.Passkey {
	m := hmac.New(sha256.New, s.decoyKey)
	m.Write([]byte("esauth passkey decoy\x00" + email))
	sum := m.Sum(nil)
	n := 1 + int(sum[0]%2)
	out := make([]user.Passkey, n)
	for i := range out {
		m.Reset()
		m.Write([]byte{byte(i)})
		m.Write(sum)
		out[i] = user.Passkey{ID: m.Sum(nil)[:16+16*int(sum[1+i]%2)], Transports: []string{"hybrid", "internal"}}
	}
	return out
}

// BeginPasskeyLogin starts a login with a passkey. With no email the
// browser offers any passkey it holds for esauth (a discoverable login);
// with one, only that account's — or, for an email with none, decoys:
// known and unknown emails get the same kind of answer after the same
// lookups.
func (s *Service) BeginPasskeyLogin(ctx context.Context, a Actor, email string, remember bool) (PasskeyStart, error) {
	if s.passkeys == nil {
		return PasskeyStart{}, errPasskeysOff
	}
	var allow []user.Passkey
	if email != "" {
		email = user.NormalizeEmail(email)
		if user.ValidateEmail(email) != "" {
			return PasskeyStart{}, errs.InvalidFields(map[string]string{"email_address": "This is not an email address."})
		}
		u, err := s.store.GetUser(ctx, email)
		var keys []user.Passkey
		if err == nil || errs.Is(err, errs.NotFound) {
			// The same lookup for an unknown email, so the time taken
			// does not tell either.
			keys, err = s.ownPasskeys(ctx, user.User{Email: email, CreatedAt: u.CreatedAt})
		}
		if err != nil {
			return PasskeyStart{}, err
		}
		if allow = keys; len(allow) == 0 {
			allow = s.decoys(email)
		}
	}
	ch, err := s.passkeys.BeginLogin(allow)
	if err != nil {
		return PasskeyStart{}, err
	}
	return s.startCeremony(ctx, PasskeyCeremony{Kind: ceremonyLogin, Email: email, Remember: remember}, ch, time.Time{})
}

// assert runs the finish of a login ceremony for a's answer, finding the
// passkey (which must be owner's, when owner is set), refuses a copied
// authenticator, and records the counter and the time of use. It returns
// the assertion; a refusal is audited.
func (s *Service) assert(ctx context.Context, a Actor, c PasskeyCeremony, response []byte, owner string) (user.PasskeyAssertion, error) {
	find := func(id, _ []byte) (user.User, []user.Passkey, error) {
		p, err := s.store.GetPasskey(ctx, id)
		if errs.Is(err, errs.NotFound) {
			return user.User{}, nil, refusedAs("unknown_credential")
		}
		if err != nil {
			return user.User{}, nil, err
		}
		u, err := s.store.GetUser(ctx, p.Email)
		if errs.Is(err, errs.NotFound) || err == nil && (!p.Belongs(u) || owner != "" && u.Email != owner) {
			return user.User{}, nil, refusedAs("unknown_credential")
		}
		if err != nil {
			return user.User{}, nil, err
		}
		return u, []user.Passkey{p}, nil
	}
	got, err := s.passkeys.FinishLogin(c.State, response, find)
	if err != nil {
		var ee *errs.Error
		if errors.As(err, &ee) { // the store's, not the passkey's
			return user.PasskeyAssertion{}, err
		}
		reqlog.From(ctx).Infow("a passkey login was refused", "error", err)
		return user.PasskeyAssertion{}, s.passkeyRefusal(a, orUnknown(owner), reasonOf(err), errPasskeyNotProven)
	}
	email := got.User.Email
	if got.CloneWarning {
		return user.PasskeyAssertion{}, s.passkeyRefusal(a, email, "sign_count", errPasskeyNotProven)
	}
	// The counter is checked again against the stored one as it is when
	// this login writes: of two logins racing with copies of one key,
	// the second sees the first's counter.
	var regressed bool
	_, err = s.store.UpdatePasskey(ctx, got.Passkey.ID, func(p *user.Passkey) error {
		if (got.SignCount != 0 || p.SignCount != 0) && got.SignCount <= p.SignCount {
			regressed = true
			return errPasskeyNotProven
		}
		p.SignCount, p.BackupState, p.LastUsedAt = got.SignCount, got.BackupState, s.now().UTC()
		return nil
	})
	if regressed {
		return user.PasskeyAssertion{}, s.passkeyRefusal(a, email, "sign_count", errPasskeyNotProven)
	}
	if errs.Is(err, errs.NotFound) {
		return user.PasskeyAssertion{}, s.passkeyRefusal(a, email, "unknown_credential", errPasskeyNotProven)
	}
	if err != nil {
		return user.PasskeyAssertion{}, err
	}
	return got, nil
}

// finderRefusal is a refusal of the finder, carrying its reason through the
// relying party.
type finderRefusal string

func (r finderRefusal) Error() string         { return "passkey refused: " + string(r) }
func (r finderRefusal) RefusalReason() string { return string(r) }
func refusedAs(reason string) error           { return finderRefusal(reason) }

// PasskeyLoggedIn is a login a passkey made.
type PasskeyLoggedIn struct {
	User    user.User
	Session Started
	// SecondFactorRequired: the authenticator did not verify its user
	// and the user has TOTP on, so the session owes its code.
	SecondFactorRequired bool
}

// FinishPasskeyLogin finishes the login ceremony c with the browser's
// answer. It starts a session exactly as a password login does (the
// presented session ends, the session cap, the epoch read with the
// user). A passkey whose authenticator verified its user is two factors:
// no code is asked; one that did not is one factor, like a password.
func (s *Service) FinishPasskeyLogin(ctx context.Context, a Actor, c PasskeyCeremony, response []byte) (PasskeyLoggedIn, error) {
	if s.passkeys == nil {
		return PasskeyLoggedIn{}, errPasskeysOff
	}
	if err := s.spendCeremony(ctx, a, c, ceremonyLogin); err != nil {
		return PasskeyLoggedIn{}, err
	}
	got, err := s.assert(ctx, a, c, response, c.Email)
	if err != nil {
		return PasskeyLoggedIn{}, err
	}
	u := got.User
	if !u.IsActive {
		s.metrics.Login(loginDisabled)
		return PasskeyLoggedIn{}, s.passkeyRefusal(a, u.Email, "account_disabled", errs.E(errs.Forbidden, "This account is disabled."))
	}
	if s.requireVerified && u.EmailVerifiedAt.IsZero() {
		return PasskeyLoggedIn{}, s.passkeyRefusal(a, u.Email, "email_not_verified", errs.E(errs.Forbidden, "Verify your email address first: follow the link we mailed you (or ask for a new one by recovering your account)."))
	}
	out := PasskeyLoggedIn{User: u, SecondFactorRequired: !got.UserVerified && u.TOTPEnabled()}
	if err := s.endPresented(ctx, a); err != nil {
		return PasskeyLoggedIn{}, err
	}
	stage := stageFull
	switch {
	case out.SecondFactorRequired:
		stage = stagePending
	case got.UserVerified:
		stage = stageSecondFactor
	}
	if out.Session, err = s.begin(ctx, a, u, c.Remember, stage); err != nil {
		return PasskeyLoggedIn{}, err
	}
	if out.SecondFactorRequired {
		s.record(a, audit.SecondFactorRequired, u.Email, audit.Success)
		return out, nil
	}
	s.record(a, audit.PasskeyLogin, u.Email, audit.Success)
	s.loggedIn(ctx, a, u, audit.LoginSuccess)
	s.metrics.Login(loginSuccess)
	return out, nil
}

// BeginPasskeySecondFactor starts proving the second factor of a's
// half-authenticated session with one of the user's passkeys, instead of
// the TOTP code.
func (s *Service) BeginPasskeySecondFactor(ctx context.Context, a Actor) (PasskeyStart, error) {
	if s.passkeys == nil {
		return PasskeyStart{}, errPasskeysOff
	}
	if !a.Pending {
		return PasskeyStart{}, errs.E(errs.Unauthenticated, "Log in with your password first; the second factor is asked for after it.")
	}
	u, err := s.store.GetUser(ctx, a.User.Email)
	if err != nil {
		return PasskeyStart{}, err
	}
	have, err := s.ownPasskeys(ctx, u)
	if err != nil {
		return PasskeyStart{}, err
	}
	if len(have) == 0 {
		return PasskeyStart{}, errs.E(errs.Conflict, "Your account has no passkey; type the code from your authenticator app.")
	}
	ch, err := s.passkeys.BeginLogin(have)
	if err != nil {
		return PasskeyStart{}, err
	}
	return s.startCeremony(ctx, PasskeyCeremony{Kind: ceremonySecondFactor, Email: u.Email, Epoch: a.User.SessionEpoch, Session: a.Session.ID}, ch, u.CreatedAt)
}

// PendingHasPasskey tells whether a's half-authenticated login may be
// finished with a passkey: passkeys are on and the user has one. The code
// page offers the passkey only then; a failed lookup answers no, and the
// code stays the way on.
func (s *Service) PendingHasPasskey(ctx context.Context, a Actor) bool {
	if s.passkeys == nil || !a.Pending {
		return false
	}
	have, err := s.ownPasskeys(ctx, a.User)
	return err == nil && len(have) > 0
}

// FinishPasskeySecondFactor finishes the login of a's half-authenticated
// session with the passkey's answer, as VerifySecondFactor does with a
// code: the pending session ends and a new one, with a new token, begins.
func (s *Service) FinishPasskeySecondFactor(ctx context.Context, a Actor, c PasskeyCeremony, response []byte) (Verified, error) {
	if s.passkeys == nil {
		return Verified{}, errPasskeysOff
	}
	if !a.Pending {
		return Verified{}, errs.E(errs.Unauthenticated, "Log in with your password first; the second factor is asked for after it.")
	}
	if c.Email != a.User.Email || c.Epoch != a.User.SessionEpoch || c.Session != a.Session.ID {
		return Verified{}, s.passkeyRefusal(a, a.User.Email, "ceremony_of_another_session", errCeremonyGone)
	}
	if err := s.spendCeremony(ctx, a, c, ceremonySecondFactor); err != nil {
		return Verified{}, err
	}
	got, err := s.assert(ctx, a, c, response, a.User.Email)
	if err != nil {
		return Verified{}, err
	}
	u := got.User
	if u.SessionEpoch != a.User.SessionEpoch || !u.IsActive {
		// Every session ended since the password was checked.
		return Verified{}, s.passkeyRefusal(a, u.Email, "session_ended", errs.E(errs.Unauthenticated, "Log in again."))
	}
	if err := s.store.DeleteSession(ctx, a.Session.ID); err != nil {
		reqlog.From(ctx).Warnw("could not delete a pending session; it expires in minutes", "error", err)
	}
	started, err := s.begin(ctx, a, u, a.Session.Remember, stageSecondFactor)
	if err != nil {
		return Verified{}, err
	}
	s.record(a, audit.SecondFactorPassed, u.Email, audit.Success+": passkey")
	s.loggedIn(ctx, a, u, audit.LoginSuccess)
	s.metrics.Login(loginSuccess)
	return Verified{User: u, Session: started, RecoveryCodesLeft: len(u.RecoveryCodes)}, nil
}

// PasskeyView is a passkey as its user sees it.
type PasskeyView struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	// Synced: the passkey may be copied to the user's other devices by
	// its provider (backup eligible); else it is bound to one device.
	Synced     bool     `json:"synced"`
	BackedUp   bool     `json:"backed_up"`
	Transports []string `json:"transports"`
}

// PasskeyViewOf is the one way a passkey becomes a view.
func PasskeyViewOf(p user.Passkey) PasskeyView {
	v := PasskeyView{
		ID: base64.RawURLEncoding.EncodeToString(p.ID), Name: p.Name, CreatedAt: p.CreatedAt,
		Synced: p.Synced(), BackedUp: p.BackupState, Transports: p.Transports,
	}
	if v.Transports == nil {
		v.Transports = []string{}
	}
	if !p.LastUsedAt.IsZero() {
		t := p.LastUsedAt
		v.LastUsedAt = &t
	}
	return v
}

// Passkeys lists the logged-in user's passkeys, oldest first.
func (s *Service) Passkeys(ctx context.Context, a Actor) ([]PasskeyView, error) {
	if !a.LoggedIn {
		return nil, errs.E(errs.Unauthenticated, "Log in first.")
	}
	keys, err := s.ownPasskeys(ctx, a.User)
	if err != nil {
		return nil, err
	}
	out := make([]PasskeyView, 0, len(keys))
	for _, p := range keys {
		out = append(out, PasskeyViewOf(p))
	}
	return out, nil
}

var errNoSuchPasskey = errs.E(errs.NotFound, "You have no passkey with this id.")

// passkeyID decodes a passkey's id as views show it.
func passkeyID(id string) ([]byte, bool) {
	b, err := base64.RawURLEncoding.DecodeString(id)
	return b, err == nil && len(b) > 0 && len(b) <= user.MaxPasskeyIDLen
}

// RenamePasskey names one of the logged-in user's passkeys.
func (s *Service) RenamePasskey(ctx context.Context, a Actor, id, name string) (PasskeyView, error) {
	if !a.LoggedIn {
		return PasskeyView{}, errs.E(errs.Unauthenticated, "Log in first.")
	}
	if msg := user.ValidatePasskeyName(name); msg != "" {
		return PasskeyView{}, errs.InvalidFields(map[string]string{"name": msg})
	}
	raw, ok := passkeyID(id)
	if !ok {
		return PasskeyView{}, errNoSuchPasskey
	}
	p, err := s.store.UpdatePasskey(ctx, raw, func(p *user.Passkey) error {
		if !p.Belongs(a.User) {
			return errNoSuchPasskey
		}
		p.Name = name
		return nil
	})
	if errs.Is(err, errs.NotFound) {
		return PasskeyView{}, errNoSuchPasskey
	}
	if err != nil {
		return PasskeyView{}, err
	}
	s.record(a, audit.PasskeyRenamed, a.User.Email, audit.Success)
	return PasskeyViewOf(p), nil
}

// waysIn counts how u can log in: a password, each linked provider
// account, each passkey.
func (s *Service) waysIn(ctx context.Context, u user.User) (int, error) {
	n := 0
	if u.PasswordHash != "" {
		n++
	}
	ids, err := s.ownIdentities(ctx, u)
	if err != nil {
		return 0, err
	}
	keys, err := s.ownPasskeys(ctx, u)
	if err != nil {
		return 0, err
	}
	return n + len(ids) + len(keys), nil
}

var errLastWayIn = errs.E(errs.Conflict, "This is your only way to log in: set a password, link a provider or add another passkey first.")

// RemovePasskey removes one of the logged-in user's passkeys. It is
// refused (409) when it would leave no way to log in (no password, no
// linked provider, no other passkey). Two removals racing (or a removal
// and an unlink) could each see the other's way in still there, so the
// count runs again after the delete, and a removal that left no way in
// is undone.
func (s *Service) RemovePasskey(ctx context.Context, a Actor, id string) error {
	if !a.LoggedIn {
		return errs.E(errs.Unauthenticated, "Log in first.")
	}
	raw, ok := passkeyID(id)
	if !ok {
		return errNoSuchPasskey
	}
	p, err := s.store.GetPasskey(ctx, raw)
	if errs.Is(err, errs.NotFound) || err == nil && !p.Belongs(a.User) {
		return errNoSuchPasskey
	}
	if err != nil {
		return err
	}
	u, err := s.store.GetUser(ctx, a.User.Email)
	if err != nil {
		return err
	}
	if n, err := s.waysIn(ctx, u); err != nil {
		return err
	} else if n <= 1 {
		return errLastWayIn
	}
	if err := s.store.DeletePasskey(ctx, raw); err != nil {
		if errs.Is(err, errs.NotFound) {
			return errNoSuchPasskey
		}
		return err
	}
	if err := s.undoIfNoWayIn(ctx, u, func() error { return s.store.CreatePasskey(ctx, p) }); err != nil {
		return err
	}
	s.record(a, audit.PasskeyRemoved, u.Email, audit.Success)
	s.noteWaysIn(ctx, u.Email)
	s.mail.notify(ctx, a, u, mail.PasskeyRemoved)
	return nil
}

// undoIfNoWayIn counts u's ways in again after a removal, and when none
// is left (a race with another removal), undoes this one and refuses it.
func (s *Service) undoIfNoWayIn(ctx context.Context, u user.User, undo func() error) error {
	if u.PasswordHash != "" {
		return nil
	}
	n, err := s.waysIn(ctx, u)
	if err != nil {
		reqlog.From(ctx).Warnw("could not count the ways in left after a removal", "error", err)
		return nil
	}
	if n > 0 {
		return nil
	}
	if err := undo(); err != nil {
		reqlog.From(ctx).Errorw("a removal left a user without a way to log in, and could not be undone", "error", err)
	}
	return errLastWayIn
}
