package password_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"esauth/lib/password"
)

// werkzeugFixture is one hash made by a real werkzeug release; see
// testdata/werkzeug/make_fixtures.py for how they were made.
type werkzeugFixture struct {
	Werkzeug string `json:"werkzeug"` // the release that made the hash
	Method   string `json:"method"`   // generate_password_hash's method; "default" for none
	Password string `json:"password"`
	Hash     string `json:"hash"`
}

// method is the method part of the stored hash, such as "pbkdf2:sha256:1000".
func (f werkzeugFixture) method() string {
	m, _, _ := strings.Cut(f.Hash, "$")
	return m
}

// name names the fixture in subtests: the release and the stored method.
func (f werkzeugFixture) name() string {
	return fmt.Sprintf("werkzeug %s's %s hash", f.Werkzeug, f.method())
}

// slow reports whether the fixture costs more than a few milliseconds to
// verify: pbkdf2 over 10,000 iterations or scrypt with N over 1024. These are
// the fixtures made at a release's default cost, and scrypt:16384:8:1; they
// take up to 3 s each under -race (a million rounds of HMAC-SHA-256), so each
// is verified once, with its own password: that proves its parameters are
// read right, and the cheap fixtures prove that other passwords do not match.
func (f werkzeugFixture) slow() bool {
	args := strings.Split(f.method(), ":")
	switch {
	case args[0] == "pbkdf2" && len(args) == 3:
		n, err := strconv.Atoi(args[2])
		return err != nil || n > 10_000
	case args[0] == "scrypt" && len(args) == 4:
		n, err := strconv.Atoi(args[1])
		return err != nil || n > 1024
	}
	return true
}

func werkzeugFixtures(tb testing.TB) []werkzeugFixture {
	tb.Helper()
	b, err := os.ReadFile("testdata/werkzeug/hashes.json")
	if err != nil {
		tb.Fatal(err)
	}
	var fs []werkzeugFixture
	if err := json.Unmarshal(b, &fs); err != nil {
		tb.Fatalf("testdata/werkzeug/hashes.json: %v", err)
	}
	if len(fs) == 0 {
		tb.Fatal("testdata/werkzeug/hashes.json has no fixtures")
	}
	return fs
}

// changeOneCharacter returns pw with its last character replaced by another.
func changeOneCharacter(pw string) string {
	r, size := utf8.DecodeLastRuneInString(pw)
	if r == 'x' {
		return pw[:len(pw)-size] + "y"
	}
	return pw[:len(pw)-size] + "x"
}

func TestTheWerkzeugFixturesHoldEachReleasesDefault(t *testing.T) {
	// The stored method of each release's default, as werkzeug's source
	// says it should be. A fixture file made again without these would
	// silently stop proving the defaults.
	want := map[[2]string]string{
		{"3.1.9", "default"}:   "scrypt:32768:8:1",
		{"3.1.9", "pbkdf2"}:    "pbkdf2:sha256:1000000",
		{"2.3.8", "default"}:   "pbkdf2:sha256:600000",
		{"2.0.3", "default"}:   "pbkdf2:sha256:260000",
		{"1.0.1", "default"}:   "pbkdf2:sha256:150000",
		{"0.11.15", "default"}: "pbkdf2:sha1:1000",
	}
	got := map[[2]string]string{}
	for _, f := range werkzeugFixtures(t) {
		got[[2]string{f.Werkzeug, f.Method}] = f.method()
	}
	for k, method := range want {
		if got[k] != method {
			t.Errorf("werkzeug %s with method %q made %q; want a fixture of %q", k[0], k[1], got[k], method)
		}
	}
}

func TestWerkzeugHashes(t *testing.T) {
	h := password.New(fast, 0)
	for i, f := range werkzeugFixtures(t) {
		tests := []struct {
			name string
			pw   string
			want bool
		}{
			{"the right password matches", f.Password, true},
			{"the password with one character changed does not match", changeOneCharacter(f.Password), false},
			{"a wrong password does not match", "not " + f.Password, false},
			{"an empty password does not match", "", false},
		}
		if f.slow() {
			tests = tests[:1]
		}
		t.Run(fmt.Sprintf("%s (fixture %d)", f.name(), i), func(t *testing.T) {
			if f.slow() {
				t.Parallel()
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					got, err := h.Verify(context.Background(), tt.pw, f.Hash)
					if err != nil {
						t.Fatalf("Verify(%q, %q): %v", tt.pw, f.Hash, err)
					}
					if got != tt.want {
						t.Errorf("Verify(%q, %q) = %v; want %v", tt.pw, f.Hash, got, tt.want)
					}
				})
			}
			t.Run("needs a rehash", func(t *testing.T) {
				if !h.NeedsRehash(f.Hash) {
					t.Errorf("NeedsRehash(%q) = false; want true for every werkzeug hash", f.Hash)
				}
			})
		})
	}
}

func TestWerkzeugHashesInheritHMACsKeyHandling(t *testing.T) {
	// PBKDF2 keys HMAC with the password, and scrypt starts with PBKDF2, so
	// a werkzeug hash also matches the password with zero bytes added up to
	// the hash's block size (HMAC pads a short key with zeros), and the
	// digest of a password longer than the block size (HMAC hashes a long
	// key first). werkzeug's own check_password_hash accepts them too. Like
	// bcrypt's 72 bytes, this documents a property of the stored hash that
	// lasts until it is replaced at the next login, not a choice of esauth.
	h := password.New(fast, 1)
	const short = "correct horse battery staple"
	long := strings.Repeat("correct horse battery staple, ", 6) + "and then some: ünïcödé ✓✓✓"
	var shortHash, shortScrypt, longHash string
	for _, f := range werkzeugFixtures(t) {
		switch {
		case f.Password == short && f.method() == "pbkdf2:sha256:1000":
			shortHash = f.Hash
		case f.Password == short && f.method() == "scrypt:1024:8:1":
			shortScrypt = f.Hash
		case f.Password == long && f.method() == "pbkdf2:sha256:1000":
			longHash = f.Hash
		}
	}
	if shortHash == "" || shortScrypt == "" || longHash == "" {
		t.Fatal("the fixtures lack a pbkdf2:sha256:1000 or scrypt:1024:8:1 hash of the passwords this test needs")
	}
	digest := sha256.Sum256([]byte(long))
	tests := []struct {
		name    string
		pw      string
		encoded string
		want    bool
	}{
		{"a short password with a zero byte added matches its pbkdf2 hash", short + "\x00", shortHash, true},
		{"a short password with zero bytes up to 64 bytes matches its pbkdf2 hash", short + strings.Repeat("\x00", 64-len(short)), shortHash, true},
		{"a short password with zero bytes past 64 bytes does not match", short + strings.Repeat("\x00", 65-len(short)), shortHash, false},
		{"a short password with a zero byte added matches its scrypt hash", short + "\x00", shortScrypt, true},
		{"a long password's SHA-256 digest matches its pbkdf2:sha256 hash", string(digest[:]), longHash, true},
		{"a long password with a zero byte added does not match", long + "\x00", longHash, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := h.Verify(context.Background(), tt.pw, tt.encoded)
			if err != nil || got != tt.want {
				t.Errorf("Verify(%q, %q) = %v, %v; want %v, nil", tt.pw, tt.encoded, got, err, tt.want)
			}
		})
	}
}

// Parts of malformed werkzeug hashes: a salt as werkzeug makes them and
// well-formed hex digests of each length.
const (
	wzSalt  = "AbCdEfGh12345678"
	hex20   = "0123456789abcdef0123456789abcdef01234567"
	hex32   = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	hex64   = hex32 + hex32
	wzShaOK = "pbkdf2:sha256:1000$" + wzSalt + "$" + hex32 // well-formed, for contrast
)

// malformedWerkzeug are hashes that Verify must refuse with ErrMalformed
// before doing any work.
var malformedWerkzeug = []struct {
	name    string
	encoded string
}{
	{"an empty hash", ""},
	{"a bare method", "pbkdf2:sha256:1000"},
	{"werkzeug's plain method", "plain$$correct horse battery staple"},
	{"werkzeug's salted sha1 method", "sha1$" + wzSalt + "$" + hex20},
	{"werkzeug's salted md5 method", "md5$" + wzSalt + "$" + hex32[:32]},
	{"werkzeug's salted sha256 method", "sha256$" + wzSalt + "$" + hex32},
	{"pbkdf2 with an unknown hash", "pbkdf2:whirlpool:1000$" + wzSalt + "$" + hex64},
	{"pbkdf2 with md5", "pbkdf2:md5:1000$" + wzSalt + "$" + hex32[:32]},
	{"pbkdf2 with sha3_256", "pbkdf2:sha3_256:1000$" + wzSalt + "$" + hex32},
	{"pbkdf2 with the hash's name in upper case", "pbkdf2:SHA256:1000$" + wzSalt + "$" + hex32},
	{"pbkdf2 without a hash or iterations", "pbkdf2$" + wzSalt + "$" + hex32},
	{"pbkdf2 without iterations", "pbkdf2:sha256$" + wzSalt + "$" + hex32},
	{"pbkdf2 with empty iterations", "pbkdf2:sha256:$" + wzSalt + "$" + hex32},
	{"pbkdf2 with a parameter too many", "pbkdf2:sha256:1000:1$" + wzSalt + "$" + hex32},
	{"pbkdf2 with 0 iterations", "pbkdf2:sha256:0$" + wzSalt + "$" + hex32},
	{"pbkdf2 with negative iterations", "pbkdf2:sha256:-1000$" + wzSalt + "$" + hex32},
	{"pbkdf2 with a plus sign", "pbkdf2:sha256:+1000$" + wzSalt + "$" + hex32},
	{"pbkdf2 with a leading zero", "pbkdf2:sha256:01000$" + wzSalt + "$" + hex32},
	{"pbkdf2 with a leading space", "pbkdf2:sha256: 1000$" + wzSalt + "$" + hex32},
	{"pbkdf2 with an underscore in the iterations", "pbkdf2:sha256:1_000$" + wzSalt + "$" + hex32},
	{"pbkdf2 with iterations in exponent form", "pbkdf2:sha256:1e6$" + wzSalt + "$" + hex32},
	{"pbkdf2 with one iteration over the bound", "pbkdf2:sha256:2000001$" + wzSalt + "$" + hex32},
	{"pbkdf2 with 2^32 iterations", "pbkdf2:sha256:4294967296$" + wzSalt + "$" + hex32},
	{"pbkdf2 with iterations that overflow 64 bits", "pbkdf2:sha1:99999999999999999999999$" + wzSalt + "$" + hex20},
	{"pbkdf2 with a non-hex digest", "pbkdf2:sha256:1000$" + wzSalt + "$" + strings.Repeat("zz", 32)},
	{"pbkdf2 with an upper-case hex digest", "pbkdf2:sha256:1000$" + wzSalt + "$" + strings.ToUpper(hex32)},
	{"pbkdf2 with an odd-length digest", "pbkdf2:sha256:1000$" + wzSalt + "$" + hex32[:63]},
	{"pbkdf2:sha256 with a digest a byte short", "pbkdf2:sha256:1000$" + wzSalt + "$" + hex32[:62]},
	{"pbkdf2:sha256 with a digest a byte long", "pbkdf2:sha256:1000$" + wzSalt + "$" + hex32 + "ab"},
	{"pbkdf2:sha256 with a sha512-sized digest", "pbkdf2:sha256:1000$" + wzSalt + "$" + hex64},
	{"pbkdf2:sha512 with a sha256-sized digest", "pbkdf2:sha512:1000$" + wzSalt + "$" + hex32},
	{"pbkdf2:sha1 with a sha256-sized digest", "pbkdf2:sha1:1000$" + wzSalt + "$" + hex32},
	{"pbkdf2 with an empty digest", "pbkdf2:sha256:1000$" + wzSalt + "$"},
	{"pbkdf2 with a trailing newline", wzShaOK + "\n"},
	{"pbkdf2 with a salt over 1024 bytes", "pbkdf2:sha256:1000$" + strings.Repeat("s", 1025) + "$" + hex32},
	{"scrypt with a salt over 1024 bytes", "scrypt:1024:8:1$" + strings.Repeat("s", 1025) + "$" + hex64},
	{"pbkdf2 with an empty salt", "pbkdf2:sha256:1000$$" + hex32},
	{"pbkdf2 without a salt part", "pbkdf2:sha256:1000$" + hex32},
	{"pbkdf2 with an extra $ part after the digest", wzShaOK + "$" + hex32},
	{"pbkdf2 with a trailing $", wzShaOK + "$"},
	{"pbkdf2 with a $ inside the digest", "pbkdf2:sha256:1000$" + wzSalt + "$" + hex32[:32] + "$" + hex32[32:]},
	{"scrypt without parameters", "scrypt$" + wzSalt + "$" + hex64},
	{"scrypt with two parameters", "scrypt:32768:8$" + wzSalt + "$" + hex64},
	{"scrypt with four parameters", "scrypt:32768:8:1:1$" + wzSalt + "$" + hex64},
	{"scrypt with N not a power of two", "scrypt:32767:8:1$" + wzSalt + "$" + hex64},
	{"scrypt with N = 3", "scrypt:3:8:1$" + wzSalt + "$" + hex64},
	{"scrypt with N = 1", "scrypt:1:8:1$" + wzSalt + "$" + hex64},
	{"scrypt with N = 0", "scrypt:0:8:1$" + wzSalt + "$" + hex64},
	{"scrypt with N = 2^21, over the bound", "scrypt:2097152:1:1$" + wzSalt + "$" + hex64},
	{"scrypt with N = 2^30", "scrypt:1073741824:8:1$" + wzSalt + "$" + hex64},
	{"scrypt with r = 0", "scrypt:32768:0:1$" + wzSalt + "$" + hex64},
	{"scrypt with p = 0", "scrypt:32768:8:0$" + wzSalt + "$" + hex64},
	{"scrypt over the memory bound (N = 2^20, r = 2)", "scrypt:1048576:2:1$" + wzSalt + "$" + hex64},
	{"scrypt over the memory bound (N = 2, huge r)", "scrypt:2:4194304:1$" + wzSalt + "$" + hex64},
	{"scrypt over the work bound (the default with p = 17)", "scrypt:32768:8:17$" + wzSalt + "$" + hex64},
	{"scrypt over the r·p bound (N = 2, p = 2^20)", "scrypt:2:1:1048576$" + wzSalt + "$" + hex64},
	{"scrypt over the r·p bound (r = 2048)", "scrypt:2:2048:1$" + wzSalt + "$" + hex64},
	{"scrypt with p = 2^40", "scrypt:32768:8:1099511627776$" + wzSalt + "$" + hex64},
	{"scrypt with a negative r", "scrypt:32768:-8:1$" + wzSalt + "$" + hex64},
	{"scrypt with a 32-byte digest", "scrypt:32768:8:1$" + wzSalt + "$" + hex32},
	{"scrypt with a non-hex digest", "scrypt:32768:8:1$" + wzSalt + "$" + strings.Repeat("g", 128)},
	{"scrypt with an empty salt", "scrypt:32768:8:1$$" + hex64},
	{"scrypt with an extra $ part", "scrypt:32768:8:1$" + wzSalt + "$" + hex64 + "$x"},
}

func TestMalformedWerkzeugHashesAreErrorsNeverMatches(t *testing.T) {
	h := password.New(fast, 1)
	for _, tt := range malformedWerkzeug {
		t.Run(tt.name+" is malformed", func(t *testing.T) {
			for _, pw := range []string{"correct horse battery staple", ""} {
				ok, err := h.Verify(context.Background(), pw, tt.encoded)
				// ErrMalformed proves the hash was refused before any work:
				// one that was computed and did not match gives false, nil.
				// (No timing assertion: the absurd costs here would take
				// minutes, which the test's own timeout catches.)
				if ok || !errors.Is(err, password.ErrMalformed) {
					t.Errorf("Verify(%q, %q) = %v, %v; want false, ErrMalformed", pw, tt.encoded, ok, err)
				}
			}
			if !h.NeedsRehash(tt.encoded) {
				t.Errorf("NeedsRehash(%q) = false; want true", tt.encoded)
			}
		})
	}
	t.Run("the well-formed hash the cases are built from is a mismatch, not an error", func(t *testing.T) {
		if ok, err := h.Verify(context.Background(), "correct horse battery staple", wzShaOK); ok || err != nil {
			t.Errorf("Verify(%q) = %v, %v; want false, nil", wzShaOK, ok, err)
		}
	})
}

// hmacEquivalent reports whether a and b are the same HMAC key for the
// block size of encoded's hash: equal once trailing zero bytes are dropped,
// and neither longer than the block (see
// TestWerkzeugHashesInheritHMACsKeyHandling).
func hmacEquivalent(encoded, a, b string) bool {
	block := 64
	if strings.HasPrefix(encoded, "pbkdf2:sha384:") || strings.HasPrefix(encoded, "pbkdf2:sha512:") {
		block = 128
	}
	return len(a) <= block && len(b) <= block &&
		strings.TrimRight(a, "\x00") == strings.TrimRight(b, "\x00")
}

func FuzzVerifyWerkzeug(f *testing.F) {
	fixtures := werkzeugFixtures(f)
	passwordOf := map[string]string{}
	for _, fx := range fixtures {
		passwordOf[fx.Hash] = fx.Password
		// The slow fixtures take seconds under -race and add nothing to
		// what the cheap ones seed.
		if !fx.slow() {
			f.Add(fx.Hash, fx.Password)
			f.Add(fx.Hash, changeOneCharacter(fx.Password))
		}
	}
	for _, m := range malformedWerkzeug {
		f.Add(m.encoded, "correct horse battery staple")
	}
	h := password.New(fast, 1)
	f.Fuzz(func(t *testing.T, encoded, pw string) {
		ok, err := h.Verify(context.Background(), pw, encoded)
		if err != nil {
			if ok {
				t.Fatalf("Verify(%q, %q) = true, %v; want false with an error", pw, encoded, err)
			}
			return
		}
		if !ok {
			return
		}
		// Only a fixture can match: the fuzzer cannot make a hash of its own
		// that verifies unless Verify accepts a form werkzeug does not write.
		want, known := passwordOf[encoded]
		if !known {
			t.Fatalf("Verify(%q, %q) = true for a hash that is not a fixture", pw, encoded)
		}
		if pw != want && !hmacEquivalent(encoded, pw, want) {
			t.Fatalf("Verify(%q, %q) = true; only %q should match", pw, encoded, want)
		}
		if !h.NeedsRehash(encoded) {
			t.Fatalf("NeedsRehash(%q) = false for a werkzeug hash", encoded)
		}
	})
}
