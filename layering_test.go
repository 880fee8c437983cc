package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// The layers of docs/ARCHITECTURE.md, checked on the real import graph
// (go list -deps, test files left out): a change that makes a package
// reach a layer it must not fails here, before review.
func TestTheLayersImportOnlyDownward(t *testing.T) {
	rules := []struct {
		pkg       string
		forbidden []string
		why       string
	}{
		{"./lib/account", []string{"net/http", "go.uber.org/zap", "esauth/v1", "esauth/web", "esauth/lib/httpkit", "esauth/lib/elastic", "esauth/lib/oauth", "esauth/lib/passkey", "esauth/lib/metrics"},
			"the application layer knows no HTTP, no logging library, no surface and no storage client"},
		{"./web", []string{"esauth/v1", "esauth/lib/elastic"}, "the pages share HTTP through lib/httpkit and rules through lib/account, not the API"},
		{"./v1", []string{"esauth/web", "esauth/lib/elastic"}, "the API does not know the pages, nor the storage client"},
		{"./lib/httpkit", []string{"esauth/v1", "esauth/web", "esauth/lib/elastic"}, "the shared HTTP kit is below both surfaces"},
		{"./lib/elastic", []string{"esauth/v1", "esauth/web", "esauth/lib/httpkit", "esauth/lib/account"}, "storage implements the rules' interfaces without importing them"},
		{"./lib/passkey", []string{"esauth/v1", "esauth/web", "esauth/lib/httpkit", "esauth/lib/account", "esauth/lib/elastic"}, "the relying party implements the rules' interface without importing them, and knows no storage"},
	}
	// The domain: no HTTP, no layer above.
	for _, p := range []string{"user", "session", "password", "token", "totp", "errs", "page", "limit", "reqlog", "audit", "mail", "seal"} {
		rules = append(rules, struct {
			pkg       string
			forbidden []string
			why       string
		}{"./lib/" + p, []string{"net/http", "esauth/lib/account", "esauth/lib/httpkit", "esauth/v1", "esauth/web"}, "domain packages are the bottom layer"})
	}
	for _, r := range rules {
		t.Run(strings.TrimPrefix(r.pkg, "./"), func(t *testing.T) {
			out, err := exec.Command("go", "list", "-deps", r.pkg).Output()
			if err != nil {
				t.Fatalf("go list -deps %s: %v", r.pkg, err)
			}
			deps := strings.Fields(string(out))
			for _, f := range r.forbidden {
				if slices.Contains(deps, f) {
					t.Errorf("%s depends on %s: %s (docs/ARCHITECTURE.md)", r.pkg, f, r.why)
				}
			}
		})
	}
}
