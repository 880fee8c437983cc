package password_test

import (
	"context"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"esauth/lib/password"
)

// bcryptSample is a well-formed bcrypt hash of an unknown password, as found
// in many bcrypt examples. Malformed variants of it are built in
// TestMalformedHashesAreErrorsNeverMatches.
const bcryptSample = "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"

// bcryptOf returns a bcrypt hash of pw at the minimum cost with the given
// prefix. GenerateFromPassword writes $2a$; $2b$ and $2y$ name the same
// algorithm, so the same hash under those prefixes is what the other
// implementations produce.
func bcryptOf(t *testing.T, prefix, pw string) string {
	t.Helper()
	b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatalf("bcrypt.GenerateFromPassword: %v", err)
	}
	if !strings.HasPrefix(string(b), "$2a$") {
		t.Fatalf("bcrypt.GenerateFromPassword made %q; want a $2a$ hash", b)
	}
	return prefix + string(b[len("$2a$"):])
}

func TestBcryptHashes(t *testing.T) {
	h := password.New(fast, 1)
	const pw = "correct horse battery staple"
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		encoded := bcryptOf(t, prefix, pw)
		tests := []struct {
			name string
			pw   string
			want bool
		}{
			{"the right password matches", pw, true},
			{"a wrong password does not match", "incorrect horse battery staple", false},
			{"the password in upper case does not match", strings.ToUpper(pw), false},
			{"the password with a trailing space does not match", pw + " ", false},
			{"an empty password does not match", "", false},
		}
		for _, tt := range tests {
			t.Run("a "+prefix+" hash: "+tt.name, func(t *testing.T) {
				got, err := h.Verify(context.Background(), tt.pw, encoded)
				if err != nil {
					t.Fatalf("Verify(%q, %q): %v", tt.pw, encoded, err)
				}
				if got != tt.want {
					t.Errorf("Verify(%q, %q) = %v; want %v", tt.pw, encoded, got, tt.want)
				}
			})
		}
		t.Run("a "+prefix+" hash needs a rehash", func(t *testing.T) {
			if !h.NeedsRehash(encoded) {
				t.Errorf("NeedsRehash(%q) = false; want true for every bcrypt hash", encoded)
			}
		})
	}
}

func TestABcryptHashMadeByPHPVerifies(t *testing.T) {
	// The example of php.net's password_verify page: a $2y$ hash made by
	// PHP's password_hash, not by the Go library these tests otherwise use.
	const encoded = "$2y$10$.vGA1O9wmRjrwAVXD98HNOgsNpDczlqm3Jq7KnEd1rVAGv3Fykk1a"
	h := password.New(fast, 1)
	if ok, err := h.Verify(context.Background(), "rasmuslerdorf", encoded); err != nil || !ok {
		t.Errorf("Verify(right password) = %v, %v; want true, nil", ok, err)
	}
	if ok, err := h.Verify(context.Background(), "rasmuslerdorF", encoded); err != nil || ok {
		t.Errorf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
	}
	if !h.NeedsRehash(encoded) {
		t.Error("NeedsRehash = false; want true for a bcrypt hash")
	}
}

func TestBcryptOnlyUsesTheFirst72Bytes(t *testing.T) {
	// This documents a property of bcrypt that a user imported with a
	// bcrypt hash keeps until the hash is replaced, not a choice of esauth.
	h := password.New(fast, 1)
	first72 := strings.Repeat("0123456789ab", 6)
	encoded := bcryptOf(t, "$2a$", first72)
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{"the 72-byte password matches", first72, true},
		{"the password with bytes added after the 72nd matches too", first72 + "anything after", true},
		{"the password less its 72nd byte does not match", first72[:71], false},
		{"the password with its 72nd byte changed does not match", first72[:71] + "X", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.Verify(context.Background(), tt.pw, encoded)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != tt.want {
				t.Errorf("Verify(%d bytes) = %v; want %v", len(tt.pw), got, tt.want)
			}
		})
	}
}

func TestAWellFormedBcryptHashOfAnotherPasswordIsAMismatchNotAnError(t *testing.T) {
	h := password.New(fast, 1)
	if ok, err := h.Verify(context.Background(), "correct horse battery staple", bcryptSample); err != nil || ok {
		t.Errorf("Verify(%q) = %v, %v; want false, nil", bcryptSample, ok, err)
	}
}
