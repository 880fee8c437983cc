package flask_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"esauth/lib/flask"
)

// The import takes a stored hash only if a login could verify it, by the
// same bounds: a hostile document cannot bring in a hash whose every login
// costs seconds of all the CPUs and a gigabyte.
func TestImportRefusesAnArgon2idHashOverTheBounds(t *testing.T) {
	for _, tt := range []struct {
		name, hash string
		ok         bool
	}{
		{"a hash asking 1 GiB, 10 passes and 255 lanes is invalid",
			"$argon2id$v=19$m=1048576,t=10,p=255$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U", false},
		{"a hash with esauth's own parameters is imported",
			"$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			source, _ := json.Marshal(map[string]any{
				"email_address": "ada@example.com", "first_name": "Ada", "last_name": "Lovelace", "password": tt.hash,
			})
			_, err := flask.ToUser("ada@example.com", source, time.Now())
			switch {
			case tt.ok && err != nil:
				t.Errorf("ToUser: %v; want the user", err)
			case !tt.ok && (err == nil || !strings.HasPrefix(err.Error(), "password:")):
				t.Errorf("ToUser: %v; want a password: error", err)
			}
		})
	}
}
