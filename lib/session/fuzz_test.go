package session_test

import (
	"testing"
	"time"
	"unicode/utf8"

	"esauth/lib/session"
)

// FuzzCookieDecode feeds arbitrary cookie values to the decoder: it must
// never panic, and whatever it accepts must carry a token and an email.
// Values it made itself must come back unchanged.
func FuzzCookieDecode(f *testing.F) {
	codec, err := session.NewCodec("session", time.Hour, session.RandomKeys())
	if err != nil {
		f.Fatal(err)
	}
	good, err := codec.Encode(session.Payload{Token: "tok", Email: "a@example.com"})
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{good, "", "garbage", good[:len(good)/2], good + "A", "MTIzfGFiY3xkZWY=", "a|b|c"} {
		f.Add(seed, "tok", "a@example.com")
	}
	f.Fuzz(func(t *testing.T, value, token, email string) {
		if p, err := codec.Decode(value); err == nil && (p.Token == "" || p.Email == "") {
			t.Fatalf("accepted an incomplete payload %+v from %q", p, value)
		}
		// Real tokens are base64 and real emails validated UTF-8; the JSON
		// serializer would replace invalid bytes, so those cannot round-trip.
		if token == "" || email == "" || !utf8.ValidString(token) || !utf8.ValidString(email) {
			return
		}
		v, err := codec.Encode(session.Payload{Token: token, Email: email})
		if err != nil {
			return // too long for securecookie's 4096-byte limit: refused, fine
		}
		p, err := codec.Decode(v)
		if err != nil || p.Token != token || p.Email != email {
			t.Fatalf("round trip of %q/%q gave %+v, %v", token, email, p, err)
		}
	})
}
