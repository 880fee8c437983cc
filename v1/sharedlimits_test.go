package v1

import (
	"context"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"

	"esauth/lib/elastic/estest"
	"esauth/lib/limit"
)

// twoInstances are two API servers on one Elasticsearch, as two esauth
// processes behind one load balancer, each with its own board (nil: the
// limits of each instance alone, as before issue 19).
type twoInstances struct {
	a, b           *harness
	boardA, boardB *limit.Board
}

func newTwoInstances(t *testing.T, shared bool, opts ...harnessOption) *twoInstances {
	store := estest.New(t)
	var ti twoInstances
	if shared {
		ti.boardA, ti.boardB = limit.NewBoard(store, "instance-a"), limit.NewBoard(store, "instance-b")
	}
	on := func(b *limit.Board) []harnessOption {
		return append([]harnessOption{func(d *Deps) {
			d.Limits = b
			d.LoginLimit = RateLimit{PerMinute: 0.5, Burst: 3}
			d.SignupLimit = RateLimit{PerMinute: 0.5, Burst: 2}
		}}, opts...)
	}
	ti.a = newHarnessOn(t, store, on(ti.boardA)...)
	ti.b = newHarnessOn(t, store, on(ti.boardB)...)
	return &ti
}

// sync runs what each server's background loop runs every second
// (ESAUTH_LIMITS_SYNC), a, b, then a again, so each has read what the
// other published; the refreshes stand for the index's one-second refresh.
func (ti *twoInstances) sync(t *testing.T) {
	t.Helper()
	if ti.boardA == nil {
		return
	}
	for _, b := range []*limit.Board{ti.boardA, ti.boardB, ti.boardA} {
		if err := b.Sync(context.Background(), time.Now()); err != nil {
			t.Fatal(err)
		}
		estest.MustDo(t, "POST", "/"+ti.a.store.LimitsIndex()+"/_refresh", "")
	}
}

func TestTwoInstancesAllowThePerIPRatesOnceBetweenThem(t *testing.T) {
	for _, shared := range []bool{true, false} {
		name := map[bool]string{true: "shared", false: "each instance alone (the old behaviour, which the test must tell apart)"}[shared]
		t.Run(name, func(t *testing.T) {
			ti := newTwoInstances(t, shared)
			ti.a.addUser("user@example.com", pw, false)
			wrong := func(h *harness) int {
				return h.client().in(t).login("user@example.com", "a wrong password").Status
			}
			// The login's burst of three: two on a, one on b.
			for range 2 {
				expectStatus(t, ti.a.client().in(t).login("user@example.com", "a wrong password"), http.StatusUnauthorized)
			}
			ti.sync(t)
			expectStatus(t, ti.b.client().in(t).login("user@example.com", "a wrong password"), http.StatusUnauthorized)
			fourth := wrong(ti.b)
			ti.sync(t)
			fifth := wrong(ti.a)

			// The signup's burst of two: one on each.
			expectStatus(t, ti.a.client().in(t).signup("one@example.com", pw), http.StatusCreated)
			ti.sync(t)
			expectStatus(t, ti.b.client().in(t).signup("two@example.com", pw), http.StatusCreated)
			thirdSignup := ti.b.client().in(t).signup("three@example.com", pw).Status

			if shared {
				if fourth != http.StatusTooManyRequests || fifth != http.StatusTooManyRequests {
					t.Errorf("the fourth and fifth logins from one address, over two instances, answered %d and %d; want 429 (a burst of 3 between them)", fourth, fifth)
				}
				if thirdSignup != http.StatusTooManyRequests {
					t.Errorf("the third signup from one address, over two instances, answered %d; want 429", thirdSignup)
				}
				return
			}
			if fourth != http.StatusUnauthorized || thirdSignup != http.StatusCreated {
				t.Errorf("alone, instance b answered %d and %d; want 401 and 201 (its own whole burst)", fourth, thirdSignup)
			}
		})
	}
}

// The recovery mails to one address are limited between the instances,
// and every spelling of that address (case, full-width letters, spaces)
// counts as the same address.
func TestTwoInstancesMailOneAddressThreeRecoveryLinksBetweenThem(t *testing.T) {
	opt, smtp := withMail(t)
	// The recovery request shares the signup's per-IP budget: off here,
	// so only the per-address limit counts.
	ti := newTwoInstances(t, true, opt, func(d *Deps) { d.SignupLimit = RateLimit{} })
	ti.a.addUser("victim@example.com", pw, false)
	ask := func(h *harness, email string) {
		t.Helper()
		expectStatus(t, h.client().in(t).do("POST", "/v1/auth/recovery", map[string]string{"email_address": email}), http.StatusAccepted)
	}
	dropped := func(h *harness) int {
		return h.logs.FilterMessage("recovery requests for one address over the limit; dropped").Len()
	}
	ask(ti.a, "Victim@Example.com")
	ask(ti.a, "ｖｉｃｔｉｍ@ｅｘａｍｐｌｅ.ｃｏｍ") // full-width: NFKC makes it the same address
	ti.sync(t)
	ask(ti.b, "VICTIM@example.com")
	ask(ti.b, "  victim@example.com ")
	ti.sync(t)
	ask(ti.a, "victim@EXAMPLE.com")
	if got := dropped(ti.a) + dropped(ti.b); got != 2 {
		t.Errorf("%d requests dropped; want 2 (five asked, three allowed between the instances)", got)
	}
	msgs := smtp.Wait(t, 3, 10*time.Second)
	// No more can come: the two dropped requests never started a lookup,
	// and the three that did have each sent theirs.
	waitFor(t, func() bool {
		return ti.a.logs.FilterField(zap.String("event", "recovery_requested")).Len()+
			ti.b.logs.FilterField(zap.String("event", "recovery_requested")).Len() >= 3
	})
	if got := len(smtp.Messages()); got != 3 {
		t.Errorf("%d recovery mails (%v); want 3", got, msgs)
	}
	for _, m := range smtp.Messages() {
		if len(m.To) != 1 || m.To[0] != "victim@example.com" {
			t.Errorf("a mail went to %v", m.To)
		}
	}
}
