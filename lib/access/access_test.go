package access_test

import (
	"strings"
	"testing"

	"esauth/lib/access"
	"esauth/lib/user"
)

const rulesJSON = `[
  {"paths": ["/public", "/healthz"], "policy": "anyone"},
  {"hosts": ["admin.example.com"], "policy": "admin"},
  {"paths": ["/admin"], "policy": "admin"},
  {"hosts": ["*.internal.example.com"], "methods": ["delete"], "policy": "deny"},
  {"paths": ["/blocked/"], "policy": "deny"}
]`

func TestRulesGiveTheFirstMatchingPolicy(t *testing.T) {
	rules, err := access.Parse(strings.NewReader(rulesJSON))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name              string
		method, host, uri string
		want              access.Policy
	}{
		{"a public path needs nobody", "GET", "app.example.com", "/public/logo.png", access.Anyone},
		{"the public prefix ends at a segment", "GET", "app.example.com", "/publicity", access.User},
		{"a path no rule names needs a user", "GET", "app.example.com", "/reports?year=2026", access.User},
		{"an admin host needs an admin", "GET", "admin.example.com", "/", access.Admin},
		{"the host is matched without its port and case", "GET", "ADMIN.example.com:8443", "/", access.Admin},
		{"an admin path needs an admin", "GET", "app.example.com", "/admin/users", access.Admin},
		{"a dot-dot walk from a public path is cleaned to the admin path", "GET", "app.example.com", "/public/../admin/users", access.Admin},
		{"an escaped dot-dot walk too", "GET", "app.example.com", "/public/%2e%2e/admin", access.Admin},
		{"an escaped slash walk too", "GET", "app.example.com", "/public%2F..%2Fadmin", access.Admin},
		{"a doubled slash too", "GET", "app.example.com", "//admin", access.Admin},
		{"an escaped letter too", "GET", "app.example.com", "/%61dmin", access.Admin},
		{"a wildcard host with its method is denied", "DELETE", "db.internal.example.com", "/x", access.Deny},
		{"the method is matched whatever its case", "delete", "db.internal.example.com", "/x", access.Deny},
		{"another method on that host is not", "GET", "db.internal.example.com", "/x", access.User},
		{"the wildcard does not match the bare domain", "DELETE", "internal.example.com", "/x", access.User},
		{"a denied prefix written with a slash matches the bare path", "GET", "app.example.com", "/blocked", access.Deny},
		{"an empty URI is the root", "GET", "app.example.com", "", access.User},
		{"a Tomcat path parameter walk is the admin path", "GET", "app.example.com", "/public/..;/admin", access.Admin},
		{"a path parameter on the admin path is the admin path", "GET", "app.example.com", "/admin;jsessionid=x/users", access.Admin},
		{"a backslash walk is the admin path", "GET", "app.example.com", "/public/..\\admin", access.Admin},
		{"an escaped backslash walk too", "GET", "app.example.com", "/public/..%5cadmin", access.Admin},
		{"the admin path in capitals is the admin path", "GET", "app.example.com", "/ADMIN/users", access.Admin},
		{"the public path in capitals is not public", "GET", "app.example.com", "/PUBLIC/x", access.User},
		{"a query is not the path", "GET", "app.example.com", "/public?next=/../admin", access.Anyone},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := access.NewRequest(tt.method, tt.host, tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			if got := rules.Policy(req); got != tt.want {
				t.Errorf("policy of %s %s%s (%+v) = %v; want %v", tt.method, tt.host, tt.uri, req, got, tt.want)
			}
		})
	}
}

func TestAForwardedURIThatIsNoPathIsRefused(t *testing.T) {
	for _, uri := range []string{"http://evil.example/admin", "admin", "/a%zz", "/a%2", "/a%00b", "/a\x01b",
		"/public/%252e%252e/admin", "/%2561dmin"} {
		if _, err := access.NewRequest("GET", "app.example.com", uri); err == nil {
			t.Errorf("NewRequest accepted the URI %q", uri)
		}
	}
}

func TestParseRefusesBadRulesNamingThem(t *testing.T) {
	for _, tt := range []struct{ name, json, want string }{
		{"an unknown policy", `[{"policy": "everyone"}]`, "rule 1: policy"},
		{"a missing policy", `[{"paths": ["/"]}, {}]`, "rule 1: policy"},
		{"a path without a slash", `[{"policy": "user"}, {"paths": ["admin"], "policy": "admin"}]`, "rule 2: path"},
		{"a host with a scheme", `[{"hosts": ["https://a.example"], "policy": "user"}]`, "rule 1: host"},
		{"a wildcard in the middle", `[{"hosts": ["a.*.example"], "policy": "user"}]`, "rule 1: host"},
		{"an unknown field", `[{"policy": "user", "role": "admin"}]`, "unknown field"},
		{"an object instead of an array", `{"policy": "user"}`, "not a JSON array"},
		{"trailing data", `[] []`, "more after the array"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := access.Parse(strings.NewReader(tt.json))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Parse(%s) = %v; want an error containing %q", tt.json, err, tt.want)
			}
		})
	}
}

func TestDecide(t *testing.T) {
	admin := &user.User{Email: "a@example.com", Role: user.RoleAdmin}
	member := &user.User{Email: "m@example.com", Role: user.RoleUser}
	for _, tt := range []struct {
		name   string
		policy access.Policy
		u      *user.User
		want   access.Decision
	}{
		{"anyone lets nobody through", access.Anyone, nil, access.Allow},
		{"user asks nobody to log in", access.User, nil, access.LoginNeeded},
		{"user lets a user through", access.User, member, access.Allow},
		{"admin asks nobody to log in", access.Admin, nil, access.LoginNeeded},
		{"admin forbids a user", access.Admin, member, access.Forbidden},
		{"admin lets an admin through", access.Admin, admin, access.Allow},
		{"deny forbids an admin", access.Deny, admin, access.Forbidden},
		{"deny forbids nobody too", access.Deny, nil, access.Forbidden},
	} {
		if got := access.Decide(tt.policy, tt.u); got != tt.want {
			t.Errorf("%s: %v; want %v", tt.name, got, tt.want)
		}
	}
}
