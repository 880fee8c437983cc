package elastic

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"go.uber.org/zap"

	"esauth/lib/errs"
	"esauth/lib/user"
)

// passkeyDocID is a passkey's document id: its credential id in base64url
// (unpadded), which needs no escaping in a path.
func passkeyDocID(id []byte) string { return base64.RawURLEncoding.EncodeToString(id) }

var errNoPasskey = errs.E(errs.NotFound, "No such passkey.")

// CreatePasskey stores a new passkey. It uses op_type create, so a
// credential id belongs to at most one user: a second registration of
// the same credential gets errs.Conflict. The write is visible to
// ListPasskeys when it returns.
func (s *Store) CreatePasskey(ctx context.Context, p user.Passkey) error {
	if len(p.ID) == 0 || len(p.ID) > user.MaxPasskeyIDLen {
		return errs.E(errs.Invalid, "The passkey's credential id is empty or too long.")
	}
	if err := s.ensure(ctx); err != nil {
		return err
	}
	r, err := s.call(ctx, "create passkey", esapi.IndexRequest{
		Index: s.credentials, DocumentID: passkeyDocID(p.ID), OpType: "create", Refresh: "wait_for", Body: jsonBody(p),
	})
	if err != nil {
		return err
	}
	switch r.status {
	case http.StatusCreated, http.StatusOK:
		return nil
	case http.StatusConflict:
		return errs.E(errs.Conflict, "This passkey is registered already.")
	}
	return unexpected("create passkey", r)
}

// GetPasskey returns the passkey with credential id, or errs.NotFound.
func (s *Store) GetPasskey(ctx context.Context, id []byte) (user.Passkey, error) {
	p, _, err := s.getPasskey(ctx, id)
	return p, err
}

func (s *Store) getPasskey(ctx context.Context, id []byte) (user.Passkey, user.Version, error) {
	if len(id) == 0 || len(id) > user.MaxPasskeyIDLen {
		return user.Passkey{}, user.Version{}, errNoPasskey
	}
	if err := s.ensure(ctx); err != nil {
		return user.Passkey{}, user.Version{}, err
	}
	r, err := s.call(ctx, "get passkey", esapi.GetRequest{Index: s.credentials, DocumentID: passkeyDocID(id)})
	if err != nil {
		return user.Passkey{}, user.Version{}, err
	}
	if docMissing(r) {
		return user.Passkey{}, user.Version{}, errNoPasskey
	}
	if r.status != http.StatusOK {
		return user.Passkey{}, user.Version{}, unexpected("get passkey", r)
	}
	var a getAnswer
	if err := decode("get passkey", r, &a); err != nil {
		return user.Passkey{}, user.Version{}, err
	}
	var p user.Passkey
	if err := json.Unmarshal(a.Source, &p); err != nil || !a.Found {
		return user.Passkey{}, user.Version{}, unexpected("get passkey", r)
	}
	p.ID = id
	return p, user.Version{SeqNo: a.SeqNo, PrimaryTerm: a.PrimaryTerm}, nil
}

// UpdatePasskey applies change to the stored passkey and writes it back
// only if nobody wrote it in between; a lost race reads it again and
// reapplies change (which may refuse: a login's counter is checked against
// the counter stored by the login that won).
func (s *Store) UpdatePasskey(ctx context.Context, id []byte, change func(*user.Passkey) error) (user.Passkey, error) {
	for range maxUpdateAttempts {
		p, v, err := s.getPasskey(ctx, id)
		if err != nil {
			return user.Passkey{}, err
		}
		if err := change(&p); err != nil {
			return user.Passkey{}, err
		}
		r, err := s.call(ctx, "update passkey", esapi.IndexRequest{
			Index: s.credentials, DocumentID: passkeyDocID(id), Body: jsonBody(p),
			IfSeqNo: intPtr(int(v.SeqNo)), IfPrimaryTerm: intPtr(int(v.PrimaryTerm)), Refresh: "wait_for",
		})
		if err != nil {
			return user.Passkey{}, err
		}
		switch {
		case r.status == http.StatusOK || r.status == http.StatusCreated:
			return p, nil
		case r.status == http.StatusConflict:
			continue
		case docMissing(r):
			return user.Passkey{}, errNoPasskey
		}
		return user.Passkey{}, unexpected("update passkey", r)
	}
	return user.Passkey{}, errs.E(errs.Conflict, "The passkey was changed concurrently; try again.")
}

// maxPasskeys bounds the passkeys listed for one email (and so the ones a
// user may have; the rules refuse more).
const maxPasskeys = 100

// ListPasskeys returns the passkeys recorded for email, oldest first. They
// may include stale ones of an earlier account with that email (see
// user.Passkey.Belongs); the caller filters with the user it has.
func (s *Store) ListPasskeys(ctx context.Context, email string) ([]user.Passkey, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	body := map[string]any{
		"query": map[string]any{"term": map[string]any{"email_address": user.NormalizeEmail(email)}},
		"sort":  []any{map[string]any{"created_at": "asc"}},
		"size":  maxPasskeys,
	}
	r, err := s.call(ctx, "list passkeys", esapi.SearchRequest{Index: []string{s.credentials}, Body: jsonBody(body)})
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, unexpected("list passkeys", r)
	}
	var a struct {
		Hits struct {
			Hits []struct {
				ID     string       `json:"_id"`
				Source user.Passkey `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := decode("list passkeys", r, &a); err != nil {
		return nil, err
	}
	out := make([]user.Passkey, 0, len(a.Hits.Hits))
	for _, h := range a.Hits.Hits {
		id, err := base64.RawURLEncoding.DecodeString(h.ID)
		if err != nil {
			continue // not a document esauth wrote
		}
		h.Source.ID = id
		out = append(out, h.Source)
	}
	return out, nil
}

// DeletePasskey removes a passkey; one already gone is errs.NotFound. The
// change is visible to ListPasskeys when it returns.
func (s *Store) DeletePasskey(ctx context.Context, id []byte) error {
	if len(id) == 0 || len(id) > user.MaxPasskeyIDLen {
		return errNoPasskey
	}
	if err := s.ensure(ctx); err != nil {
		return err
	}
	r, err := s.call(ctx, "delete passkey", esapi.DeleteRequest{Index: s.credentials, DocumentID: passkeyDocID(id), Refresh: "wait_for"})
	if err != nil {
		return err
	}
	switch {
	case r.status == http.StatusOK:
		return nil
	case docMissing(r):
		return errNoPasskey
	}
	return unexpected("delete passkey", r)
}

// sweepPasskeys deletes the passkeys recorded for email, after its user is
// deleted. It is housekeeping: a passkey of a deleted account opens no
// other (user.Passkey.Belongs, and the new account's user handle).
func (s *Store) sweepPasskeys(ctx context.Context, email string) {
	q := map[string]any{"term": map[string]any{"email_address": user.NormalizeEmail(email)}}
	if _, err := s.deleteWhere(ctx, "delete passkeys", s.credentials, q); err != nil {
		s.log.Warn("could not delete the passkeys of a deleted user; they open no account", zap.Error(err))
	}
}
