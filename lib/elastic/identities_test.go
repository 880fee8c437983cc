package elastic_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"esauth/lib/elastic/estest"
	"esauth/lib/errs"
	"esauth/lib/user"
)

func identityOf(u user.User, provider, subject string) user.Identity {
	return user.Identity{Provider: provider, Subject: subject, Email: u.Email, UserCreatedAt: u.CreatedAt,
		ProviderEmail: "someone@provider.example", CreatedAt: time.Now().UTC().Truncate(time.Millisecond)}
}

func TestIdentitiesLinkListAndUnlink(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	u := newUser("linked@example.com")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	gh := identityOf(u, "github", "583231")
	// A subject may hold anything, "/" and "#" included.
	odd := identityOf(u, "acme", "tenant/1#user?x")
	for _, id := range []user.Identity{gh, odd} {
		if err := s.CreateIdentity(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.GetIdentity(ctx, "acme", "tenant/1#user?x")
	if err != nil || got != odd {
		t.Fatalf("GetIdentity = %+v, %v; want %+v", got, err, odd)
	}
	if !got.Belongs(u) {
		t.Error("the identity does not belong to the user it was linked to")
	}
	list, err := s.ListIdentities(ctx, u.Email)
	if err != nil || len(list) != 2 {
		t.Fatalf("ListIdentities = %+v, %v; want both", list, err)
	}
	if err := s.DeleteIdentity(ctx, "github", "583231"); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteIdentity(ctx, "github", "583231"); !errs.Is(err, errs.NotFound) {
		t.Errorf("deleting it again = %v; want not found", err)
	}
	if _, err := s.GetIdentity(ctx, "github", "583231"); !errs.Is(err, errs.NotFound) {
		t.Errorf("GetIdentity after unlink = %v; want not found", err)
	}
	if list, _ := s.ListIdentities(ctx, u.Email); len(list) != 1 || list[0] != odd {
		t.Errorf("after unlink ListIdentities = %+v; want only %+v", list, odd)
	}
	if _, err := s.GetIdentity(ctx, "acme", strings.Repeat("x", 600)); !errs.Is(err, errs.NotFound) {
		t.Errorf("an overlong subject = %v; want not found", err)
	}
}

// Of many concurrent links of one provider account, exactly one wins.
func TestAProviderAccountLinksToOneUser(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, conflicts := 0, 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := newUser("racer" + string(rune('a'+i)) + "@example.com")
			err := s.CreateIdentity(ctx, identityOf(u, "github", "42"))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				won++
			case errs.Is(err, errs.Conflict):
				conflicts++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || conflicts != 7 {
		t.Errorf("%d links won and %d got conflict; want 1 and 7", won, conflicts)
	}
}

// Deleting a user deletes their identities; and one left behind (the
// sweep is best effort) does not belong to a new account with the email.
func TestADeletedUsersIdentitiesLogNobodyIn(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	u := newUser("gone@example.com")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	id := identityOf(u, "google", "1089")
	if err := s.CreateIdentity(ctx, id); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteUser(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetIdentity(ctx, "google", "1089"); !errs.Is(err, errs.NotFound) {
		t.Errorf("the deleted user's identity = %v; want not found", err)
	}
	again := newUser("gone@example.com")
	again.CreatedAt = u.CreatedAt.Add(time.Second)
	if id.Belongs(again) {
		t.Error("an identity of the deleted account belongs to the account signed up again under its email")
	}
}
