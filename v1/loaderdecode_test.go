package v1

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
)

// TestTheLoaderShowsWhatWasStoredWhateverTheCharacters drives the user
// loader's decoder (its fast path for plain ASCII, encoding/json for
// anything with escapes or other scripts) through the API against the
// real Elasticsearch: names and user agents with quotes, backslashes,
// non-ASCII letters, emoji and HTML that JSON escapes come back exactly as
// they were sent, and the session still proves the user.
func TestTheLoaderShowsWhatWasStoredWhateverTheCharacters(t *testing.T) {
	h := newHarness(t)
	for i, tc := range []struct{ name, first, last, agent string }{
		{"plain ASCII", "Ada", "Lovelace", "curl/8.0"},
		{"accents and other scripts", "José", "Ångström-Łukasiewicz", "Mozilla/5.0 (Ĝeneric; 中文)"},
		{"quotes and backslashes", `Ada "the Countess"`, `Love\lace`, `agent "quoted" \ back`},
		{"emoji and HTML that JSON escapes", "Ada 🎉", "</b> & <i>", "line\u2028separator </script>"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			email := fmt.Sprintf("loader-%d@example.com", i)
			c := h.client()
			expectStatus(t, c.do("POST", "/v1/users", map[string]any{
				"email_address": email, "password": pw, "first_name": tc.first, "last_name": tc.last,
			}), http.StatusCreated)
			agent := http.Header{"User-Agent": {tc.agent}}
			expectStatus(t, c.doWith("POST", "/v1/auth/login", map[string]any{"email_address": email, "password": pw}, agent), http.StatusOK)

			a := c.doWith("GET", "/v1/auth/verify", nil, agent)
			expectStatus(t, a, http.StatusOK)
			var v struct {
				User struct {
					Email     string `json:"email_address"`
					FirstName string `json:"first_name"`
					LastName  string `json:"last_name"`
				} `json:"user"`
			}
			if err := json.Unmarshal(a.Data, &v); err != nil {
				t.Fatal(err)
			}
			if v.User.Email != email || v.User.FirstName != tc.first || v.User.LastName != tc.last {
				t.Errorf("the loader gave %+v; want %q %q %q", v.User, email, tc.first, tc.last)
			}

			a = c.doWith("GET", "/v1/auth/sessions", nil, agent)
			expectStatus(t, a, http.StatusOK)
			var list []struct {
				UserAgent string `json:"user_agent"`
				Current   bool   `json:"current"`
			}
			if err := json.Unmarshal(a.Data, &list); err != nil {
				t.Fatal(err)
			}
			if len(list) != 1 || list[0].UserAgent != tc.agent || !list[0].Current {
				t.Errorf("sessions %+v; want one, current, with user agent %q", list, tc.agent)
			}
		})
	}
}
