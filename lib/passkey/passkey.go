// Package passkey is esauth's WebAuthn relying party: the ceremonies of
// registering a passkey and of logging in with one, over
// github.com/go-webauthn/webauthn (which does every check of the
// specification: the challenge, the origin, the RP id, the signature, the
// attestation, the flags). It is an adapter: lib/account holds the rules
// (who may register, which user a passkey opens, a copied authenticator)
// and calls it through an interface; this package knows no storage and
// no HTTP request, only bytes in and out.
package passkey

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/google/uuid"

	"esauth/lib/user"
)

// Config is the relying party: the RP id (a domain the origins are on),
// the origins the browser may run the ceremonies at, and the name
// authenticators show.
type Config struct {
	RPID        string
	Origins     []string
	DisplayName string
}

// Timeout is how long the browser is asked to wait for the user; the
// server keeps a ceremony as long (lib/account's one-use record).
const Timeout = 5 * time.Minute

// RelyingParty runs the ceremonies.
type RelyingParty struct {
	w      *webauthn.WebAuthn
	rpHash [32]byte
}

// New checks cfg and returns its relying party. The RP id must be a
// domain (not an address) that is, or is a parent of, every origin's
// host; an origin must be https, or http on localhost (browsers offer
// WebAuthn nowhere else).
func New(cfg Config) (*RelyingParty, error) {
	if err := Check(cfg); err != nil {
		return nil, err
	}
	w, err := webauthn.New(&webauthn.Config{
		RPID: cfg.RPID, RPDisplayName: cfg.DisplayName, RPOrigins: cfg.Origins,
		// No attestation asked: esauth trusts no authenticator vendor over
		// another, and "none" asks the user no extra consent.
		AttestationPreference: protocol.PreferNoAttestation,
		Timeouts: webauthn.TimeoutsConfig{
			// The server's expiry is the one-use record's (lib/account),
			// on its clock; the library would read time.Now.
			Login:        webauthn.TimeoutConfig{Timeout: Timeout, TimeoutUVD: Timeout},
			Registration: webauthn.TimeoutConfig{Timeout: Timeout, TimeoutUVD: Timeout},
		},
	})
	if err != nil {
		return nil, err
	}
	return &RelyingParty{w: w, rpHash: sha256.Sum256([]byte(cfg.RPID))}, nil
}

// Check reports what is wrong with cfg, naming the setting.
func Check(cfg Config) error {
	id := cfg.RPID
	if id == "" || strings.ContainsAny(id, ":/ ") || strings.Trim(id, ".") != id || !strings.Contains(id, ".") && id != "localhost" {
		return fmt.Errorf("ESAUTH_WEBAUTHN_RP_ID: %q is not a domain (such as example.com, or localhost)", id)
	}
	if strings.Trim(id, "0123456789.") == "" {
		return fmt.Errorf("ESAUTH_WEBAUTHN_RP_ID: %q is an IP address; browsers take only a domain (use localhost for a local test)", id)
	}
	if len(cfg.Origins) == 0 {
		return errors.New("ESAUTH_WEBAUTHN_ORIGINS: no origin (set it, or ESAUTH_PUBLIC_URL)")
	}
	for _, o := range cfg.Origins {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
			return fmt.Errorf("ESAUTH_WEBAUTHN_ORIGINS: %q is not an origin (scheme://host[:port], no path)", o)
		}
		host := strings.ToLower(u.Hostname())
		switch {
		case u.Scheme == "https":
		case u.Scheme == "http" && (host == "localhost" || strings.HasSuffix(host, ".localhost")):
		default:
			return fmt.Errorf("ESAUTH_WEBAUTHN_ORIGINS: %q must be https (or http on localhost): browsers offer passkeys nowhere else", o)
		}
		if host != strings.ToLower(id) && !strings.HasSuffix(host, "."+strings.ToLower(id)) {
			return fmt.Errorf("ESAUTH_WEBAUTHN_RP_ID: %q is not the host of origin %q nor a parent domain of it (ESAUTH_WEBAUTHN_ORIGINS)", id, o)
		}
	}
	if cfg.DisplayName == "" {
		return errors.New("ESAUTH_WEBAUTHN_RP_NAME: empty")
	}
	return nil
}

// Error is a ceremony that failed, and why, in a word for the audit trail
// (Reason) and the library's account of it (Err, for the log).
type Error struct {
	Reason string
	Err    error
}

func (e *Error) Error() string { return "passkey refused (" + e.Reason + "): " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// RefusalReason is Reason, for callers that cannot name this type
// (lib/account, which must not import this package).
func (e *Error) RefusalReason() string { return e.Reason }

// The reasons.
const (
	ReasonMalformed  = "malformed"          // not a credential the browser made
	ReasonChallenge  = "challenge"          // not an answer to this ceremony's challenge
	ReasonOrigin     = "origin"             // made at an origin not configured
	ReasonRPID       = "rp_id"              // made for another relying party
	ReasonCeremony   = "ceremony"           // a registration answering a login, or the reverse
	ReasonUnknown    = "unknown_credential" // no such passkey, or not the one asked for
	ReasonVerify     = "verification"       // the signature, flags or attestation do not verify
	ReasonUserHandle = "user_handle"        // the passkey's user handle is not its user's
)

func refused(reason string, err error) error { return &Error{Reason: reason, Err: err} }

// account is a user as the library sees one.
type account struct {
	u    user.User
	keys []user.Passkey
}

func (a account) WebAuthnID() []byte   { return a.u.WebAuthnID }
func (a account) WebAuthnName() string { return a.u.Email }
func (a account) WebAuthnDisplayName() string {
	return strings.TrimSpace(a.u.FirstName + " " + a.u.LastName)
}
func (a account) WebAuthnCredentials() []webauthn.Credential {
	out := make([]webauthn.Credential, 0, len(a.keys))
	for _, p := range a.keys {
		out = append(out, credentialOf(p))
	}
	return out
}

func credentialOf(p user.Passkey) webauthn.Credential {
	var flags protocol.AuthenticatorFlags
	flags |= protocol.FlagUserPresent
	if p.UserVerified {
		flags |= protocol.FlagUserVerified
	}
	if p.BackupEligible {
		flags |= protocol.FlagBackupEligible
	}
	if p.BackupState {
		flags |= protocol.FlagBackupState
	}
	var aaguid []byte
	if id, err := uuid.Parse(p.AAGUID); err == nil {
		aaguid = id[:]
	}
	transports := make([]protocol.AuthenticatorTransport, 0, len(p.Transports))
	for _, t := range p.Transports {
		transports = append(transports, protocol.AuthenticatorTransport(t))
	}
	return webauthn.Credential{
		ID: p.ID, PublicKey: p.PublicKey, AttestationType: p.AttestationType, AttestationFormat: p.AttestationFormat,
		Transport: transports, Flags: webauthn.NewCredentialFlags(flags),
		Authenticator: webauthn.Authenticator{AAGUID: aaguid, SignCount: p.SignCount, Attachment: protocol.AuthenticatorAttachment(p.Attachment)},
	}
}

func descriptors(keys []user.Passkey) []protocol.CredentialDescriptor {
	out := make([]protocol.CredentialDescriptor, 0, len(keys))
	for _, p := range keys {
		c := credentialOf(p)
		out = append(out, c.Descriptor())
	}
	return out
}

// BeginRegistration starts registering a passkey for u (whose WebAuthnID
// must be set), excluding the passkeys u has (an authenticator holding one
// says so instead of making a second). The passkey must be discoverable
// (a resident key: it logs in with no email typed); user verification is
// preferred.
func (rp *RelyingParty) BeginRegistration(u user.User, have []user.Passkey) (user.PasskeyChallenge, error) {
	if len(u.WebAuthnID) == 0 {
		return user.PasskeyChallenge{}, errors.New("passkey: the user has no user handle")
	}
	creation, session, err := rp.w.BeginRegistration(account{u: u, keys: have},
		webauthn.WithExclusions(descriptors(have)),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: protocol.ResidentKeyRequired(),
			UserVerification: protocol.VerificationPreferred,
		}),
	)
	if err != nil {
		return user.PasskeyChallenge{}, err
	}
	return challengeOf(creation, session)
}

func challengeOf(options any, session *webauthn.SessionData) (user.PasskeyChallenge, error) {
	opts, err := json.Marshal(options)
	if err != nil {
		return user.PasskeyChallenge{}, err
	}
	state, err := json.Marshal(session)
	if err != nil {
		return user.PasskeyChallenge{}, err
	}
	return user.PasskeyChallenge{Options: opts, State: state}, nil
}

func sessionOf(state []byte) (webauthn.SessionData, error) {
	var s webauthn.SessionData
	if err := json.Unmarshal(state, &s); err != nil || s.Challenge == "" {
		return s, refused(ReasonChallenge, errors.New("the ceremony's state does not decode"))
	}
	return s, nil
}

// FinishRegistration checks the browser's answer (response, the JSON of
// the PublicKeyCredential) to the ceremony BeginRegistration began for u
// (state), and returns the new passkey (without its name, email and
// dates, which the rules set).
func (rp *RelyingParty) FinishRegistration(u user.User, state, response []byte) (user.Passkey, error) {
	session, err := sessionOf(state)
	if err != nil {
		return user.Passkey{}, err
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return user.Passkey{}, refused(ReasonMalformed, err)
	}
	cd := parsed.Response.CollectedClientData
	if err := rp.precheck(cd, protocol.CreateCeremony, session, parsed.Response.AttestationObject.AuthData.RPIDHash); err != nil {
		return user.Passkey{}, err
	}
	cred, err := rp.w.CreateCredential(account{u: u}, session, parsed)
	if err != nil {
		return user.Passkey{}, refused(ReasonVerify, err)
	}
	p := user.Passkey{
		ID: cred.ID, PublicKey: cred.PublicKey, SignCount: cred.Authenticator.SignCount,
		Attachment: string(cred.Authenticator.Attachment), AttestationType: cred.AttestationType, AttestationFormat: cred.AttestationFormat,
		UserVerified: cred.Flags.UserVerified, BackupEligible: cred.Flags.BackupEligible, BackupState: cred.Flags.BackupState,
	}
	if id, err := uuid.FromBytes(cred.Authenticator.AAGUID); err == nil {
		p.AAGUID = id.String()
	}
	for _, t := range cred.Transport {
		p.Transports = append(p.Transports, string(t))
	}
	if len(p.ID) > user.MaxPasskeyIDLen {
		return user.Passkey{}, refused(ReasonMalformed, fmt.Errorf("a credential id of %d bytes", len(p.ID)))
	}
	return p, nil
}

// precheck names what the library would refuse with a generic error: an
// answer to another challenge, from another origin, for another RP id,
// or of the other ceremony. The library checks each again.
func (rp *RelyingParty) precheck(cd protocol.CollectedClientData, want protocol.CeremonyType, session webauthn.SessionData, rpHash []byte) error {
	switch {
	case cd.Type != want:
		return refused(ReasonCeremony, fmt.Errorf("client data of type %q", cd.Type))
	case subtle.ConstantTimeCompare([]byte(cd.Challenge), []byte(session.Challenge)) != 1:
		return refused(ReasonChallenge, errors.New("the answer is to another challenge"))
	case !rp.originAllowed(cd.Origin):
		return refused(ReasonOrigin, fmt.Errorf("made at origin %q", cd.Origin))
	case subtle.ConstantTimeCompare(rpHash, rp.rpHash[:]) != 1:
		return refused(ReasonRPID, errors.New("made for another relying party id"))
	}
	return nil
}

func (rp *RelyingParty) originAllowed(origin string) bool {
	for _, o := range rp.w.Config.RPOrigins {
		if strings.EqualFold(o, origin) {
			return true
		}
	}
	return false
}

// BeginLogin starts a login. With allow empty the browser offers any
// passkey it has for this RP (discoverable: no email typed); with allow,
// only those (an email typed, or the second factor of a known user).
func (rp *RelyingParty) BeginLogin(allow []user.Passkey) (user.PasskeyChallenge, error) {
	opts := []webauthn.LoginOption{webauthn.WithUserVerification(protocol.VerificationPreferred)}
	if len(allow) > 0 {
		opts = append(opts, webauthn.WithAllowedCredentials(descriptors(allow)))
	}
	assertion, session, err := rp.w.BeginDiscoverableLogin(opts...)
	if err != nil {
		return user.PasskeyChallenge{}, err
	}
	return challengeOf(assertion, session)
}

// FinishLogin checks the browser's answer to the ceremony BeginLogin
// began (state), finding the passkey's user with find.
func (rp *RelyingParty) FinishLogin(state, response []byte, find user.PasskeyFinder) (user.PasskeyAssertion, error) {
	session, err := sessionOf(state)
	if err != nil {
		return user.PasskeyAssertion{}, err
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return user.PasskeyAssertion{}, refused(ReasonMalformed, err)
	}
	ad := parsed.Response.AuthenticatorData
	if err := rp.precheck(parsed.Response.CollectedClientData, protocol.AssertCeremony, session, ad.RPIDHash); err != nil {
		return user.PasskeyAssertion{}, err
	}
	if len(session.AllowedCredentialIDs) > 0 && !allowed(parsed.RawID, session.AllowedCredentialIDs) {
		return user.PasskeyAssertion{}, refused(ReasonUnknown, errors.New("a passkey the login did not ask for"))
	}
	var found user.PasskeyAssertion
	var findErr error
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		u, keys, err := find(rawID, userHandle)
		if err != nil {
			findErr = err
			return nil, err
		}
		for _, p := range keys {
			if string(p.ID) == string(rawID) {
				found.Passkey = p
			}
		}
		if found.Passkey.ID == nil {
			findErr = refused(ReasonUnknown, errors.New("the passkey is not its user's"))
			return nil, findErr
		}
		if subtle.ConstantTimeCompare(userHandle, u.WebAuthnID) != 1 {
			findErr = refused(ReasonUserHandle, errors.New("the passkey's user handle is not its user's"))
			return nil, findErr
		}
		found.User = u
		// Only the passkey used: the library checks the allow list as
		// the user's own, and the decoys of a typed email are nobody's.
		return account{u: u, keys: []user.Passkey{found.Passkey}}, nil
	}
	session.AllowedCredentialIDs = nil // checked above, against the decoys too
	_, cred, err := rp.w.ValidatePasskeyLogin(handler, session, parsed)
	if findErr != nil {
		return user.PasskeyAssertion{}, findErr
	}
	if err != nil {
		return user.PasskeyAssertion{}, refused(ReasonVerify, err)
	}
	found.SignCount = ad.Counter
	found.CloneWarning = cred.Authenticator.CloneWarning
	found.UserVerified = ad.Flags.HasUserVerified()
	found.BackupState = ad.Flags.HasBackupState()
	return found, nil
}

func allowed(id []byte, ids [][]byte) bool {
	for _, a := range ids {
		if string(a) == string(id) {
			return true
		}
	}
	return false
}
