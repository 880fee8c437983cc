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
	FailedLogins      int       `json:"failed_logins"`
	LockedUntil       time.Time `json:"locked_until"`
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
		return errs.E(errs.Conflict, "A user with this email address already exists.")
	}
	return unexpected("create user", r)
}

// version identifies one revision of a document for optimistic concurrency.
type version struct {
	seqNo, primaryTerm int
}

type getAnswer struct {
	Found       bool            `json:"found"`
	SeqNo       int             `json:"_seq_no"`
	PrimaryTerm int             `json:"_primary_term"`
	Source      json.RawMessage `json:"_source"`
}

// GetUser returns the user with this email, or errs.NotFound.
func (s *Store) GetUser(ctx context.Context, email string) (user.User, error) {
	u, _, err := s.getUser(ctx, email)
	return u, err
}

func (s *Store) getUser(ctx context.Context, email string) (user.User, version, error) {
	if err := s.ensure(ctx); err != nil {
		return user.User{}, version{}, err
	}
	// Elasticsearch refuses ids over 512 bytes with a 400; no user has one.
	if len(user.NormalizeEmail(email)) > 512 {
		return user.User{}, version{}, errs.E(errs.NotFound, "No user has this email address.")
	}
	r, err := s.call(ctx, "get user", esapi.GetRequest{Index: s.users, DocumentID: userPath(email)})
	if err != nil {
		return user.User{}, version{}, err
	}
	if r.status == http.StatusNotFound {
		return user.User{}, version{}, errs.E(errs.NotFound, "No user has this email address.")
	}
	if r.status != http.StatusOK {
		return user.User{}, version{}, unexpected("get user", r)
	}
	var a getAnswer
	if err := decode("get user", r, &a); err != nil {
		return user.User{}, version{}, err
	}
	var d userDoc
	if err := json.Unmarshal(a.Source, &d); err != nil || !a.Found {
		return user.User{}, version{}, unexpected("get user", r)
	}
	return d.toUser(), version{a.SeqNo, a.PrimaryTerm}, nil
}

// maxUpdateAttempts bounds the read-modify-write loop of UpdateUser: a lost
// race is retried on the fresh document, and after this many losses the
// caller gets errs.Conflict rather than a silent overwrite.
const maxUpdateAttempts = 5

// UpdateUser applies change to the stored user and writes it back only if
// nobody wrote it in between (if_seq_no/if_primary_term). change may return
// an error to abort; it may run more than once.
func (s *Store) UpdateUser(ctx context.Context, email string, change func(*user.User) error) (user.User, error) {
	return s.UpdateUserRetrying(ctx, email, maxUpdateAttempts, change)
}

// UpdateUserRetrying is UpdateUser with its own retry budget, for updates
// that many requests make at once and that must all land, such as counting
// failed logins during a password-guessing burst.
func (s *Store) UpdateUserRetrying(ctx context.Context, email string, attempts int, change func(*user.User) error) (user.User, error) {
	for attempt := 0; attempt < attempts; attempt++ {
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
			IfSeqNo:       &v.seqNo,
			IfPrimaryTerm: &v.primaryTerm,
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
			return user.User{}, errs.E(errs.NotFound, "No user has this email address.")
		}
		return user.User{}, unexpected("update user", r)
	}
	return user.User{}, errs.E(errs.Conflict, "The user was changed concurrently; try again.")
}

// DeleteUser removes the user and then every session of theirs. The user
// goes first: the user loader refuses a session whose user is missing, so
// even if removing the sessions fails the user is locked out at once.
func (s *Store) DeleteUser(ctx context.Context, email string) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	r, err := s.call(ctx, "delete user", esapi.DeleteRequest{Index: s.users, DocumentID: userPath(email)})
	if err != nil {
		return err
	}
	switch r.status {
	case http.StatusOK:
	case http.StatusNotFound:
		return errs.E(errs.NotFound, "No user has this email address.")
	default:
		return unexpected("delete user", r)
	}
	_, err = s.RevokeSessions(ctx, email, "")
	return err
}
