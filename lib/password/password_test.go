package password_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"esauth/lib/password"
)

// fast are parameters cheap enough to hash many times in a test. They are
// far too weak for real use; tests of the real parameters use password.OWASP.
var fast = password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func hashOf(t *testing.T, h *password.Hasher, pw string) string {
	t.Helper()
	encoded, err := h.Hash(context.Background(), pw)
	if err != nil {
		t.Fatalf("Hash(%q): %v", pw, err)
	}
	return encoded
}

func TestVerify(t *testing.T) {
	h := password.New(fast, 1)
	const pw = "correct horse battery staple"
	encoded := hashOf(t, h, pw)
	tests := []struct {
		name string
		pw   string
		want bool
	}{
		{"the right password matches", pw, true},
		{"a wrong password does not match", "incorrect horse battery staple", false},
		{"the password in upper case does not match", strings.ToUpper(pw), false},
		{"the password with its first letter capitalised does not match", "C" + pw[1:], false},
		{"the password with a trailing space does not match", pw + " ", false},
		{"the password with a leading space does not match", " " + pw, false},
		{"the password less its last character does not match", pw[:len(pw)-1], false},
		{"an empty password does not match", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.Verify(context.Background(), tt.pw, encoded)
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if got != tt.want {
				t.Errorf("Verify(%q) = %v; want %v", tt.pw, got, tt.want)
			}
		})
	}
}

func TestPasswordIsUsedExactlyAsReceived(t *testing.T) {
	h := password.New(fast, 1)
	composed, decomposed := "caf\u00e9-caf\u00e9", "cafe\u0301-cafe\u0301" // both look like "café-café"
	encoded := hashOf(t, h, composed)
	if ok, err := h.Verify(context.Background(), composed, encoded); err != nil || !ok {
		t.Fatalf("Verify(composed) = %v, %v; want true, nil", ok, err)
	}
	if ok, err := h.Verify(context.Background(), decomposed, encoded); err != nil || ok {
		t.Errorf("Verify(decomposed) = %v, %v; want false, nil: no Unicode normalization happens", ok, err)
	}
}

func TestHashCarriesTheOWASPParametersAndAFreshSalt(t *testing.T) {
	if want := (password.Params{MemoryKiB: 19456, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}); password.OWASP != want {
		t.Errorf("OWASP = %+v; want %+v", password.OWASP, want)
	}
	h := password.New(password.OWASP, 1)
	const pw = "correct horse battery staple"
	a, b := hashOf(t, h, pw), hashOf(t, h, pw)
	for _, encoded := range []string{a, b} {
		if !strings.HasPrefix(encoded, "$argon2id$v=19$m=19456,t=2,p=1$") {
			t.Errorf("hash %q does not start with the argon2id OWASP parameters", encoded)
		}
		if parts := strings.Split(encoded, "$"); len(parts) != 6 ||
			len(parts[4]) != 22 /* 16 bytes, unpadded base64 */ || len(parts[5]) != 43 /* 32 bytes */ {
			t.Errorf("hash %q does not have a 16-byte salt and a 32-byte key", encoded)
		}
	}
	if a == b {
		t.Errorf("two hashes of the same password are equal (%q): the salt is not random", a)
	}
	if strings.Split(a, "$")[4] == strings.Split(b, "$")[4] {
		t.Error("two hashes of the same password share a salt")
	}
	for _, encoded := range []string{a, b} {
		if ok, err := h.Verify(context.Background(), pw, encoded); err != nil || !ok {
			t.Errorf("Verify(right password, %q) = %v, %v; want true, nil", encoded, ok, err)
		}
	}
	if h.NeedsRehash(a) {
		t.Error("NeedsRehash is true for a hash the OWASP hasher just made")
	}
}

func TestVerifyUsesTheParametersInTheHash(t *testing.T) {
	// A hash made with older or newer parameters must still verify: the
	// parameters travel with each hash.
	other := password.New(password.Params{MemoryKiB: 128, Time: 2, Threads: 2, SaltLen: 8, KeyLen: 16}, 1)
	encoded := hashOf(t, other, "s3cret-pass")
	if !strings.Contains(encoded, "$m=128,t=2,p=2$") {
		t.Fatalf("hash %q does not carry its own parameters", encoded)
	}
	h := password.New(fast, 1)
	if ok, err := h.Verify(context.Background(), "s3cret-pass", encoded); err != nil || !ok {
		t.Errorf("Verify(right password) = %v, %v; want true, nil", ok, err)
	}
	if ok, err := h.Verify(context.Background(), "s3cret-pasS", encoded); err != nil || ok {
		t.Errorf("Verify(wrong password) = %v, %v; want false, nil", ok, err)
	}
}

func TestMalformedHashesAreErrorsNeverMatches(t *testing.T) {
	h := password.New(fast, 1)
	const pw = "correct horse battery staple"
	good := hashOf(t, h, pw)
	parts := strings.Split(good, "$") // "", "argon2id", "v=19", "m=64,t=1,p=1", salt, key
	salt, key := parts[4], parts[5]
	phc := func(alg, version, params, salt, key string) string {
		return fmt.Sprintf("$%s$%s$%s$%s$%s", alg, version, params, salt, key)
	}
	const params = "m=64,t=1,p=1"
	// The control: the same pieces, put back together, verify.
	if ok, err := h.Verify(context.Background(), pw, phc("argon2id", "v=19", params, salt, key)); err != nil || !ok {
		t.Fatalf("the reassembled good hash gives %v, %v; the table below would prove nothing", ok, err)
	}
	tests := []struct {
		name    string
		encoded string
	}{
		{"an empty hash", ""},
		// A well-formed bcrypt hash is verified now (TestBcryptHashes); these are not well-formed.
		{"a truncated bcrypt hash", bcryptSample[:59]},
		{"a bcrypt hash with a character added", bcryptSample + "y"},
		{"a bcrypt hash with $2x$, crypt_blowfish's buggy variant", "$2x$" + bcryptSample[4:]},
		{"a bcrypt hash with $2$ and no minor letter", "$2$" + bcryptSample[4:] + "y"},
		{"a bcrypt hash with an upper-case minor letter $2A$", "$2A$" + bcryptSample[4:]},
		{"a bcrypt hash with cost 03", "$2a$03" + bcryptSample[6:]},
		{"a bcrypt hash with cost 17, over the bound", "$2b$17" + bcryptSample[6:]},
		{"a bcrypt hash with cost 31", "$2y$31" + bcryptSample[6:]},
		{"a bcrypt hash with a one-digit cost", "$2a$7$" + bcryptSample[7:] + "y"},
		{"a bcrypt hash with a cost that is not a number", "$2a$1x" + bcryptSample[6:]},
		{"a bcrypt hash without the dollar after the cost", "$2a$10" + bcryptSample[7:] + "y"},
		{"a bcrypt hash with a character outside its alphabet", bcryptSample[:30] + "+" + bcryptSample[31:]},
		{"a bcrypt hash with a space", bcryptSample[:30] + " " + bcryptSample[31:]},
		{"a plain-text password", pw},
		{"argon2i instead of argon2id", phc("argon2i", "v=19", params, salt, key)},
		{"argon2d instead of argon2id", phc("argon2d", "v=19", params, salt, key)},
		{"an upper-case algorithm name", phc("ARGON2ID", "v=19", params, salt, key)},
		{"version 16", phc("argon2id", "v=16", params, salt, key)},
		{"a version that is not a number", phc("argon2id", "v=x", params, salt, key)},
		{"no version field", fmt.Sprintf("$argon2id$%s$%s$%s", params, salt, key)},
		{"an extra field", good + "$extra"},
		{"no leading dollar", strings.TrimPrefix(good, "$")},
		{"parameters in the wrong order", phc("argon2id", "v=19", "t=1,m=64,p=1", salt, key)},
		{"absurd memory m=99999999", phc("argon2id", "v=19", "m=99999999,t=1,p=1", salt, key)},
		{"memory just over 1 GiB", phc("argon2id", "v=19", "m=1048577,t=1,p=1", salt, key)},
		{"memory below 8 KiB", phc("argon2id", "v=19", "m=7,t=1,p=1", salt, key)},
		{"negative memory", phc("argon2id", "v=19", "m=-1,t=1,p=1", salt, key)},
		{"zero passes t=0", phc("argon2id", "v=19", "m=64,t=0,p=1", salt, key)},
		{"eleven passes t=11", phc("argon2id", "v=19", "m=64,t=11,p=1", salt, key)},
		{"zero threads p=0", phc("argon2id", "v=19", "m=64,t=1,p=0", salt, key)},
		{"threads beyond a byte p=256", phc("argon2id", "v=19", "m=64,t=1,p=256", salt, key)},
		{"a salt that is not base64", phc("argon2id", "v=19", params, "!!!!not*base64!!!!", key)},
		{"a padded base64 salt", phc("argon2id", "v=19", params, salt+"==", key)},
		{"a key that is not base64", phc("argon2id", "v=19", params, salt, "!!!!not*base64!!!!")},
		{"a 4-byte salt", phc("argon2id", "v=19", params, "c2FsdA", key)},
		{"an empty salt", phc("argon2id", "v=19", params, "", key)},
		{"an 8-byte key", phc("argon2id", "v=19", params, salt, "a2V5a2V5a2U")},
		{"an empty key", phc("argon2id", "v=19", params, salt, "")},
		{"a 65-byte key", phc("argon2id", "v=19", params, salt, strings.Repeat("A", 87))},
	}
	for _, tt := range tests {
		t.Run(tt.name+" gives ErrMalformed", func(t *testing.T) {
			ok, err := h.Verify(context.Background(), pw, tt.encoded)
			if !errors.Is(err, password.ErrMalformed) {
				t.Errorf("Verify(%q) error = %v; want ErrMalformed", tt.encoded, err)
			}
			if ok {
				t.Errorf("Verify(%q) = true; a malformed hash must never match", tt.encoded)
			}
			if !h.NeedsRehash(tt.encoded) {
				t.Errorf("NeedsRehash(%q) = false; want true for a malformed hash", tt.encoded)
			}
		})
	}
}

func TestNeedsRehash(t *testing.T) {
	h := password.New(fast, 1)
	if own := hashOf(t, h, "pw-pw-pw-pw"); h.NeedsRehash(own) {
		t.Errorf("NeedsRehash(own hash %q) = true; want false", own)
	}
	tests := []struct {
		name  string
		other password.Params
	}{
		{"more memory", password.Params{MemoryKiB: 128, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"more passes", password.Params{MemoryKiB: 64, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}},
		{"more threads", password.Params{MemoryKiB: 64, Time: 1, Threads: 2, SaltLen: 16, KeyLen: 32}},
		{"the OWASP parameters", password.OWASP},
		// Salt and key lengths are parameters too: a hasher whose KeyLen or
		// SaltLen was raised must upgrade the hashes stored with the old ones.
		{"a shorter key", password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 16}},
		{"a shorter salt", password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 32}},
	}
	for _, tt := range tests {
		t.Run("a hash made with "+tt.name+" needs a rehash", func(t *testing.T) {
			encoded := hashOf(t, password.New(tt.other, 1), "pw-pw-pw-pw")
			if !h.NeedsRehash(encoded) {
				t.Errorf("NeedsRehash(%q) = false for a hasher with %+v; want true", encoded, fast)
			}
		})
	}
}

func TestVerifyDummyReturnsNil(t *testing.T) {
	h := password.New(fast, 1)
	for _, pw := range []string{"", "anything at all", strings.Repeat("é", 128)} {
		if err := h.VerifyDummy(context.Background(), pw); err != nil {
			t.Errorf("VerifyDummy(%q) = %v; want nil", pw, err)
		}
	}
}
