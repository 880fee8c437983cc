package password_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"

	"esauth/lib/password"
)

// argon2idOf is a well-formed argon2id PHC string with the given
// parameters and salt and key lengths. Its key is not the hash of any
// password: the cases below only ask whether the parameters are accepted,
// which Supported answers without doing the hashing work.
func argon2idOf(m, t, p, saltLen, keyLen int) string {
	b64 := base64.RawStdEncoding.EncodeToString
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", m, t, p,
		b64([]byte(strings.Repeat("s", saltLen))), b64([]byte(strings.Repeat("k", keyLen))))
}

func TestArgon2idHashesOverTheBoundsAreMalformed(t *testing.T) {
	h := password.New(fast, 1)
	for _, tt := range []struct {
		name    string
		encoded string
	}{
		{"a hash asking 1 GiB, 10 passes and 255 lanes is refused", argon2idOf(1<<20, 10, 255, 16, 32)},
		{"255 lanes with little memory are refused", argon2idOf(8*255, 1, 255, 16, 32)},
		{"17 lanes, one over the bound, are refused", argon2idOf(8*17, 1, 17, 16, 32)},
		{"10000 passes are refused", argon2idOf(64, 10000, 1, 16, 32)},
		{"11 passes, one over the bound, are refused", argon2idOf(64, 11, 1, 16, 32)},
		{"1 GiB of memory in one pass is refused", argon2idOf(1<<20, 1, 1, 16, 32)},
		{"one KiB over 256 MiB is refused", argon2idOf(256<<10+1, 1, 1, 16, 32)},
		{"256 MiB for 5 passes, over the work bound, is refused", argon2idOf(256<<10, 5, 1, 16, 32)},
		{"10 passes one KiB over the work bound are refused", argon2idOf(104858, 10, 1, 16, 32)},
		{"less than 8 KiB for each lane is refused", argon2idOf(15, 1, 2, 16, 32)},
		{"a 65-byte salt is refused", argon2idOf(64, 1, 1, 65, 32)},
		{"a 7-byte salt is refused", argon2idOf(64, 1, 1, 7, 32)},
		{"a 15-byte key is refused", argon2idOf(64, 1, 1, 16, 15)},
		{"a 65-byte key is refused", argon2idOf(64, 1, 1, 16, 65)},
		{"memory written with a leading zero is refused", strings.Replace(argon2idOf(64, 1, 1, 16, 32), "m=64", "m=064", 1)},
		{"memory written with a space is refused", strings.Replace(argon2idOf(64, 1, 1, 16, 32), "m=64", "m= 64", 1)},
		{"parameters with something after them are refused", strings.Replace(argon2idOf(64, 1, 1, 16, 32), "p=1", "p=1x", 1)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if password.Supported(tt.encoded) {
				// Not Verify: before the bound it would do the work asked.
				t.Fatalf("Supported(%q) = true; want false", tt.encoded)
			}
			if ok, err := h.Verify(context.Background(), "pw", tt.encoded); ok || !errors.Is(err, password.ErrMalformed) {
				t.Errorf("Verify(%q) = %v, %v; want false, ErrMalformed", tt.encoded, ok, err)
			}
			if !h.NeedsRehash(tt.encoded) {
				t.Errorf("NeedsRehash(%q) = false; want true", tt.encoded)
			}
		})
	}
}

func TestArgon2idHashesWithinTheBoundsAreAccepted(t *testing.T) {
	for _, tt := range []struct {
		name    string
		encoded string
	}{
		{"esauth's own OWASP parameters are accepted", argon2idOf(19456, 2, 1, 16, 32)},
		{"256 MiB for 4 passes with 16 lanes, every bound at once, is accepted", argon2idOf(256<<10, 4, 16, 16, 32)},
		{"10 passes just inside the work bound are accepted", argon2idOf(104857, 10, 1, 16, 32)},
		{"exactly 8 KiB for each of 16 lanes is accepted", argon2idOf(8*16, 1, 16, 16, 32)},
		{"the smallest memory, 8 KiB in one lane, is accepted", argon2idOf(8, 1, 1, 16, 32)},
		{"an 8-byte salt is accepted", argon2idOf(64, 1, 1, 8, 32)},
		{"a 64-byte salt is accepted", argon2idOf(64, 1, 1, 64, 32)},
		{"a 16-byte key is accepted", argon2idOf(64, 1, 1, 16, 16)},
		{"a 64-byte key is accepted", argon2idOf(64, 1, 1, 16, 64)},
		{"PHP's default, 64 MiB for 4 passes, is accepted", argon2idOf(64<<10, 4, 1, 16, 32)},
		{"passlib's and RFC 9106's 64 MiB, 3 passes, 4 lanes are accepted", argon2idOf(64<<10, 3, 4, 16, 32)},
		{"libsodium's moderate 256 MiB for 3 passes is accepted", argon2idOf(256<<10, 3, 1, 16, 32)},
		{"Django's 100 MiB, 2 passes, 8 lanes are accepted", argon2idOf(100<<10, 2, 8, 16, 32)},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if !password.Supported(tt.encoded) {
				t.Errorf("Supported(%q) = false; want true", tt.encoded)
			}
		})
	}
}

func TestEveryHashEsauthMakesVerifies(t *testing.T) {
	for _, tt := range []struct {
		name   string
		params password.Params
	}{
		{"the production OWASP parameters", password.OWASP},
		{"the tests' fast parameters", fast},
		{"the smallest accepted parameters", password.Params{MemoryKiB: 8, Time: 1, Threads: 1, SaltLen: 8, KeyLen: 16}},
		{"two lanes and a short salt and key", password.Params{MemoryKiB: 128, Time: 2, Threads: 2, SaltLen: 8, KeyLen: 16}},
	} {
		t.Run("a hash made with "+tt.name+" verifies", func(t *testing.T) {
			h := password.New(tt.params, 1)
			encoded := hashOf(t, h, "pw-pw-pw-pw")
			if ok, err := h.Verify(context.Background(), "pw-pw-pw-pw", encoded); err != nil || !ok {
				t.Errorf("Verify(%q) = %v, %v; want true, nil", encoded, ok, err)
			}
		})
	}
}
