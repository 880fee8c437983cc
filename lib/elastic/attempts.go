package elastic

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/elastic/go-elasticsearch/v8/esapi"

	"esauth/lib/errs"
	"esauth/lib/user"
)

// attemptsDoc is a failed-password record as stored; Version is the
// document's _seq_no and _primary_term, not part of the source.
type attemptsDoc struct {
	Failures    int          `json:"failures"`
	LockedUntil time.Time    `json:"locked_until"`
	UpdatedAt   time.Time    `json:"updated_at"`
	ExpiresAt   time.Time    `json:"expires_at"`
	Email       string       `json:"email_address,omitempty"`
	Version     user.Version `json:"-"`
}

// attemptsID is the record's document id: the hex SHA-256 of the
// normalized email. The index thus never holds what somebody typed in the
// email box (often a password typed in the wrong field), and every id has
// the same length whatever was sent.
// The second-factor record of the same email has the same id with a
// suffix: no password record can have it, whatever was typed.
func attemptsID(c user.Counter, email string) string {
	sum := sha256.Sum256([]byte(user.NormalizeEmail(email)))
	id := hex.EncodeToString(sum[:])
	if c == user.SecondFactorCounter {
		id += ":second_factor"
	}
	return id
}

// LookupLogin reads what a password check needs in ONE round trip: the
// user with this email (found false when there is none) and, when
// withAttempts, the failed-password record of the email. A real account
// and an unknown email cost the same call.
func (s *Store) LookupLogin(ctx context.Context, email string, withAttempts bool) (user.User, bool, user.Attempts, error) {
	return s.lookupWith(ctx, user.PasswordCounter, email, withAttempts)
}

// LookupCode is LookupLogin for a second-factor check: the user and,
// when withAttempts, the email's second-factor record, in one round trip.
func (s *Store) LookupCode(ctx context.Context, email string, withAttempts bool) (user.User, bool, user.Attempts, error) {
	return s.lookupWith(ctx, user.SecondFactorCounter, email, withAttempts)
}

func (s *Store) lookupWith(ctx context.Context, c user.Counter, email string, withAttempts bool) (user.User, bool, user.Attempts, error) {
	if err := s.ensure(ctx); err != nil {
		return user.User{}, false, user.Attempts{}, err
	}
	refs := []map[string]string{{"_index": s.users, "_id": user.NormalizeEmail(email)}}
	if withAttempts {
		refs = append(refs, map[string]string{"_index": s.attempts, "_id": attemptsID(c, email)})
	}
	body, err := json.Marshal(map[string]any{"docs": refs})
	if err != nil {
		return user.User{}, false, user.Attempts{}, err
	}
	docs, err := mget[json.RawMessage](ctx, s, "look up login", body, len(refs))
	if err != nil {
		return user.User{}, false, user.Attempts{}, err
	}
	var u user.User
	if docs[0].Found {
		var d userDoc
		if err := json.Unmarshal(docs[0].Source, &d); err != nil {
			return user.User{}, false, user.Attempts{}, unavailable(fmt.Errorf("look up login: unreadable user: %w", err))
		}
		if u, err = s.readUser(d); err != nil {
			return user.User{}, false, user.Attempts{}, err
		}
	}
	var a user.Attempts
	if withAttempts && docs[1].Found {
		if a, err = readAttempts(docs[1].Source, docs[1].SeqNo, docs[1].PrimaryTerm); err != nil {
			return user.User{}, false, user.Attempts{}, err
		}
	}
	return u, docs[0].Found, a, nil
}

func readAttempts(source json.RawMessage, seqNo, primaryTerm int64) (user.Attempts, error) {
	var d attemptsDoc
	if err := json.Unmarshal(source, &d); err != nil {
		return user.Attempts{}, unavailable(fmt.Errorf("read attempts: unreadable record: %w", err))
	}
	d.Version = user.Version{SeqNo: seqNo, PrimaryTerm: primaryTerm}
	return user.Attempts(d), nil
}

// getAttempts reads the record of counter c of email (zero when none).
func (s *Store) getAttempts(ctx context.Context, c user.Counter, email string) (user.Attempts, error) {
	r, err := s.call(ctx, "get attempts", esapi.GetRequest{Index: s.attempts, DocumentID: attemptsID(c, email)})
	if err != nil {
		return user.Attempts{}, err
	}
	if docMissing(r) {
		return user.Attempts{}, nil
	}
	if r.status != http.StatusOK {
		return user.Attempts{}, unexpected("get attempts", r)
	}
	var a getAnswer
	if err := decode("get attempts", r, &a); err != nil {
		return user.Attempts{}, err
	}
	return readAttempts(a.Source, a.SeqNo, a.PrimaryTerm)
}

// maxAttemptWrites bounds the read-modify-write loop of RecordFailure. A
// burst of guesses at one address conflicts on its record; rather than
// queue behind each other without bound (a failed login once made up to
// 200 calls), a check that loses this many races is refused unchecked.
const maxAttemptWrites = 4

// RecordFailure applies fail to the record of counter c of email and
// stores it only if nobody wrote it in between (op_type=create for a new
// record, if_seq_no/if_primary_term for an existing one), starting from
// seen, the record as the caller read it. fail may refuse with an error
// (the record is locked) and may run more than once. It returns the record
// written. After maxAttemptWrites lost races it answers errs.TooMany: the
// caller must then not check the password, so no guess is ever checked
// without being counted.
func (s *Store) RecordFailure(ctx context.Context, c user.Counter, email string, seen user.Attempts, fail func(*user.Attempts) error) (user.Attempts, error) {
	a := seen
	for attempt := 0; attempt < maxAttemptWrites; attempt++ {
		if attempt > 0 {
			var err error
			if a, err = s.getAttempts(ctx, c, email); err != nil {
				return user.Attempts{}, err
			}
		}
		next := a
		if err := fail(&next); err != nil {
			return user.Attempts{}, err
		}
		req := esapi.IndexRequest{Index: s.attempts, DocumentID: attemptsID(c, email), Body: jsonBody(attemptsDoc(next))}
		if a.Version.Stored() {
			req.IfSeqNo, req.IfPrimaryTerm = intPtr(int(a.Version.SeqNo)), intPtr(int(a.Version.PrimaryTerm))
		} else {
			req.OpType = "create"
		}
		r, err := s.call(ctx, "record failure", req)
		if err != nil {
			return user.Attempts{}, err
		}
		switch r.status {
		case http.StatusOK, http.StatusCreated:
			return next, nil
		case http.StatusConflict, http.StatusNotFound:
			continue // someone else counted first, or cleared it: read again
		}
		return user.Attempts{}, unexpected("record failure", r)
	}
	return user.Attempts{}, errs.TooManyAttempts("Too many attempts at once for this account; try again in a moment.", time.Second)
}

// ClearFailures forgets the record of counter c of email, after a check
// of that counter passed (or an account recovery lifts every lock).
func (s *Store) ClearFailures(ctx context.Context, c user.Counter, email string) error {
	r, err := s.call(ctx, "clear failures", esapi.DeleteRequest{Index: s.attempts, DocumentID: attemptsID(c, email)})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK && !docMissing(r) {
		return unexpected("clear failures", r)
	}
	return nil
}

// ListLockouts returns up to size records locked at now, the longest lock
// first, and how many there are in all. A record's Email is empty when no
// account has its email (see user.Attempts).
func (s *Store) ListLockouts(ctx context.Context, now time.Time, size int) ([]user.Lock, int, error) {
	if err := s.ensure(ctx); err != nil {
		return nil, 0, err
	}
	if err := s.refresh(ctx, s.attempts); err != nil {
		return nil, 0, err
	}
	q := map[string]any{
		"size": size, "track_total_hits": true, "timeout": searchTimeout,
		"query": map[string]any{"range": map[string]any{"locked_until": map[string]any{"gt": now.UnixMilli(), "format": "epoch_millis"}}},
		"sort":  []any{map[string]any{"locked_until": "desc"}, map[string]any{"updated_at": "desc"}},
	}
	const op = "list lockouts"
	r, err := s.call(ctx, op, esapi.SearchRequest{Index: []string{s.attempts}, Body: jsonBody(q)})
	if err != nil {
		return nil, 0, err
	}
	if r.status != http.StatusOK {
		return nil, 0, unexpected(op, r)
	}
	var a struct {
		TimedOut bool `json:"timed_out"`
		Hits     struct {
			Total struct {
				Value int `json:"value"`
			} `json:"total"`
			Hits []struct {
				ID     string      `json:"_id"`
				Source attemptsDoc `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := decode(op, r, &a); err != nil {
		return nil, 0, err
	}
	if a.TimedOut {
		// Part of the locks, and no filter to narrow: try again later.
		return nil, 0, unavailable(fmt.Errorf("%s: cut short at %s", op, searchTimeout))
	}
	out := make([]user.Lock, 0, len(a.Hits.Hits))
	for _, h := range a.Hits.Hits {
		c := user.PasswordCounter
		if strings.HasSuffix(h.ID, ":second_factor") {
			c = user.SecondFactorCounter
		}
		out = append(out, user.Lock{Key: strings.TrimSuffix(h.ID, ":second_factor")[:16], Counter: c, Attempts: user.Attempts(h.Source)})
	}
	return out, a.Hits.Total.Value, nil
}

// ClearLockout forgets both failure records of email (password and
// second factor), locked or not, and returns how many there were.
func (s *Store) ClearLockout(ctx context.Context, email string) (int, error) {
	if err := s.ensure(ctx); err != nil {
		return 0, err
	}
	return s.deleteIDs(ctx, "clear lockout", s.attempts, []string{attemptsID(user.PasswordCounter, email), attemptsID(user.SecondFactorCounter, email)})
}
