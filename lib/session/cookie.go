package session

import (
	"errors"
	"time"

	"github.com/gorilla/securecookie"
)

// Payload is what the cookie carries. Email is there so that the user
// loader can fetch the session and the user documents in one _mget, without
// first reading the session to learn whose it is.
type Payload struct {
	Token string `json:"t"`
	Email string `json:"e"`
}

// Keys is one pair of securecookie keys: a 32- or 64-byte HMAC key and a
// 16-, 24- or 32-byte AES key.
type Keys struct {
	Hash  []byte
	Block []byte
}

// Codec signs (HMAC-SHA256) and encrypts (AES) cookie payloads. The first
// key pair encodes; every pair decodes, so keys can be rotated without
// logging everyone out: the old pair stays as "previous" for a while.
type Codec struct {
	name   string
	codecs []securecookie.Codec
}

// NewCodec returns a codec for cookies named name. maxAge bounds how old a
// cookie's embedded timestamp may be, as a second line behind the session's
// own expiry.
func NewCodec(name string, maxAge time.Duration, current Keys, previous ...Keys) (*Codec, error) {
	pairs := append([]Keys{current}, previous...)
	c := &Codec{name: name}
	for _, k := range pairs {
		if err := checkKeys(k); err != nil {
			return nil, err
		}
		sc := securecookie.New(k.Hash, k.Block)
		sc.MaxAge(maxAgeSeconds(maxAge))
		sc.SetSerializer(securecookie.JSONEncoder{})
		c.codecs = append(c.codecs, sc)
	}
	return c, nil
}

// maxAgeSeconds rounds up to whole seconds, at least one: securecookie
// counts in seconds and reads 0 as "no limit", so rounding down would turn
// a short limit into none.
func maxAgeSeconds(d time.Duration) int {
	secs := int((d + time.Second - 1) / time.Second)
	return max(secs, 1)
}

func checkKeys(k Keys) error {
	switch len(k.Hash) {
	case 32, 64:
	default:
		return errors.New("cookie hash key must be 32 or 64 bytes")
	}
	switch len(k.Block) {
	case 16, 24, 32:
	default:
		return errors.New("cookie block key must be 16, 24 or 32 bytes")
	}
	return nil
}

// Encode returns the cookie value for p.
func (c *Codec) Encode(p Payload) (string, error) {
	return securecookie.EncodeMulti(c.name, p, c.codecs[0])
}

// Decode returns the payload of a cookie value, or an error when the value
// was tampered with, is too old, or was made with keys no longer known.
func (c *Codec) Decode(value string) (Payload, error) {
	var p Payload
	if err := securecookie.DecodeMulti(c.name, value, &p, c.codecs...); err != nil {
		return Payload{}, err
	}
	if p.Token == "" || p.Email == "" {
		return Payload{}, errors.New("session: cookie payload is incomplete")
	}
	return p, nil
}

// RandomKeys returns a fresh random key pair.
func RandomKeys() Keys {
	return Keys{Hash: securecookie.GenerateRandomKey(32), Block: securecookie.GenerateRandomKey(32)}
}
