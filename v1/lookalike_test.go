package v1

import (
	"net/http"
	"testing"
)

// TestLookAlikeEmailsAreTheSameAccountOrRefused replays an outside tester's
// finding: each of these look-alikes of a real address got 201 Created as a
// separate account. Forms that mean the same address must now land on the
// real account (409 on signup), and forms that only look the same must be
// refused as invalid (422), never stored.
func TestLookAlikeEmailsAreTheSameAccountOrRefused(t *testing.T) {
	h := newHarness(t)
	c := h.client()
	expectStatus(t, c.signup("ada@example.com", pw), http.StatusCreated)
	expectStatus(t, c.signup("jos\u00e9@example.com", pw), http.StatusCreated) // é composed (NFC)

	tests := []struct {
		name    string
		email   string
		status  int
		message string // fields.email_address of a 422
	}{
		{"fullwidth letters are the same account and get 409", "ａｄａ@example.com", http.StatusConflict, ""},
		{"fullwidth capitals and at sign are the same account and get 409", "ＡＤＡ＠example.com", http.StatusConflict, ""},
		{"a decomposed é (NFD) is the same account as the composed one and gets 409", "jose\u0301@example.com", http.StatusConflict, ""},
		{"a Cyrillic а among Latin letters gets 422", "\u0430da@example.com", http.StatusUnprocessableEntity,
			"Email address mixes letters from different scripts."},
		{"a Cyrillic а in the domain gets 422", "ada@ex\u0430mple.com", http.StatusUnprocessableEntity,
			"Email address mixes letters from different scripts."},
		{"a trailing zero-width space gets 422", "ada@example.com\u200b", http.StatusUnprocessableEntity,
			"Email address must not contain invisible characters."},
		{"a zero-width joiner inside the local part gets 422", "a\u200dda@example.com", http.StatusUnprocessableEntity,
			"Email address must not contain invisible characters."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.client().in(t).signup(tt.email, pw)
			expectStatus(t, a, tt.status)
			if tt.status == http.StatusUnprocessableEntity && a.Fields["email_address"] != tt.message {
				t.Errorf("fields.email_address = %q; want %q (answer %s)", a.Fields["email_address"], tt.message, a.Raw)
			}
		})
	}

	t.Run("logging in with the fullwidth form and the right password opens the real account", func(t *testing.T) {
		c := h.client()
		expectStatus(t, c.in(t).login("ａｄａ@example.com", pw), http.StatusOK)
		var tv testView
		c.in(t).do("GET", "/v1/test", nil).data(t, &tv)
		if tv.Email != "ada@example.com" {
			t.Errorf("logged in as %q; want ada@example.com", tv.Email)
		}
	})
	t.Run("logging in with the NFD form opens the composed account", func(t *testing.T) {
		expectStatus(t, h.client().in(t).login("jose\u0301@example.com", pw), http.StatusOK)
	})
	t.Run("logging in with the Cyrillic look-alike and the right password gets 401", func(t *testing.T) {
		expectStatus(t, h.client().in(t).login("\u0430da@example.com", pw), http.StatusUnauthorized)
	})
}
