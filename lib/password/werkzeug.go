package password

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"

	"golang.org/x/crypto/scrypt"
)

// Werkzeug hashes are what werkzeug.security.generate_password_hash writes,
// and what the Flask + Elasticsearch tutorial app that esauth imports users
// from stores: "method$salt$hexdigest", where method is
// "pbkdf2:<hash>:<iterations>" (every werkzeug since 0.9) or
// "scrypt:<N>:<r>:<p>" (werkzeug 2.3 and later). The salt is used as its UTF-8
// bytes, not decoded: werkzeug makes it of letters and digits (the unreleased
// 3.2 uses URL-safe base64 characters), and it never contains "$" because
// check_password_hash splits the hash at the first two. The password is used
// as its UTF-8 bytes, exactly as received, like the other formats here.
//
// Only the forms that werkzeug writes are accepted. In particular a method
// without its parameters ("pbkdf2:sha256", "pbkdf2", "scrypt") is refused as
// malformed although check_password_hash accepts it: every release since 0.9
// writes the iteration count it used, so no stored hash lacks it, and for
// such a hash check_password_hash would fill in the checking release's
// default, which has been 1,000, 50,000, 150,000, 260,000, 600,000 and
// 1,000,000 iterations over the years. The form has no single meaning.
// werkzeug's unsalted and HMAC methods ("sha1$", "md5$", "plain$") are fast
// hashes and are not accepted either; they fall through to ErrMalformed.

// maxPBKDF2Iterations bounds the iterations Verify accepts. werkzeug's
// default is 1,000,000 since 3.1 (600,000 in 2.3 and 3.0, 260,000 in 2.0);
// twice that leaves room for one more raise of the default, or for OWASP's
// 1,300,000 for SHA-1, while a corrupted count cannot hold a slot for more
// than about a second of CPU (2,000,000 rounds of HMAC-SHA-512 take 1.2 s
// here, HMAC-SHA-256 0.4 s).
const maxPBKDF2Iterations = 2_000_000

// Bounds on werkzeug's scrypt parameters, for the same reason as
// maxPBKDF2Iterations. werkzeug's default, scrypt:32768:8:1, needs 32 MiB
// and about 0.1 s here.
//   - N is at most 2^20, scrypt's own suggestion for file encryption rather
//     than interactive logins.
//   - The memory golang.org/x/crypto/scrypt allocates, 128·r·(N+p+2) bytes,
//     is at most 256 MiB, eight times the default's, so a few slots' worth
//     still fits in a small server.
//   - The mixing work, proportional to N·r·p, is at most 2^22, sixteen times
//     the default's: up to about 2 s here (scrypt:1048576:1:4).
//   - r·p is at most 1024, 128 times the default's. Besides the mixing,
//     scrypt expands the password into 128·r·p bytes with one HMAC per 32
//     bytes, a cost that N·r·p does not show when N is small: scrypt:2:1:2^20
//     is within the other bounds and takes seconds.
const (
	maxScryptN      = 1 << 20
	maxScryptMemory = 256 << 20
	maxScryptWork   = 1 << 22
	maxScryptRP     = 1 << 10
)

// maxWerkzeugSalt bounds the salt's length in bytes. werkzeug makes salts of
// 16 characters (8 before 2.0) unless told otherwise. scrypt hashes the salt
// once for each 32 bytes it expands the password into, so without a bound a
// long salt would multiply the work that maxScryptRP bounds.
const maxWerkzeugSalt = 1024

// werkzeugScryptKeyLen is the key length werkzeug's scrypt hashes have:
// werkzeug leaves hashlib.scrypt's dklen at its default of 64 bytes.
const werkzeugScryptKeyLen = 64

// pbkdf2Hashes are the hash functions accepted in "pbkdf2:<hash>:..." with
// their digest sizes, which werkzeug uses as the key length. werkzeug takes
// any name hashlib knows, but its defaults were sha1 (0.9 to 0.11) and then
// sha256; the rest of SHA-1 and SHA-2 are accepted for hashes made with an
// explicit method. Others (md5, sha3_*, blake2*) are refused as malformed:
// no tutorial app is known to have used them, and each would be one more
// implementation to trust for a hash that is replaced at the next login.
var pbkdf2Hashes = map[string]struct {
	new  func() hash.Hash
	size int
}{
	"sha1":   {sha1.New, sha1.Size},
	"sha224": {sha256.New224, sha256.Size224},
	"sha256": {sha256.New, sha256.Size},
	"sha384": {sha512.New384, sha512.Size384},
	"sha512": {sha512.New, sha512.Size},
}

// werkzeugHash is a parsed werkzeug hash.
type werkzeugHash struct {
	scrypt     bool
	newHash    func() hash.Hash // pbkdf2's hash function
	iterations int              // pbkdf2
	n, r, p    int              // scrypt
	salt       []byte
	want       []byte
}

// isWerkzeug reports whether encoded claims to be a werkzeug pbkdf2 or scrypt
// hash, by the name of its method. A claim is then parsed strictly by
// decodeWerkzeug, so "pbkdf2$..." is a malformed werkzeug hash rather than a
// malformed argon2id one; the result is ErrMalformed either way.
func isWerkzeug(encoded string) bool {
	method, _, _ := strings.Cut(encoded, "$")
	kdf, _, _ := strings.Cut(method, ":")
	return kdf == "pbkdf2" || kdf == "scrypt"
}

// verifyWerkzeug verifies a werkzeug hash under the same concurrency bound as
// argon2id. The whole hash is parsed and its costs checked before a slot is
// taken, so a malformed hash costs nothing and never waits.
func (h *Hasher) verifyWerkzeug(ctx context.Context, pw, encoded string) (bool, error) {
	w, err := decodeWerkzeug(encoded)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	var got []byte
	if w.scrypt {
		got, err = scrypt.Key([]byte(pw), w.salt, w.n, w.r, w.p, len(w.want))
	} else {
		got, err = pbkdf2.Key(w.newHash, pw, w.salt, w.iterations, len(w.want))
	}
	if err != nil {
		// decodeWerkzeug has excluded every parameter the libraries refuse,
		// except that crypto/pbkdf2 in FIPS 140-only mode (GODEBUG=fips140=only)
		// also refuses SHA-1 and salts under 16 bytes, which werkzeug before
		// 2.0 made. Such a hash cannot be verified in that mode; calling it
		// malformed makes it a logged wrong password instead of a server
		// error at every login.
		return false, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return subtle.ConstantTimeCompare(got, w.want) == 1, nil
}

// decodeWerkzeug parses the whole of a werkzeug hash and checks its costs
// against the bounds above before any work is done.
func decodeWerkzeug(encoded string) (werkzeugHash, error) {
	var w werkzeugHash
	method, rest, ok := strings.Cut(encoded, "$")
	if !ok {
		return w, ErrMalformed
	}
	salt, digest, ok := strings.Cut(rest, "$")
	if !ok || salt == "" || len(salt) > maxWerkzeugSalt {
		return w, ErrMalformed
	}
	// The digest is checked as lower-case hex of the exact key length below,
	// which also refuses a digest with a further "$" in it.
	var keyLen int
	switch args := strings.Split(method, ":"); {
	case args[0] == "pbkdf2" && len(args) == 3:
		f, ok := pbkdf2Hashes[args[1]]
		if !ok {
			return w, ErrMalformed
		}
		iter, ok := parseDecimal(args[2], maxPBKDF2Iterations)
		if !ok {
			return w, ErrMalformed
		}
		w.newHash, w.iterations, keyLen = f.new, int(iter), f.size
	case args[0] == "scrypt" && len(args) == 4:
		n, okN := parseDecimal(args[1], maxScryptN)
		r, okR := parseDecimal(args[2], maxScryptRP)
		p, okP := parseDecimal(args[3], maxScryptRP)
		// N must be a power of two above 1, as scrypt requires. No product
		// here comes near 2^64: N ≤ 2^20 and r, p ≤ 2^10.
		if !okN || !okR || !okP || n < 2 || n&(n-1) != 0 || r*p > maxScryptRP ||
			n*r*p > maxScryptWork || 128*r*(n+p+2) > maxScryptMemory {
			return w, ErrMalformed
		}
		w.scrypt, w.n, w.r, w.p, keyLen = true, int(n), int(r), int(p), werkzeugScryptKeyLen
	default:
		return w, ErrMalformed
	}
	// werkzeug writes the digest with bytes.hex(), lower case, and compares
	// it as a string, so an upper-case digest never matches there either.
	if len(digest) != 2*keyLen {
		return w, ErrMalformed
	}
	for i := 0; i < len(digest); i++ {
		if c := digest[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return w, ErrMalformed
		}
	}
	want, err := hex.DecodeString(digest)
	if err != nil {
		return w, ErrMalformed
	}
	w.salt, w.want = []byte(salt), want
	return w, nil
}

// parseDecimal parses s as werkzeug writes an integer parameter (Python's
// "%d" or an f-string), and as argon2id's PHC strings write theirs: decimal
// digits without sign, spaces or leading zeros. It accepts values from 1 to
// limit.
func parseDecimal(s string, limit uint64) (uint64, bool) {
	if s == "" || s[0] == '0' || len(s) > 19 {
		return 0, false
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, v <= limit
}
