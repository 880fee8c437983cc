package account

import (
	"context"
	"errors"
	"testing"

	"esauth/lib/errs"
	"esauth/lib/password"
)

func TestBusyHashingIsA503WithRetryAfter(t *testing.T) {
	err := busy(password.ErrBusy)
	var e *errs.Error
	if !errs.Is(err, errs.Unavailable) || !errors.As(err, &e) || e.RetryAfter <= 0 {
		t.Errorf("busy(ErrBusy) = %#v; want unavailable with a Retry-After", err)
	}
	if err := busy(context.DeadlineExceeded); !errs.Is(err, errs.Unavailable) {
		t.Errorf("busy(deadline) = %v; want unavailable", err)
	}
	if err := busy(nil); err != nil {
		t.Errorf("busy(nil) = %v", err)
	}
}
