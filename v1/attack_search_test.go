package v1

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"esauth/lib/elastic/estest"
	"esauth/lib/user"
)

// The admin's user search from outside: wildcard and query-syntax input
// is text to find, never syntax (userQuery escapes * ? and \ and sends no
// query_string), and a tampered cursor on any paged list is a clear 4xx,
// never a 500, an Elasticsearch error passed through, or someone else's
// page.
func TestAdminSearchTakesQueryInputLiterallyAndRefusesTamperedCursors(t *testing.T) {
	h := newHarness(t)
	h.addUser("admin@example.com", pw, true)
	for _, e := range []string{"bob@example.com", "carol@example.org", "star*man@example.com", "q?mark@example.com", `back\slash@example.com`} {
		h.addUser(e, pw, false)
	}
	estest.MustDo(t, "POST", "/"+h.store.UsersIndex()+"/_refresh", "")
	admin := h.client()
	admin.mustLogin("admin@example.com", pw)

	emails := func(t *testing.T, q string) []string {
		t.Helper()
		a := admin.in(t).do("GET", "/v1/users?q="+url.QueryEscape(q), nil)
		expectStatus(t, a, http.StatusOK)
		var got []user.Public
		a.data(t, &got)
		var out []string
		for _, u := range got {
			out = append(out, u.Email)
		}
		slices.Sort(out)
		return out
	}
	literal := []struct {
		q    string
		want []string
	}{
		{"*", []string{"star*man@example.com"}},
		{"?", []string{"q?mark@example.com"}},
		{`\`, []string{`back\slash@example.com`}},
		{"*@example.com", nil},    // a leading star is a character, not "anything"
		{"b*", nil},               // nor a trailing one
		{"b?b", nil},              // nor a question mark
		{"email_address:*", nil},  // field syntax of query_string
		{"bob OR carol", nil},     // boolean syntax
		{"/.*/", nil},             // a regular expression
		{`{"match_all":{}}`, nil}, // a query as JSON
		{"bob@example.com", []string{"bob@example.com"}},
	}
	for _, tt := range literal {
		t.Run("q="+tt.q, func(t *testing.T) {
			if got := emails(t, tt.q); !slices.Equal(got, tt.want) {
				t.Errorf("q=%q found %v; want %v", tt.q, got, tt.want)
			}
		})
	}

	cursor := func(raw string) string { return base64.RawURLEncoding.EncodeToString([]byte(raw)) }
	tampered := []struct{ name, cursor string }{
		{"not base64", "%%%"},
		{"base64 of nonsense", cursor("nonsense")},
		{"a time that is a string", cursor(`["soon","bob@example.com"]`)},
		{"a time past every date", cursor(`[9223372036854775807,"bob@example.com"]`)},
		{"a time before every date", cursor(`[-9223372036854775808,"bob@example.com"]`)},
		{"a fraction", cursor(`[1.5e300,"bob@example.com"]`)},
		{"no id", cursor(`[0,""]`)},
		{"three values", cursor(`[0,"a","b"]`)},
		{"an object", cursor(`{"query":{"match_all":{}}}`)},
		{"a huge id", cursor(`[0,"` + strings.Repeat("x", 300) + `"]`)},
	}
	lists := []string{"/v1/users?limit=2", "/v1/users/bob@example.com/audit?limit=2", "/v1/auth/sessions?limit=2"}
	for _, list := range lists {
		for _, tt := range tampered {
			t.Run(list+" "+tt.name, func(t *testing.T) {
				a := admin.in(t).do("GET", list+"&cursor="+url.QueryEscape(tt.cursor), nil)
				switch {
				case a.Status == http.StatusOK:
					// A cursor that decodes to a place in the list is a
					// place: it may page, but only through what the list
					// holds, under the admin's own rights.
				case a.Status == http.StatusBadRequest || a.Status == http.StatusUnprocessableEntity:
				default:
					t.Fatalf("status %d: %s", a.Status, a.Raw)
				}
				if strings.Contains(a.Raw, "exception") || strings.Contains(a.Raw, "search_after") {
					t.Errorf("an Elasticsearch error reached the client: %s", a.Raw)
				}
			})
		}
	}
}
