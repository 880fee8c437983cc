// Package token is esauth's one-time tokens: the secret in an emailed link
// (verify an address, recover an account), and the record that makes a
// login with a provider's state usable once (its secret is in the
// encrypted state cookie). A token is 256 random bits; only
// its SHA-256 is stored, so a read of the tokens index hands out no working
// link, and a token is deleted when it is used, so it works once.
package token

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"time"
)

// Purpose says what a token may do; a token of one purpose is refused by
// every other.
type Purpose string

// The purposes.
const (
	VerifyEmail Purpose = "verify_email"
	Recovery    Purpose = "recovery"
	// OAuthState is one start of a login (or link) with a provider: the
	// callback spends it before it redeems the provider's code, so a copy
	// of the state cookie sent again is refused. Its Email is the user
	// who asked to link, or empty for a login.
	OAuthState Purpose = "oauth_state"
	// PasskeyCeremony is one start of a passkey registration or login:
	// its finish spends it first, so an answer to the challenge (or a
	// copy of the ceremony's cookie) works once. Its Email is the user
	// registering, the email typed for a login, or empty.
	PasskeyCeremony Purpose = "passkey_ceremony"
)

// Lifetimes.
const (
	VerifyEmailTTL = 24 * time.Hour
	RecoveryTTL    = 30 * time.Minute
	// OAuthStateTTL is how long a browser has to come back from the
	// provider (the state cookie lives as long).
	OAuthStateTTL = 10 * time.Minute
	// PasskeyCeremonyTTL is how long a passkey ceremony waits for the
	// authenticator's answer (its cookie lives as long).
	PasskeyCeremonyTTL = 5 * time.Minute
)

// Token is a token as stored: ID is the hex SHA-256 of the secret.
type Token struct {
	ID      string  `json:"-"`
	Purpose Purpose `json:"purpose"`
	Email   string  `json:"email_address"`
	// UserCreatedAt is the created_at of the account the token was made
	// for: an account deleted and signed up again under the same email is
	// another account, and the token is not its.
	UserCreatedAt time.Time `json:"user_created_at"`
	// UserPasswordChangedAt is the account's password_changed_at when the
	// token was made: a recovery link works only while the password is
	// the one it was mailed for, so spending one link, or any password
	// change, ends every other link (issue 17). Zero for an account that
	// never had a password.
	UserPasswordChangedAt time.Time `json:"user_password_changed_at,omitzero"`
	CreatedAt             time.Time `json:"created_at"`
	ExpiresAt             time.Time `json:"expires_at"`
}

// New makes a token of purpose for email, valid for ttl from now, and
// returns it with its secret (base64url, 43 characters), which goes into
// the link and nowhere else.
func New(p Purpose, email string, now time.Time, ttl time.Duration) (Token, string) {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	id, _ := IDOf(secret)
	now = now.UTC().Truncate(time.Millisecond)
	return Token{ID: id, Purpose: p, Email: email, CreatedAt: now, ExpiresAt: now.Add(ttl)}, secret
}

// IDOf returns the stored id of a secret, and false when the secret is not
// of the form New makes (so nothing is looked up for it).
func IDOf(secret string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(secret)
	if err != nil || len(b) != 32 {
		return "", false
	}
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:]), true
}
