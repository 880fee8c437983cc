package session_test

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"esauth/lib/session"
	"esauth/lib/user"
)

func TestNewTokenGivesDistinctRandomTokens(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		token, id := session.NewToken()
		if seen[token] {
			t.Fatalf("NewToken returned %q twice", token)
		}
		seen[token] = true
		raw, err := base64.RawURLEncoding.DecodeString(token)
		if err != nil || len(raw) != 32 {
			t.Fatalf("token %q is not 32 bytes of unpadded base64url (%d bytes, %v)", token, len(raw), err)
		}
		if got := session.IDOf(token); got != id {
			t.Fatalf("IDOf(token) = %q; want the id NewToken returned, %q", got, id)
		}
		if id == token {
			t.Fatal("the session id is the token itself")
		}
	}
}

func TestIDOfIsTheHexSHA256OfTheToken(t *testing.T) {
	tests := []struct {
		name  string
		token string
		want  string
	}{
		// Test vectors from FIPS 180-2.
		{"the SHA-256 of abc", "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
		{"the SHA-256 of nothing", "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := session.IDOf(tt.token); got != tt.want {
				t.Errorf("IDOf(%q) = %q; want %q", tt.token, got, tt.want)
			}
		})
	}
	token, _ := session.NewToken()
	id := session.IDOf(token)
	if b, err := hex.DecodeString(id); err != nil || len(id) != 64 || len(b) != 32 || id != strings.ToLower(id) {
		t.Errorf("IDOf(%q) = %q; want 64 lower-case hex characters", token, id)
	}
}

var policy = session.Policy{TTL: 12 * time.Hour, Idle: 2 * time.Hour, RememberTTL: 720 * time.Hour, TouchEvery: time.Minute}

var t0 = time.Date(2024, 3, 1, 9, 0, 0, 0, time.UTC)

func TestPolicyNew(t *testing.T) {
	tests := []struct {
		name     string
		remember bool
		want     time.Time
	}{
		{"a browser-session login expires after TTL", false, t0.Add(12 * time.Hour)},
		{"a remember-me login expires after RememberTTL", true, t0.Add(720 * time.Hour)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, token := policy.New(ada, tt.remember, t0, "Firefox", "192.0.2.1")
			if !s.ExpiresAt.Equal(tt.want) {
				t.Errorf("ExpiresAt = %v; want %v", s.ExpiresAt, tt.want)
			}
			if s.ID != session.IDOf(token) {
				t.Errorf("ID = %q; want IDOf(token) = %q", s.ID, session.IDOf(token))
			}
			if s.ID == token || strings.Contains(s.ID, token) {
				t.Error("the session stores the raw token")
			}
			want := session.Session{
				ID: s.ID, Email: "ada@example.com", CreatedAt: t0, ExpiresAt: tt.want, LastSeenAt: t0,
				Remember: tt.remember, UserAgent: "Firefox", IP: "192.0.2.1", UserEpoch: "epoch-1",
			}
			if s != want {
				t.Errorf("New = %+v; want %+v", s, want)
			}
		})
	}
	a, tokenA := policy.New(ada, false, t0, "", "")
	b, tokenB := policy.New(ada, false, t0, "", "")
	if a.ID == b.ID || tokenA == tokenB {
		t.Error("two logins of the same user at the same time share a token")
	}
}

func TestPolicyNewKeepsATruncatedUserAgentValidUTF8(t *testing.T) {
	tests := []struct {
		name    string
		ua      string
		wantLen int // in bytes
	}{
		{"a short user agent is kept whole", "Mozilla/5.0 (X11; Linux x86_64)", 31},
		{"512 bytes are kept whole", strings.Repeat("a", 512), 512},
		{"600 ASCII characters are cut to 512 bytes", strings.Repeat("a", 600), 512},
		{"600 é runes whose boundary falls on byte 512 are cut to 512 bytes", strings.Repeat("é", 600), 512},
		{"600 é runes after one ASCII byte are cut before the split é", "a" + strings.Repeat("é", 600), 511},
		{"four-byte runes split at byte 512 are cut before the split rune", "a" + strings.Repeat("😀", 200), 509},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := policy.New(ada, false, t0, tt.ua, "")
			if !utf8.ValidString(s.UserAgent) {
				t.Errorf("UserAgent %q is not valid UTF-8", s.UserAgent)
			}
			if len(s.UserAgent) != tt.wantLen {
				t.Errorf("UserAgent is %d bytes; want %d", len(s.UserAgent), tt.wantLen)
			}
			if !strings.HasPrefix(tt.ua, s.UserAgent) {
				t.Error("UserAgent is not a prefix of what the client sent")
			}
		})
	}
}

func TestPolicyValid(t *testing.T) {
	browser, _ := policy.New(ada, false, t0, "", "")
	remember, _ := policy.New(ada, true, t0, "", "")
	seenAt := func(s session.Session, at time.Time) session.Session {
		s.LastSeenAt = at
		return s
	}
	tests := []struct {
		name   string
		policy session.Policy
		s      session.Session
		now    time.Time
		want   bool
	}{
		{"a fresh session is valid", policy, browser, t0, true},
		{"a session used a minute ago is valid", policy, seenAt(browser, t0.Add(time.Hour)), t0.Add(time.Hour + time.Minute), true},
		{"a session just before its absolute expiry is valid", policy, seenAt(browser, t0.Add(11*time.Hour)), browser.ExpiresAt.Add(-time.Nanosecond), true},
		{"a session at its absolute expiry is invalid", policy, seenAt(browser, t0.Add(11*time.Hour)), browser.ExpiresAt, false},
		{"a session past its absolute expiry is invalid", policy, seenAt(browser, t0.Add(11*time.Hour)), browser.ExpiresAt.Add(time.Hour), false},
		{"a session idle just under the idle timeout is valid", policy, browser, t0.Add(2*time.Hour - time.Nanosecond), true},
		{"a session idle exactly the idle timeout is invalid", policy, browser, t0.Add(2 * time.Hour), false},
		{"a session idle too long is invalid", policy, browser, t0.Add(3 * time.Hour), false},
		{"a remember-me session idle too long is still valid", policy, remember, t0.Add(3 * time.Hour), true},
		{"a remember-me session unused for 29 days is still valid", policy, remember, t0.Add(29 * 24 * time.Hour), true},
		{"a remember-me session at its absolute expiry is invalid", policy, seenAt(remember, t0.Add(719*time.Hour)), remember.ExpiresAt, false},
		{"a remember-me session past its absolute expiry is invalid", policy, remember, remember.ExpiresAt.Add(time.Hour), false},
		{"without an idle timeout a long-idle session is valid", session.Policy{TTL: 12 * time.Hour}, browser, t0.Add(11 * time.Hour), true},
		{"without an idle timeout the absolute expiry still holds", session.Policy{TTL: 12 * time.Hour}, browser, browser.ExpiresAt, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.policy.Valid(tt.s, tt.now); got != tt.want {
				t.Errorf("Valid(%+v, %v) = %v; want %v", tt.s, tt.now, got, tt.want)
			}
		})
	}
}

func TestPolicyNeedsTouch(t *testing.T) {
	s, _ := policy.New(ada, false, t0, "", "")
	tests := []struct {
		name string
		now  time.Time
		want bool
	}{
		{"a session seen just now needs no touch", t0, false},
		{"a session seen 59 seconds ago needs no touch", t0.Add(59 * time.Second), false},
		{"a session seen a minute ago needs a touch", t0.Add(time.Minute), true},
		{"a session seen an hour ago needs a touch", t0.Add(time.Hour), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := policy.NeedsTouch(s, tt.now); got != tt.want {
				t.Errorf("NeedsTouch(at %v) = %v; want %v", tt.now.Sub(t0), got, tt.want)
			}
		})
	}
}

func TestContextCarriesTheCurrentUserAndSession(t *testing.T) {
	cur := session.Current{
		User:    user.User{Email: "ada@example.com", Role: user.RoleAdmin},
		Session: session.Session{ID: "abc", Email: "ada@example.com", Remember: true},
	}
	got, ok := session.FromContext(session.NewContext(context.Background(), cur))
	if !ok {
		t.Fatal("FromContext(NewContext(cur)) reports no current user")
	}
	if got.User.Email != cur.User.Email || got.User.Role != cur.User.Role || got.Session != cur.Session {
		t.Errorf("FromContext = %+v; want %+v", got, cur)
	}

	got, ok = session.FromContext(context.Background())
	if ok {
		t.Errorf("FromContext(bare context) = %+v, true; want false", got)
	}
	if got.User.Email != "" || got.Session.ID != "" {
		t.Errorf("FromContext(bare context) = %+v; want the zero Current", got)
	}

	type otherKey struct{}
	if _, ok := session.FromContext(context.WithValue(context.Background(), otherKey{}, cur)); ok {
		t.Error("FromContext finds a Current stored under another package's key")
	}
}

// ada is the user the policy tests make sessions for.
var ada = user.User{Email: "ada@example.com", IsActive: true, SessionEpoch: "epoch-1"}

func TestPolicyAcceptsOnlyASessionOfTheUsersCurrentEpoch(t *testing.T) {
	s, _ := policy.New(ada, false, t0, "", "")
	if s.UserEpoch != ada.SessionEpoch {
		t.Fatalf("New recorded epoch %q; want the user's %q", s.UserEpoch, ada.SessionEpoch)
	}
	with := func(change func(*user.User)) user.User {
		u := ada
		change(&u)
		return u
	}
	tests := []struct {
		name string
		u    user.User
		now  time.Time
		want bool
	}{
		{"the user it was made for, at once, is accepted", ada, t0, true},
		{"after the user's epoch changed it is refused", with(func(u *user.User) { u.SessionEpoch = "epoch-2" }), t0, false},
		{"an account re-created with the same email is refused", with(func(u *user.User) { u.SessionEpoch = user.NewEpoch() }), t0, false},
		{"a disabled user is refused", with(func(u *user.User) { u.IsActive = false }), t0, false},
		{"another user is refused", with(func(u *user.User) { u.Email = "eve@example.com" }), t0, false},
		{"an expired session is refused", ada, t0.Add(13 * time.Hour), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := policy.Accepts(s, tt.u, tt.now); got != tt.want {
				t.Errorf("Accepts = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestNewEpochsAreDistinct(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		e := user.NewEpoch()
		if len(e) != 32 || seen[e] {
			t.Fatalf("NewEpoch gave %q (seen before: %v)", e, seen[e])
		}
		seen[e] = true
	}
}
