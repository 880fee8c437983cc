package password

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// These tests hold the Hasher's slots through the unexported acquire, which
// is the only way to know for certain, without sleeping, that a slot is
// taken when the call under test starts.

var fastInternal = Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// holdAllSlots fills every slot of h and frees them when the test ends.
func holdAllSlots(t *testing.T, h *Hasher) {
	t.Helper()
	for range cap(h.slots) {
		if err := h.acquire(context.Background()); err != nil {
			t.Fatalf("acquire: %v", err)
		}
		t.Cleanup(h.release)
	}
}

func TestABusyHasherGivesTheContextsError(t *testing.T) {
	h := New(fastInternal, 1)
	encoded := h.hash("pw-pw-pw-pw")
	b, err := bcrypt.GenerateFromPassword([]byte("pw-pw-pw-pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	bcryptHash := string(b)
	holdAllSlots(t, h)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()

	t.Run("Hash with a cancelled context returns context.Canceled", func(t *testing.T) {
		got, err := h.Hash(cancelled, "pw-pw-pw-pw")
		if !errors.Is(err, context.Canceled) || got != "" {
			t.Errorf("Hash = %q, %v; want \"\", context.Canceled", got, err)
		}
	})
	t.Run("Verify with a cancelled context returns false and context.Canceled", func(t *testing.T) {
		ok, err := h.Verify(cancelled, "pw-pw-pw-pw", encoded)
		if !errors.Is(err, context.Canceled) || ok {
			t.Errorf("Verify = %v, %v; want false, context.Canceled", ok, err)
		}
	})
	t.Run("VerifyDummy with a cancelled context returns context.Canceled, so it does take a slot and hash", func(t *testing.T) {
		if err := h.VerifyDummy(cancelled, "pw-pw-pw-pw"); !errors.Is(err, context.Canceled) {
			t.Errorf("VerifyDummy = %v; want context.Canceled", err)
		}
	})
	t.Run("Hash waiting for a slot returns context.Canceled when its context is cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := h.Hash(ctx, "pw-pw-pw-pw")
			done <- err
		}()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Hash = %v; want context.Canceled", err)
		}
	})
	t.Run("Verify of a bcrypt hash with a cancelled context returns context.Canceled, so bcrypt takes a slot too", func(t *testing.T) {
		ok, err := h.Verify(cancelled, "pw-pw-pw-pw", bcryptHash)
		if !errors.Is(err, context.Canceled) || ok {
			t.Errorf("Verify = %v, %v; want false, context.Canceled", ok, err)
		}
	})
	t.Run("a malformed hash is refused before waiting for a slot", func(t *testing.T) {
		ok, err := h.Verify(cancelled, "pw-pw-pw-pw", "$2a$10$nope")
		if !errors.Is(err, ErrMalformed) || ok {
			t.Errorf("Verify = %v, %v; want false, ErrMalformed", ok, err)
		}
	})
	if n := len(h.slots); n != cap(h.slots) {
		t.Errorf("after the refused calls %d of %d slots are taken; a refused call must not keep one", n, cap(h.slots))
	}
}

func TestAWaitingHashRunsOnceTheSlotIsFreed(t *testing.T) {
	h := New(fastInternal, 1)
	if err := h.acquire(context.Background()); err != nil {
		t.Fatal(err)
	}
	type result struct {
		encoded string
		err     error
	}
	done := make(chan result, 1)
	go func() {
		encoded, err := h.Hash(context.Background(), "pw-pw-pw-pw")
		done <- result{encoded, err}
	}()
	h.release()
	r := <-done
	if r.err != nil {
		t.Fatalf("Hash = %v; want a hash once the slot is free", r.err)
	}
	if ok, err := h.Verify(context.Background(), "pw-pw-pw-pw", r.encoded); err != nil || !ok {
		t.Errorf("Verify = %v, %v; want true, nil", ok, err)
	}
	if n := len(h.slots); n != 0 {
		t.Errorf("%d slots are still taken after every call returned; want 0", n)
	}
}

func TestConcurrencyBelowOneMeansGOMAXPROCS(t *testing.T) {
	for _, c := range []int{0, -3} {
		if got, want := cap(New(fastInternal, c).slots), runtime.GOMAXPROCS(0); got != want {
			t.Errorf("New(p, %d) has %d slots; want GOMAXPROCS = %d", c, got, want)
		}
	}
	if got := cap(New(fastInternal, 3).slots); got != 3 {
		t.Errorf("New(p, 3) has %d slots; want 3", got)
	}
}

func TestTheDummyHashIsARealHashWithTheCurrentParameters(t *testing.T) {
	h := New(fastInternal, 1)
	p, _, _, err := decode(h.dummy)
	if err != nil {
		t.Fatalf("the dummy hash %q is malformed: %v", h.dummy, err)
	}
	if p.MemoryKiB != fastInternal.MemoryKiB || p.Time != fastInternal.Time || p.Threads != fastInternal.Threads ||
		p.SaltLen != fastInternal.SaltLen || p.KeyLen != fastInternal.KeyLen {
		t.Errorf("the dummy hash has parameters %+v; want %+v, so it costs what a real verification costs", p, fastInternal)
	}
	if other := New(fastInternal, 1); other.dummy == h.dummy {
		t.Error("two hashers have the same dummy hash; it should be of a random password")
	}
}

func TestAFullHasherGivesErrBusyAfterItsMaxWait(t *testing.T) {
	h := New(fastInternal, 1).WithMaxWait(time.Millisecond)
	encoded := h.hash("pw-pw-pw-pw")
	holdAllSlots(t, h)
	// The context never ends, so only the bounded wait can end these calls.
	ctx := context.Background()
	if _, err := h.Hash(ctx, "pw-pw-pw-pw"); !errors.Is(err, ErrBusy) {
		t.Errorf("Hash = %v; want ErrBusy", err)
	}
	if ok, err := h.Verify(ctx, "pw-pw-pw-pw", encoded); !errors.Is(err, ErrBusy) || ok {
		t.Errorf("Verify = %v, %v; want false, ErrBusy", ok, err)
	}
	if err := h.VerifyDummy(ctx, "pw-pw-pw-pw"); !errors.Is(err, ErrBusy) {
		t.Errorf("VerifyDummy = %v; want ErrBusy", err)
	}
}

func TestAFreeSlotIsTakenEvenWithAShortMaxWait(t *testing.T) {
	h := New(fastInternal, 1).WithMaxWait(time.Nanosecond)
	if _, err := h.Hash(context.Background(), "pw-pw-pw-pw"); err != nil {
		t.Errorf("Hash with a free slot = %v; want success", err)
	}
}
