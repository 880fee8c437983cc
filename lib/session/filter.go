package session

import (
	"net/netip"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"esauth/lib/params"
	"esauth/lib/user"
)

// Filter selects sessions across accounts, for the security console.
// Every field is typed (see audit.Filter): nothing becomes query syntax.
type Filter struct {
	Email string // whose, normalized ("": anyone's)
	// Network holds the session's address; invalid when unset.
	Network   netip.Prefix
	UserAgent string // words the user agent contains, all of them
	// CreatedFrom/To and SeenFrom/To bound created_at and last_seen_at
	// ([from, to)); zero: unbounded.
	CreatedFrom, CreatedTo time.Time
	SeenFrom, SeenTo       time.Time
}

// FilterParams are the names ParseFilter reads.
var FilterParams = []string{"email", "ip", "user_agent", "created_from", "created_to", "seen_from", "seen_to"}

// Empty says f selects every session.
func (f Filter) Empty() bool { return f == Filter{} }

// PerUser says f selects whole accounts: every session of one email, which
// the user's session epoch ends at once, race-proof.
func (f Filter) PerUser() bool { return f.Email != "" && f == Filter{Email: f.Email} }

// ParseFilter reads a filter from named text values (the API's query or
// body, the pages' form, the command line's flags); what it cannot read is
// a message per field.
func ParseFilter(v url.Values) (Filter, map[string]string) {
	var f Filter
	problems := map[string]string{}
	if e := strings.TrimSpace(v.Get("email")); e != "" {
		if len(e) > 256 || !utf8.ValidString(e) {
			problems["email"] = "email is at most 256 characters of text."
		}
		f.Email = user.NormalizeEmail(e)
	}
	if ip := strings.TrimSpace(v.Get("ip")); ip != "" {
		p, ok := params.Network(ip)
		if !ok {
			problems["ip"] = "ip is an address (203.0.113.7, 2001:db8::1) or a network in CIDR notation (203.0.113.0/24)."
		}
		f.Network = p
	}
	if ua := strings.TrimSpace(v.Get("user_agent")); ua != "" {
		if len(ua) > 200 || !utf8.ValidString(ua) {
			problems["user_agent"] = "user_agent is at most 200 characters of text."
		}
		f.UserAgent = ua
	}
	for _, t := range []struct {
		name string
		end  bool
		to   *time.Time
	}{{"created_from", false, &f.CreatedFrom}, {"created_to", true, &f.CreatedTo}, {"seen_from", false, &f.SeenFrom}, {"seen_to", true, &f.SeenTo}} {
		var ok bool
		if *t.to, ok = params.Time(v.Get(t.name), t.end); !ok {
			problems[t.name] = t.name + " is a time in RFC 3339 (2026-12-01T08:00:00Z) or a date (2026-12-01)."
		}
	}
	for _, r := range []struct {
		from, to time.Time
		name     string
	}{{f.CreatedFrom, f.CreatedTo, "created_to"}, {f.SeenFrom, f.SeenTo, "seen_to"}} {
		if problems[r.name] == "" && !r.from.IsZero() && !r.to.IsZero() && !r.from.Before(r.to) {
			problems[r.name] = r.name + " must be after " + strings.TrimSuffix(r.name, "_to") + "_from."
		}
	}
	if len(problems) > 0 {
		return Filter{}, problems
	}
	return f, nil
}

// Values is f as ParseFilter reads it.
func (f Filter) Values() url.Values {
	v := url.Values{}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("email", f.Email)
	if f.Network.IsValid() {
		v.Set("ip", f.Network.String())
	}
	set("user_agent", f.UserAgent)
	for k, t := range map[string]time.Time{"created_from": f.CreatedFrom, "created_to": f.CreatedTo, "seen_from": f.SeenFrom, "seen_to": f.SeenTo} {
		if !t.IsZero() {
			v.Set(k, t.UTC().Format(time.RFC3339Nano))
		}
	}
	return v
}
