package elastic

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode"

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
	LastLoginAt       time.Time `json:"last_login_at,omitzero"`
	Passkeys          int       `json:"passkeys,omitempty"`
	Providers         []string  `json:"providers,omitempty"`
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

// maxUserQueryWords bounds the words of a user search's text: each is a
// clause over four fields.
const maxUserQueryWords = 8

// userSearchTimeout bounds the work of one user search inside
// Elasticsearch. Words are found through the prefix fields (index_prefixes:
// a word's beginnings are indexed terms, so no term dictionary is walked);
// only a word with a symbol ("*", "b?b", "a/b") matches the email
// anywhere (*w*), which walks the whole term dictionary of
// email_address: 70-230 ms over 1,000,000 users on the 2-core machine. A
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

// wordFields are where a word of the search's text is looked for, as a
// word or a word's beginning: the email split at every non-letter
// ("ada.lovelace@example.com": ada, lovelace, example, com), the email as
// the standard analyzer splits it (which keeps digits: "user-123": user,
// 123), and the names.
var wordFields = []string{"email_address.words", "email_address.std", "first_name.prefix", "last_name.prefix"}

// textQuery matches q: the whole email exactly, or every word of q as a
// word or a word's beginning in any of wordFields ("ada love" finds Ada
// Lovelace). A word with a character that is neither a letter, a digit,
// nor what addresses are written with (. @ - _ + ') is looked for as it is
// typed anywhere in the email, escaped so that * ? and \ are characters:
// a wildcard, a regular expression or query syntax is text to find, never
// syntax, and not the words left once the analyzer dropped its symbols.
// q is never query syntax.
func textQuery(q string) (map[string]any, error) {
	words := strings.Fields(q)
	if len(words) > maxUserQueryWords {
		return nil, errs.InvalidFields(map[string]string{"q": "Search with at most 8 words."})
	}
	must := make([]any, 0, len(words))
	for _, w := range words {
		if strings.ContainsFunc(w, literalOnly) {
			must = append(must, anywhereInEmail(w))
			continue
		}
		fields := wordFields
		if strings.ContainsFunc(w, unicode.IsDigit) {
			fields = fields[1:] // the letters-only words would drop the digits and match more
		}
		var anyOf []any
		for _, f := range fields {
			anyOf = append(anyOf, map[string]any{"match_bool_prefix": map[string]any{f: map[string]any{"query": w, "operator": "and"}}})
		}
		must = append(must, map[string]any{"bool": map[string]any{"should": anyOf, "minimum_should_match": 1}})
	}
	return map[string]any{"bool": map[string]any{"minimum_should_match": 1, "should": []any{
		map[string]any{"term": map[string]any{"email_address": user.NormalizeEmail(q)}},
		map[string]any{"bool": map[string]any{"must": must}},
	}}}, nil
}

// literalOnly is a character the analyzers drop that is not part of how
// addresses are written: a word holding one is matched as typed.
func literalOnly(r rune) bool {
	return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !strings.ContainsRune(".@-_+'", r)
}

// anywhereInEmail matches w anywhere in the normalized email (*w*, its
// wildcard characters escaped): the term dictionary walked, which the
// search's timeout bounds.
func anywhereInEmail(w string) map[string]any {
	email := strings.NewReplacer(`\`, `\\`, `*`, `\*`, `?`, `\?`).Replace(user.NormalizeEmail(w))
	return map[string]any{"wildcard": map[string]any{"email_address": map[string]any{"value": "*" + email + "*"}}}
}

// has is a clause that holds when want is true and its negation when false.
func has(clause map[string]any, want bool) map[string]any {
	if want {
		return clause
	}
	return map[string]any{"bool": map[string]any{"must_not": []any{clause}}}
}

var (
	verifiedClause = map[string]any{"exists": map[string]any{"field": "email_verified_at"}}
	totpClause     = map[string]any{"exists": map[string]any{"field": "totp_enabled_at"}}
	passkeyClause  = map[string]any{"range": map[string]any{"passkeys": map[string]any{"gte": 1}}}
)

// facetFilters are the clauses of f's facets, by facet name.
func facetFilters(f user.Search) map[string]map[string]any {
	out := map[string]map[string]any{}
	if f.Role != "" {
		out["role"] = map[string]any{"term": map[string]any{"role": f.Role}}
	}
	if f.Active != nil {
		out["active"] = map[string]any{"term": map[string]any{"is_active": *f.Active}}
	}
	if f.Verified != nil {
		out["verified"] = has(verifiedClause, *f.Verified)
	}
	if f.TOTP != nil {
		out["totp"] = has(totpClause, *f.TOTP)
	}
	if f.Passkey != nil {
		out["passkey"] = has(passkeyClause, *f.Passkey)
	}
	if f.Provider != "" {
		out["provider"] = map[string]any{"term": map[string]any{"providers": f.Provider}}
	}
	return out
}

// facetAggs counts each facet's values under every facet filter but its
// own (and under the query, which holds the text and the ranges).
func facetAggs(filters map[string]map[string]any) map[string]any {
	yesNo := func(clause map[string]any) map[string]any {
		return map[string]any{"filters": map[string]any{"filters": map[string]any{"true": has(clause, true), "false": has(clause, false)}}}
	}
	counts := map[string]map[string]any{
		"role":     {"terms": map[string]any{"field": "role", "size": 10}},
		"active":   yesNo(map[string]any{"term": map[string]any{"is_active": true}}),
		"verified": yesNo(verifiedClause),
		"totp":     yesNo(totpClause),
		"passkey":  yesNo(passkeyClause),
		"provider": {"terms": map[string]any{"field": "providers", "size": 50}},
	}
	aggs := map[string]any{}
	for _, name := range user.FacetNames {
		others := []any{}
		for other, clause := range filters {
			if other != name {
				others = append(others, clause)
			}
		}
		aggs[name] = map[string]any{
			"filter": map[string]any{"bool": map[string]any{"filter": others}},
			"aggs":   map[string]any{"values": counts[name]},
		}
	}
	return aggs
}

// userSearchBody is the search of f: the text and the ranges in the query,
// the facets in a post_filter, so that each facet's counts can leave its
// own filter out.
func userSearchBody(f user.Search) (map[string]any, error) {
	query := []any{}
	if f.Q != "" {
		tq, err := textQuery(f.Q)
		if err != nil {
			return nil, err
		}
		query = append(query, tq)
	}
	ranges := []struct {
		field    string
		from, to time.Time
	}{{"created_at", f.CreatedFrom, f.CreatedTo}, {"last_login_at", f.LastLoginFrom, f.LastLoginTo}}
	var filter []any
	for _, r := range ranges {
		if rg := timeRange(r.from, r.to); rg != nil {
			filter = append(filter, map[string]any{"range": map[string]any{r.field: rg}})
		}
	}
	filters := facetFilters(f)
	post := []any{}
	for _, name := range user.FacetNames {
		if c, ok := filters[name]; ok {
			post = append(post, c)
		}
	}
	return map[string]any{
		"query":            map[string]any{"bool": map[string]any{"must": query, "filter": filter}},
		"post_filter":      map[string]any{"bool": map[string]any{"filter": post}},
		"aggs":             facetAggs(filters),
		"track_total_hits": true,
		"sort":             newestUsersFirst,
		"_source":          map[string]any{"excludes": []string{"password_hash"}}, // the hash never travels
		"timeout":          fmt.Sprintf("%dms", userSearchTimeout.Milliseconds()),
	}, nil
}

// SearchUsers pages through the users f selects, newest first, with the
// facets' counts (user.Facets). Search is near-real-time: a user made in
// the last second (the refresh interval) may not be found yet.
func (s *Store) SearchUsers(ctx context.Context, f user.Search, after *page.Cursor, size int) ([]user.User, *page.Cursor, user.Facets, error) {
	if len(f.Q) > user.MaxQuery {
		return nil, nil, user.Facets{}, errs.InvalidFields(map[string]string{"q": "The search is too long."})
	}
	body, err := userSearchBody(f)
	if err != nil {
		return nil, nil, user.Facets{}, err
	}
	if err := s.ensure(ctx); err != nil {
		return nil, nil, user.Facets{}, err
	}
	body["size"] = size + 1
	if after != nil {
		body["search_after"] = []any{after.AtMillis, after.ID}
	}
	const op = "search users"
	r, err := s.call(ctx, op, esapi.SearchRequest{Index: []string{s.users}, Body: jsonBody(body)})
	if err != nil {
		return nil, nil, user.Facets{}, err
	}
	if r.status == http.StatusBadRequest && after != nil {
		return nil, nil, user.Facets{}, errs.E(errs.BadRequest, "The cursor is not valid.")
	}
	if r.status != http.StatusOK {
		return nil, nil, user.Facets{}, unexpected(op, r)
	}
	type bucket struct {
		Key         any    `json:"key"`
		KeyAsString string `json:"key_as_string"`
		Count       int    `json:"doc_count"`
	}
	var a struct {
		TimedOut bool `json:"timed_out"`
		Hits     struct {
			Total struct {
				Value int `json:"value"`
			} `json:"total"`
			Hits []struct {
				Source userDoc `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
		Aggs map[string]struct {
			Values struct {
				// terms answer a list, filters an object by key
				Buckets json.RawMessage `json:"buckets"`
			} `json:"values"`
		} `json:"aggregations"`
	}
	if err := decode(op, r, &a); err != nil {
		return nil, nil, user.Facets{}, err
	}
	if a.TimedOut {
		return nil, nil, user.Facets{}, errs.InvalidFields(map[string]string{"q": "This search took too long over this many users; type more of the address or name."})
	}
	facets := user.Facets{Total: a.Hits.Total.Value, Counts: map[string][]user.FacetCount{}}
	for _, name := range user.FacetNames {
		raw := a.Aggs[name].Values.Buckets
		counts := []user.FacetCount{}
		var list []bucket
		var byKey map[string]bucket
		switch {
		case json.Unmarshal(raw, &list) == nil:
			for _, b := range list {
				counts = append(counts, user.FacetCount{Value: fmt.Sprint(b.Key), Count: b.Count})
			}
		case json.Unmarshal(raw, &byKey) == nil:
			for _, k := range []string{"true", "false"} {
				counts = append(counts, user.FacetCount{Value: k, Count: byKey[k].Count})
			}
		default:
			return nil, nil, user.Facets{}, unexpected(op, r)
		}
		facets.Counts[name] = counts
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
	return out, next, facets, nil
}

// NoteLogin records at as the user's last login: a partial update of that
// one field (no read first, one request), which a concurrent UpdateUser
// sees as a newer version and reapplies its change over. A user deleted
// meanwhile is errs.NotFound; nothing is created.
func (s *Store) NoteLogin(ctx context.Context, email string, at time.Time) error {
	if err := s.ensure(ctx); err != nil {
		return err
	}
	const op = "note the last login"
	r, err := s.call(ctx, op, esapi.UpdateRequest{Index: s.users, DocumentID: userPath(email),
		Body: jsonBody(map[string]any{"doc": map[string]any{"last_login_at": at.UTC()}})})
	if err != nil {
		return err
	}
	switch {
	case r.status == http.StatusOK:
		return nil
	case docMissing(r) || r.errorType() == "document_missing_exception":
		return errs.E(errs.NotFound, "No user has this email address.")
	}
	return unexpected(op, r)
}
