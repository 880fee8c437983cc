package elastic

import (
	"context"
	"net/http"
	"net/url"

	"github.com/elastic/go-elasticsearch/v8/esapi"
	"go.uber.org/zap"

	"esauth/lib/errs"
	"esauth/lib/user"
)

// identityPath is an identity's document id, "<provider>:<subject>", as a
// URL path segment (subjects are the provider's and may hold anything).
func identityPath(provider, subject string) string {
	return url.PathEscape(provider + ":" + subject)
}

// maxIdentityID is Elasticsearch's limit on a document id, in bytes.
const maxIdentityID = 512

// CreateIdentity links a provider account to a user. It uses op_type
// create, so a provider account is linked to at most one user: of two
// racing links exactly one succeeds and the other gets errs.Conflict. The
// write is visible to ListIdentities when it returns.
func (s *Store) CreateIdentity(ctx context.Context, id user.Identity) error {
	if len(id.Provider)+1+len(id.Subject) > maxIdentityID {
		return errs.E(errs.Invalid, "The provider's account id is too long.")
	}
	if err := s.ensure(ctx); err != nil {
		return err
	}
	r, err := s.call(ctx, "create identity", esapi.IndexRequest{
		Index:      s.identities,
		DocumentID: identityPath(id.Provider, id.Subject),
		OpType:     "create",
		Refresh:    "wait_for",
		Body:       jsonBody(id),
	})
	if err != nil {
		return err
	}
	switch r.status {
	case http.StatusCreated, http.StatusOK:
		return nil
	case http.StatusConflict:
		return errs.E(errs.Conflict, "This account at the provider is already linked to a user.")
	}
	return unexpected("create identity", r)
}

// GetIdentity returns the identity of a provider account, or errs.NotFound.
func (s *Store) GetIdentity(ctx context.Context, provider, subject string) (user.Identity, error) {
	if len(provider)+1+len(subject) > maxIdentityID {
		return user.Identity{}, errs.E(errs.NotFound, "No user is linked to this account.")
	}
	if err := s.ensure(ctx); err != nil {
		return user.Identity{}, err
	}
	r, err := s.call(ctx, "get identity", esapi.GetRequest{Index: s.identities, DocumentID: identityPath(provider, subject)})
	if err != nil {
		return user.Identity{}, err
	}
	if docMissing(r) {
		return user.Identity{}, errs.E(errs.NotFound, "No user is linked to this account.")
	}
	if r.status != http.StatusOK {
		return user.Identity{}, unexpected("get identity", r)
	}
	var a struct {
		Found  bool          `json:"found"`
		Source user.Identity `json:"_source"`
	}
	if err := decode("get identity", r, &a); err != nil {
		return user.Identity{}, err
	}
	if !a.Found {
		return user.Identity{}, unexpected("get identity", r)
	}
	return a.Source, nil
}

// maxIdentities bounds the identities listed for one email; a user has one
// per provider at most in practice.
const maxIdentities = 100

// ListIdentities returns the identities recorded for email, oldest first.
// They may include stale ones of an earlier account with that email (see
// user.Identity.Belongs); the caller filters with the user it has.
func (s *Store) ListIdentities(ctx context.Context, email string) ([]user.Identity, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, err
	}
	body := map[string]any{
		"query": map[string]any{"term": map[string]any{"email_address": user.NormalizeEmail(email)}},
		"sort":  []any{map[string]any{"created_at": "asc"}, map[string]any{"provider": "asc"}},
		"size":  maxIdentities,
	}
	r, err := s.call(ctx, "list identities", esapi.SearchRequest{Index: []string{s.identities}, Body: jsonBody(body)})
	if err != nil {
		return nil, err
	}
	if r.status != http.StatusOK {
		return nil, unexpected("list identities", r)
	}
	var a struct {
		Hits struct {
			Hits []struct {
				Source user.Identity `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := decode("list identities", r, &a); err != nil {
		return nil, err
	}
	out := make([]user.Identity, 0, len(a.Hits.Hits))
	for _, h := range a.Hits.Hits {
		out = append(out, h.Source)
	}
	return out, nil
}

// DeleteIdentity unlinks a provider account; one already gone is
// errs.NotFound. The change is visible to ListIdentities when it returns.
func (s *Store) DeleteIdentity(ctx context.Context, provider, subject string) error {
	if len(provider)+1+len(subject) > maxIdentityID {
		return errs.E(errs.NotFound, "No user is linked to this account.")
	}
	if err := s.ensure(ctx); err != nil {
		return err
	}
	r, err := s.call(ctx, "delete identity", esapi.DeleteRequest{
		Index: s.identities, DocumentID: identityPath(provider, subject), Refresh: "wait_for",
	})
	if err != nil {
		return err
	}
	switch {
	case r.status == http.StatusOK:
		return nil
	case docMissing(r):
		return errs.E(errs.NotFound, "No user is linked to this account.")
	}
	return unexpected("delete identity", r)
}

// sweepIdentities deletes the identities recorded for email, after its
// user is deleted. Like sweepSessions it is housekeeping: an identity of
// a deleted account never logs anyone in (user.Identity.Belongs).
func (s *Store) sweepIdentities(ctx context.Context, email string) {
	q := map[string]any{"term": map[string]any{"email_address": user.NormalizeEmail(email)}}
	if _, err := s.deleteWhere(ctx, "delete identities", s.identities, q); err != nil {
		s.log.Warn("could not delete the identities of a deleted user; they log nobody in", zap.Error(err))
	}
}
