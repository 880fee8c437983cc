// Package user holds the user of esauth: its stored form, its public view and
// the validation of what clients send.
package user

import (
	"crypto/rand"
	"encoding/hex"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Roles a user can have.
const (
	RoleUser  = "user"
	RoleAdmin = "admin"
)

// Limits on input, in characters (runes), not bytes, so any script counts the same.
const (
	MaxEmailLen    = 254 // RFC 5321's path limit
	MinNameLen     = 1
	MaxNameLen     = 64
	MinPasswordLen = 8   // NIST SP 800-63B's minimum for chosen passwords
	MaxPasswordLen = 128 // bounds the cost of hashing a hostile input
)

// User is a user as stored: one Elasticsearch document, keyed by Email.
// PasswordHash is tagged json:"-" so that no encoder of a User can ever put
// it in an answer or a log; storage writes it through its own document type.
type User struct {
	Email             string    `json:"email_address"`
	FirstName         string    `json:"first_name"`
	LastName          string    `json:"last_name"`
	PasswordHash      string    `json:"-"`
	Role              string    `json:"role"`
	IsActive          bool      `json:"is_active"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	PasswordChangedAt time.Time `json:"password_changed_at"`
	// SessionEpoch is a random value that every session records when it is
	// made. It changes whenever the user's sessions must all end (password
	// change, disable, logout everywhere) and is new for every account
	// created, so a session made by a login that raced such a change, or
	// one of a deleted account whose email was signed up again, no longer
	// matches and is refused by the loader. See NewEpoch.
	SessionEpoch string `json:"-"`
	// EmailVerifiedAt is when the user proved the address is theirs, by a
	// link mailed to it or a provider that verified it (zero: not yet).
	EmailVerifiedAt time.Time `json:"email_verified_at"`
	// TOTPSecret is the base32 secret of the second factor: enrolled but
	// not yet confirmed while TOTPEnabledAt is zero.
	TOTPSecret    string    `json:"-"`
	TOTPEnabledAt time.Time `json:"totp_enabled_at"`
	// TOTPLastStep is the step of the last code accepted: each code works
	// once (RFC 6238 §5.2).
	TOTPLastStep int64 `json:"-"`
	// RecoveryCodes are the hashes of the unused recovery codes.
	RecoveryCodes []string `json:"-"`
	// WebAuthnID is the user handle the user's passkeys carry: random
	// (NewWebAuthnID), made at the first passkey, never the email.
	WebAuthnID []byte `json:"-"`
	// LastLoginAt is when the user last completed a login, written at most
	// once an hour (LastLoginEvery); zero: not since it was recorded.
	LastLoginAt time.Time `json:"last_login_at"`
	// Passkeys and Providers are copies, for the admin's search, of what
	// the credentials and identities indices hold for the account: how
	// many passkeys it has and which providers are linked. Those indices
	// decide every login; these only find and count users.
	Passkeys  int      `json:"-"`
	Providers []string `json:"-"`
}

// LastLoginEvery is how often a user's LastLoginAt is written: a login
// within it of the last one recorded writes nothing, so a user logging in
// all day costs the store no write per login.
const LastLoginEvery = time.Hour

// TOTPEnabled reports whether the user logs in with a second factor (the
// loader reads when it was turned on, never the secret).
func (u User) TOTPEnabled() bool { return !u.TOTPEnabledAt.IsZero() }

// NewEpoch returns a fresh random session epoch (128 bits, hex).
func NewEpoch() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// IsAdmin reports whether the user has the admin role.
func (u User) IsAdmin() bool { return u.Role == RoleAdmin }

// Public is the view of a user that API answers carry. It is its own type so
// that adding a field to User never adds it to answers by accident.
type Public struct {
	Email     string    `json:"email_address"`
	FirstName string    `json:"first_name"`
	LastName  string    `json:"last_name"`
	Role      string    `json:"role"`
	IsActive  bool      `json:"is_active"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// EmailVerified and TOTPEnabled say whether the address is proven and
	// whether the second factor is on.
	EmailVerified bool `json:"email_verified"`
	TOTPEnabled   bool `json:"totp_enabled"`
	// LastLoginAt (within LastLoginEvery; absent when unknown), the number
	// of passkeys and the linked providers' names.
	LastLoginAt time.Time `json:"last_login_at,omitzero"`
	Passkeys    int       `json:"passkeys"`
	Providers   []string  `json:"providers"`
}

// Public returns the public view of u.
func (u User) Public() Public {
	return Public{
		Email:     u.Email,
		FirstName: u.FirstName,
		LastName:  u.LastName,
		Role:      u.Role,
		IsActive:  u.IsActive,
		CreatedAt: u.CreatedAt,
		UpdatedAt: u.UpdatedAt,

		EmailVerified: !u.EmailVerifiedAt.IsZero(),
		TOTPEnabled:   u.TOTPEnabled(),
		LastLoginAt:   u.LastLoginAt,
		Passkeys:      u.Passkeys,
		Providers:     append([]string{}, u.Providers...), // [] rather than null
	}
}

// ValidateName checks a first or last name: 1–64 characters, no control characters.
func ValidateName(label, name string) string {
	if !utf8.ValidString(name) {
		return label + " must be valid UTF-8."
	}
	n := utf8.RuneCountInString(name)
	if strings.TrimSpace(name) == "" {
		return label + " is required."
	}
	if n < MinNameLen || n > MaxNameLen {
		return label + " must be 1 to 64 characters."
	}
	for _, r := range name {
		if unicode.IsControl(r) || r == '\u2028' || r == '\u2029' {
			return label + " must not contain control characters."
		}
	}
	return ""
}

// ValidatePassword checks length only (NIST SP 800-63B): 8–128 characters of
// any Unicode, no composition rules. The password is used exactly as received.
func ValidatePassword(pw string) string {
	if !utf8.ValidString(pw) {
		return "Password must be valid UTF-8."
	}
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPasswordLen:
		return "Password must be at least 8 characters."
	case n > MaxPasswordLen:
		return "Password must be at most 128 characters."
	}
	return ""
}
