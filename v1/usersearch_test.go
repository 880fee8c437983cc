package v1

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"esauth/lib/elastic/estest"
	"esauth/lib/passkey/passkeytest"
	"esauth/lib/user"
)

// searchUsers runs the admin's user search and returns the users found and
// the facets.
func searchUsers(t *testing.T, admin *client, h *harness, query string) ([]user.Public, user.Facets) {
	t.Helper()
	estest.MustDo(t, "POST", "/"+h.store.UsersIndex()+"/_refresh", "")
	a := admin.do("GET", "/v1/users?"+query, nil)
	expectStatus(t, a, http.StatusOK)
	var users []user.Public
	a.data(t, &users)
	var env struct {
		Facets user.Facets `json:"facets"`
	}
	if err := jsonUnmarshal(a.Raw, &env); err != nil {
		t.Fatal(err)
	}
	return users, env.Facets
}

func onlyUser(t *testing.T, users []user.Public, email string) user.Public {
	t.Helper()
	if len(users) != 1 || users[0].Email != email {
		var got []string
		for _, u := range users {
			got = append(got, u.Email)
		}
		t.Fatalf("found %v; want only %s", got, email)
	}
	return users[0]
}

// The user document's copies of what other indices hold (passkeys,
// providers) and of the last login follow every change, so the search
// finds users by them.
func TestTheUserSearchFollowsPasskeysProvidersAndLogins(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock), withOIDC(t), withPasskeys(t))
	admin := adminClient(t, h)
	const bob = "bob@example.com"
	h.addUser(bob, pw, false)

	users, _ := searchUsers(t, admin, h, "q=bob")
	if u := onlyUser(t, users, bob); !u.LastLoginAt.IsZero() || u.Passkeys != 0 || len(u.Providers) != 0 {
		t.Fatalf("before anything: %+v", u)
	}
	c := h.client()
	c.mustLogin(bob, pw)
	first := clock.Now()
	users, _ = searchUsers(t, admin, h, "q=bob&last_login_from="+url.QueryEscape(first.Add(-time.Minute).Format(time.RFC3339)))
	if u := onlyUser(t, users, bob); !u.LastLoginAt.Equal(first.UTC().Truncate(time.Millisecond)) && !u.LastLoginAt.Equal(first.UTC()) {
		t.Errorf("last login %v; want %v", u.LastLoginAt, first)
	}
	// Within the hour a login writes nothing; after it, the new time.
	clock.Advance(30 * time.Minute)
	h.client().mustLogin(bob, pw)
	users, _ = searchUsers(t, admin, h, "q=bob")
	if u := onlyUser(t, users, bob); u.LastLoginAt.Sub(first) > time.Second {
		t.Errorf("a login within the hour wrote %v", u.LastLoginAt)
	}
	clock.Advance(31 * time.Minute)
	h.client().mustLogin(bob, pw)
	users, _ = searchUsers(t, admin, h, "q=bob")
	if u := onlyUser(t, users, bob); u.LastLoginAt.Sub(first) < time.Hour {
		t.Errorf("the login after the hour left %v", u.LastLoginAt)
	}

	// A passkey, then a provider: each found, and counted.
	expectStatus(t, c.addPasskey(t, passkeytest.New(passkeyOrigin), pw), http.StatusCreated)
	users, facets := searchUsers(t, admin, h, "passkey=true")
	if u := onlyUser(t, users, bob); u.Passkeys != 1 {
		t.Errorf("passkeys %d", u.Passkeys)
	}
	if got := facets.Counts["passkey"]; len(got) != 2 || got[0] != (user.FacetCount{Value: "true", Count: 1}) || got[1] != (user.FacetCount{Value: "false", Count: 1}) {
		t.Errorf("passkey facet %+v; want true=1 false=1 (the facet's own filter left out)", got)
	}
	q := atProvider(t, c.oauthStart("/v1/auth/oauth/acme/link"), "ada")
	expectStatus(t, c.doWith("GET", "/v1/auth/oauth/acme/callback?"+q, nil, asJSON), http.StatusOK)
	users, _ = searchUsers(t, admin, h, "provider=acme")
	if u := onlyUser(t, users, bob); strings.Join(u.Providers, ",") != "acme" {
		t.Errorf("providers %v", u.Providers)
	}
	// An account a provider made has it from the start.
	expectStatus(t, h.client().oauthLogin("grace"), http.StatusOK)
	users, facets = searchUsers(t, admin, h, "provider=acme")
	if len(users) != 2 || facets.Total != 2 {
		t.Errorf("provider=acme: %d users, total %d; want bob and grace", len(users), facets.Total)
	}
	// Undone, the copies follow.
	expectStatus(t, c.do("DELETE", "/v1/auth/identities/acme", nil), http.StatusOK)
	users, _ = searchUsers(t, admin, h, "provider=acme")
	onlyUser(t, users, "grace@example.com")
	keys := passkeysOf(t, c)
	expectStatus(t, c.do("DELETE", "/v1/auth/passkeys/"+keys[0]["id"].(string), nil), http.StatusOK)
	users, _ = searchUsers(t, admin, h, "q=bob&passkey=false")
	if u := onlyUser(t, users, bob); u.Passkeys != 0 || len(u.Providers) != 0 {
		t.Errorf("after removing both: %+v", u)
	}
	if users, _ := searchUsers(t, admin, h, "q=bob&provider=acme"); len(users) != 0 {
		t.Errorf("bob still found by the provider he unlinked")
	}
}

// Every filter is typed: what is no value of its type is 422 naming the
// parameter, before any search runs.
func TestUserSearchFiltersThatMustBeRefused(t *testing.T) {
	h := newHarness(t)
	admin := adminClient(t, h)
	for _, tt := range []struct{ query, field string }{
		{"role=root", "role"},
		{"active=yes", "active"},
		{"verified=1", "verified"},
		{"totp=TRUE", "totp"},
		{"passkey=%2A", "passkey"},
		{"provider=A%2A", "provider"},
		{"provider=" + strings.Repeat("a", 40), "provider"},
		{"created_from=yesterday", "created_from"},
		{"created_from=2026-12-02&created_to=2026-12-01", "created_to"},
		{"last_login_to=10000-01-01", "last_login_to"},
		{"q=" + strings.Repeat("a", 257), "q"},
		{"q=a+b+c+d+e+f+g+h+i", "q"},
		{"query_string=x", "query_string"},
		{"sort=password_hash", "sort"},
	} {
		t.Run(tt.query[:min(len(tt.query), 30)], func(t *testing.T) {
			a := admin.in(t).do("GET", "/v1/users?"+tt.query, nil)
			expectStatus(t, a, http.StatusUnprocessableEntity)
			if _, ok := a.Fields[tt.field]; !ok {
				t.Errorf("fields %v; want %s named", a.Fields, tt.field)
			}
		})
	}
}
