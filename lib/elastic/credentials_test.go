package elastic_test

import (
	"context"
	"reflect"
	"sync"
	"testing"
	"time"

	"esauth/lib/elastic/estest"
	"esauth/lib/errs"
	"esauth/lib/user"
)

func passkeyOf(u user.User, id string) user.Passkey {
	return user.Passkey{
		ID: []byte(id), Email: u.Email, UserCreatedAt: u.CreatedAt, PublicKey: []byte{0xa5, 0x01, 0x02},
		AAGUID: "00000000-0000-0000-0000-000000000000", Transports: []string{"internal", "hybrid"},
		Attachment: "platform", AttestationFormat: "none", UserVerified: true, BackupEligible: true,
		Name: "Laptop", CreatedAt: time.Now().UTC().Truncate(time.Millisecond),
	}
}

func TestPasskeysStoreListOneCredentialOnceAndGoWithTheirUser(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	u := newUser("keys@example.com")
	if err := s.CreateUser(ctx, u); err != nil {
		t.Fatal(err)
	}
	// Credential ids are bytes of any value ("/", "+" and NUL included).
	one, two := passkeyOf(u, "\x00/+credential-one"), passkeyOf(u, "credential-two\xff")
	for _, p := range []user.Passkey{one, two} {
		if err := s.CreatePasskey(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CreatePasskey(ctx, passkeyOf(newUser("other@example.com"), "credential-two\xff")); !errs.Is(err, errs.Conflict) {
		t.Fatalf("a second registration of one credential: %v; want a conflict", err)
	}
	got, err := s.GetPasskey(ctx, one.ID)
	if err != nil || !reflect.DeepEqual(got, one) {
		t.Fatalf("GetPasskey = %+v, %v; want %+v", got, err, one)
	}
	list, err := s.ListPasskeys(ctx, "KEYS@example.com")
	if err != nil || len(list) != 2 || string(list[0].ID) != string(one.ID) {
		t.Fatalf("ListPasskeys = %+v, %v", list, err)
	}
	if _, err := s.GetPasskey(ctx, []byte("nobody's")); !errs.Is(err, errs.NotFound) {
		t.Errorf("an unknown passkey: %v", err)
	}

	// Racing updates each apply, on the document as the others left it
	// (five: each loses at most four races, within UpdatePasskey's tries).
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			if _, err := s.UpdatePasskey(ctx, one.ID, func(p *user.Passkey) error { p.SignCount++; return nil }); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got, _ := s.GetPasskey(ctx, one.ID); got.SignCount != 5 {
		t.Errorf("five racing updates left the counter at %d", got.SignCount)
	}

	if err := s.DeletePasskey(ctx, two.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePasskey(ctx, two.ID); !errs.Is(err, errs.NotFound) {
		t.Errorf("deleting a passkey twice: %v", err)
	}
	if err := s.DeleteUser(ctx, u.Email); err != nil {
		t.Fatal(err)
	}
	estest.MustDo(t, "POST", "/"+s.CredentialsIndex()+"/_refresh", "")
	if left, err := s.ListPasskeys(ctx, u.Email); err != nil || len(left) != 0 {
		t.Errorf("after the user's deletion: %d passkeys left (%v)", len(left), err)
	}
}
