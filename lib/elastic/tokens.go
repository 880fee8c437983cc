package elastic

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"esauth/lib/errs"
	"esauth/lib/token"
)

// CreateToken stores a new one-time token (op_type create: its id is the
// hash of 256 random bits, so a conflict is this very write, re-sent).
func (s *Store) CreateToken(ctx context.Context, t token.Token) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	r, err := s.call(ctx, "create token", esapi.IndexRequest{
		Index: s.tokens, DocumentID: t.ID, OpType: "create", Body: jsonBody(t),
	})
	if err != nil {
		return err
	}
	switch r.status {
	case http.StatusCreated, http.StatusOK, http.StatusConflict:
		return nil
	}
	return unexpected("create token", r)
}

// errTokenInvalid is every way a token can fail: unknown, used, of another
// purpose, expired. One message for all, so a link tells nothing of why.
var errTokenInvalid = errs.E(errs.Invalid, "This link is invalid, expired or already used.")

// UseToken spends the token with this id for purpose: it reads it, deletes
// it, and returns it only when this call's delete is the one that removed
// it, so of two requests racing with one link exactly one succeeds. A
// token of another purpose is left as it is; an expired one is deleted.
// Every failure is the same errs.Invalid. check, when not nil, sees the
// token before it is spent; its error is returned and the token kept (a
// new password the screening refuses does not cost the link).
func (s *Store) UseToken(ctx context.Context, id string, purpose token.Purpose, now time.Time, check func(token.Token) error) (token.Token, error) {
	t, err := s.readToken(ctx, id, purpose)
	if err != nil {
		return token.Token{}, err
	}
	if check != nil && now.Before(t.ExpiresAt) {
		if err := check(t); err != nil {
			return token.Token{}, err
		}
	}
	r, err := s.call(ctx, "delete token", esapi.DeleteRequest{Index: s.tokens, DocumentID: id})
	if err != nil {
		return token.Token{}, err
	}
	if docMissing(r) {
		return token.Token{}, errTokenInvalid // another request used it first
	}
	if r.status != http.StatusOK {
		return token.Token{}, unexpected("delete token", r)
	}
	if !now.Before(t.ExpiresAt) {
		return token.Token{}, errTokenInvalid
	}
	return t, nil
}

// readToken reads the token with this id, when it is one of purpose.
func (s *Store) readToken(ctx context.Context, id string, purpose token.Purpose) (token.Token, error) {
	if !validSessionID(id) { // the same form: 64 hex characters
		return token.Token{}, errTokenInvalid
	}
	if err := s.ensure(ctx); err != nil {
		return token.Token{}, err
	}
	r, err := s.call(ctx, "get token", esapi.GetRequest{Index: s.tokens, DocumentID: id})
	if err != nil {
		return token.Token{}, err
	}
	if docMissing(r) {
		return token.Token{}, errTokenInvalid
	}
	if r.status != http.StatusOK {
		return token.Token{}, unexpected("get token", r)
	}
	var a getAnswer
	if err := decode("get token", r, &a); err != nil {
		return token.Token{}, err
	}
	var t token.Token
	if !a.Found || json.Unmarshal(a.Source, &t) != nil {
		return token.Token{}, errTokenInvalid
	}
	t.ID = id
	if t.Purpose != purpose {
		return token.Token{}, errTokenInvalid
	}
	return t, nil
}

// PeekToken returns the token with this id for purpose without spending
// it: for a link whose use is made one-use by a conditional write
// elsewhere (a recovery link: the password it was mailed about), so that
// a failure before that write leaves the link usable. Every failure is
// the same errs.Invalid; an expired token is one.
func (s *Store) PeekToken(ctx context.Context, id string, purpose token.Purpose, now time.Time) (token.Token, error) {
	t, err := s.readToken(ctx, id, purpose)
	if err != nil {
		return token.Token{}, err
	}
	if !now.Before(t.ExpiresAt) {
		return token.Token{}, errTokenInvalid
	}
	return t, nil
}

// DeleteToken deletes the token with this id; one already gone is no
// error.
func (s *Store) DeleteToken(ctx context.Context, id string) error {
	if !validSessionID(id) {
		return nil
	}
	r, err := s.call(ctx, "delete token", esapi.DeleteRequest{Index: s.tokens, DocumentID: id})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK && !docMissing(r) {
		return unexpected("delete token", r)
	}
	return nil
}
