package web_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"esauth/lib/audit"
	"esauth/lib/breached"
	"esauth/lib/elastic"
	"esauth/lib/elastic/estest"
	"esauth/lib/oauth"
	"esauth/lib/password"
	"esauth/lib/session"
	"esauth/lib/user"
	v1 "esauth/v1"
	"esauth/web"
)

// fast keeps argon2id cheap in tests; production parameters are tested
// in lib/password.
var fast = password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// newServer runs the whole handler (API and pages) on the test cluster.
func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv, _ := newServerOn(t, estest.New(t))
	return srv
}

// newServerOn runs the whole handler on store, and returns its cookie codec.
func newServerOn(t *testing.T, store *elastic.Store, opts ...func(*v1.Deps)) (*httptest.Server, *session.Codec) {
	t.Helper()
	return newServerListening(t, store, nil, opts...)
}

// newServerListening is newServerOn on ln (nil: a new one), for a test
// that must know the server's address before it is made.
func newServerListening(t *testing.T, store *elastic.Store, ln net.Listener, opts ...func(*v1.Deps)) (*httptest.Server, *session.Codec) {
	t.Helper()
	codec, err := session.NewCodec("session", 24*time.Hour, session.RandomKeys())
	if err != nil {
		t.Fatal(err)
	}
	common, err := breached.NewScreener()
	if err != nil {
		t.Fatal(err)
	}
	pages, err := web.New(zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	// The real audit trail, written in the background, so the dashboard
	// shows events.
	auditLog := audit.NewWriter(store, zap.NewNop().Sugar(), 1024, 100, 100*time.Millisecond)
	t.Cleanup(func() { _ = auditLog.Close(context.Background()) })
	d := v1.Deps{
		Log: zap.NewNop(), Store: store, Hasher: password.New(fast, 0),
		Cookies:   v1.Cookies{Name: "session", Codec: codec},
		Policy:    session.Policy{TTL: time.Hour, Idle: time.Hour, RememberTTL: 24 * time.Hour, TouchEvery: time.Minute},
		Now:       time.Now,
		Audit:     auditLog,
		Passwords: v1.PasswordScreen{Common: common},
		Pages:     pages,
	}
	for _, o := range opts {
		o(&d)
	}
	h, err := v1.NewServer(d)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(h)
	if ln != nil {
		_ = srv.Listener.Close()
		srv.Listener = ln
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, codec
}

// browser is a client with cookies that shows redirects instead of
// following them.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, srv *httptest.Server) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: srv.URL, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// another is a new browser, with no cookies, on b's server.
func (b *browser) another() *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: b.t, base: b.base, c: &http.Client{Jar: jar, CheckRedirect: b.c.CheckRedirect}}
}

type answer struct {
	status   int
	location string
	header   http.Header
	body     string
}

func (b *browser) do(method, path string, form url.Values, header http.Header) answer {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return answer{status: res.StatusCode, location: res.Header.Get("Location"), header: res.Header, body: string(raw)}
}

func (b *browser) get(path string) answer { return b.do("GET", path, nil, nil) }
func (b *browser) post(path string, form url.Values) answer {
	return b.do("POST", path, form, nil)
}

func expect(t *testing.T, a answer, status int, contains ...string) {
	t.Helper()
	if a.status != status {
		t.Fatalf("status %d, want %d (Location %q): %s", a.status, status, a.location, a.body)
	}
	for _, c := range contains {
		if !strings.Contains(a.body, c) {
			t.Errorf("the page lacks %q:\n%s", c, a.body)
		}
	}
}

const pw = "correct horse battery 7"

var inlineScriptOrStyle = regexp.MustCompile(`(?i)<script|<style|\sstyle=|\son[a-z]+=`)

func TestPagesCarryAStrictPolicyAndNoInlineCode(t *testing.T) {
	srv := newServer(t)
	b := newBrowser(t, srv)
	for _, path := range []string{"/", "/login", "/signup", "/nowhere"} {
		a := b.get(path)
		csp := a.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: Content-Security-Policy %q lacks %q", path, csp, want)
			}
		}
		if inlineScriptOrStyle.MatchString(a.body) {
			t.Errorf("%s has inline script or style:\n%s", path, a.body)
		}
		if !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") {
			t.Errorf("%s: Content-Type %q", path, a.header.Get("Content-Type"))
		}
	}
	expect(t, b.get("/nowhere"), http.StatusNotFound, "Not found")
	// The API keeps its JSON 404.
	if a := b.get("/v1/nowhere"); a.status != http.StatusNotFound || !strings.HasPrefix(a.header.Get("Content-Type"), "application/json") {
		t.Errorf("/v1/nowhere: %d %s", a.status, a.header.Get("Content-Type"))
	}
	expect(t, b.get("/static/style.css"), http.StatusOK, "box-sizing")
}

func TestSignUpLogInAndOutWithForms(t *testing.T) {
	srv := newServer(t)
	b := newBrowser(t, srv)

	// A field error first: the message sits next to its field, tied to
	// it, and what was typed stays, except the password.
	a := b.post("/signup", url.Values{"email_address": {"ada@example.com"}, "first_name": {"Ada"}, "last_name": {""}, "password": {"short"}})
	expect(t, a, http.StatusUnprocessableEntity,
		`aria-describedby="last_name-error"`, `id="last_name-error"`, `aria-describedby="password-error"`,
		`value="ada@example.com"`, `value="Ada"`, `autocomplete="new-password"`)
	if strings.Contains(a.body, `value="short"`) {
		t.Error("the signup page echoes the password")
	}
	a = b.post("/signup", url.Values{"email_address": {"ada@example.com"}, "first_name": {"Ada"}, "last_name": {"Lovelace"}, "password": {pw}})
	if a.status != http.StatusSeeOther || a.location != "/login" {
		t.Fatalf("signup: %d to %q: %s", a.status, a.location, a.body)
	}
	expect(t, b.get("/login"), http.StatusOK, "Your account is ready", `autocomplete="username"`, `autocomplete="current-password"`)
	// The same email again: the message is on the email field.
	expect(t, b.post("/signup", url.Values{"email_address": {"ADA@example.com"}, "first_name": {"A"}, "last_name": {"L"}, "password": {pw}}),
		http.StatusConflict, `id="email_address-error"`)

	a = b.post("/login", url.Values{"email_address": {"ada@example.com"}, "password": {"wrong password"}})
	expect(t, a, http.StatusUnauthorized, "The email address or password is wrong.", `value="ada@example.com"`, `role="alert"`)
	if strings.Contains(a.body, "wrong password") {
		t.Error("the login page echoes the password")
	}
	a = b.post("/login", url.Values{"email_address": {"ada@example.com"}, "password": {pw}})
	if a.status != http.StatusSeeOther || a.location != "/dashboard" {
		t.Fatalf("login: %d to %q", a.status, a.location)
	}
	expect(t, b.get("/dashboard"), http.StatusOK, "Welcome, Ada", "ada@example.com")
	// The page's session is the API's.
	if a := b.get("/v1/test"); a.status != http.StatusOK {
		t.Errorf("/v1/test with the page's cookie: %d", a.status)
	}

	a = b.post("/logout", nil)
	if a.status != http.StatusSeeOther || a.location != "/" {
		t.Fatalf("logout: %d to %q", a.status, a.location)
	}
	expect(t, b.get("/"), http.StatusOK, "You are logged out.")
	a = b.get("/dashboard")
	if a.status != http.StatusSeeOther || a.location != "/login" {
		t.Errorf("the dashboard after logout: %d to %q", a.status, a.location)
	}
	if a := b.get("/v1/test"); a.status != http.StatusUnauthorized {
		t.Errorf("/v1/test after the page's logout: %d", a.status)
	}
}

// A form posted from another site is refused before it does anything.
func TestACrossSiteFormPostIsRefused(t *testing.T) {
	srv := newServer(t)
	b := newBrowser(t, srv)
	form := url.Values{"email_address": {"mallory@example.com"}, "first_name": {"M"}, "last_name": {"M"}, "password": {pw}}
	for _, h := range []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}},
		{"Origin": {"https://evil.example"}},
	} {
		if a := b.do("POST", "/signup", form, h); a.status != http.StatusForbidden {
			t.Errorf("a cross-site signup form (%v): %d", h, a.status)
		}
	}
	// Nothing was made: a same-site signup with the email works.
	a := b.post("/signup", form)
	if a.status != http.StatusSeeOther {
		t.Errorf("the same signup from this site: %d %s", a.status, a.body)
	}
}

var sessionItem = regexp.MustCompile(`(?s)<li>(.*?)</li>`)
var sessionID = regexp.MustCompile(`name="id" value="([0-9a-f]{64})"`)

// otherSessionIDs reads the dashboard's list: the ids of the sessions that
// are not this device.
func otherSessionIDs(t *testing.T, dashboard string) []string {
	t.Helper()
	var out []string
	for _, m := range sessionItem.FindAllStringSubmatch(dashboard, -1) {
		if id := sessionID.FindStringSubmatch(m[1]); id != nil && !strings.Contains(m[1], "This device") {
			out = append(out, id[1])
		}
	}
	return out
}

func TestTheDashboardChangesThePasswordAndEndsSessions(t *testing.T) {
	srv := newServer(t)
	a, b := newBrowser(t, srv), newBrowser(t, srv)
	a.post("/signup", url.Values{"email_address": {"kim@example.com"}, "first_name": {"Kim"}, "last_name": {"Lee"}, "password": {pw}})
	for _, br := range []*browser{a, b} {
		if got := br.post("/login", url.Values{"email_address": {"kim@example.com"}, "password": {pw}}); got.status != http.StatusSeeOther {
			t.Fatalf("login: %d", got.status)
		}
	}
	dash := a.get("/dashboard")
	expect(t, dash, http.StatusOK, "This device", `autocomplete="current-password"`, `autocomplete="new-password"`)
	if ids := otherSessionIDs(t, dash.body); len(ids) != 1 {
		t.Fatalf("the dashboard lists %d other sessions; want b's", len(ids))
	}

	// A wrong current password: the message is on its field.
	expect(t, a.post("/dashboard/password", url.Values{"old_password": {"not it at all"}, "new_password": {"another horse battery 8"}}),
		http.StatusForbidden, `id="old_password-error"`, "The current password is wrong.")
	// The right one: b's session ends, a's goes on (with a new cookie).
	got := a.post("/dashboard/password", url.Values{"old_password": {pw}, "new_password": {"another horse battery 8"}})
	if got.status != http.StatusSeeOther || got.location != "/dashboard" {
		t.Fatalf("password change: %d to %q: %s", got.status, got.location, got.body)
	}
	expect(t, a.get("/dashboard"), http.StatusOK, "Your password is changed")
	if got := b.get("/dashboard"); got.location != "/login" {
		t.Errorf("b after the password change: %d to %q", got.status, got.location)
	}

	// b logs in again; a logs b's session out from the list.
	b.post("/login", url.Values{"email_address": {"kim@example.com"}, "password": {"another horse battery 8"}})
	ids := otherSessionIDs(t, a.get("/dashboard").body)
	if len(ids) != 1 {
		t.Fatalf("other sessions: %v", ids)
	}
	if got := a.post("/dashboard/sessions/revoke", url.Values{"id": {ids[0]}}); got.location != "/dashboard" {
		t.Fatalf("revoke: %d to %q", got.status, got.location)
	}
	expect(t, a.get("/dashboard"), http.StatusOK, "That session is logged out.")
	if got := b.get("/dashboard"); got.location != "/login" {
		t.Errorf("b after its session was revoked: %d to %q", got.status, got.location)
	}
	// Another user's session id is refused.
	if got := a.post("/dashboard/sessions/revoke", url.Values{"id": {strings.Repeat("a", 64)}}); got.status != http.StatusNotFound {
		t.Errorf("revoking an unknown session: %d", got.status)
	}

	// Everywhere: a too.
	if got := a.post("/logout/all", nil); got.location != "/" {
		t.Fatalf("logout everywhere: %d to %q", got.status, got.location)
	}
	expect(t, a.get("/"), http.StatusOK, "You are logged out everywhere.")
	if got := a.get("/dashboard"); got.location != "/login" {
		t.Errorf("a after logging out everywhere: %d to %q", got.status, got.location)
	}
}

// With Elasticsearch down, a page that needs to know who is asking shows
// the friendly 503 page, not the API's JSON; the others still work.
func TestElasticsearchDownGivesTheFriendly503Page(t *testing.T) {
	store, err := elastic.New(elastic.Config{Addresses: []string{estest.DeadURL(t)}, IndexPrefix: "down-", Timeout: 2 * time.Second}, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	srv, codec := newServerOn(t, store)
	b := newBrowser(t, srv)
	value, err := codec.Encode(session.Payload{Token: strings.Repeat("t", 43), Email: "kim@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(srv.URL)
	b.c.Jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: value, Path: "/"}})
	a := b.get("/dashboard")
	expect(t, a, http.StatusServiceUnavailable, "Back in a moment")
	if !strings.HasPrefix(a.header.Get("Content-Type"), "text/html") || a.header.Get("Retry-After") == "" {
		t.Errorf("503 page: Content-Type %q, Retry-After %q", a.header.Get("Content-Type"), a.header.Get("Retry-After"))
	}
	expect(t, b.get("/"), http.StatusOK, "esauth")
	// A login attempt says the store is unavailable, on the login page.
	expect(t, b.post("/login", url.Values{"email_address": {"kim@example.com"}, "password": {pw}}),
		http.StatusServiceUnavailable, "unavailable", `value="kim@example.com"`)
}

// addUser stores a user as "esauth user create" does.
func addUser(t *testing.T, store *elastic.Store, email, first string, role string) {
	t.Helper()
	hash, err := password.New(fast, 0).Hash(context.Background(), pw)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	if err := store.CreateUser(context.Background(), user.User{
		Email: email, FirstName: first, LastName: "Test", PasswordHash: hash, Role: role, IsActive: true,
		CreatedAt: now, UpdatedAt: now, PasswordChangedAt: now, SessionEpoch: user.NewEpoch(),
	}); err != nil {
		t.Fatal(err)
	}
}

// withAdminAndUsers runs the server with boss (an admin) and, as users,
// each of users ("bob" is bob@example.com, first name Bob).
func withAdminAndUsers(t *testing.T, users ...string) (*elastic.Store, *httptest.Server) {
	t.Helper()
	store := estest.New(t)
	srv, _ := newServerOn(t, store)
	addUser(t, store, "boss@example.com", "Boss", user.RoleAdmin)
	for _, u := range users {
		addUser(t, store, u+"@example.com", strings.ToUpper(u[:1])+u[1:], user.RoleUser)
	}
	estest.MustDo(t, "POST", "/"+store.UsersIndex()+"/_refresh", "")
	return store, srv
}

func TestTheAdminPageSearchesDisablesAndDeletes(t *testing.T) {
	store, srv := withAdminAndUsers(t, "bob", "carol")
	admin, bob := newBrowser(t, srv), newBrowser(t, srv)
	for who, b := range map[string]*browser{"boss@example.com": admin, "bob@example.com": bob} {
		if a := b.post("/login", url.Values{"email_address": {who}, "password": {pw}}); a.status != http.StatusSeeOther {
			t.Fatalf("login %s: %d", who, a.status)
		}
	}
	// Not for users.
	if a := bob.get("/admin"); a.status != http.StatusForbidden || strings.Contains(a.body, "carol@example.com") {
		t.Errorf("/admin for a user: %d", a.status)
	}
	expect(t, admin.get("/dashboard"), http.StatusOK, `href="/admin"`)
	a := admin.get("/admin?q=bob")
	expect(t, a, http.StatusOK, "bob@example.com", `aria-label="Disable bob@example.com"`)
	if strings.Contains(a.body, "carol@example.com") {
		t.Error("the search for bob lists carol")
	}

	// Disabled: bob's next page view is the login page.
	if a := admin.post("/admin/users", url.Values{"email": {"bob@example.com"}, "action": {"disable"}}); a.status != http.StatusSeeOther {
		t.Fatalf("disable: %d %s", a.status, a.body)
	}
	if a := bob.get("/dashboard"); a.location != "/login" {
		t.Errorf("bob after being disabled: %d to %q", a.status, a.location)
	}
	expect(t, bob.post("/login", url.Values{"email_address": {"bob@example.com"}, "password": {pw}}), http.StatusForbidden, "disabled")
	// The admin cannot disable themselves; the API's message says so.
	expect(t, admin.post("/admin/users", url.Values{"email": {"boss@example.com"}, "action": {"disable"}}), http.StatusForbidden, "cannot")
	// Delete carol.
	if a := admin.post("/admin/users", url.Values{"email": {"carol@example.com"}, "action": {"delete"}}); a.status != http.StatusSeeOther {
		t.Fatalf("delete: %d %s", a.status, a.body)
	}
	if _, err := store.GetUser(context.Background(), "carol@example.com"); err == nil {
		t.Error("carol is still there")
	}
	expect(t, admin.get("/admin"), http.StatusOK, "The user is deleted.")
}

func TestTheDashboardUnlinksAProvider(t *testing.T) {
	store := estest.New(t)
	srv, _ := newServerOn(t, store, func(d *v1.Deps) {
		// Never contacted: the dashboard only lists and unlinks.
		d.OAuth.Providers = map[string]oauth.Provider{"acme": oauth.NewOIDC("acme", "http://127.0.0.1:1", "id", "secret", nil, oauth.Options{})}
	})
	addUser(t, store, "kim@example.com", "Kim", user.RoleUser)
	u, err := store.GetUser(context.Background(), "kim@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if err := store.CreateIdentity(context.Background(), user.Identity{Provider: "acme", Subject: "42", Email: u.Email,
		UserCreatedAt: u.CreatedAt, ProviderEmail: "kim@acme.example", CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, srv)
	// One button per configured provider on the login page.
	expect(t, b.get("/login"), http.StatusOK, `href="/v1/auth/oauth/acme?return_to=%2fdashboard"`)
	b.post("/login", url.Values{"email_address": {"kim@example.com"}, "password": {pw}})
	expect(t, b.get("/dashboard"), http.StatusOK, "kim@acme.example", `aria-label="Unlink acme"`, `action="/v1/auth/oauth/acme/link?return_to=/dashboard"`)
	if a := b.post("/dashboard/identities/unlink", url.Values{"provider": {"acme"}}); a.location != "/dashboard" {
		t.Fatalf("unlink: %d to %q: %s", a.status, a.location, a.body)
	}
	expect(t, b.get("/dashboard"), http.StatusOK, "That account is unlinked.", "None yet.")
	expect(t, b.post("/dashboard/identities/unlink", url.Values{"provider": {"acme"}}), http.StatusNotFound, "not linked")
}

// A proxy's forward-auth sends the browser to /login?return_to=<where it
// was going>; after logging in it goes back there, and only ever to a
// path on this site.
func TestLoginReturnsToWhereTheBrowserWasGoing(t *testing.T) {
	srv := newServer(t)
	b := newBrowser(t, srv)
	a := b.post("/signup", url.Values{"email_address": {"back@example.com"}, "first_name": {"B"}, "last_name": {"C"}, "password": {pw}})
	if a.status != http.StatusSeeOther {
		t.Fatalf("signup: %d", a.status)
	}
	expect(t, b.get("/login?return_to=/app/report%3Fyear%3D2026"), http.StatusOK, `name="return_to" value="/app/report?year=2026"`)
	// A failed attempt keeps it.
	expect(t, b.post("/login", url.Values{"email_address": {"back@example.com"}, "password": {"wrong password"}, "return_to": {"/app/x"}}),
		http.StatusUnauthorized, `name="return_to" value="/app/x"`)
	for _, tt := range []struct{ returnTo, want string }{
		{"/app/report?year=2026", "/app/report?year=2026"},
		{"", "/dashboard"},
		{"//evil.example/x", "/dashboard"},
		{"https://evil.example/", "/dashboard"},
		{"/\\evil.example", "/dashboard"},
		{"javascript:alert(1)", "/dashboard"},
	} {
		b := newBrowser(t, srv)
		a := b.post("/login", url.Values{"email_address": {"back@example.com"}, "password": {pw}, "return_to": {tt.returnTo}})
		if a.status != http.StatusSeeOther || a.location != tt.want {
			t.Errorf("login with return_to %q: %d to %q; want 303 to %q", tt.returnTo, a.status, a.location, tt.want)
		}
		// Already logged in: the login page sends it on at once.
		if a := b.get("/login?return_to=" + url.QueryEscape(tt.returnTo)); a.status != http.StatusSeeOther || a.location != tt.want {
			t.Errorf("the login page, logged in, with return_to %q: %d to %q; want %q", tt.returnTo, a.status, a.location, tt.want)
		}
	}
}
