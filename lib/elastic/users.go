package elastic

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"esauth/lib/errs"
	"esauth/lib/user"
)

// userDoc is a user as stored. It is the only type that serializes the
// password hash; user.User hides it from every other encoder.
type userDoc struct {
	Email             string    `json:"email_address"`
	FirstName         string    `json:"first_name"`
	LastName          string    `json:"last_name"`
	PasswordHash      string    `json:"password_hash"`
	Role              string    `json:"role"`
	IsActive          bool      `json:"is_active"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	PasswordChangedAt time.Time `json:"password_changed_at"`
	SessionEpoch      string    `json:"session_epoch"`
}

func toUserDoc(u user.User) userDoc { return userDoc(u) }
func (d userDoc) toUser() user.User { return user.User(d) }

// userPath is a user's document id as a URL path segment. The client
// writes document ids into the request path as they are, so an email such
// as "a#b@example.com" or "a?b@example.com" would otherwise cut the path
// short and address another document.
func userPath(email string) string { return url.PathEscape(user.NormalizeEmail(email)) }

// CreateUser stores a new user. It uses op_type=create, so of any number of
// concurrent signups for one email exactly one succeeds and the others get
// errs.Conflict.
func (s *Store) CreateUser(ctx context.Context, u user.User) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	r, err := s.call(ctx, "create user", esapi.IndexRequest{
		Index:      s.users,
		DocumentID: userPath(u.Email),
		OpType:     "create",
		Body:       jsonBody(toUserDoc(u)),
	})
	if err != nil {
		return err
	}
	switch r.status {
	case http.StatusCreated, http.StatusOK:
		return nil
	case http.StatusConflict:
		// The client re-sends a request whose connection failed, so a
		// create that was applied may come back as a conflict with itself.
		// The epoch is random per account: finding ours means it is ours.
		if u.SessionEpoch != "" {
			if got, err := s.GetUser(ctx, u.Email); err == nil && got.SessionEpoch == u.SessionEpoch {
				return nil
			}
		}
		return errs.E(errs.Conflict, "A user with this email address already exists.")
	}
	return unexpected("create user", r)
}

type getAnswer struct {
	Found       bool            `json:"found"`
	SeqNo       int64           `json:"_seq_no"`
	PrimaryTerm int64           `json:"_primary_term"`
	Source      json.RawMessage `json:"_source"`
}

// GetUser returns the user with this email, or errs.NotFound.
func (s *Store) GetUser(ctx context.Context, email string) (user.User, error) {
	u, _, err := s.getUser(ctx, email)
	return u, err
}

func (s *Store) getUser(ctx context.Context, email string) (user.User, user.Version, error) {
	if err := s.ensure(ctx); err != nil {
		return user.User{}, user.Version{}, err
	}
	// Elasticsearch refuses ids over 512 bytes with a 400; no user has one.
	if len(user.NormalizeEmail(email)) > 512 {
		return user.User{}, user.Version{}, errs.E(errs.NotFound, "No user has this email address.")
	}
	r, err := s.call(ctx, "get user", esapi.GetRequest{Index: s.users, DocumentID: userPath(email)})
	if err != nil {
		return user.User{}, user.Version{}, err
	}
	if docMissing(r) {
		return user.User{}, user.Version{}, errs.E(errs.NotFound, "No user has this email address.")
	}
	if r.status != http.StatusOK {
		return user.User{}, user.Version{}, unexpected("get user", r)
	}
	var a getAnswer
	if err := decode("get user", r, &a); err != nil {
		return user.User{}, user.Version{}, err
	}
	var d userDoc
	if err := json.Unmarshal(a.Source, &d); err != nil || !a.Found {
		return user.User{}, user.Version{}, unexpected("get user", r)
	}
	return d.toUser(), user.Version{SeqNo: a.SeqNo, PrimaryTerm: a.PrimaryTerm}, nil
}

// maxUpdateAttempts bounds the read-modify-write loop of UpdateUser: a lost
// race is retried on the fresh document, and after this many losses the
// caller gets errs.Conflict rather than a silent overwrite.
const maxUpdateAttempts = 5

// UpdateUser applies change to the stored user and writes it back only if
// nobody wrote it in between (if_seq_no/if_primary_term). change may return
// an error to abort; it may run more than once.
func (s *Store) UpdateUser(ctx context.Context, email string, change func(*user.User) error) (user.User, error) {
	for attempt := 0; attempt < maxUpdateAttempts; attempt++ {
		u, v, err := s.getUser(ctx, email)
		if err != nil {
			return user.User{}, err
		}
		if err := change(&u); err != nil {
			return user.User{}, err
		}
		r, err := s.call(ctx, "update user", esapi.IndexRequest{
			Index:         s.users,
			DocumentID:    userPath(email),
			Body:          jsonBody(toUserDoc(u)),
			IfSeqNo:       intPtr(int(v.SeqNo)),
			IfPrimaryTerm: intPtr(int(v.PrimaryTerm)),
		})
		if err != nil {
			return user.User{}, err
		}
		switch r.status {
		case http.StatusOK, http.StatusCreated:
			return u, nil
		case http.StatusConflict:
			continue // someone else wrote first: read again and reapply
		case http.StatusNotFound:
			if docMissing(r) {
				return user.User{}, errs.E(errs.NotFound, "No user has this email address.")
			}
		}
		return user.User{}, unexpected("update user", r)
	}
	return user.User{}, errs.E(errs.Conflict, "The user was changed concurrently; try again.")
}

// DeleteUser removes the user, then every session and linked identity of
// theirs. The user
// goes first, and removing the sessions is only housekeeping: the loader
// refuses a session whose user is missing, and an account signed up again
// with the same email gets a new session epoch, so no old session ever
// works again even if removing them fails.
func (s *Store) DeleteUser(ctx context.Context, email string) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	r, err := s.call(ctx, "delete user", esapi.DeleteRequest{Index: s.users, DocumentID: userPath(email)})
	if err != nil {
		return err
	}
	switch {
	case r.status == http.StatusOK:
	case docMissing(r):
		return errs.E(errs.NotFound, "No user has this email address.")
	default:
		return unexpected("delete user", r)
	}
	s.sweepSessions(ctx, email)
	s.sweepIdentities(ctx, email)
	return nil
}

// docMissing reports whether a 404 answer means the document does not
// exist, as opposed to its index (which is a broken store, not an answer).
func docMissing(r result) bool {
	return r.status == http.StatusNotFound && r.errorType() == ""
}
