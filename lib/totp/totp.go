// Package totp is esauth's second factor: time-based one-time passwords
// (RFC 6238, with github.com/pquerna/otp: 6 digits, 30-second steps,
// HMAC-SHA1, which every authenticator app reads) and single-use recovery
// codes.
package totp

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	pq "github.com/pquerna/otp/totp"
)

// Period is the length of a step: a code changes every 30 seconds.
const Period = 30 * time.Second

// Skew is how many steps before and after now a code may belong to, for
// clocks that disagree and codes typed as they change (RFC 6238 §5.2
// recommends at most one).
const Skew = 1

// Key is a new secret, as the person enrols it: the otpauth:// URI the
// authenticator app reads, and the same as a PNG QR code in a data URL.
type Key struct {
	Secret    string // base32, as stored and as typed by hand
	URI       string
	QRDataURL string
}

// Generate makes a new 160-bit secret for account (the user's email) at
// issuer (the product's name, shown by the app).
func Generate(issuer, account string) (Key, error) {
	k, err := pq.Generate(pq.GenerateOpts{Issuer: issuer, AccountName: account, SecretSize: 20})
	if err != nil {
		return Key{}, fmt.Errorf("totp: %w", err)
	}
	img, err := k.Image(256, 256)
	if err != nil {
		return Key{}, fmt.Errorf("totp: QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Key{}, fmt.Errorf("totp: QR code: %w", err)
	}
	return Key{
		Secret:    k.Secret(),
		URI:       k.URL(),
		QRDataURL: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()),
	}, nil
}

// Step is the number of the step t falls in.
func Step(t time.Time) int64 { return t.Unix() / int64(Period/time.Second) }

// Check reports whether code is the code of secret for a step within Skew
// of now that is later than lastStep, and returns that step. Each code is
// accepted at most once (RFC 6238 §5.2): the caller stores the step it
// returns as the new lastStep, so the same code, or an earlier one, is
// refused from then on. A code that is not six digits is never accepted.
func Check(secret, code string, now time.Time, lastStep int64) (int64, bool) {
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return 0, false
	}
	cur := Step(now)
	for _, s := range []int64{cur, cur - 1, cur + 1} {
		if s <= lastStep || s < 0 {
			continue
		}
		ok, err := hotp.ValidateCustom(code, uint64(s), secret, hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err == nil && ok {
			return s, true
		}
	}
	return 0, false
}

// Code is the code of secret at t (for tests and the smoke test).
func Code(secret string, t time.Time) (string, error) {
	return pq.GenerateCodeCustom(secret, t, pq.ValidateOpts{Period: uint(Period / time.Second), Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
}

// RecoveryCodeCount is how many recovery codes a user gets at a time.
const RecoveryCodeCount = 10

var codeEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// RecoveryCodes makes RecoveryCodeCount new codes, each 80 random bits
// written as four groups of four base32 characters ("ABCD-EFGH-JKLM-NPQR"),
// and their hashes, which are all that is stored. 80 bits make a fast
// hash safe: nobody can try 2^80 candidates against a stolen hash.
func RecoveryCodes() (codes, hashes []string) {
	for range RecoveryCodeCount {
		var b [10]byte
		_, _ = rand.Read(b[:])
		s := codeEncoding.EncodeToString(b[:]) // 16 characters
		code := s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16]
		codes = append(codes, code)
		hashes = append(hashes, HashRecoveryCode(code))
	}
	return codes, hashes
}

// HashRecoveryCode is the stored form of a recovery code, as typed: case,
// spaces and dashes do not matter.
func HashRecoveryCode(code string) string {
	norm := strings.Map(func(r rune) rune {
		switch {
		case r == '-' || r == ' ':
			return -1
		case r >= 'a' && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, code)
	sum := sha256.Sum256([]byte("esauth recovery code\x00" + norm))
	return hex.EncodeToString(sum[:])
}

// MatchRecoveryCode returns the index in hashes of code's hash, or -1. It
// compares every hash in constant time, so the answer's time does not say
// which code was close.
func MatchRecoveryCode(hashes []string, code string) int {
	h := HashRecoveryCode(code)
	found := -1
	for i, stored := range hashes {
		if subtle.ConstantTimeCompare([]byte(stored), []byte(h)) == 1 {
			found = i
		}
	}
	return found
}
