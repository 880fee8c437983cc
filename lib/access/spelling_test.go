package access_test

import (
	"strings"
	"testing"

	"esauth/lib/access"
)

func TestAHashInTheForwardedURIIsRefused(t *testing.T) {
	for _, tt := range []struct{ name, uri string }{
		// nginx forwards a raw # as it came; the application behind it
		// reads it as part of the path and cleans the walk.
		{"a raw # that walks from a public path to an admin path is refused", "/public/x#/../../admin/secret"},
		{"a raw # at the end of the path is refused", "/public#"},
		{"a raw # in the query is refused", "/public?next=#/admin"},
		{"an escaped # that walks to an admin path is refused", "/public/x%23/../../admin"},
		{"an escaped # anywhere in the path is refused", "/tags/c%23"},
		{"an escaped ? that an application re-reading the path cuts at is refused", "/admin%3F/.."},
		{"an escaped ? in lower case is refused", "/admin%3f/.."},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if req, err := access.NewRequest("GET", "app.example.com", tt.uri); err == nil {
				t.Errorf("NewRequest(%q) = %+v; want an error", tt.uri, req)
			}
		})
	}
}

func TestWindowsSpellingsOfAPathHaveItsPolicy(t *testing.T) {
	rules, err := access.Parse(strings.NewReader(rulesJSON))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		uri  string
		want access.Policy
	}{
		{"the admin path with a trailing dot is the admin path", "/admin.", access.Admin},
		{"the admin path with an escaped trailing space is the admin path", "/admin%20", access.Admin},
		{"the admin path with a raw space and a dot is the admin path", "/admin .", access.Admin},
		{"the admin path with several dots and spaces is the admin path", "/admin. . .", access.Admin},
		{"the admin path with an escaped trailing dot is the admin path", "/admin%2e", access.Admin},
		{"an escaped letter and a trailing dot is the admin path", "/adm%69n.", access.Admin},
		{"a segment with a trailing dot below the admin path is the admin path", "/admin./x", access.Admin},
		{"the admin path's default data stream is the admin path", "/admin::$DATA", access.Admin},
		{"the admin path's data stream in capitals is the admin path", "/ADMIN::$DATA", access.Admin},
		{"the admin directory's index stream is the admin path", "/admin:$i30:$INDEX_ALLOCATION", access.Admin},
		{"a path below the admin path's data stream is the admin path", "/admin::$DATA/users", access.Admin},
		{"a dot-dot walk to the admin path with a trailing dot is the admin path", "/public/..%5cadmin.", access.Admin},
		{"a denied path with a trailing dot is denied", "/blocked.", access.Deny},
		{"the admin path with a trailing slash is the admin path", "/admin/", access.Admin},
		{"a path below the admin path with a trailing slash is the admin path", "/admin/users/", access.Admin},
		{"the admin path with a dot segment after it is the admin path", "/admin/.", access.Admin},
		{"a dot segment after a trailing dot is cleaned first and leaves the root", "/admin./..", access.User},
		{"a public path stays public", "/public/x", access.Anyone},
		{"a public file with an extension stays public", "/public/logo.png", access.Anyone},
		{"a public file with a stream stays public", "/public/x:y", access.Anyone},
		{"a public path spelled the Windows way is not public", "/public./x", access.User},
		{"a longer name is not under the admin path", "/administrator", access.User},
		{"a longer name with a trailing dot is not under the admin path", "/administrator.", access.User},
		{"a file named admin.html is not under the admin path", "/admin.html", access.User},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := access.NewRequest("GET", "app.example.com", tt.uri)
			if err != nil {
				t.Fatal(err)
			}
			if got := rules.Policy(req); got != tt.want {
				t.Errorf("policy of %s (%+v) = %v; want %v", tt.uri, req, got, tt.want)
			}
		})
	}
}

func TestASegmentThatWindowsReadsAsNothingIsRefused(t *testing.T) {
	for _, tt := range []struct{ name, uri string }{
		// Windows trims a segment's trailing dots and spaces after it has
		// cleaned the dot segments, and Windows 9x read "..." as "../..":
		// no reading of these is safe, and no real path has one.
		{"three dots are refused", "/public/.../admin"},
		{"a dot-dot with a trailing space is refused", "/public/..%20/admin"},
		{"a dot-dot with a raw trailing space is refused", "/public/.. /admin"},
		{"a dot with a trailing space is refused", "/public/. /admin"},
		{"a dot-dot with a stream is refused", "/public/..:x/admin"},
		{"a segment of only a stream is refused", "/admin/::$DATA"},
		{"a segment of only a space is refused", "/public/%20/x"},
		{"a dot-dot with a path parameter and a trailing dot is refused", "/public/...;x/admin"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if req, err := access.NewRequest("GET", "app.example.com", tt.uri); err == nil {
				t.Errorf("NewRequest(%q) = %+v; want an error", tt.uri, req)
			}
		})
	}
}
