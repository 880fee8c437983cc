package v1

import (
	"net/http"
	"net/url"
	"testing"

	"esauth/lib/elastic/estest"
	"esauth/lib/user"
)

func TestAdminsSearchUsersOthersCannot(t *testing.T) {
	h := newHarness(t)
	h.addUser("admin@example.com", pw, true)
	h.addUser("bob@example.com", pw, false)
	h.addUser("carol@example.org", pw, false)
	estest.MustDo(t, "POST", "/"+h.store.UsersIndex()+"/_refresh", "")
	admin, bob := h.client(), h.client()
	admin.mustLogin("admin@example.com", pw)
	bob.mustLogin("bob@example.com", pw)

	expectStatus(t, h.client().do("GET", "/v1/users", nil), http.StatusUnauthorized)
	expectStatus(t, bob.do("GET", "/v1/users?q=carol", nil), http.StatusForbidden)

	a := admin.do("GET", "/v1/users?q="+url.QueryEscape("example.org"), nil)
	expectStatus(t, a, http.StatusOK)
	var got []user.Public
	a.data(t, &got)
	if len(got) != 1 || got[0].Email != "carol@example.org" {
		t.Errorf("q=example.org: %+v", got)
	}
	// Everyone, two a page, with a cursor.
	a = admin.do("GET", "/v1/users?limit=2", nil)
	var first []user.Public
	a.data(t, &first)
	var page struct {
		Next string `json:"next_cursor"`
	}
	if err := jsonUnmarshal(a.Raw, &page); err != nil || len(first) != 2 || page.Next == "" {
		t.Fatalf("first page: %s", a.Raw)
	}
	var second []user.Public
	admin.do("GET", "/v1/users?limit=2&cursor="+url.QueryEscape(page.Next), nil).data(t, &second)
	if len(second) != 1 || second[0].Email == first[0].Email || second[0].Email == first[1].Email {
		t.Errorf("second page %+v after %+v", second, first)
	}
	for _, bad := range []string{"limit=0", "limit=201", "cursor=nonsense", "q=" + url.QueryEscape(string(make([]byte, 300)))} {
		if a := admin.do("GET", "/v1/users?"+bad, nil); a.Status != http.StatusUnprocessableEntity && a.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", bad, a.Status, a.Raw)
		}
	}
}
