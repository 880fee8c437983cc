package elastic

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"esauth/lib/errs"
	"esauth/lib/page"
	"esauth/lib/seal"
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
	EmailVerifiedAt   time.Time `json:"email_verified_at,omitzero"`
	TOTPSecret        string    `json:"totp_secret,omitempty"`
	TOTPEnabledAt     time.Time `json:"totp_enabled_at,omitzero"`
	TOTPLastStep      int64     `json:"totp_last_step,omitempty"`
	RecoveryCodes     []string  `json:"recovery_codes,omitempty"`
	WebAuthnID        []byte    `json:"webauthn_user_handle,omitempty"`
}

func toUserDoc(u user.User) userDoc { return userDoc(u) }
func (d userDoc) toUser() user.User { return user.User(d) }

// secretContext binds a user's sealed TOTP secret to that user.
func secretContext(email string) string { return "totp:" + user.NormalizeEmail(email) }

// storedDoc is u as written: its TOTP secret sealed with the data key ring
// when the store has one (ESAUTH_DATA_KEYS), so the document holds no
// secret a reader of the index could use. Without a ring it is stored as
// it is (see Known limits).
func (s *Store) storedDoc(u user.User) (userDoc, error) {
	d := toUserDoc(u)
	if d.TOTPSecret != "" && s.secrets != nil && !seal.IsSealed(d.TOTPSecret) {
		sealed, err := s.secrets.Seal(d.TOTPSecret, secretContext(u.Email))
		if err != nil {
			return userDoc{}, err
		}
		d.TOTPSecret = sealed
	}
	return d, nil
}

// readUser is d as the rules see it: its TOTP secret opened. A secret
// sealed with a key the ring lacks (or that does not open) is a clear
// error for the log and a 503, never a secret taken as it is.
func (s *Store) readUser(d userDoc) (user.User, error) {
	u := d.toUser()
	if seal.IsSealed(u.TOTPSecret) {
		plain, err := s.secrets.Open(u.TOTPSecret, secretContext(u.Email))
		if err != nil {
			return user.User{}, unavailable(fmt.Errorf("the TOTP secret of a user does not open (key %q): %w; ESAUTH_DATA_KEYS must hold the key it was sealed with", seal.KeyOf(u.TOTPSecret), err))
		}
		u.TOTPSecret = plain
	}
	return u, nil
}

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
	doc, err := s.storedDoc(u)
	if err != nil {
		return err
	}
	r, err := s.call(ctx, "create user", esapi.IndexRequest{
		Index:      s.users,
		DocumentID: userPath(u.Email),
		OpType:     "create",
		Body:       jsonBody(doc),
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
	u, err := s.readUser(d)
	return u, user.Version{SeqNo: a.SeqNo, PrimaryTerm: a.PrimaryTerm}, err
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
		doc, err := s.storedDoc(u)
		if err != nil {
			return user.User{}, err
		}
		r, err := s.call(ctx, "update user", esapi.IndexRequest{
			Index:         s.users,
			DocumentID:    userPath(email),
			Body:          jsonBody(doc),
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

// DeleteUser removes the user, then every session, linked identity and
// passkey of theirs. The user
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
	s.sweepPasskeys(ctx, email)
	return nil
}

// docMissing reports whether a 404 answer means the document does not
// exist, as opposed to its index (which is a broken store, not an answer).
func docMissing(r result) bool {
	return r.status == http.StatusNotFound && r.errorType() == ""
}

// maxUserQuery bounds the text of a user search, in bytes.
const maxUserQuery = 256

// userSearchTimeout bounds the work of one user search inside
// Elasticsearch. The email is matched anywhere (*q*), which walks the
// whole term dictionary of email_address: measured on the 2-core machine,
// 70-230 ms over 1,000,000 users (one shard), growing with the users. A
// search that runs out of it answers that it was cut short, and the admin
// is asked for more of the address instead of being shown part of the
// answer as if it were all of it.
const userSearchTimeout = time.Second

// newestUsersFirst sorts users by creation, newest first; the email (the
// document id) breaks ties, so search_after pages have no gaps or repeats.
var newestUsersFirst = []any{
	map[string]any{"created_at": "desc"},
	map[string]any{"email_address": "asc"},
}

// userQuery matches q anywhere in the email (normalized, so
// case-insensitive), or as words or word beginnings of the first or last
// name; an empty q matches every user.
func userQuery(q string) map[string]any {
	q = strings.TrimSpace(q)
	if q == "" {
		return map[string]any{"match_all": map[string]any{}}
	}
	email := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`).Replace(user.NormalizeEmail(q))
	should := []any{
		map[string]any{"wildcard": map[string]any{"email_address": map[string]any{"value": "*" + email + "*"}}},
	}
	for _, f := range []string{"first_name", "last_name"} {
		should = append(should,
			map[string]any{"match": map[string]any{f: map[string]any{"query": q, "operator": "and"}}},
			map[string]any{"match_phrase_prefix": map[string]any{f: map[string]any{"query": q}}},
		)
	}
	return map[string]any{"bool": map[string]any{"should": should, "minimum_should_match": 1}}
}

// SearchUsers pages through the users matching q (see userQuery), newest
// first. Search is near-real-time: a user made in the last second (the
// refresh interval) may not be found yet.
func (s *Store) SearchUsers(ctx context.Context, q string, after *page.Cursor, size int) ([]user.User, *page.Cursor, error) {
	if len(q) > maxUserQuery {
		return nil, nil, errs.InvalidFields(map[string]string{"q": "The search is too long."})
	}
	if err := s.ensure(ctx); err != nil {
		return nil, nil, err
	}
	body := map[string]any{
		"size": size + 1, "sort": newestUsersFirst, "query": userQuery(q),
		"_source": map[string]any{"excludes": []string{"password_hash"}}, // the hash never travels
		"timeout": fmt.Sprintf("%dms", userSearchTimeout.Milliseconds()),
	}
	if after != nil {
		body["search_after"] = []any{after.AtMillis, after.ID}
	}
	r, err := s.call(ctx, "search users", esapi.SearchRequest{Index: []string{s.users}, Body: jsonBody(body)})
	if err != nil {
		return nil, nil, err
	}
	if r.status == http.StatusBadRequest && after != nil {
		return nil, nil, errs.E(errs.BadRequest, "The cursor is not valid.")
	}
	if r.status != http.StatusOK {
		return nil, nil, unexpected("search users", r)
	}
	var a struct {
		TimedOut bool `json:"timed_out"`
		Hits     struct {
			Hits []struct {
				Source userDoc `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := decode("search users", r, &a); err != nil {
		return nil, nil, err
	}
	if a.TimedOut {
		return nil, nil, errs.InvalidFields(map[string]string{"q": "This search took too long over this many users; type more of the address or name."})
	}
	hits := a.Hits.Hits
	var next *page.Cursor
	if len(hits) > size {
		hits = hits[:size]
		last := hits[len(hits)-1].Source
		next = &page.Cursor{AtMillis: last.CreatedAt.UnixMilli(), ID: last.Email}
	}
	out := make([]user.User, 0, len(hits))
	for _, h := range hits {
		out = append(out, h.Source.toUser())
	}
	return out, next, nil
}
