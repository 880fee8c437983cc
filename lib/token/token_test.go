package token_test

import (
	"strings"
	"testing"
	"time"

	"esauth/lib/token"
)

func TestNewTokensAreRandomAndOnlyTheirHashIsTheID(t *testing.T) {
	now := time.Now()
	a, secretA := token.New(token.Recovery, "a@example.com", now, token.RecoveryTTL)
	b, secretB := token.New(token.Recovery, "a@example.com", now, token.RecoveryTTL)
	if secretA == secretB || a.ID == b.ID {
		t.Fatal("two tokens are the same")
	}
	if len(secretA) != 43 || len(a.ID) != 64 || strings.Contains(a.ID, secretA) {
		t.Errorf("secret %q, id %q", secretA, a.ID)
	}
	if id, ok := token.IDOf(secretA); !ok || id != a.ID {
		t.Errorf("IDOf(secret) = %q, %v; want the token's id", id, ok)
	}
	if !a.ExpiresAt.Equal(a.CreatedAt.Add(token.RecoveryTTL)) || a.Purpose != token.Recovery || a.Email != "a@example.com" {
		t.Errorf("token %+v", a)
	}
}

func TestIDOfRefusesWhatNewDoesNotMake(t *testing.T) {
	for _, s := range []string{"", "short", strings.Repeat("a", 42), strings.Repeat("a", 44), strings.Repeat("!", 43), "../../_doc/x"} {
		if _, ok := token.IDOf(s); ok {
			t.Errorf("IDOf(%q) accepted it", s)
		}
	}
}
