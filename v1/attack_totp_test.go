package v1

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"esauth/lib/totp"
)

// A stolen cookie and the second factor, beyond what
// TestAStolenCookieAloneCannotDisableOrReplaceTOTP covers (disabling without
// the password or a code, enrolling without the password or while TOTP is
// on, confirming an enrolment nobody started) and
// TestTurningTOTPOffNeedsThePasswordAndACode (the owner's side): the routes
// refuse for what they are, not only because a guess was wrong.
//
//   - A full session's cookie cannot confirm again while TOTP is on, even
//     with a right code (one read over the owner's shoulder): a second
//     confirm would mint new recovery codes, hand them to the thief and
//     void the owner's. There is no other route that makes recovery codes
//     (routes.go: enroll, confirm, DELETE, verify).
//   - A cookie copied during the code step (half-authenticated) reaches no
//     TOTP route but the code's, even with the password and a right code:
//     the session, not the guess, is what is refused.
//
// After all of it the stored factor is the same (secret, when it was turned
// on, last step, recovery codes), the code the refused requests carried is
// unspent, and the owner's app and an original recovery code still log in.
func TestAStolenCookieMintsNoRecoveryCodesAndAHalfSessionReachesNoTOTPRoute(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock))
	const email = "owner@example.com"
	h.addUser(email, pw, false)
	owner := h.client()
	owner.mustLogin(email, pw)
	secret, recovery := enrolTOTP(t, owner, clock)

	// A full session (password and code), as a thief would copy it.
	full := h.client()
	expectStatus(t, full.login(email, pw), http.StatusOK)
	clock.Advance(totp.Period) // the enrolment spent this step's code
	code, _ := totp.Code(secret, clock.Now())
	expectStatus(t, full.do("POST", "/v1/auth/totp/verify", map[string]string{"code": code}), http.StatusOK)
	thief := stolenCookie(h, full)
	expectStatus(t, thief.do("GET", "/v1/test", nil), http.StatusOK) // the copy works

	// A login half-way (the password typed, the code owed), copied then.
	pending := h.client()
	expectStatus(t, pending.login(email, pw), http.StatusOK)
	halfThief := stolenCookie(h, pending)

	before, err := h.store.GetUser(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(totp.Period)
	now, _ := totp.Code(secret, clock.Now()) // right, and unspent

	for _, tt := range []struct {
		name         string
		c            *client
		method, path string
		body         map[string]string
		want         int
	}{
		{"a full session confirms again with a right code", thief, "POST", "/v1/auth/totp/confirm", map[string]string{"code": now}, http.StatusConflict},
		{"a full session confirms with a recovery code", thief, "POST", "/v1/auth/totp/confirm", map[string]string{"recovery_code": recovery[1]}, http.StatusConflict},
		{"a full session disables with a guessed password and recovery code", thief, "DELETE", "/v1/auth/totp",
			map[string]string{"password": "a guess at the password", "recovery_code": "guess-guess"}, http.StatusForbidden},
		{"a half session enrols with the password", halfThief, "POST", "/v1/auth/totp/enroll", map[string]string{"password": pw}, http.StatusUnauthorized},
		{"a half session confirms with a right code", halfThief, "POST", "/v1/auth/totp/confirm", map[string]string{"code": now}, http.StatusUnauthorized},
		{"a half session disables with the password and a right code", halfThief, "DELETE", "/v1/auth/totp",
			map[string]string{"password": pw, "code": now}, http.StatusUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := tt.c.in(t).do(tt.method, tt.path, tt.body)
			expectStatus(t, a, tt.want)
			if len(a.Data) > 0 && string(a.Data) != "null" {
				t.Errorf("the refusal carries data: %s", a.Data)
			}
		})
	}

	after, err := h.store.GetUser(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	if after.TOTPSecret != before.TOTPSecret || !after.TOTPEnabledAt.Equal(before.TOTPEnabledAt) ||
		after.TOTPLastStep != before.TOTPLastStep || !slices.Equal(after.RecoveryCodes, before.RecoveryCodes) {
		t.Fatalf("the stored second factor changed: enabled %v→%v, last step %d→%d, secret same %v, recovery codes same %v",
			before.TOTPEnabledAt, after.TOTPEnabledAt, before.TOTPLastStep, after.TOTPLastStep,
			after.TOTPSecret == before.TOTPSecret, slices.Equal(after.RecoveryCodes, before.RecoveryCodes))
	}

	// The owner's half-way login finishes with the very code the refused
	// requests carried (none of them spent it), and a new login with an
	// original recovery code (the set was not replaced).
	expectStatus(t, pending.do("POST", "/v1/auth/totp/verify", map[string]string{"code": now}), http.StatusOK)
	expectStatus(t, pending.do("GET", "/v1/test", nil), http.StatusOK)
	next := h.client()
	expectStatus(t, next.login(email, pw), http.StatusOK)
	var left struct {
		Left int `json:"recovery_codes_left"`
	}
	a := next.do("POST", "/v1/auth/totp/verify", map[string]string{"recovery_code": recovery[0]})
	expectStatus(t, a, http.StatusOK)
	a.data(t, &left)
	if left.Left != totp.RecoveryCodeCount-1 {
		t.Errorf("%d recovery codes left after using one; want %d", left.Left, totp.RecoveryCodeCount-1)
	}
	// The half session copied earlier died with the login it belonged to:
	// even the next step's code does not finish it.
	clock.Advance(totp.Period)
	later, _ := totp.Code(secret, clock.Now())
	expectStatus(t, halfThief.do("POST", "/v1/auth/totp/verify", map[string]string{"code": later}), http.StatusUnauthorized)
}
