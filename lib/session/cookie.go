package session

import (
	"errors"
	"sync"
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
	cache  decoded
}

// decoded remembers cookie values that decoded, for a short while: the
// same cookie comes with every request of a session, and verifying and
// decrypting it again each time was a twentieth of the server's CPU and
// an eighth of its allocations under load. Only values that decoded are
// kept, keyed by the whole value, so a tampered cookie always goes
// through the full check. An entry lives decodedTTL at most, far below the
// cookie's own maximum age, and the map is bounded.
type decoded struct {
	mu sync.RWMutex
	m  map[string]decodedEntry
}

type decodedEntry struct {
	p     Payload
	until time.Time
}

const (
	decodedTTL = time.Minute
	decodedMax = 10_000
)

func (d *decoded) get(value string, now time.Time) (Payload, bool) {
	d.mu.RLock()
	e, ok := d.m[value]
	d.mu.RUnlock()
	if !ok || !now.Before(e.until) {
		return Payload{}, false
	}
	return e.p, true
}

func (d *decoded) put(value string, p Payload, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.m == nil {
		d.m = map[string]decodedEntry{}
	}
	if len(d.m) >= decodedMax {
		// Forget expired entries; if none, forget one at random (map order).
		for k, e := range d.m {
			if !now.Before(e.until) {
				delete(d.m, k)
			}
		}
		for k := range d.m {
			if len(d.m) < decodedMax {
				break
			}
			delete(d.m, k)
		}
	}
	d.m[value] = decodedEntry{p: p, until: now.Add(decodedTTL)}
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
	now := time.Now()
	if p, ok := c.cache.get(value, now); ok {
		return p, nil
	}
	var p Payload
	if err := securecookie.DecodeMulti(c.name, value, &p, c.codecs...); err != nil {
		return Payload{}, err
	}
	if p.Token == "" || p.Email == "" {
		return Payload{}, errors.New("session: cookie payload is incomplete")
	}
	c.cache.put(value, p, now)
	return p, nil
}

// RandomKeys returns a fresh random key pair.
func RandomKeys() Keys {
	return Keys{Hash: securecookie.GenerateRandomKey(32), Block: securecookie.GenerateRandomKey(32)}
}
