package account

import (
	"context"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/reqlog"
	"esauth/lib/token"
	"esauth/lib/user"
)

// identityGrace is how long an identity without its user may be a first
// login still under way (it writes the identity, then the user, within
// one request's deadline) rather than one left behind.
const identityGrace = time.Minute

// Refusal is a provider login or link that ended without one: Reason goes
// to the browser (?error=), the audit trail and the log; Err is the answer.
type Refusal struct {
	Reason string
	Err    error
}

func (e *Refusal) Error() string { return e.Reason + ": " + e.Err.Error() }
func (e *Refusal) Unwrap() error { return e.Err }

// Refuse is a Refusal for reason, answered with code and msg.
func Refuse(reason string, code errs.Code, msg string) error {
	return &Refusal{Reason: reason, Err: errs.E(code, msg)}
}

// StartProvider stores the one-use record of a provider login (or of a
// link for linkTo) and returns its secret, which only the browser's
// encrypted state cookie carries. It lives token.OAuthStateTTL.
func (s *Service) StartProvider(ctx context.Context, linkTo string) (string, error) {
	rec, secret := token.New(token.OAuthState, linkTo, s.now(), token.OAuthStateTTL)
	if err := s.store.CreateToken(ctx, rec); err != nil {
		return "", err
	}
	return secret, nil
}

// SpendProviderState spends the record StartProvider stored. Of callbacks
// with copies of one state cookie, exactly one gets past it (UseToken's
// delete decides), so one start yields at most one login or link, however
// many codes the provider hands out for its authorization request. A
// cookie without a record (made before records existed) is refused like
// a missing one.
func (s *Service) SpendProviderState(ctx context.Context, secret string) error {
	id, ok := token.IDOf(secret)
	if !ok {
		return Refuse("state_missing", errs.Unauthenticated, "The login expired or was started in another browser; start again.")
	}
	_, err := s.store.UseToken(ctx, id, token.OAuthState, s.now(), nil)
	if errs.Is(err, errs.Invalid) { // unknown, spent or expired: one answer for all
		return Refuse("state_used", errs.Unauthenticated, "This login was finished already or has expired; start again.")
	}
	return err
}

// ProviderLoggedIn is a provider login that started a session.
type ProviderLoggedIn struct {
	User    user.User
	Session Started
	// Created says the login made the account; Pending that the session
	// owes the second factor's code.
	Created bool
	Pending bool
}

// ProviderLogIn logs in the user linked to the provider account prof, or
// makes one for it. An unknown provider account never logs in to an
// existing user by email (whoever controls the provider account may not
// own the esauth one: an account takeover), and an address the provider
// did not verify is never used at all. The email it returns with an
// error is the one the refusal concerns, for the audit trail.
func (s *Service) ProviderLogIn(ctx context.Context, a Actor, prof user.Profile, remember bool) (ProviderLoggedIn, string, error) {
	email := user.NormalizeEmail(prof.Email)
	id, err := s.store.GetIdentity(ctx, prof.Provider, prof.Subject)
	switch {
	case err == nil:
		u, err := s.store.GetUser(ctx, id.Email)
		if err == nil && id.Belongs(u) {
			out, err := s.startProviderLogin(ctx, a, u, remember, false)
			return out, u.Email, err
		}
		if err != nil && !errs.Is(err, errs.NotFound) {
			return ProviderLoggedIn{}, email, err
		}
		// No user, or another account with its email. A first login that
		// writes the identity and then the user may be between the two
		// writes: an identity that young is left alone.
		if err != nil && s.now().Sub(id.CreatedAt) < identityGrace {
			return ProviderLoggedIn{}, email, Refuse("login_raced", errs.Conflict, "Another login with this account is under way; try again.")
		}
		// Otherwise the link is stale (its account is gone, or was deleted
		// and made again): it goes, and the provider account is unknown.
		if err := s.store.DeleteIdentity(ctx, id.Provider, id.Subject); err != nil && !errs.Is(err, errs.NotFound) {
			return ProviderLoggedIn{}, email, err
		}
	case !errs.Is(err, errs.NotFound):
		return ProviderLoggedIn{}, email, err
	}

	if !prof.EmailVerified || email == "" {
		return ProviderLoggedIn{}, email, Refuse("email_not_verified", errs.Forbidden, "The provider has not verified an email address for you, so it cannot make an account here.")
	}
	if user.ValidateEmail(email) != "" {
		return ProviderLoggedIn{}, email, Refuse("email_invalid", errs.Forbidden, "The email address the provider gave cannot be used here.")
	}
	accountExists := Refuse("account_exists", errs.Conflict, "An account with this email address already exists. Log in with your password, then link this provider from your account.")
	switch _, err := s.store.GetUser(ctx, email); {
	case err == nil:
		return ProviderLoggedIn{}, email, accountExists
	case !errs.Is(err, errs.NotFound):
		return ProviderLoggedIn{}, email, err
	}
	t := s.now().UTC()
	first, last := cleanName(prof.FirstName), cleanName(prof.LastName)
	if first == "" {
		first = cleanName(email[:strings.IndexByte(email, '@')])
	}
	u := user.User{
		Email: email, FirstName: first, LastName: last, Role: user.RoleUser, IsActive: true,
		CreatedAt: t, UpdatedAt: t, PasswordChangedAt: t, SessionEpoch: user.NewEpoch(),
		// Only a verified email makes an account (above): it is proven.
		EmailVerifiedAt: t,
		Providers:       []string{prof.Provider},
	}
	ident := user.Identity{Provider: prof.Provider, Subject: prof.Subject, Email: email, UserCreatedAt: t, ProviderEmail: prof.Email, CreatedAt: t}
	// The identity first: if the user cannot be made, or esauth stops in
	// between, what is left is an identity whose user is missing, which
	// the next login forgets (above); never a user nobody can log in to.
	if err := s.store.CreateIdentity(ctx, ident); err != nil {
		if errs.Is(err, errs.Conflict) {
			return ProviderLoggedIn{}, email, Refuse("login_raced", errs.Conflict, "Another login with this account is under way; try again.")
		}
		return ProviderLoggedIn{}, email, err
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		if derr := s.store.DeleteIdentity(ctx, ident.Provider, ident.Subject); derr != nil {
			reqlog.From(ctx).Warnw("could not delete the identity of a user that was not made; the next login forgets it", "error", derr)
		}
		if errs.Is(err, errs.Conflict) {
			return ProviderLoggedIn{}, email, accountExists
		}
		return ProviderLoggedIn{}, email, err
	}
	s.record(a, audit.OAuthSignup, email, audit.Success)
	out, err := s.startProviderLogin(ctx, a, u, remember, true)
	return out, email, err
}

// startProviderLogin starts a session of u exactly as a password login
// does: a provider account is one factor, like a password, so a user with
// TOTP on gets a half-authenticated session that owes its code (unless
// the provider is trusted to have asked for a second factor of its own).
func (s *Service) startProviderLogin(ctx context.Context, a Actor, u user.User, remember, created bool) (ProviderLoggedIn, error) {
	if !u.IsActive {
		return ProviderLoggedIn{}, Refuse("account_disabled", errs.Forbidden, "This account is disabled.")
	}
	out := ProviderLoggedIn{User: u, Created: created, Pending: u.TOTPEnabled() && !s.trustProviderMFA}
	var err error
	if out.Session, err = s.startLogin(ctx, a, u, remember, out.Pending, audit.OAuthLogin); err != nil {
		return ProviderLoggedIn{}, err
	}
	return out, nil
}

// Linked is a provider account linked to a user; Already says it was.
type Linked struct {
	Identity user.Identity
	Already  bool
}

// Link attaches the provider account prof to the logged-in user who
// started the link (linkTo, whose session epoch was linkEpoch then), when
// that user's session is still a's and still valid. A user has at most one
// account per provider.
func (s *Service) Link(ctx context.Context, a Actor, linkTo, linkEpoch string, prof user.Profile) (Linked, error) {
	if !a.LoggedIn || a.User.Email != linkTo || a.User.SessionEpoch != linkEpoch {
		return Linked{}, Refuse("link_session_ended", errs.Unauthenticated, "Log in again, then link this provider.")
	}
	mine, err := s.ownIdentities(ctx, a.User)
	if err != nil {
		return Linked{}, err
	}
	for _, id := range mine {
		if id.Provider == prof.Provider {
			if id.Subject == prof.Subject {
				return Linked{Identity: id, Already: true}, nil
			}
			return Linked{}, Refuse("provider_already_linked", errs.Conflict, "Your account is already linked to another account at this provider; unlink that one first.")
		}
	}
	t := s.now().UTC()
	ident := user.Identity{Provider: prof.Provider, Subject: prof.Subject, Email: a.User.Email, UserCreatedAt: a.User.CreatedAt, ProviderEmail: prof.Email, CreatedAt: t}
	for range 2 {
		err = s.store.CreateIdentity(ctx, ident)
		if !errs.Is(err, errs.Conflict) {
			break
		}
		// Linked already: to someone else, or to an account that is gone.
		other, gerr := s.store.GetIdentity(ctx, prof.Provider, prof.Subject)
		if gerr != nil && !errs.Is(gerr, errs.NotFound) {
			return Linked{}, gerr
		}
		if gerr == nil {
			owner, uerr := s.store.GetUser(ctx, other.Email)
			if uerr == nil && other.Belongs(owner) {
				return Linked{}, Refuse("linked_to_another_user", errs.Conflict, "This account at the provider is already linked to another user.")
			}
			if uerr != nil && !errs.Is(uerr, errs.NotFound) {
				return Linked{}, uerr
			}
			if derr := s.store.DeleteIdentity(ctx, other.Provider, other.Subject); derr != nil && !errs.Is(derr, errs.NotFound) {
				return Linked{}, derr
			}
		}
	}
	if err != nil {
		return Linked{}, err
	}
	s.record(a, audit.IdentityLinked, a.User.Email, audit.Success)
	s.noteWaysIn(ctx, a.User.Email)
	return Linked{Identity: ident}, nil
}

// ownIdentities lists u's identities, leaving out stale ones of an
// earlier account with u's email.
func (s *Service) ownIdentities(ctx context.Context, u user.User) ([]user.Identity, error) {
	all, err := s.store.ListIdentities(ctx, u.Email)
	if err != nil {
		return nil, err
	}
	var out []user.Identity
	for _, id := range all {
		if id.Belongs(u) {
			out = append(out, id)
		}
	}
	return out, nil
}

// Identities are the logged-in user's linked provider accounts.
func (s *Service) Identities(ctx context.Context, a Actor) ([]user.Identity, error) {
	if !a.LoggedIn {
		return nil, errs.E(errs.Unauthenticated, "Log in first.")
	}
	return s.ownIdentities(ctx, a.User)
}

// Unlink removes the logged-in user's link to provider. It is refused
// (409) when it would leave the user no way to log in: no password, no
// other linked account and no passkey. Two unlinks racing (or an unlink
// and a passkey's removal) could each see the other's way in still
// there, so the count runs again after the delete, and an unlink that
// left no way in is undone.
func (s *Service) Unlink(ctx context.Context, a Actor, provider string) (user.Identity, error) {
	if !a.LoggedIn {
		return user.Identity{}, errs.E(errs.Unauthenticated, "Log in first.")
	}
	mine, err := s.ownIdentities(ctx, a.User)
	if err != nil {
		return user.Identity{}, err
	}
	var target *user.Identity
	for i := range mine {
		if mine[i].Provider == provider {
			target = &mine[i]
		}
	}
	if target == nil {
		return user.Identity{}, errs.E(errs.NotFound, "Your account is not linked to this provider.")
	}
	u, err := s.store.GetUser(ctx, a.User.Email)
	if err != nil {
		return user.Identity{}, err
	}
	if n, err := s.waysIn(ctx, u); err != nil {
		return user.Identity{}, err
	} else if n <= 1 {
		return user.Identity{}, errLastWayIn
	}
	if err := s.store.DeleteIdentity(ctx, target.Provider, target.Subject); err != nil {
		return user.Identity{}, err
	}
	if err := s.undoIfNoWayIn(ctx, u, func() error { return s.store.CreateIdentity(ctx, *target) }); err != nil {
		return user.Identity{}, err
	}
	s.record(a, audit.IdentityUnlinked, a.User.Email, audit.Success)
	s.noteWaysIn(ctx, a.User.Email)
	return *target, nil
}

// cleanName makes a provider's name fit esauth's rules: control
// characters dropped, spaces trimmed, at most 64 characters.
func cleanName(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "")
	}
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return -1
		}
		return r
	}, s)
	s = strings.TrimSpace(s)
	if utf8.RuneCountInString(s) > user.MaxNameLen {
		s = strings.TrimSpace(string([]rune(s)[:user.MaxNameLen]))
	}
	return s
}

// ProviderRefused records a provider login or link that logged nobody in,
// and why (the Refusal's reason), about email ("<unknown>" when refused
// before the provider said who it was).
func (s *Service) ProviderRefused(a Actor, email, reason string) {
	s.record(a, audit.OAuthRefused, email, audit.Refused+": "+reason)
}

// IdentityView is a linked provider account as its user sees it.
type IdentityView struct {
	Provider      string    `json:"provider"`
	Subject       string    `json:"subject"`
	ProviderEmail string    `json:"provider_email,omitempty"`
	CreatedAt     time.Time `json:"created_at"`
}

// IdentityViewOf is the one way an identity becomes a view.
func IdentityViewOf(id user.Identity) IdentityView {
	return IdentityView{Provider: id.Provider, Subject: id.Subject, ProviderEmail: id.ProviderEmail, CreatedAt: id.CreatedAt}
}

// IdentityViews are ids as views.
func IdentityViews(ids []user.Identity) []IdentityView {
	views := make([]IdentityView, 0, len(ids))
	for _, id := range ids {
		views = append(views, IdentityViewOf(id))
	}
	return views
}
