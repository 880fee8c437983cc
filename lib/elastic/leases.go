package elastic

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"
)

// leaseDoc is a lease: who holds it and until when.
type leaseDoc struct {
	Holder    string    `json:"holder"`
	ExpiresAt time.Time `json:"expires_at"`
	TakenAt   time.Time `json:"taken_at"`
}

// TakeLease tries to make holder the holder of the lease name until now+ttl,
// and reports whether it is. Several instances share one cluster; a lease
// lets one of them at a time do work that all of them would otherwise
// repeat (the purge of expired sessions).
//
// The first holder creates the lease document with op_type create, so of
// two instances racing for a lease nobody holds, exactly one gets it. A
// lease held by another instance is not taken until it has expired, and
// then only by a write guarded by the document's sequence number, so of two
// instances taking over an expired lease exactly one wins. The holder
// renews its own lease the same way. Expiry is read against each
// instance's own clock: clocks that disagree by less than the lease's
// length cannot give it to two holders at once for longer than that
// disagreement.
func (s *Store) TakeLease(ctx context.Context, name, holder string, ttl time.Duration, now time.Time) (bool, error) {
	if err := s.ensure(ctx); err != nil {
		return false, err
	}
	doc := leaseDoc{Holder: holder, TakenAt: now.UTC(), ExpiresAt: now.Add(ttl).UTC()}
	const op = "take lease"
	r, err := s.call(ctx, op, esapi.IndexRequest{Index: s.leases, DocumentID: name, OpType: "create", Body: jsonBody(doc)})
	if err != nil {
		return false, err
	}
	switch r.status {
	case http.StatusCreated, http.StatusOK:
		return true, nil
	case http.StatusConflict:
	default:
		return false, unexpected(op, r)
	}
	r, err = s.call(ctx, "get lease", esapi.GetRequest{Index: s.leases, DocumentID: name})
	if err != nil {
		return false, err
	}
	if docMissing(r) {
		return false, nil // released meanwhile: someone else is taking it; try next time
	}
	if r.status != http.StatusOK {
		return false, unexpected("get lease", r)
	}
	var a getAnswer
	if err := decode("get lease", r, &a); err != nil {
		return false, err
	}
	var held leaseDoc
	if json.Unmarshal(a.Source, &held) != nil {
		return false, unexpected("get lease", r)
	}
	if held.Holder != holder && now.Before(held.ExpiresAt) {
		return false, nil
	}
	r, err = s.call(ctx, op, esapi.IndexRequest{
		Index: s.leases, DocumentID: name, Body: jsonBody(doc),
		IfSeqNo: intPtr(int(a.SeqNo)), IfPrimaryTerm: intPtr(int(a.PrimaryTerm)),
	})
	if err != nil {
		return false, err
	}
	switch r.status {
	case http.StatusOK, http.StatusCreated:
		return true, nil
	case http.StatusConflict:
		return false, nil // another instance took it first
	}
	return false, unexpected(op, r)
}
