package account

import (
	"context"

	"esauth/lib/errs"
	"esauth/lib/reqlog"
)

// Screen refuses passwords that are common or known breached (NIST SP
// 800-63B), on top of lib/user's length rules. Both parts are optional:
// nil Common skips the list, nil Pwned skips the online check. lib/breached
// has both (its Screener and Pwned).
type Screen struct {
	Common CommonList
	Pwned  BreachCheck
}

// CommonList knows the passwords too common to choose.
type CommonList interface {
	// Check says why pw may not be chosen by the owner of email, or "".
	Check(pw, email string) string
	// IsCommon says pw is on the list.
	IsCommon(pw string) bool
}

// BreachCheck asks whether a password appears in a known breach.
type BreachCheck interface {
	Breached(ctx context.Context, pw string) (bool, error)
}

// MsgBreached is the refusal of a password found in a known breach.
const MsgBreached = "This password appears in a known data breach; choose another."

// problem returns why pw may not be chosen by the owner of email, or "".
// An unreachable breach API does not block the request: the password is
// judged by the embedded list alone and a warning is logged.
func (s Screen) problem(ctx context.Context, pw, email string) string {
	if s.Common != nil {
		if m := s.Common.Check(pw, email); m != "" {
			return m
		}
	}
	if s.Pwned != nil {
		found, err := s.Pwned.Breached(ctx, pw)
		if err != nil {
			reqlog.From(ctx).Warnw("breached-password check unavailable; proceeding without it", "error", err)
			return ""
		}
		if found {
			return MsgBreached
		}
	}
	return ""
}

// check is problem as a 422 on the given field.
func (s Screen) check(ctx context.Context, field, pw, email string) error {
	if m := s.problem(ctx, pw, email); m != "" {
		return errs.InvalidFields(map[string]string{field: m})
	}
	return nil
}

// changeRequired reports whether a password that just logged in should be
// replaced (ASVS 2.1.7): it is on the common list. The login still succeeds.
func (s Screen) changeRequired(pw string) bool {
	return s.Common != nil && s.Common.IsCommon(pw)
}
