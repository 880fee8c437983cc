package session_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"esauth/lib/session"
)

const cookieName = "session"

func newCodec(t *testing.T, maxAge time.Duration, current session.Keys, previous ...session.Keys) *session.Codec {
	t.Helper()
	c, err := session.NewCodec(cookieName, maxAge, current, previous...)
	if err != nil {
		t.Fatalf("NewCodec: %v", err)
	}
	return c
}

func encode(t *testing.T, c *session.Codec, p session.Payload) string {
	t.Helper()
	v, err := c.Encode(p)
	if err != nil {
		t.Fatalf("Encode(%+v): %v", p, err)
	}
	return v
}

func mustDecode(t *testing.T, c *session.Codec, value string, want session.Payload) {
	t.Helper()
	got, err := c.Decode(value)
	if err != nil {
		t.Fatalf("Decode: %v; want %+v", err, want)
	}
	if got != want {
		t.Fatalf("Decode = %+v; want %+v", got, want)
	}
}

func mustNotDecode(t *testing.T, c *session.Codec, value string) {
	t.Helper()
	got, err := c.Decode(value)
	if err == nil {
		t.Fatalf("Decode(%q) = %+v, nil; want an error", value, got)
	}
	if got != (session.Payload{}) {
		t.Errorf("a failed Decode returned %+v; want the zero Payload", got)
	}
}

var payload = session.Payload{Token: "dG9rZW4tdG9rZW4tdG9rZW4", Email: "ada@example.com"}

func TestCodecRoundTrip(t *testing.T) {
	c := newCodec(t, time.Hour, session.RandomKeys())
	v := encode(t, c, payload)
	mustDecode(t, c, v, payload)
	for _, secret := range []string{payload.Token, payload.Email, "ada"} {
		if strings.Contains(v, secret) {
			t.Errorf("cookie %q shows %q: the payload is not encrypted", v, secret)
		}
	}
	if v2 := encode(t, c, payload); v2 == v {
		t.Error("two encodings of the same payload are equal; the encryption has no fresh IV")
	}
}

func TestCodecRefusesTamperedOrForeignValues(t *testing.T) {
	keys := session.RandomKeys()
	c := newCodec(t, time.Hour, keys)
	v := encode(t, c, payload)
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name  string
		value string
	}{
		{"a value with its first character flipped", flip(v, 0)},
		{"a value with a middle character flipped", flip(v, len(v)/2)},
		{"a value with a character near the end flipped", flip(v, len(v)-5)},
		{"a truncated value", v[:len(v)-8]},
		{"a value with bytes appended", v + "AAAA"},
		{"an empty value", ""},
		{"a value that is not base64", "%%%not base64%%%"},
		{"a value made with other keys", encode(t, newCodec(t, time.Hour, session.RandomKeys()), payload)},
		{"a value made with the same hash key but another block key",
			encode(t, newCodec(t, time.Hour, session.Keys{Hash: keys.Hash, Block: session.RandomKeys().Block}), payload)},
	}
	for _, tt := range tests {
		t.Run(tt.name+" fails to decode", func(t *testing.T) {
			if tt.value == v {
				t.Fatal("the tampered value equals the original")
			}
			mustNotDecode(t, c, tt.value)
		})
	}
}

func TestCodecRefusesAValueMadeForAnotherCookieName(t *testing.T) {
	keys := session.RandomKeys()
	other, err := session.NewCodec("other", time.Hour, keys)
	if err != nil {
		t.Fatal(err)
	}
	mustNotDecode(t, newCodec(t, time.Hour, keys), encode(t, other, payload))
}

func TestCodecKeyRotation(t *testing.T) {
	a, b := session.RandomKeys(), session.RandomKeys()
	old := newCodec(t, time.Hour, a)
	rotated := newCodec(t, time.Hour, b, a)
	onlyB := newCodec(t, time.Hour, b)
	oldCookie, newCookie := encode(t, old, payload), encode(t, rotated, payload)

	t.Run("a cookie made with the old keys decodes after the rotation", func(t *testing.T) {
		mustDecode(t, rotated, oldCookie, payload)
	})
	t.Run("a cookie made after the rotation decodes", func(t *testing.T) {
		mustDecode(t, rotated, newCookie, payload)
	})
	t.Run("a cookie made after the rotation uses the new keys", func(t *testing.T) {
		mustDecode(t, onlyB, newCookie, payload)
		mustNotDecode(t, old, newCookie)
	})
	t.Run("once the old keys are dropped an old cookie is refused", func(t *testing.T) {
		mustNotDecode(t, onlyB, oldCookie)
	})
}

func TestNewCodecChecksKeySizes(t *testing.T) {
	key := func(n int) []byte { return bytes.Repeat([]byte{7}, n) }
	good := session.Keys{Hash: key(32), Block: key(32)}
	tests := []struct {
		name     string
		current  session.Keys
		previous []session.Keys
		ok       bool
	}{
		{"a 32-byte hash key and a 16-byte block key are accepted", session.Keys{Hash: key(32), Block: key(16)}, nil, true},
		{"a 32-byte hash key and a 24-byte block key are accepted", session.Keys{Hash: key(32), Block: key(24)}, nil, true},
		{"a 64-byte hash key and a 32-byte block key are accepted", session.Keys{Hash: key(64), Block: key(32)}, nil, true},
		{"a good previous pair is accepted", good, []session.Keys{{Hash: key(64), Block: key(16)}}, true},
		{"a missing hash key is refused", session.Keys{Block: key(32)}, nil, false},
		{"a 16-byte hash key is refused", session.Keys{Hash: key(16), Block: key(32)}, nil, false},
		{"a 31-byte hash key is refused", session.Keys{Hash: key(31), Block: key(32)}, nil, false},
		{"a 33-byte hash key is refused", session.Keys{Hash: key(33), Block: key(32)}, nil, false},
		{"a 128-byte hash key is refused", session.Keys{Hash: key(128), Block: key(32)}, nil, false},
		{"a missing block key is refused, so cookies are always encrypted", session.Keys{Hash: key(32)}, nil, false},
		{"an 8-byte block key is refused", session.Keys{Hash: key(32), Block: key(8)}, nil, false},
		{"a 20-byte block key is refused", session.Keys{Hash: key(32), Block: key(20)}, nil, false},
		{"a 64-byte block key is refused", session.Keys{Hash: key(32), Block: key(64)}, nil, false},
		{"a previous pair with a bad hash key is refused", good, []session.Keys{{Hash: key(10), Block: key(32)}}, false},
		{"a previous pair with a bad block key is refused", good, []session.Keys{{Hash: key(32), Block: key(10)}}, false},
		{"a bad second previous pair is refused", good, []session.Keys{good, {Hash: key(32)}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := session.NewCodec(cookieName, time.Hour, tt.current, tt.previous...)
			if tt.ok {
				if err != nil || c == nil {
					t.Fatalf("NewCodec = %v, %v; want a codec", c, err)
				}
				mustDecode(t, c, encode(t, c, payload), payload)
				return
			}
			if err == nil || c != nil {
				t.Errorf("NewCodec = %v, %v; want nil and an error", c, err)
			}
		})
	}
}

func TestRandomKeysHaveUsableSizesAndDiffer(t *testing.T) {
	a, b := session.RandomKeys(), session.RandomKeys()
	if len(a.Hash) != 32 || len(a.Block) != 32 {
		t.Errorf("RandomKeys = %d-byte hash key, %d-byte block key; want 32 and 32", len(a.Hash), len(a.Block))
	}
	if bytes.Equal(a.Hash, b.Hash) || bytes.Equal(a.Block, b.Block) || bytes.Equal(a.Hash, a.Block) {
		t.Error("RandomKeys returned a repeated key")
	}
}

func TestCodecRefusesAnIncompletePayload(t *testing.T) {
	c := newCodec(t, time.Hour, session.RandomKeys())
	tests := []struct {
		name string
		p    session.Payload
	}{
		{"a payload without a token", session.Payload{Email: "ada@example.com"}},
		{"a payload without an email", session.Payload{Token: "dG9rZW4"}},
		{"an empty payload", session.Payload{}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" fails to decode", func(t *testing.T) {
			mustNotDecode(t, c, encode(t, c, tt.p))
		})
	}
}

// resign returns value with its embedded timestamp replaced by ts and signed
// again with hashKey, as the codec would have made it at ts. securecookie's
// format is base64url("date|value|mac") with mac = HMAC-SHA256 of
// "name|date|value"; building the old cookie by hand is how the maxAge check
// can be tested without waiting.
func resign(t *testing.T, value string, hashKey []byte, ts time.Time) string {
	t.Helper()
	raw, err := base64.URLEncoding.DecodeString(value)
	if err != nil {
		t.Fatalf("cookie is not base64url: %v", err)
	}
	parts := bytes.SplitN(raw, []byte("|"), 3)
	if len(parts) != 3 {
		t.Fatalf("cookie %q is not date|value|mac", raw)
	}
	body := fmt.Sprintf("%d|%s", ts.Unix(), parts[1])
	mac := hmac.New(sha256.New, hashKey)
	mac.Write([]byte(cookieName + "|" + body))
	return base64.URLEncoding.EncodeToString(append([]byte(body+"|"), mac.Sum(nil)...))
}

func TestCodecRefusesACookieOlderThanMaxAge(t *testing.T) {
	keys := session.RandomKeys()
	c := newCodec(t, time.Hour, keys)
	v := encode(t, c, payload)
	now := time.Now()

	t.Run("a cookie re-signed with the current time decodes, so re-signing is right", func(t *testing.T) {
		mustDecode(t, c, resign(t, v, keys.Hash, now), payload)
	})
	t.Run("a cookie half of maxAge old decodes", func(t *testing.T) {
		mustDecode(t, c, resign(t, v, keys.Hash, now.Add(-30*time.Minute)), payload)
	})
	t.Run("a cookie twice maxAge old is refused", func(t *testing.T) {
		mustNotDecode(t, c, resign(t, v, keys.Hash, now.Add(-2*time.Hour)))
	})
	t.Run("an old cookie made with previous keys is refused too", func(t *testing.T) {
		rotated := newCodec(t, time.Hour, session.RandomKeys(), keys)
		mustDecode(t, rotated, resign(t, v, keys.Hash, now), payload)
		mustNotDecode(t, rotated, resign(t, v, keys.Hash, now.Add(-2*time.Hour)))
	})
}

// securecookie counts maxAge in whole seconds and reads 0 as "no limit";
// NewCodec rounds a sub-second maxAge up, so it still bounds the age.
func TestCodecWithASubSecondMaxAgeStillRefusesAnOldCookie(t *testing.T) {
	keys := session.RandomKeys()
	c := newCodec(t, 500*time.Millisecond, keys)
	old := resign(t, encode(t, c, payload), keys.Hash, time.Now().Add(-24*time.Hour))
	mustNotDecode(t, c, old)
}
