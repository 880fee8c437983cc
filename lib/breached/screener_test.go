package breached_test

import (
	"testing"

	"esauth/lib/breached"
)

func newScreener(t *testing.T) *breached.Screener {
	t.Helper()
	s, err := breached.NewScreener()
	if err != nil {
		t.Fatalf("NewScreener: %v", err)
	}
	return s
}

func TestTheListHasAtLeast10000Passwords(t *testing.T) {
	if n := newScreener(t).Len(); n < 10000 {
		t.Errorf("Len() = %d; want at least 10,000 (ASVS 2.1.7 asks for the top 10,000 at least)", n)
	}
}

func TestCheck(t *testing.T) {
	s := newScreener(t)
	tests := []struct {
		name     string
		password string
		email    string
		want     string
	}{
		{"a common password is refused", "password", "carol@example.com", breached.ReasonCommon},
		{"a common password of digits is refused", "123456", "carol@example.com", breached.ReasonCommon},
		{"a common password in upper case is refused", "LetMeIn", "carol@example.com", breached.ReasonCommon},
		{"a common password with spaces around it is refused", "  trustno1 \t", "carol@example.com", breached.ReasonCommon},
		{"a common Cyrillic password in upper case is refused", "ЙЦУКЕН", "carol@example.com", breached.ReasonCommon},
		{"a common password is refused with no email", "iloveyou", "", breached.ReasonCommon},
		{"a long passphrase not on the list is accepted", "violet-kettle-ransom-41", "carol@example.com", ""},
		{"a common password with a space inside is not the common password", "pass word", "carol@example.com", ""},
		{"a password equal to the local part is refused", "mxyzptlk9", "mxyzptlk9@example.com", breached.ReasonContainsName},
		{"a password containing the local part is refused", "alice2024!", "alice@example.com", breached.ReasonContainsName},
		{"a password containing the local part in another case is refused", "I-am-ALICE-2024", "alice@example.com", breached.ReasonContainsName},
		{"an email in upper case still forbids its local part", "alice2024!", "Alice@Example.COM", breached.ReasonContainsName},
		{"a local part with a dot is forbidden whole", "xx-carol.ann-xx", "carol.ann@example.com", breached.ReasonContainsName},
		{"a local part of exactly 3 characters is forbidden", "zebra-bob-kettle", "bob@example.com", breached.ReasonContainsName},
		{"a local part of 3 non-ASCII characters is forbidden", "kettle-élé-zebra", "élé@example.com", breached.ReasonContainsName},
		{"a local part of 2 characters does not forbid passwords containing it", "zebra-jo-kettle", "jo@example.com", ""},
		{"a local part of 1 character does not forbid passwords containing it", "a long passphrase", "a@example.com", ""},
		{"a local part of 2 non-ASCII characters, 4 bytes, does not forbid passwords containing it", "zebra-éé-kettle", "éé@example.com", ""},
		{"the domain is not the local part", "example-kettle-zebra", "carol@example.com", ""},
		{"a password containing only part of the local part is accepted", "caro-kettle-zebra", "carol@example.com", ""},
		{"a password not on the list and without the local part is accepted", "violet-kettle-ransom-41", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.Check(tt.password, tt.email); got != tt.want {
				t.Errorf("Check(%q, %q) = %q; want %q", tt.password, tt.email, got, tt.want)
			}
		})
	}
}

func TestIsCommon(t *testing.T) {
	s := newScreener(t)
	tests := []struct {
		name     string
		password string
		want     bool
	}{
		{"a password at the top of the list is common", "123456", true},
		{"a password at the bottom of the list is common", "fallen_angel", true},
		{"a common password in upper case is common", "QWERTY", true},
		{"a common password with a trailing newline is common", "dragon\n", true},
		{"a passphrase not on the list is not common", "violet-kettle-ransom-41", false},
		{"an empty password is not common", "", false},
		{"a password of spaces is not common", "   ", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.IsCommon(tt.password); got != tt.want {
				t.Errorf("IsCommon(%q) = %v; want %v", tt.password, got, tt.want)
			}
		})
	}
}
