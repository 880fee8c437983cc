// Package seal encrypts secrets that esauth must be able to read back (a
// TOTP secret: a hash would not do) before they are stored, with AES-256-GCM
// under a key the database does not hold (ESAUTH_DATA_KEYS), so that whoever
// reads the users index (a Kibana user, a snapshot) cannot mint codes
// (ASVS 4.0.3 2.8.7, ASVS 5.0 11.x).
//
// A Ring holds keys by id: the first seals, every one opens, so keys are
// rotated by putting a new one first, re-sealing (esauth keys rotate), and
// then dropping the old one. A sealed value carries the id of its key and is
// bound to what it belongs to (the context: "totp:" and the email), so a
// sealed secret copied into another user's document does not open there.
package seal

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// prefix starts every sealed value: "esauth-sealed:1:<key id>:<base64url
// nonce and ciphertext>". A clear secret (base32) never has a colon, so a
// value written before sealing is told apart and read as it is.
const prefix = "esauth-sealed:1:"

// ErrNoKey means a sealed value names a key the ring lacks; ErrOpen that
// the value does not open with its key (another key under the same id, a
// value changed or moved to another context).
var (
	ErrNoKey = errors.New("seal: no key with this id in ESAUTH_DATA_KEYS")
	ErrOpen  = errors.New("seal: the value does not open with its key")
)

// Ring is the keys, the first of which seals.
type Ring struct {
	ids  []string
	aead map[string]cipher.AEAD
}

var keyID = regexp.MustCompile(`^[A-Za-z0-9_-]{1,32}$`)

// Parse reads a key ring: "id:base64key,id2:base64key2", each key 32 bytes
// (standard or URL base64). "" is no ring (nil).
func Parse(s string) (*Ring, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, nil
	}
	r := &Ring{aead: map[string]cipher.AEAD{}}
	for _, part := range strings.Split(s, ",") {
		id, k, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok || !keyID.MatchString(id) {
			return nil, fmt.Errorf("a key must be id:base64 with an id of letters, digits, - and _ (up to 32)")
		}
		if _, dup := r.aead[id]; dup {
			return nil, fmt.Errorf("key id %q appears twice", id)
		}
		key, err := decodeKey(k)
		if err != nil || len(key) != 32 {
			return nil, fmt.Errorf("key %q must be 32 bytes of base64 (openssl rand -base64 32)", id)
		}
		block, err := aes.NewCipher(key)
		if err != nil {
			return nil, err
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, err
		}
		r.ids = append(r.ids, id)
		r.aead[id] = aead
	}
	return r, nil
}

func decodeKey(k string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(k); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("not base64")
}

// Sealing is the id of the key that seals.
func (r *Ring) Sealing() string { return r.ids[0] }

// Seal encrypts plain for context with the first key.
func (r *Ring) Seal(plain, context string) (string, error) {
	id := r.ids[0]
	aead := r.aead[id]
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plain)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return "", err
	}
	out := aead.Seal(nonce, nonce, []byte(plain), []byte(context))
	return prefix + id + ":" + base64.RawURLEncoding.EncodeToString(out), nil
}

// IsSealed says v is a sealed value (rather than one stored in clear).
func IsSealed(v string) bool { return strings.HasPrefix(v, prefix) }

// KeyOf is the id of the key v was sealed with ("" when v is not sealed).
func KeyOf(v string) string {
	id, _, _ := strings.Cut(strings.TrimPrefix(v, prefix), ":")
	if !IsSealed(v) {
		return ""
	}
	return id
}

// Open decrypts a sealed v for context. A nil ring opens nothing.
func (r *Ring) Open(v, context string) (string, error) {
	id, body, ok := strings.Cut(strings.TrimPrefix(v, prefix), ":")
	if !IsSealed(v) || !ok {
		return "", ErrOpen
	}
	if r == nil {
		return "", ErrNoKey
	}
	aead, found := r.aead[id]
	if !found {
		return "", ErrNoKey
	}
	raw, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil || len(raw) < aead.NonceSize() {
		return "", ErrOpen
	}
	plain, err := aead.Open(nil, raw[:aead.NonceSize()], raw[aead.NonceSize():], []byte(context))
	if err != nil {
		return "", ErrOpen
	}
	return string(plain), nil
}
