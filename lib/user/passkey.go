package user

import (
	"crypto/rand"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Passkey is a WebAuthn credential of a user, as stored: one document of
// the credentials index, keyed by its credential id. It holds no secret
// (the private key never leaves the authenticator), but its public key
// and counter are what a login is checked against, so only the rules
// write it.
type Passkey struct {
	// ID is the credential id the authenticator chose.
	ID []byte `json:"-"`
	// Email is the user's (the users index's key) and UserCreatedAt when
	// that account was made: a passkey of a deleted account never opens
	// one signed up again under the same email (Belongs).
	Email         string    `json:"email_address"`
	UserCreatedAt time.Time `json:"user_created_at"`
	// PublicKey is the COSE key the authenticator made, as it sent it.
	PublicKey []byte `json:"public_key"`
	// SignCount is the authenticator's counter at the last login; a login
	// whose counter is not above it (unless both are zero, as for synced
	// passkeys) comes from a copy of the key and is refused.
	SignCount uint32 `json:"sign_count"`
	// AAGUID names the authenticator's model, as a UUID (all zeros for
	// some synced passkeys and for authenticators that keep it private).
	AAGUID            string   `json:"aaguid,omitempty"`
	Transports        []string `json:"transports,omitempty"`
	Attachment        string   `json:"attachment,omitempty"`
	AttestationType   string   `json:"attestation_type,omitempty"`
	AttestationFormat string   `json:"attestation_format,omitempty"`
	// UserVerified: the authenticator verified its user (PIN, biometrics)
	// at registration. BackupEligible: the passkey may be synced to other
	// devices (never changes); BackupState: it is backed up now.
	UserVerified   bool `json:"user_verified"`
	BackupEligible bool `json:"backup_eligible"`
	BackupState    bool `json:"backup_state"`
	// Name is what the user calls it.
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	LastUsedAt time.Time `json:"last_used_at,omitzero"`
}

// Belongs reports whether the passkey is u's (and not an earlier
// account's that had u's email).
func (p Passkey) Belongs(u User) bool {
	return NormalizeEmail(p.Email) == NormalizeEmail(u.Email) && p.UserCreatedAt.Equal(u.CreatedAt)
}

// Synced reports whether the passkey is (or may be) copied to the user's
// other devices by its provider, rather than bound to one device.
func (p Passkey) Synced() bool { return p.BackupEligible }

// MaxPasskeyIDLen bounds a credential id, in bytes (WebAuthn's limit is
// 1023; Elasticsearch's on a document id, 512, is about the base64url
// form's).
const MaxPasskeyIDLen = 383

// WebAuthnIDLen is the length of a user handle: random, so it tells the
// authenticator (and whoever reads it) nothing about the user.
const WebAuthnIDLen = 64

// NewWebAuthnID returns a new random user handle.
func NewWebAuthnID() []byte {
	b := make([]byte, WebAuthnIDLen)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return b
}

// ValidatePasskeyName checks a passkey's name: 1–64 characters, no
// control characters.
func ValidatePasskeyName(name string) string {
	if !utf8.ValidString(name) {
		return "Name must be valid UTF-8."
	}
	if strings.TrimSpace(name) == "" {
		return "Name is required."
	}
	if utf8.RuneCountInString(name) > MaxNameLen {
		return "Name must be at most 64 characters."
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return "Name must not contain control characters."
		}
	}
	return ""
}

// PasskeyChallenge is a ceremony's beginning: Options go to the browser
// (the argument of navigator.credentials.create or get, as JSON); State
// stays with the server until the finish, unchanged.
type PasskeyChallenge struct {
	Options []byte
	State   []byte
}

// PasskeyFinder looks up the user a login's passkey belongs to, from the
// credential id and user handle the browser sent: the user and the
// passkeys that may answer, or an error.
type PasskeyFinder func(credentialID, userHandle []byte) (User, []Passkey, error)

// PasskeyAssertion is a login a passkey proved: whose, which passkey (as
// stored before this login), and what the authenticator said this time.
type PasskeyAssertion struct {
	User    User
	Passkey Passkey
	// SignCount is the authenticator's counter now; CloneWarning that it
	// is not above the stored one (the rules refuse the login).
	SignCount    uint32
	CloneWarning bool
	// UserVerified: the authenticator verified its user this time (a
	// second factor: something the user knows or is).
	UserVerified bool
	BackupState  bool
}
