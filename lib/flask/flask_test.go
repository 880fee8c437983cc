package flask_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"esauth/lib/flask"
	"esauth/lib/user"
)

const pbkdf2Hash = "pbkdf2:sha256:1000$Xvln9ZG6$2d5f3e0a9c9c7d4b6f8a1e2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d"

func TestToUserReadsTheFlaskAppsDocuments(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	doc := func(fields map[string]any) json.RawMessage {
		base := map[string]any{
			"email_address": "Ada@Example.com", "first_name": "Ada", "last_name": "Lovelace",
			"password": pbkdf2Hash, "is_active": true, "created_at": 1700000000.123456,
		}
		for k, v := range fields {
			if v == nil {
				delete(base, k)
			} else {
				base[k] = v
			}
		}
		b, _ := json.Marshal(base)
		return b
	}
	for _, tt := range []struct {
		name   string
		id     string
		source json.RawMessage
		check  func(t *testing.T, u user.User)
		err    string
	}{
		{"a document as the app writes it", "Ada@Example.com", doc(nil), func(t *testing.T, u user.User) {
			want := time.Date(2023, 11, 14, 22, 13, 20, 123e6, time.UTC)
			if u.Email != "ada@example.com" || u.FirstName != "Ada" || u.LastName != "Lovelace" || u.PasswordHash != pbkdf2Hash ||
				u.Role != user.RoleUser || !u.IsActive || !u.CreatedAt.Equal(want) || u.SessionEpoch == "" {
				t.Errorf("user %+v; created_at want %v", u, want)
			}
		}, ""},
		{"a leftover _type is ignored", "ada@example.com", doc(map[string]any{"_type": "user"}), nil, ""},
		{"an inactive user stays inactive", "ada@example.com", doc(map[string]any{"is_active": false}), func(t *testing.T, u user.User) {
			if u.IsActive {
				t.Error("imported as active")
			}
		}, ""},
		{"no is_active means active", "ada@example.com", doc(map[string]any{"is_active": nil}), func(t *testing.T, u user.User) {
			if !u.IsActive {
				t.Error("imported as inactive")
			}
		}, ""},
		{"no email field: the id is the email", "Ada@Example.com", doc(map[string]any{"email_address": nil}), func(t *testing.T, u user.User) {
			if u.Email != "ada@example.com" {
				t.Errorf("email %q", u.Email)
			}
		}, ""},
		{"created_at as RFC 3339", "ada@example.com", doc(map[string]any{"created_at": "2024-01-02T03:04:05.678901Z"}), func(t *testing.T, u user.User) {
			if !u.CreatedAt.Equal(time.Date(2024, 1, 2, 3, 4, 5, 678e6, time.UTC)) {
				t.Errorf("created_at %v", u.CreatedAt)
			}
		}, ""},
		{"an integer created_at", "ada@example.com", doc(map[string]any{"created_at": 1700000000}), nil, ""},
		{"a scrypt hash", "ada@example.com", doc(map[string]any{"password": "scrypt:32768:8:1$kgZ1CeKWEilqnD2L$" + strings.Repeat("ab", 64)}), nil, ""},
		{"an email that differs from the id", "bob@example.com", doc(nil), nil, "differs from the document id"},
		{"an invalid email", "not-an-email", doc(map[string]any{"email_address": nil}), nil, "email_address:"},
		{"an empty last name", "ada@example.com", doc(map[string]any{"last_name": ""}), nil, "last_name:"},
		{"a plain-text password", "ada@example.com", doc(map[string]any{"password": "hunter2"}), nil, "password:"},
		{"an unsalted sha1 hash", "ada@example.com", doc(map[string]any{"password": "sha1$abc$" + strings.Repeat("a", 40)}), nil, "password:"},
		{"no password", "ada@example.com", doc(map[string]any{"password": nil}), nil, "password:"},
		{"created_at in the future", "ada@example.com", doc(map[string]any{"created_at": 4102444800}), nil, "in the future"},
		{"created_at that is text", "ada@example.com", doc(map[string]any{"created_at": "yesterday"}), nil, "created_at:"},
		{"a negative created_at", "ada@example.com", doc(map[string]any{"created_at": -5}), nil, "created_at:"},
		{"not JSON", "ada@example.com", json.RawMessage(`{"email_address":`), nil, "not a user document"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			u, err := flask.ToUser(tt.id, tt.source, now)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v; want one containing %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "$") {
					t.Errorf("the error shows the hash: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.check != nil {
				tt.check(t, u)
			}
		})
	}
}
