package audit

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"esauth/lib/params"
	"esauth/lib/user"
)

// Types lists every event esauth records, for the filters that name them.
var Types = []string{
	Signup, LoginSuccess, LoginFailure, Lockout, Logout, LogoutAll, SessionRevoked, SessionsRevoked,
	PasswordChanged, UserUpdated, UserDisabled, UserDeleted,
	OAuthLogin, OAuthSignup, OAuthRefused, IdentityLinked, IdentityUnlinked,
	VerificationSent, EmailVerified, RecoveryRequested, PasswordRecovered, MailFailed,
	SecondFactorRequired, SecondFactorPassed, SecondFactorFailed, TOTPEnrolled, TOTPEnabled, TOTPDisabled,
	PasskeyRegistered, PasskeyLogin, PasskeyRefused, PasskeyRenamed, PasskeyRemoved,
	LockoutCleared,
}

// Outcomes lists the outcome classes a filter takes. A refusal's outcome
// may carry its reason ("refused: origin"); the class "refused" matches
// them all.
var Outcomes = []string{Success, Failure, Refused}

// Filter selects security events. Every field is typed: the store turns
// it into term, prefix, range and match clauses, never into query syntax,
// so nothing a client sends is interpreted as a query.
type Filter struct {
	Events  []string // any of these types (none: all)
	Outcome string   // one of Outcomes ("": any)
	Email   string   // whose account, normalized
	Actor   string   // who acted, exactly
	// Network holds the event's address (a single address is a /32 or
	// /128); invalid when unset.
	Network netip.Prefix
	// UserAgent is words the user agent must all contain (a full-text
	// match, not a pattern).
	UserAgent string
	// NewDevice selects logins from a client not seen before (true) or
	// the others (false); nil for both.
	NewDevice *bool
	From, To  time.Time // At in [From, To); zero: unbounded
}

// Field sizes a filter accepts: beyond them no event can match anyway.
const (
	maxFilterText = 256
	maxFilterUA   = 200
	maxEventTypes = 40
)

// ParseFilter reads a filter from named text values, as the query string
// of the API, the form of the pages and the flags of the command line give
// them: event (repeated or comma-separated), outcome, email, actor, ip (an
// address or a CIDR network), user_agent, new_device (true or false), from
// and to (RFC 3339, or a date: from its midnight UTC, to the end of its
// day). What it cannot read is a message per field.
func ParseFilter(v url.Values) (Filter, map[string]string) {
	var f Filter
	problems := map[string]string{}
	for _, raw := range v["event"] {
		for _, e := range strings.Split(raw, ",") {
			e = strings.TrimSpace(e)
			switch {
			case e == "":
			case !slices.Contains(Types, e):
				problems["event"] = fmt.Sprintf("%q is not an event type; the types are listed in the README (audit events).", clip(e, 64))
			case !slices.Contains(f.Events, e):
				f.Events = append(f.Events, e)
			}
		}
	}
	if len(f.Events) > maxEventTypes {
		problems["event"] = "Name at most 40 event types."
	}
	if o := strings.TrimSpace(v.Get("outcome")); o != "" {
		if !slices.Contains(Outcomes, o) {
			problems["outcome"] = "outcome is success, failure or refused."
		}
		f.Outcome = o
	}
	if e := strings.TrimSpace(v.Get("email")); e != "" {
		if len(e) > maxFilterText || !utf8.ValidString(e) {
			problems["email"] = "email is at most 256 characters of text."
		}
		f.Email = user.NormalizeEmail(e)
	}
	if a := strings.TrimSpace(v.Get("actor")); a != "" {
		if len(a) > maxFilterText || !utf8.ValidString(a) {
			problems["actor"] = "actor is at most 256 characters of text."
		}
		f.Actor = a
	}
	if ip := strings.TrimSpace(v.Get("ip")); ip != "" {
		p, ok := params.Network(ip)
		if !ok {
			problems["ip"] = "ip is an address (203.0.113.7, 2001:db8::1) or a network in CIDR notation (203.0.113.0/24)."
		}
		f.Network = p
	}
	if ua := strings.TrimSpace(v.Get("user_agent")); ua != "" {
		if len(ua) > maxFilterUA || !utf8.ValidString(ua) {
			problems["user_agent"] = "user_agent is at most 200 characters of text."
		}
		f.UserAgent = ua
	}
	var ok bool
	if f.NewDevice, ok = params.Bool(v.Get("new_device")); !ok {
		problems["new_device"] = "new_device is true or false."
	}
	if f.From, ok = params.Time(v.Get("from"), false); !ok {
		problems["from"] = "from is a time in RFC 3339 (2026-12-01T08:00:00Z) or a date (2026-12-01)."
	}
	if f.To, ok = params.Time(v.Get("to"), true); !ok {
		problems["to"] = "to is a time in RFC 3339 (2026-12-01T08:00:00Z) or a date (2026-12-01)."
	}
	if problems["from"] == "" && problems["to"] == "" && !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		problems["to"] = "to must be after from."
	}
	if len(problems) > 0 {
		return Filter{}, problems
	}
	return f, nil
}

// Values is f as ParseFilter reads it: for links to the next page, the
// form shown again, and the audit event of a revocation.
func (f Filter) Values() url.Values {
	v := url.Values{}
	if len(f.Events) > 0 {
		v.Set("event", strings.Join(f.Events, ","))
	}
	set := func(k, val string) {
		if val != "" {
			v.Set(k, val)
		}
	}
	set("outcome", f.Outcome)
	set("email", f.Email)
	set("actor", f.Actor)
	if f.Network.IsValid() {
		v.Set("ip", f.Network.String())
	}
	set("user_agent", f.UserAgent)
	if f.NewDevice != nil {
		v.Set("new_device", fmt.Sprint(*f.NewDevice))
	}
	if !f.From.IsZero() {
		v.Set("from", f.From.UTC().Format(time.RFC3339Nano))
	}
	if !f.To.IsZero() {
		v.Set("to", f.To.UTC().Format(time.RFC3339Nano))
	}
	return v
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
