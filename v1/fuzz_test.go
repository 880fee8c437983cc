package v1

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"esauth/lib/errs"
)

// FuzzDecodeBody feeds arbitrary bodies to the request decoder: it must
// never panic, must refuse anything that is not one valid UTF-8 JSON
// object with known fields as a 400, and must never echo the body back.
// "make test" runs the seeds; "make fuzz" searches for more.
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{
		`{"email_address":"a@example.com","password":"long enough","first_name":"A","last_name":"B"}`,
		`{}`, `[]`, `null`, `"text"`, `{"email_address":`, `{"admin":true}`, `{"email_address":42}`,
		"{\"first_name\":\"\xff\"}", `{} {}`, strings.Repeat("[", 10001), `{"first_name":"\u0000"}`,
		`{"email_address":"a@example.com","email_address":"b@example.com"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var v SignupRequest
		err := decodeBytes(body, &v)
		if err == nil {
			if !utf8.Valid(body) || !json.Valid(body) {
				t.Fatalf("accepted a body that is not valid UTF-8 JSON: %q", body)
			}
			return
		}
		if errs.CodeOf(err) != errs.BadRequest {
			t.Fatalf("error code %s, want bad_request: %v", errs.CodeOf(err), err)
		}
		msg := err.(*errs.Error).Message
		if len(msg) > 200 {
			t.Fatalf("message too long (%d bytes): it may echo the body", len(msg))
		}
		if len(body) > 16 && strings.Contains(msg, string(body)) {
			t.Fatalf("message echoes the body: %q", msg)
		}
	})
}
