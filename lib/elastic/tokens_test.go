package elastic_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"esauth/lib/elastic/estest"
	"esauth/lib/errs"
	"esauth/lib/token"
)

func TestATokenWorksOnceForItsPurposeUntilItExpires(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	now := time.Now()
	newToken := func(p token.Purpose, ttl time.Duration) string {
		t.Helper()
		tok, secret := token.New(p, "t@example.com", now, ttl)
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		id, _ := token.IDOf(secret)
		return id
	}
	rec := newToken(token.Recovery, time.Hour)
	if _, err := s.UseToken(ctx, rec, token.VerifyEmail, now, nil); !errs.Is(err, errs.Invalid) {
		t.Errorf("a recovery token used to verify: %v; want invalid", err)
	}
	refused := errs.E(errs.Invalid, "refused by the check")
	if _, err := s.UseToken(ctx, rec, token.Recovery, now, func(token.Token) error { return refused }); err != refused {
		t.Errorf("a check that refuses: %v; want its error", err)
	}
	got, err := s.UseToken(ctx, rec, token.Recovery, now, nil)
	if err != nil || got.Email != "t@example.com" || got.Purpose != token.Recovery {
		t.Fatalf("the first use: %+v, %v", got, err)
	}
	if _, err := s.UseToken(ctx, rec, token.Recovery, now, nil); !errs.Is(err, errs.Invalid) {
		t.Errorf("the second use: %v; want invalid", err)
	}
	old := newToken(token.VerifyEmail, time.Minute)
	if _, err := s.UseToken(ctx, old, token.VerifyEmail, now.Add(2*time.Minute), nil); !errs.Is(err, errs.Invalid) {
		t.Errorf("an expired token: %v; want invalid", err)
	}
	for _, id := range []string{"", "nothex", "../../x"} {
		if _, err := s.UseToken(ctx, id, token.Recovery, now, nil); !errs.Is(err, errs.Invalid) {
			t.Errorf("UseToken(%q): %v; want invalid", id, err)
		}
	}
}

func TestTwoRequestsRacingWithOneTokenGiveOneSuccess(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	for trial := range 5 {
		tok, secret := token.New(token.Recovery, "race@example.com", time.Now(), time.Hour)
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
		id, _ := token.IDOf(secret)
		var wins atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := s.UseToken(ctx, id, token.Recovery, time.Now(), nil); err == nil {
					wins.Add(1)
				} else if !errs.Is(err, errs.Invalid) {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Errorf("trial %d: %d requests used one token; want 1", trial, n)
		}
	}
}

func TestPurgeDeletesExpiredTokens(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	now := time.Now()
	expired, _ := token.New(token.VerifyEmail, "p@example.com", now.Add(-48*time.Hour), time.Hour)
	live, _ := token.New(token.VerifyEmail, "p@example.com", now, time.Hour)
	for _, tok := range []token.Token{expired, live} {
		if err := s.CreateToken(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PurgeExpired(ctx, now); err != nil {
		t.Fatal(err)
	}
	if n := countOf(t, s.TokensIndex()); n != 1 {
		t.Errorf("%d tokens after the purge; want 1", n)
	}
}

// PeekToken reads a token without spending it; DeleteToken then removes
// it (and a token already gone is no error).
func TestPeekingATokenSpendsNothingUntilItIsDeleted(t *testing.T) {
	s := estest.New(t)
	ctx := context.Background()
	now := time.Now()
	tok, secret := token.New(token.Recovery, "p@example.com", now, time.Hour)
	if err := s.CreateToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	id, _ := token.IDOf(secret)
	for range 2 {
		if got, err := s.PeekToken(ctx, id, token.Recovery, now); err != nil || got.Email != "p@example.com" {
			t.Fatalf("peek: %+v, %v", got, err)
		}
	}
	if _, err := s.PeekToken(ctx, id, token.VerifyEmail, now); !errs.Is(err, errs.Invalid) {
		t.Errorf("peek for another purpose: %v; want invalid", err)
	}
	if _, err := s.PeekToken(ctx, id, token.Recovery, now.Add(2*time.Hour)); !errs.Is(err, errs.Invalid) {
		t.Errorf("peek after it expired: %v; want invalid", err)
	}
	if err := s.DeleteToken(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PeekToken(ctx, id, token.Recovery, now); !errs.Is(err, errs.Invalid) {
		t.Errorf("peek after delete: %v; want invalid", err)
	}
	if err := s.DeleteToken(ctx, id); err != nil {
		t.Errorf("deleting it again: %v", err)
	}
}
