package v1

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"esauth/lib/account"
	"esauth/lib/breached"
	"esauth/lib/elastic/estest"
	"esauth/lib/password"
	"esauth/lib/user"
)

func TestCommonAndPersonalPasswordsAreRefused(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name, email, pw string
		want            int
	}{
		{"a common password is refused at signup", "c1@example.com", "password123", 422},
		{"a common password in capitals is refused too", "c2@example.com", "PASSWORD123", 422},
		{"a password containing the email's name is refused", "ada.lovelace@example.com", "ada.lovelace-rules!", 422},
		{"a password equal to the email's name is refused", "zanzibar99@example.com", "zanzibar99", 422},
		{"an uncommon passphrase is accepted", "c3@example.com", "violet staple orbit 42", 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.client().in(t).signup(tt.email, tt.pw)
			expectStatus(t, a, tt.want)
			if tt.want == 422 && a.Fields["password"] == "" {
				t.Errorf("no reason in fields.password: %s", a.Raw)
			}
			if tt.want == 422 && strings.Contains(a.Raw, tt.pw) {
				t.Error("the answer echoes the password")
			}
		})
	}
	t.Run("the same screening runs at password change", func(t *testing.T) {
		c := h.client()
		c.in(t).mustLogin("c3@example.com", "violet staple orbit 42")
		a := c.in(t).do("POST", "/v1/auth/password", map[string]any{"old_password": "violet staple orbit 42", "new_password": "iloveyou123"})
		expectStatus(t, a, 422)
		if a.Fields["new_password"] == "" {
			t.Errorf("no reason in fields.new_password: %s", a.Raw)
		}
	})
}

func TestLoginWithACommonPasswordAsksForAChange(t *testing.T) {
	h := newHarness(t)
	h.addUser("old@example.com", "password123", false) // set before screening existed
	h.addUser("new@example.com", "violet staple orbit 42", false)
	for _, tt := range []struct {
		email, pw string
		want      bool
	}{{"old@example.com", "password123", true}, {"new@example.com", "violet staple orbit 42", false}} {
		a := h.client().login(tt.email, tt.pw)
		expectStatus(t, a, http.StatusOK)
		var v struct {
			Email    string `json:"email_address"`
			Required *bool  `json:"password_change_required"`
		}
		a.data(t, &v)
		if v.Required == nil || *v.Required != tt.want || v.Email != tt.email {
			t.Errorf("%s: %s; want password_change_required %v", tt.email, a.Raw, tt.want)
		}
	}
}

// fakePwned imitates a Have I Been Pwned range API (not Elasticsearch).
func fakePwned(t *testing.T, breachedPasswords ...string) (*httptest.Server, func() []string) {
	t.Helper()
	var mu sync.Mutex
	var seen []string
	suffixes := map[string][]string{}
	for _, p := range breachedPasswords {
		sum := sha1.Sum([]byte(p))
		full := strings.ToUpper(hex.EncodeToString(sum[:]))
		suffixes[full[:5]] = append(suffixes[full[:5]], full[5:])
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.Path)
		mu.Unlock()
		prefix := strings.TrimPrefix(r.URL.Path, "/range/")
		for _, s := range suffixes[prefix] {
			fmt.Fprintf(w, "%s:42\r\n", s)
		}
		fmt.Fprintf(w, "%s:0\r\n", strings.Repeat("0", 35))
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string { mu.Lock(); defer mu.Unlock(); return append([]string(nil), seen...) }
}

func TestOnlineBreachCheck(t *testing.T) {
	srv, seen := fakePwned(t, "violet staple orbit 42")
	h := newHarness(t, func(d *Deps) {
		d.Passwords.Pwned = &breached.Pwned{BaseURL: srv.URL, Client: srv.Client()}
	})
	a := h.client().signup("b1@example.com", "violet staple orbit 42")
	expectStatus(t, a, 422)
	if a.Fields["password"] != account.MsgBreached {
		t.Errorf("fields = %v", a.Fields)
	}
	expectStatus(t, h.client().signup("b2@example.com", "quiet harbour lantern 7"), 201)
	if len(seen()) != 2 {
		t.Errorf("%d range queries, want 2", len(seen()))
	}
	for _, p := range seen() {
		if len(strings.TrimPrefix(p, "/range/")) != 5 {
			t.Errorf("more than 5 hex characters left the process: %s", p)
		}
	}

	t.Run("an unreachable breach API does not block signup", func(t *testing.T) {
		h := newHarness(t, func(d *Deps) {
			d.Passwords.Pwned = &breached.Pwned{BaseURL: estest.DeadURL(t), Client: &http.Client{Timeout: time.Second}}
		})
		expectStatus(t, h.client().in(t).signup("b3@example.com", "quiet harbour lantern 7"), 201)
		if h.logs.FilterMessage("breached-password check unavailable; proceeding without it").Len() != 1 {
			t.Error("no warning logged")
		}
	})
}

func TestImportedBcryptHashLogsInAndIsRehashed(t *testing.T) {
	h := newHarness(t)
	hash, err := bcrypt.GenerateFromPassword([]byte("imported secret 1"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, prefix := range []string{"$2a$", "$2b$", "$2y$"} {
		email := strings.Trim(prefix, "$") + "@example.com"
		err := h.store.CreateUser(context.Background(), user.User{
			Email: email, FirstName: "I", LastName: "M", Role: user.RoleUser, IsActive: true,
			PasswordHash: prefix + string(hash[4:]), CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now,
		})
		if err != nil {
			t.Fatal(err)
		}
		expectStatus(t, h.client().login(email, "not the secret"), http.StatusUnauthorized)
		h.client().mustLogin(email, "imported secret 1")
		u, err := h.store.GetUser(context.Background(), email)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
			t.Errorf("%s: hash not upgraded: %.10s…", prefix, u.PasswordHash)
		}
		h.client().mustLogin(email, "imported secret 1")
	}
}

func TestAHashWithOlderParametersIsUpgradedAtLogin(t *testing.T) {
	h := newHarness(t)
	older := password.New(password.Params{MemoryKiB: 32, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	hash, err := older.Hash(context.Background(), "an older passphrase")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := h.store.CreateUser(context.Background(), user.User{
		Email: "older@example.com", FirstName: "O", LastName: "P", Role: user.RoleUser, IsActive: true,
		PasswordHash: hash, CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now,
	}); err != nil {
		t.Fatal(err)
	}
	h.client().mustLogin("older@example.com", "an older passphrase")
	u, err := h.store.GetUser(context.Background(), "older@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash == hash || h.hasher.NeedsRehash(u.PasswordHash) {
		t.Errorf("hash not upgraded to the current parameters: %.30s…", u.PasswordHash)
	}
	h.client().mustLogin("older@example.com", "an older passphrase")
}
