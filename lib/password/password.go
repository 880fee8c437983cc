// Package password hashes and verifies passwords with argon2id.
//
// Hashes are PHC strings ($argon2id$v=19$m=19456,t=2,p=1$salt$hash) so the
// parameters travel with each hash and can be raised later without breaking
// the hashes already stored.
//
// Verify also accepts bcrypt hashes ($2a$, $2b$, $2y$) and the pbkdf2 and
// scrypt hashes of Python's werkzeug (pbkdf2:sha256:600000$salt$hex,
// scrypt:32768:8:1$salt$hex), which the Flask + Elasticsearch tutorial app
// stores, so that users imported from such systems can log in. NeedsRehash
// is always true for them, so the caller replaces each with an argon2id hash
// at the user's next successful login.
package password

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"runtime"
	"strings"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// Params are argon2id's cost parameters.
type Params struct {
	MemoryKiB uint32
	Time      uint32
	Threads   uint8
	SaltLen   int
	KeyLen    uint32
}

// OWASP is the OWASP Password Storage Cheat Sheet's argon2id configuration:
// 19 MiB of memory, 2 iterations, 1 degree of parallelism.
var OWASP = Params{MemoryKiB: 19 * 1024, Time: 2, Threads: 1, SaltLen: 16, KeyLen: 32}

// Bounds on every parameter of an argon2id hash that Verify accepts. A
// stored or imported hash names its own costs, so without them one hostile
// document (m=1 GiB, t=10, p=255) would make each login attempt take a
// gigabyte and seconds of every CPU. The bounds accept every hash esauth
// makes (OWASP's 19 MiB, t=2, p=1; the tests' 8 KiB to 128 KiB) and the
// defaults of the other libraries a user might be imported from: PHP's
// 64 MiB, t=4, p=1; passlib's and RFC 9106's second choice, 64 MiB, t=3,
// p=4; Django's 100 MiB, t=2, p=8; libsodium's "moderate" 256 MiB, t=3.
// Not RFC 9106's first choice (2 GiB) or libsodium's "sensitive" (1 GiB):
// those are for keys, not for logins on a shared server.
//   - Memory is at most 256 MiB, the bound on werkzeug's scrypt memory, so
//     a few slots' worth still fits in a small server.
//   - Memory times passes is at most 1 GiB-pass (2^20 KiB), 27 times
//     OWASP's: argon2id's work is one pass over its memory per t, so this
//     bounds a verification's CPU: 1.2 s of CPU here at 256 MiB, t=4 (on
//     one core with p=1, spread over the cores with p=16), like the
//     werkzeug bounds. Memory and passes alone do not: 256 MiB with t=10
//     is 2.5 GiB-passes.
//   - Passes are at most 10: no library's default or recommendation uses
//     more, and 8 KiB with t=10000 is within the work bound but no real
//     hash.
//   - Lanes are at most 16. golang.org/x/crypto/argon2 runs each lane on
//     its own goroutine, so one verification, holding one slot, may keep p
//     cores busy: the concurrency bound counts slots, not cores.
//   - Memory is at least 8 KiB per lane, as RFC 9106 requires; below it
//     the library silently uses more memory than the hash says.
//   - The salt is 8 to 64 bytes (everyone uses 16) and the key 16 to 64.
const (
	maxArgon2MemoryKiB = 256 << 10
	maxArgon2Work      = 1 << 20 // KiB-passes: memory times passes
	maxArgon2Time      = 10
	maxArgon2Lanes     = 16
	minArgon2SaltLen   = 8
	maxArgon2SaltLen   = 64
	minArgon2KeyLen    = 16
	maxArgon2KeyLen    = 64
)

// bounded reports whether p is within the bounds above. It is the one
// check of a stored hash's costs: Verify, NeedsRehash and Supported (and
// so the import) all reach it through decode.
func (p Params) bounded() bool {
	return p.Time >= 1 && p.Time <= maxArgon2Time &&
		p.Threads >= 1 && p.Threads <= maxArgon2Lanes &&
		p.MemoryKiB >= 8*uint32(p.Threads) && p.MemoryKiB <= maxArgon2MemoryKiB &&
		uint64(p.MemoryKiB)*uint64(p.Time) <= maxArgon2Work &&
		p.SaltLen >= minArgon2SaltLen && p.SaltLen <= maxArgon2SaltLen &&
		p.KeyLen >= minArgon2KeyLen && p.KeyLen <= maxArgon2KeyLen
}

// ErrMalformed means a stored hash could not be parsed.
var ErrMalformed = errors.New("password: malformed hash")

// ErrBusy means no hashing slot came free within the Hasher's MaxWait.
var ErrBusy = errors.New("password: every hashing slot is busy")

// DefaultMaxWait is how long New's Hasher waits for a hashing slot.
const DefaultMaxWait = 2 * time.Second

// Hasher hashes and verifies passwords. At most a fixed number of hashes run
// at once: each takes 19 MiB and tens of milliseconds of CPU, so an unbounded
// flood of logins could otherwise exhaust memory. Callers that cannot get a
// slot before their context ends get the context's error.
type Hasher struct {
	params Params
	slots  chan struct{}
	dummy  string
	// maxWait bounds the wait for a slot, so a flood of password checks
	// (one account's wrong password changes, say) makes its own requests
	// fail fast instead of queueing everyone's logins behind it.
	maxWait time.Duration
	// observeWait, when set, is told each wait for a slot (metrics).
	observeWait func(time.Duration)
}

// New returns a Hasher with the given parameters that runs at most
// concurrency hashes at once (GOMAXPROCS when concurrency < 1).
func New(p Params, concurrency int) *Hasher {
	if concurrency < 1 {
		concurrency = runtime.GOMAXPROCS(0)
	}
	h := &Hasher{params: p, slots: make(chan struct{}, concurrency), maxWait: DefaultMaxWait}
	// A hash of a random password with the current parameters. Verifying an
	// unknown email's login against it costs the same as a real verification,
	// so response time does not tell which emails exist.
	var pw [32]byte
	_, _ = rand.Read(pw[:])
	h.dummy = h.hash(base64.RawStdEncoding.EncodeToString(pw[:]))
	return h
}

// WithMaxWait sets how long a hash or verification waits for a free slot
// before failing with ErrBusy, and returns h. Call it before h is shared.
func (h *Hasher) WithMaxWait(d time.Duration) *Hasher {
	if d > 0 {
		h.maxWait = d
	}
	return h
}

// MaxWait is how long a caller waits for a slot before ErrBusy.
func (h *Hasher) MaxWait() time.Duration { return h.maxWait }

// WithWaitObserver has f told how long each hash or verification waited
// for a slot (zero when one was free), given up waits included, and
// returns h. Call it before h is shared.
func (h *Hasher) WithWaitObserver(f func(time.Duration)) *Hasher {
	h.observeWait = f
	return h
}

// InUse is how many hashes and verifications are running now.
func (h *Hasher) InUse() int { return len(h.slots) }

// Slots is how many may run at once.
func (h *Hasher) Slots() int { return cap(h.slots) }

func (h *Hasher) acquire(ctx context.Context) error {
	select {
	case h.slots <- struct{}{}:
		if h.observeWait != nil {
			h.observeWait(0)
		}
		return nil
	default:
	}
	start := time.Now()
	if h.observeWait != nil {
		defer func() { h.observeWait(time.Since(start)) }()
	}
	wait := time.NewTimer(h.maxWait)
	defer wait.Stop()
	select {
	case h.slots <- struct{}{}:
		return nil
	case <-wait.C:
		return ErrBusy
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *Hasher) release() { <-h.slots }

// Hash returns the PHC string of pw with a fresh random salt.
func (h *Hasher) Hash(ctx context.Context, pw string) (string, error) {
	if err := h.acquire(ctx); err != nil {
		return "", err
	}
	defer h.release()
	return h.hash(pw), nil
}

func (h *Hasher) hash(pw string) string {
	p := h.params
	salt := make([]byte, p.SaltLen)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails on supported platforms
	key := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, p.KeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.MemoryKiB, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt),
		base64.RawStdEncoding.EncodeToString(key))
}

// Verify reports whether pw matches encoded, an argon2id PHC string, a
// bcrypt hash or a werkzeug hash. The comparison is constant-time. A
// malformed hash is an error, never a match.
func (h *Hasher) Verify(ctx context.Context, pw, encoded string) (bool, error) {
	if isBcrypt(encoded) {
		return h.verifyBcrypt(ctx, pw, encoded)
	}
	if isWerkzeug(encoded) {
		return h.verifyWerkzeug(ctx, pw, encoded)
	}
	p, salt, want, err := decode(encoded)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	got := argon2.IDKey([]byte(pw), salt, p.Time, p.MemoryKiB, p.Threads, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// Supported reports whether Verify can check encoded: a well-formed
// argon2id, bcrypt or werkzeug hash. It does no hashing work.
func Supported(encoded string) bool {
	var err error
	switch {
	case isBcrypt(encoded):
		_, err = decodeBcrypt(encoded)
	case isWerkzeug(encoded):
		_, err = decodeWerkzeug(encoded)
	default:
		_, _, _, err = decode(encoded)
	}
	return err == nil
}

// VerifyDummy spends the time of one verification and returns false. It is
// used when the user does not exist, so that answer takes as long as a wrong
// password for a real user.
func (h *Hasher) VerifyDummy(ctx context.Context, pw string) error {
	_, err := h.Verify(ctx, pw, h.dummy)
	return err
}

// NeedsRehash reports whether encoded was made with other parameters than
// the Hasher's current ones, salt and key lengths included. It is true for
// every bcrypt hash, every werkzeug hash and every malformed one.
func (h *Hasher) NeedsRehash(encoded string) bool {
	if isBcrypt(encoded) || isWerkzeug(encoded) {
		return true
	}
	p, _, _, err := decode(encoded)
	if err != nil {
		return true
	}
	c := h.params
	return p.MemoryKiB != c.MemoryKiB || p.Time != c.Time || p.Threads != c.Threads ||
		p.SaltLen != c.SaltLen || p.KeyLen != c.KeyLen
}

func decode(encoded string) (Params, []byte, []byte, error) {
	var p Params
	parts := strings.Split(encoded, "$")
	// "", "argon2id", "v=19", "m=..,t=..,p=..", salt, hash
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" {
		return p, nil, nil, ErrMalformed
	}
	if parts[2] != fmt.Sprintf("v=%d", argon2.Version) {
		return p, nil, nil, ErrMalformed
	}
	// The parameters are read as esauth and the other argon2id libraries
	// write them: m, t and p in that order, in plain decimal, nothing after
	// them. (fmt.Sscanf, used before, also took "m= 064" and "p=1junk".)
	// parseDecimal's limits keep each value within its field's type; the
	// bounds themselves are checked by bounded below.
	fields := strings.Split(parts[3], ",")
	if len(fields) != 3 {
		return p, nil, nil, ErrMalformed
	}
	var values [3]uint64
	for i, name := range []string{"m=", "t=", "p="} {
		v, found := strings.CutPrefix(fields[i], name)
		n, ok := parseDecimal(v, math.MaxUint32)
		if !found || !ok {
			return p, nil, nil, ErrMalformed
		}
		values[i] = n
	}
	if values[2] > math.MaxUint8 {
		return p, nil, nil, ErrMalformed
	}
	p.MemoryKiB, p.Time, p.Threads = uint32(values[0]), uint32(values[1]), uint8(values[2])
	salt, err := base64.RawStdEncoding.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, ErrMalformed
	}
	key, err := base64.RawStdEncoding.DecodeString(parts[5])
	if err != nil {
		return p, nil, nil, ErrMalformed
	}
	p.SaltLen, p.KeyLen = len(salt), uint32(len(key))
	if !p.bounded() {
		return p, nil, nil, ErrMalformed
	}
	return p, salt, key, nil
}

// maxBcryptCost bounds the bcrypt cost Verify accepts. Each step doubles the
// work: cost 16 is already seconds of CPU, and a corrupted or hostile cost 31
// would hold a slot for days. Legacy systems used 10 to 12.
const maxBcryptCost = 16

// isBcrypt reports whether encoded claims to be a bcrypt hash. $2a$, $2b$ and
// $2y$ name the same algorithm: 2b fixed an overflow for passwords over 255
// bytes in OpenBSD's C code, and 2y is PHP's marker for the same fix in
// crypt_blowfish. $2x$ (crypt_blowfish's known-buggy hashes) and $2$ are not
// accepted and fall through to ErrMalformed.
func isBcrypt(encoded string) bool {
	return strings.HasPrefix(encoded, "$2a$") || strings.HasPrefix(encoded, "$2b$") ||
		strings.HasPrefix(encoded, "$2y$")
}

// verifyBcrypt verifies a legacy bcrypt hash under the same concurrency bound
// as argon2id. bcrypt only uses the first 72 bytes of a password: a longer
// password matches any password with the same first 72 bytes. That is a
// property of the stored hash that Verify cannot change; the argon2id hash
// that replaces it at the next login uses the whole password.
func (h *Hasher) verifyBcrypt(ctx context.Context, pw, encoded string) (bool, error) {
	hash, err := decodeBcrypt(encoded)
	if err != nil {
		return false, err
	}
	if err := h.acquire(ctx); err != nil {
		return false, err
	}
	defer h.release()
	switch err := bcrypt.CompareHashAndPassword(hash, []byte(pw)); {
	case err == nil:
		return true, nil
	case errors.Is(err, bcrypt.ErrMismatchedHashAndPassword):
		return false, nil
	default:
		return false, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
}

// decodeBcrypt checks the whole form of a bcrypt hash before any work is
// done: "$2a$", a two-digit cost, "$", then 22 characters of salt and 31 of
// hash in bcrypt's base64 alphabet, 60 bytes in all. golang.org/x/crypto/bcrypt
// checks less (it takes any minor letter and any length from 59 up). It
// returns the hash with $2y$ rewritten to the equivalent $2a$, so nothing
// depends on the library's leniency about the minor letter.
func decodeBcrypt(encoded string) ([]byte, error) {
	if len(encoded) != 60 || encoded[6] != '$' {
		return nil, ErrMalformed
	}
	d1, d0 := encoded[4], encoded[5]
	if d1 < '0' || d1 > '9' || d0 < '0' || d0 > '9' {
		return nil, ErrMalformed
	}
	if cost := int(d1-'0')*10 + int(d0-'0'); cost < bcrypt.MinCost || cost > maxBcryptCost {
		return nil, ErrMalformed
	}
	for i := 7; i < len(encoded); i++ {
		c := encoded[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '/') {
			return nil, ErrMalformed
		}
	}
	hash := []byte(encoded)
	if hash[2] == 'y' {
		hash[2] = 'a'
	}
	return hash, nil
}
