package elastic

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"esauth/lib/errs"
)

// SessionOwner is the email of the session id names, for a request that
// carries only the session's token (a bearer token: the cookie carries the
// email beside it). The loader then reads the session and its user in its
// one _mget, as for a cookie, and checks the session's own email against
// the user's, so a wrong owner here could only make the request anonymous.
//
// A session never changes owner and its id (a SHA-256 of 256 random bits)
// is never reused, so the answer is kept (owners): a native client's every
// request after its first costs the cookie's one round trip, not two. A
// session that is gone is answered Unauthenticated, and not kept.
func (s *Store) SessionOwner(ctx context.Context, id string) (string, error) {
	ended := errs.E(errs.Unauthenticated, "Your session has ended; log in again.")
	if !validSessionID(id) {
		return "", ended
	}
	if email, ok := s.owners.get(id); ok {
		return email, nil
	}
	if err := s.ensure(ctx); err != nil {
		return "", err
	}
	const op = "find session owner"
	r, err := s.call(ctx, op, esapi.GetRequest{Index: s.sessions, DocumentID: id, SourceIncludes: []string{"email_address"}})
	if err != nil {
		return "", err
	}
	if docMissing(r) {
		return "", ended
	}
	if r.status != http.StatusOK {
		return "", unexpected(op, r)
	}
	var a getAnswer
	if err := decode(op, r, &a); err != nil {
		return "", err
	}
	var d struct {
		Email string `json:"email_address"`
	}
	if json.Unmarshal(a.Source, &d) != nil || d.Email == "" {
		return "", unexpected(op, r)
	}
	s.owners.put(id, d.Email)
	return d.Email, nil
}

// maxOwners bounds each generation of the owners cache: at most twice
// this many entries (about 200 bytes each) are held.
const maxOwners = 16 << 10

// owners maps session ids to their emails in two generations: when the
// current one is full it becomes the old one and a new one begins, so the
// sessions in use stay (a hit in the old generation moves up) and the
// memory stays bounded without a per-entry clock.
type owners struct {
	mu       sync.Mutex
	cur, old map[string]string
}

func (o *owners) get(id string) (string, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if e, ok := o.cur[id]; ok {
		return e, true
	}
	if e, ok := o.old[id]; ok {
		o.putLocked(id, e)
		return e, true
	}
	return "", false
}

func (o *owners) put(id, email string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.putLocked(id, email)
}

func (o *owners) putLocked(id, email string) {
	if len(o.cur) >= maxOwners {
		o.old, o.cur = o.cur, nil
	}
	if o.cur == nil {
		o.cur = make(map[string]string)
	}
	o.cur[id] = email
}
