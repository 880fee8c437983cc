// Package access decides whether a request that a reverse proxy is about to
// send to another application may go through: the rules of forward-auth
// (GET /v1/auth/forward), read from the ESAUTH_FORWARD_RULES file.
package access

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path"
	"slices"
	"strings"

	"esauth/lib/user"
)

// Policy says who may make a request. The policies are ordered: each asks
// more than the one before.
type Policy int

// The policies, weakest first.
const (
	Anyone Policy = iota // no login needed
	User                 // any logged-in, active user
	Admin                // a logged-in admin
	Deny                 // nobody
)

var policyNames = map[string]Policy{"anyone": Anyone, "user": User, "admin": Admin, "deny": Deny}

// ParsePolicy reads a policy's name: anyone, user, admin or deny.
func ParsePolicy(s string) (Policy, bool) {
	p, ok := policyNames[s]
	return p, ok
}

func (p Policy) String() string {
	for name, q := range policyNames {
		if q == p {
			return name
		}
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// Request is the request the proxy asks about.
type Request struct {
	Method string // upper case, e.g. GET
	Host   string // lower case, without a port
	Path   string // decoded and cleaned: "/a/b", never "/a/../b"
}

// NewRequest builds a Request from what a proxy forwards: the method, the
// host (a port is dropped) and the request URI (path and query). The path
// is read the way the most lenient application server would read it, so a
// rule written for a path cannot be walked around by spelling the path
// another way: it is percent-decoded, a backslash is a slash (IIS), a
// segment's ";parameters" are dropped (Tomcat reads "/public/..;/admin" as
// "/admin"), and dot segments and doubled slashes are cleaned, so
// "/public/../admin", "/public/%2e%2e/admin", "/public/..;/admin",
// "//admin" and "/%61dmin" are all "/admin". A path still holding a
// percent escape after decoding ("%252e", encoded twice) is refused: an
// application that decodes twice would read another path than the rules.
// So is a URI holding a "#", raw or escaped: nginx forwards
// "/public/x#/../../admin" as it came, and the application reads the "#"
// as part of the path and cleans it to "/admin". An escaped "?" is refused
// for the same reason; a raw one still ends the path, and the query is
// not read. A segment that Windows would trim to nothing ("...", ".. ",
// "..:x") is refused too; the other Windows spellings are left in Path and
// matched by Rules.Policy. A URI that is not a path is an error.
func NewRequest(method, host, uri string) (Request, error) {
	if uri == "" {
		uri = "/"
	}
	if !strings.HasPrefix(uri, "/") {
		return Request{}, fmt.Errorf("the forwarded URI must be a path starting with /")
	}
	// A browser never sends a fragment, so a raw "#" was put there to be
	// read one way here (cut, as a URL parser does) and another way by the
	// application, which nginx hands the whole URI.
	if strings.Contains(uri, "#") {
		return Request{}, fmt.Errorf("the forwarded URI holds a #")
	}
	p, _, _ := strings.Cut(uri, "?")
	decoded, err := unescapePath(p)
	if err != nil {
		return Request{}, err
	}
	if hasEscape(decoded) {
		return Request{}, fmt.Errorf("the forwarded URI is percent-encoded twice")
	}
	// An escaped "#" or "?" is a character of the path here, but an
	// application that decodes the path and then reads it as a URL again
	// cuts it there: "/admin%3F/.." is "/" here and "/admin" there.
	if strings.ContainsAny(decoded, "#?") {
		return Request{}, fmt.Errorf("the forwarded URI holds an escaped # or ?")
	}
	decoded = strings.ReplaceAll(decoded, "\\", "/")
	segments := strings.Split(decoded, "/")
	for i, seg := range segments {
		if j := strings.IndexByte(seg, ';'); j >= 0 {
			seg = seg[:j]
			segments[i] = seg
		}
		// Windows trims a segment's trailing dots and spaces only after it
		// has cleaned the dot segments, and Windows 9x read "..." as two
		// levels up, so a segment that it trims to nothing ("...", ".. ",
		// "..:x", " ") has no safe reading; no real path has one.
		if seg != "" && seg != "." && seg != ".." && windowsSegment(seg) == "" {
			return Request{}, fmt.Errorf("the forwarded URI has a segment of only dots, spaces or a stream name")
		}
	}
	cleaned := path.Clean("/" + strings.Join(segments, "/"))
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if method == "" {
		method = "GET"
	}
	return Request{Method: strings.ToUpper(method), Host: strings.ToLower(strings.TrimSuffix(host, ".")), Path: cleaned}, nil
}

// hasEscape reports whether s holds a percent escape (%XX).
func hasEscape(s string) bool {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == '%' && isHex(s[i+1]) && isHex(s[i+2]) {
			return true
		}
	}
	return false
}

// unescapePath decodes %XX sequences; a malformed one is an error, and so
// is a decoded NUL or control character, which no path needs.
func unescapePath(p string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' {
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return "", fmt.Errorf("the forwarded URI has a malformed %% escape")
			}
			c = unhex(p[i+1])<<4 | unhex(p[i+2])
			i += 2
		}
		if c < 0x20 || c == 0x7f {
			return "", fmt.Errorf("the forwarded URI holds a control character")
		}
		b.WriteByte(c)
	}
	return b.String(), nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// Rule gives a policy to the requests it matches. An empty list matches
// everything.
type Rule struct {
	// Hosts are exact host names, or "*.example.com" for any name below
	// example.com (not example.com itself).
	Hosts []string `json:"hosts,omitempty"`
	// Paths are path prefixes that end at a segment: "/admin" matches
	// "/admin" and "/admin/users", not "/administrator".
	Paths []string `json:"paths,omitempty"`
	// Methods are HTTP methods, e.g. ["POST", "DELETE"].
	Methods []string `json:"methods,omitempty"`
	// Policy is anyone, user, admin or deny.
	Policy string `json:"policy"`

	policy Policy
}

// Rules are checked in order; the first that matches decides. A request
// that none matches needs a logged-in user.
type Rules struct {
	rules []Rule
}

// Parse reads rules from JSON: an array of rules. Unknown fields, an
// unknown policy, a path that does not start with "/" or an empty rule
// list entry are errors that name the rule.
func Parse(r io.Reader) (Rules, error) {
	data, err := io.ReadAll(io.LimitReader(r, 1<<20))
	if err != nil {
		return Rules{}, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var rules []Rule
	if err := dec.Decode(&rules); err != nil {
		return Rules{}, fmt.Errorf("not a JSON array of rules: %w", err)
	}
	if dec.More() {
		return Rules{}, fmt.Errorf("not a JSON array of rules: more after the array")
	}
	for i := range rules {
		r := &rules[i]
		p, ok := ParsePolicy(r.Policy)
		if !ok {
			return Rules{}, fmt.Errorf("rule %d: policy %q is not one of anyone, user, admin, deny", i+1, r.Policy)
		}
		r.policy = p
		for j, h := range r.Hosts {
			h = strings.ToLower(strings.TrimSuffix(h, "."))
			if h == "" || strings.ContainsAny(h, "/: ") || strings.Count(h, "*") > 1 || (strings.Contains(h, "*") && !strings.HasPrefix(h, "*.")) {
				return Rules{}, fmt.Errorf("rule %d: host %q is not a host name or *.domain", i+1, r.Hosts[j])
			}
			r.Hosts[j] = h
		}
		for j, p := range r.Paths {
			if !strings.HasPrefix(p, "/") {
				return Rules{}, fmt.Errorf("rule %d: path %q must start with /", i+1, p)
			}
			r.Paths[j] = path.Clean(p)
		}
		for j, m := range r.Methods {
			r.Methods[j] = strings.ToUpper(m)
		}
	}
	return Rules{rules: rules}, nil
}

// Policy is the policy of the first rule that matches req (User when none
// does). Paths are matched in each way an application server may read
// them, the rules' paths read the same way, and the strictest answer wins:
// as they are; ignoring case, since on a server that ignores case (Windows,
// IIS) "/ADMIN" is "/admin"; and ignoring case the way Windows reads a
// file name (windowsPath), where "/admin.", "/admin%20" and
// "/admin::$DATA" are "/admin". Because the strictest wins, a spelling
// never gains by a reading: on a server that does not ignore case,
// "/PUBLIC/x" is not under an "anyone" rule for "/public", and so neither
// is "/public./x".
func (rs Rules) Policy(req Request) Policy {
	strictest := Anyone
	for _, read := range []func(string) string{
		func(p string) string { return p },
		strings.ToLower,
		func(p string) string { return windowsPath(strings.ToLower(p)) },
	} {
		strictest = max(strictest, rs.first(req, read))
	}
	return strictest
}

// first is the policy of the first rule that matches req when its path
// and the rules' paths are read by read.
func (rs Rules) first(req Request, read func(string) string) Policy {
	req.Path = read(req.Path)
	for _, r := range rs.rules {
		if r.matches(req, read) {
			return r.policy
		}
	}
	return User
}

// windowsPath is how IIS on NTFS reads the file name of a cleaned path:
// in each segment, a ":stream:type" suffix names an alternate data stream
// of the file before it ("/admin::$DATA", "/admin:$i30:$INDEX_ALLOCATION"
// are "/admin"), and trailing dots and spaces are dropped ("/admin. " is
// "/admin"). A segment left empty is dropped like a doubled slash;
// NewRequest refuses the URIs that would have one.
func windowsPath(p string) string {
	segments := strings.Split(p, "/")
	kept := segments[:0]
	for _, seg := range segments {
		if seg = windowsSegment(seg); seg != "" {
			kept = append(kept, seg)
		}
	}
	return "/" + strings.Join(kept, "/")
}

// windowsSegment is one segment of a path as Windows reads it: without its
// stream name and its trailing dots and spaces.
func windowsSegment(seg string) string {
	seg, _, _ = strings.Cut(seg, ":")
	return strings.TrimRight(seg, ". ")
}

// Len is how many rules there are.
func (rs Rules) Len() int { return len(rs.rules) }

func (r Rule) matches(req Request, read func(string) string) bool {
	if len(r.Methods) > 0 && !slices.Contains(r.Methods, req.Method) {
		return false
	}
	if len(r.Hosts) > 0 && !slices.ContainsFunc(r.Hosts, func(h string) bool { return hostMatches(h, req.Host) }) {
		return false
	}
	if len(r.Paths) > 0 && !slices.ContainsFunc(r.Paths, func(p string) bool {
		return pathMatches(read(p), req.Path)
	}) {
		return false
	}
	return true
}

func hostMatches(pattern, host string) bool {
	if suffix, ok := strings.CutPrefix(pattern, "*"); ok {
		return strings.HasSuffix(host, suffix) && len(host) > len(suffix)
	}
	return pattern == host
}

func pathMatches(prefix, p string) bool {
	return prefix == "/" || p == prefix || strings.HasPrefix(p, prefix+"/")
}

// Decision is the answer to the proxy.
type Decision int

// The decisions.
const (
	Allow       Decision = iota // let it through
	LoginNeeded                 // nobody is logged in (401: the proxy sends the browser to log in)
	Forbidden                   // the user may not (403)
)

// Decide applies policy p to u (nil when nobody is logged in).
func Decide(p Policy, u *user.User) Decision {
	switch {
	case p == Deny:
		return Forbidden
	case p == Anyone:
		return Allow
	case u == nil:
		return LoginNeeded
	case p == Admin && u.Role != user.RoleAdmin:
		return Forbidden
	}
	return Allow
}
