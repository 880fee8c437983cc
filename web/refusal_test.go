package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"esauth/lib/elastic"
	"esauth/lib/elastic/estest"
	"esauth/lib/page"
	"esauth/lib/session"
	v1 "esauth/v1"
)

// panicStore panics when sessions are listed: the dashboard, and the
// API's GET /v1/auth/sessions, blow up after the loader found the user.
type panicStore struct{ *elastic.Store }

func (panicStore) ListSessions(context.Context, string, time.Time, *page.Cursor, int) ([]session.Session, *page.Cursor, error) {
	panic("secret internal state")
}

// A refusal speaks the surface's language (issue 18): what the shared
// middleware refuses — the per-IP limit, the cross-origin check, a panic,
// a wrong method — is an HTML page with the status and headers for a
// page's request, and the API's JSON envelope for an API request.
func TestThePagesRefusalsArePagesAndTheAPIsAreJSON(t *testing.T) {
	store := estest.New(t)
	srv, _ := newServerOn(t, store, func(d *v1.Deps) {
		d.Store = panicStore{store}
		d.LoginLimit = v1.RateLimit{PerMinute: 1, Burst: 2}
	})
	b := newBrowser(t, srv)
	expect(t, b.post("/signup", url.Values{"email_address": {"ref@example.com"}, "first_name": {"R"}, "last_name": {"F"}, "password": {pw}}), http.StatusSeeOther)
	expect(t, b.post("/login", url.Values{"email_address": {"ref@example.com"}, "password": {pw}}), http.StatusSeeOther)
	// The login budget (2) is spent by the login above and one more.
	b.post("/login", url.Values{"email_address": {"ref@example.com"}, "password": {"wrong password"}})

	form := url.Values{"email_address": {"x@example.com"}, "password": {pw}}
	tests := []struct {
		name, method, path string
		form               url.Values
		header             http.Header
		status             int
		wantHeader         string // a header the answer must carry
		page               string // text of the page
	}{
		{"a page over the per-IP limit gets a 429 page", "POST", "/login", form, nil, http.StatusTooManyRequests, "Retry-After", "Too many attempts from your address"},
		{"the API over the same limit gets its JSON", "POST", "/v1/auth/login", nil, http.Header{"Content-Type": {"application/json"}}, http.StatusTooManyRequests, "Retry-After", ""},
		{"a cross-origin page form gets a 403 page", "POST", "/signup", form, http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden, "", "Cross-origin request refused."},
		{"a cross-origin API call gets its JSON", "POST", "/v1/users", nil, http.Header{"Sec-Fetch-Site": {"cross-site"}}, http.StatusForbidden, "", ""},
		{"a page that panics gets a 500 page without the panic", "GET", "/dashboard", nil, nil, http.StatusInternalServerError, "", "Something went wrong on our side"},
		{"an API route that panics gets its JSON", "GET", "/v1/auth/sessions", nil, nil, http.StatusInternalServerError, "", ""},
		{"a page with the wrong method gets a 405 page with Allow", "DELETE", "/login", nil, nil, http.StatusMethodNotAllowed, "Allow", "This route does not take this method."},
		{"an API route with the wrong method gets its JSON with Allow", "PUT", "/v1/auth/login", nil, nil, http.StatusMethodNotAllowed, "Allow", ""},
		{"a page with a 20 KiB address gets a 431 page", "GET", "/admin?q=" + strings.Repeat("q", 20<<10), nil, nil, http.StatusRequestHeaderFieldsTooLarge, "", "over 16 KiB"},
		{"an API route with a 20 KiB address gets its JSON", "GET", "/v1/users?q=" + strings.Repeat("q", 20<<10), nil, nil, http.StatusRequestHeaderFieldsTooLarge, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := b.do(tt.method, tt.path, tt.form, tt.header)
			if a.status != tt.status {
				t.Fatalf("status %d, want %d: %s", a.status, tt.status, a.body)
			}
			if tt.wantHeader != "" && a.header.Get(tt.wantHeader) == "" {
				t.Errorf("no %s header", tt.wantHeader)
			}
			ct := a.header.Get("Content-Type")
			if strings.Contains(a.body, "secret internal state") || strings.Contains(a.body, "goroutine") {
				t.Errorf("the answer leaks the panic: %s", a.body)
			}
			if tt.page == "" {
				if !strings.HasPrefix(ct, "application/json") || !strings.HasPrefix(a.body, `{"success":false`) {
					t.Errorf("Content-Type %q, body %s; want the JSON envelope", ct, a.body)
				}
				return
			}
			if !strings.HasPrefix(ct, "text/html") || !strings.Contains(a.body, "<html") || !strings.Contains(a.body, tt.page) {
				t.Errorf("Content-Type %q; want an HTML page saying %q:\n%s", ct, tt.page, a.body)
			}
			if a.header.Get("Content-Security-Policy") == "" {
				t.Error("the page lacks the pages' security policy")
			}
		})
	}
}

// A name is text wherever a page shows it: markup in a first name (a
// provider gives names esauth does not pick) reaches the dashboard, the
// header and the admin list escaped, never as markup (issue 19 item 7).
func TestMarkupInANameIsShownAsTextOnEveryPage(t *testing.T) {
	const evil = `<img src=x onerror=alert(1)><script>alert(2)</script>`
	store, srv := withAdminAndUsers(t)
	addUser(t, store, "mallory@example.com", evil, "user")
	estest.MustDo(t, "POST", "/"+store.UsersIndex()+"/_refresh", "")
	mallory, admin := newBrowser(t, srv), newBrowser(t, srv)
	for who, b := range map[string]*browser{"mallory@example.com": mallory, "boss@example.com": admin} {
		if a := b.post("/login", url.Values{"email_address": {who}, "password": {pw}}); a.status != http.StatusSeeOther {
			t.Fatalf("login %s: %d", who, a.status)
		}
	}
	for name, a := range map[string]answer{
		"dashboard":  mallory.get("/dashboard"),
		"start page": mallory.get("/"),
		"admin list": admin.get("/admin?q=mallory"),
	} {
		if a.status != http.StatusOK {
			t.Errorf("%s: %d", name, a.status)
			continue
		}
		if strings.Contains(a.body, "<img src=x") || strings.Contains(a.body, "<script>alert") {
			t.Errorf("%s carries the name as markup:\n%s", name, a.body)
		}
		if !strings.Contains(a.body, "&lt;img src=x onerror=alert(1)&gt;") {
			t.Errorf("%s does not show the name as text", name)
		}
	}
}
