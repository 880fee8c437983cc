package user

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"esauth/lib/params"
)

// Search selects users for the admin's user search. Every field is typed:
// the store turns it into term, range and prefix clauses, never into query
// syntax.
type Search struct {
	// Q is free text: word beginnings of the email and the names, or the
	// whole email.
	Q    string
	Role string // RoleUser or RoleAdmin; "": both
	// Active, Verified, TOTP and Passkey select users with (true) or
	// without (false) it; nil: either.
	Active, Verified, TOTP, Passkey *bool
	Provider                        string // linked to this provider ("": any or none)
	// CreatedFrom/To and LastLoginFrom/To bound created_at and
	// last_login_at ([from, to)); zero: unbounded. A login range leaves out
	// users never seen logging in.
	CreatedFrom, CreatedTo     time.Time
	LastLoginFrom, LastLoginTo time.Time
}

// SearchParams are the names ParseSearch reads.
var SearchParams = []string{"q", "role", "active", "verified", "totp", "passkey", "provider",
	"created_from", "created_to", "last_login_from", "last_login_to"}

// The facets counted beside a search, in the order they are shown.
var FacetNames = []string{"role", "active", "verified", "totp", "passkey", "provider"}

// Facets are the counts beside a search's page: how many users match in
// all (Total), and for each facet how many match each of its values under
// every other filter of the search but that facet's own, so that each
// count says what choosing that value would find.
type Facets struct {
	Total  int                     `json:"total"`
	Counts map[string][]FacetCount `json:"counts"`
}

// FacetCount is one value of a facet and its count.
type FacetCount struct {
	Value string `json:"value"`
	Count int    `json:"count"`
}

// MaxQuery bounds the text of a search, in bytes.
const MaxQuery = 256

// providerName is what a provider's name can be: the store holds no other.
var providerName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)

// ParseSearch reads a search from named text values (the API's query, the
// pages' form, the command line's flags), times and yes-or-no as every
// filter reads them (lib/params). What it cannot read is a message per
// field.
func ParseSearch(v url.Values) (Search, map[string]string) {
	var s Search
	problems := map[string]string{}
	s.Q = strings.TrimSpace(v.Get("q"))
	if len(s.Q) > MaxQuery || !utf8.ValidString(s.Q) {
		problems["q"] = "The search is too long (at most 256 bytes of text)."
	}
	switch r := strings.TrimSpace(v.Get("role")); r {
	case "", RoleUser, RoleAdmin:
		s.Role = r
	default:
		problems["role"] = "role is user or admin."
	}
	for _, b := range []struct {
		name string
		to   **bool
	}{{"active", &s.Active}, {"verified", &s.Verified}, {"totp", &s.TOTP}, {"passkey", &s.Passkey}} {
		var ok bool
		if *b.to, ok = params.Bool(v.Get(b.name)); !ok {
			problems[b.name] = b.name + " is true or false."
		}
	}
	if p := strings.TrimSpace(v.Get("provider")); p != "" {
		if !providerName.MatchString(p) {
			problems["provider"] = "provider is a provider's name (google, github, …)."
		}
		s.Provider = p
	}
	for _, r := range []struct {
		from, to         string
		fromTime, toTime *time.Time
	}{
		{"created_from", "created_to", &s.CreatedFrom, &s.CreatedTo},
		{"last_login_from", "last_login_to", &s.LastLoginFrom, &s.LastLoginTo},
	} {
		var okFrom, okTo bool
		if *r.fromTime, okFrom = params.Time(v.Get(r.from), false); !okFrom {
			problems[r.from] = r.from + " is a time in RFC 3339 (2026-12-01T08:00:00Z) or a date (2026-12-01)."
		}
		if *r.toTime, okTo = params.Time(v.Get(r.to), true); !okTo {
			problems[r.to] = r.to + " is a time in RFC 3339 (2026-12-01T08:00:00Z) or a date (2026-12-01)."
		}
		if okFrom && okTo && !r.fromTime.IsZero() && !r.toTime.IsZero() && !r.fromTime.Before(*r.toTime) {
			problems[r.to] = r.to + " must be after " + r.from + "."
		}
	}
	if len(problems) > 0 {
		return Search{}, problems
	}
	return s, nil
}

// Values is s as ParseSearch reads it: for the pages' links and form.
func (s Search) Values() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("q", s.Q)
	set("role", s.Role)
	for _, b := range []struct {
		name string
		val  *bool
	}{{"active", s.Active}, {"verified", s.Verified}, {"totp", s.TOTP}, {"passkey", s.Passkey}} {
		if b.val != nil {
			v.Set(b.name, fmt.Sprint(*b.val))
		}
	}
	set("provider", s.Provider)
	for _, t := range []struct {
		name string
		at   time.Time
	}{{"created_from", s.CreatedFrom}, {"created_to", s.CreatedTo}, {"last_login_from", s.LastLoginFrom}, {"last_login_to", s.LastLoginTo}} {
		if !t.at.IsZero() {
			v.Set(t.name, t.at.UTC().Format(time.RFC3339Nano))
		}
	}
	return v
}

// WaysIn counts u's own passkeys among keys and names the providers of its
// own identities among ids (sorted, once each): what the user document
// keeps for the search's facets. Records of an earlier account with the
// email are not counted.
func WaysIn(u User, keys []Passkey, ids []Identity) (passkeys int, providers []string) {
	for _, k := range keys {
		if k.Belongs(u) {
			passkeys++
		}
	}
	for _, id := range ids {
		if id.Belongs(u) && !slices.Contains(providers, id.Provider) {
			providers = append(providers, id.Provider)
		}
	}
	slices.Sort(providers)
	return passkeys, providers
}
