package account

import (
	"context"

	"esauth/lib/audit"
	"esauth/lib/errs"
	"esauth/lib/reqlog"
	"esauth/lib/token"
	"esauth/lib/user"
)

// SignupRequest is what a new account is made from.
type SignupRequest struct {
	Email     string `json:"email_address"`
	Password  string `json:"password"`
	FirstName string `json:"first_name"`
	LastName  string `json:"last_name"`
}

// Valid checks the fields on their own; password screening needs more
// (see SignUp).
func (r SignupRequest) Valid() map[string]string {
	p := map[string]string{}
	if m := user.ValidateEmail(user.NormalizeEmail(r.Email)); m != "" {
		p["email_address"] = m
	}
	if m := user.ValidatePassword(r.Password); m != "" {
		p["password"] = m
	}
	if m := user.ValidateName("First name", r.FirstName); m != "" {
		p["first_name"] = m
	}
	if m := user.ValidateName("Last name", r.LastName); m != "" {
		p["last_name"] = m
	}
	return p
}

// SignUp makes an account: the API's signup, the signup page and the
// command line's "user create" all call it, so none can skip a check the
// others make, or the audit event. It validates req (fields, then password
// screening: 422 with field messages), hashes the password and stores the
// account with role, in one create call, so a failure anywhere leaves
// either a whole user or none. Every account starts with a new session
// epoch, so nothing of a deleted account with the same email carries
// over. Only the operator makes admins.
func (s *Service) SignUp(ctx context.Context, a Actor, req SignupRequest, role string) (user.User, error) {
	if role != user.RoleUser && !a.Operator {
		return user.User{}, errs.E(errs.Forbidden, "Only the operator makes admins at signup.")
	}
	if fields := req.Valid(); len(fields) > 0 {
		return user.User{}, errs.InvalidFields(fields)
	}
	if m := s.screen.problem(ctx, req.Password, req.Email); m != "" {
		return user.User{}, errs.InvalidFields(map[string]string{"password": m})
	}
	hash, err := s.hasher.Hash(ctx, req.Password)
	if err := busy(err); err != nil {
		return user.User{}, err
	}
	t := s.now().UTC()
	u := user.User{
		Email:             user.NormalizeEmail(req.Email),
		FirstName:         req.FirstName,
		LastName:          req.LastName,
		PasswordHash:      hash,
		Role:              role,
		IsActive:          true,
		CreatedAt:         t,
		UpdatedAt:         t,
		PasswordChangedAt: t,
		SessionEpoch:      user.NewEpoch(),
	}
	if err := s.store.CreateUser(ctx, u); err != nil {
		return user.User{}, err
	}
	s.record(a, audit.Signup, u.Email, audit.Success)
	// The account exists: a link that could not be stored is logged, and
	// the user asks for another (POST /v1/auth/verification/resend).
	if err := s.mail.sendLink(ctx, reqlog.From(ctx), u, token.VerifyEmail); err != nil {
		reqlog.From(ctx).Warnw("could not store the verification link of a new user", "error", err)
	}
	return u, nil
}
