package user_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"esauth/lib/user"
)

func TestValidateName(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  string
	}{
		{"a plain name is accepted", "Ada", ""},
		{"a one-character name is accepted", "A", ""},
		{"a name with spaces, hyphen and apostrophe is accepted", "Mary-Jane O'Neil", ""},
		{"a name in another script is accepted", "Ада Лавлейс", ""},
		{"a zero-width non-joiner inside a Persian name is accepted", "نیک\u200cپور", ""},
		{"a zero-width joiner inside a Sinhala name is accepted", "ශ්\u200dරී", ""},
		{"an empty name is refused as required", "", "First name is required."},
		{"a name of only spaces is refused as required", "   ", "First name is required."},
		{"a name of only tabs and newlines is refused as required", "\t\n", "First name is required."},
		{"64 characters are accepted", strings.Repeat("a", 64), ""},
		{"65 characters are refused", strings.Repeat("a", 65), "First name must be 1 to 64 characters."},
		{"64 two-byte characters count as 64 runes, not 128 bytes", strings.Repeat("é", 64), ""},
		{"65 two-byte characters are refused", strings.Repeat("é", 65), "First name must be 1 to 64 characters."},
		{"a NUL character is refused", "Ada\x00", "First name must not contain control characters."},
		{"an escape character is refused", "Ada\x1b[31m", "First name must not contain control characters."},
		{"a tab inside the name is refused", "Ada\tLovelace", "First name must not contain control characters."},
		{"a newline inside the name is refused", "Ada\nLovelace", "First name must not contain control characters."},
		{"a line separator U+2028 is refused", "Ada\u2028Lovelace", "First name must not contain control characters."},
		{"a paragraph separator U+2029 is refused", "Ada\u2029Lovelace", "First name must not contain control characters."},
		{"a next-line character U+0085 is refused", "Ada\u0085Lovelace", "First name must not contain control characters."},
		{"invalid UTF-8 is refused", "Ad\xffa", "First name must be valid UTF-8."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := user.ValidateName("First name", tt.value); got != tt.want {
				t.Errorf("ValidateName(%q) = %q; want %q", tt.value, got, tt.want)
			}
		})
	}
}

func TestValidateNameUsesTheLabel(t *testing.T) {
	if got := user.ValidateName("Last name", ""); got != "Last name is required." {
		t.Errorf("ValidateName(\"Last name\", \"\") = %q; want the label in the message", got)
	}
}

func TestValidatePassword(t *testing.T) {
	const (
		tooShort = "Password must be at least 8 characters."
		tooLong  = "Password must be at most 128 characters."
	)
	tests := []struct {
		name string
		pw   string
		want string
	}{
		{"an empty password is refused as too short", "", tooShort},
		{"7 characters are refused", "1234567", tooShort},
		{"8 characters are accepted", "12345678", ""},
		{"8 spaces are accepted: there are no composition rules", "        ", ""},
		{"128 characters are accepted", strings.Repeat("p", 128), ""},
		{"129 characters are refused", strings.Repeat("p", 129), tooLong},
		{"7 two-byte characters are refused though they are 14 bytes", strings.Repeat("é", 7), tooShort},
		{"8 two-byte characters are accepted", strings.Repeat("é", 8), ""},
		{"128 four-byte characters are accepted though they are 512 bytes", strings.Repeat("😀", 128), ""},
		{"129 four-byte characters are refused", strings.Repeat("😀", 129), tooLong},
		{"invalid UTF-8 is refused", "password\xff", "Password must be valid UTF-8."},
		{"a lone continuation byte is refused", "\x80abcdefgh", "Password must be valid UTF-8."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := user.ValidatePassword(tt.pw); got != tt.want {
				t.Errorf("ValidatePassword(%q) = %q; want %q", tt.pw, got, tt.want)
			}
		})
	}
}

func TestIsAdmin(t *testing.T) {
	if !(user.User{Role: user.RoleAdmin}).IsAdmin() {
		t.Error("a user with the admin role is not an admin")
	}
	for _, role := range []string{user.RoleUser, "", "Admin", "administrator"} {
		if (user.User{Role: role}).IsAdmin() {
			t.Errorf("a user with role %q is an admin", role)
		}
	}
}

// fullUser returns a user whose every field is set to a distinct non-zero
// value, so a field that is dropped or mixed up shows.
func fullUser(t *testing.T) user.User {
	t.Helper()
	u := user.User{
		Email:             "ada@example.com",
		FirstName:         "Ada",
		LastName:          "Lovelace",
		PasswordHash:      "$argon2id$v=19$m=19456,t=2,p=1$c2VjcmV0LXNhbHQ$c2VjcmV0LWhhc2gtdmFsdWU",
		Role:              user.RoleAdmin,
		IsActive:          true,
		CreatedAt:         time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC),
		UpdatedAt:         time.Date(2021, 6, 7, 8, 9, 10, 0, time.UTC),
		PasswordChangedAt: time.Date(2022, 11, 12, 13, 14, 15, 0, time.UTC),
		SessionEpoch:      "0123456789abcdef0123456789abcdef",
		EmailVerifiedAt:   time.Date(2020, 1, 2, 4, 0, 0, 0, time.UTC),
		TOTPSecret:        "JBSWY3DPEHPK3PXPTOTPSECRETVALUE2",
		TOTPEnabledAt:     time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC),
		TOTPLastStep:      59123456,
		RecoveryCodes:     []string{"recovery-code-hash-one", "recovery-code-hash-two"},
		WebAuthnID:        []byte("a user handle of sixty-four bytes, random in the real thing......"),
		LastLoginAt:       time.Date(2024, 2, 3, 4, 5, 6, 0, time.UTC),
		Passkeys:          2,
		Providers:         []string{"github", "google"},
	}
	v := reflect.ValueOf(u)
	for i := range v.NumField() {
		if v.Field(i).IsZero() {
			t.Fatalf("fullUser leaves User.%s unset; set it so the tests cover it", v.Type().Field(i).Name)
		}
	}
	return u
}

func TestJSONNeverCarriesThePasswordHash(t *testing.T) {
	u := fullUser(t)
	for _, tt := range []struct {
		name string
		v    any
	}{
		{"a user", u},
		{"a pointer to a user", &u},
		{"the public view", u.Public()},
		{"a user inside a map", map[string]any{"user": u}},
	} {
		t.Run(tt.name+" marshals without the hash", func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			s := string(b)
			for _, bad := range []string{u.PasswordHash, "c2VjcmV0LWhhc2gtdmFsdWU", "password_hash", "PasswordHash",
				u.TOTPSecret, "recovery-code-hash", "59123456"} {
				if strings.Contains(s, bad) {
					t.Errorf("JSON %s contains %q", s, bad)
				}
			}
			if !strings.Contains(s, `"email_address":"ada@example.com"`) {
				t.Errorf("JSON %s lacks the email: the test did not marshal what it meant to", s)
			}
		})
	}
}

func TestPublicCopiesEveryPublicField(t *testing.T) {
	u := fullUser(t)
	p := u.Public()
	pv, uv := reflect.ValueOf(p), reflect.ValueOf(u)
	// Two public fields are derived, not copied.
	if !p.EmailVerified || !p.TOTPEnabled {
		t.Errorf("EmailVerified %v, TOTPEnabled %v; want both true for fullUser", p.EmailVerified, p.TOTPEnabled)
	}
	if (user.User{}).Public().EmailVerified || (user.User{}).Public().TOTPEnabled {
		t.Error("a user without either says it has them")
	}
	for i := range pv.NumField() {
		name := pv.Type().Field(i).Name
		if name == "EmailVerified" || name == "TOTPEnabled" {
			continue
		}
		src := uv.FieldByName(name)
		if !src.IsValid() {
			t.Errorf("Public.%s has no field of the same name in User", name)
			continue
		}
		if !reflect.DeepEqual(pv.Field(i).Interface(), src.Interface()) {
			t.Errorf("Public.%s = %v; want User.%s = %v", name, pv.Field(i).Interface(), name, src.Interface())
		}
	}
	if _, ok := pv.Type().FieldByName("PasswordHash"); ok {
		t.Error("Public has a PasswordHash field")
	}
}

func TestPublicJSONHasExactlyThePublicKeys(t *testing.T) {
	b, err := json.Marshal(fullUser(t).Public())
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	want := []string{"created_at", "email_address", "email_verified", "first_name", "is_active", "last_login_at", "last_name", "passkeys", "providers", "role", "totp_enabled", "updated_at"}
	if !reflect.DeepEqual(keys, want) {
		t.Errorf("public JSON keys = %v; want %v", keys, want)
	}
}
