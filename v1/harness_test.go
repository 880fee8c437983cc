package v1

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"esauth/lib/audit"
	"esauth/lib/breached"
	"esauth/lib/elastic"
	"esauth/lib/elastic/estest"
	"esauth/lib/metrics"
	"esauth/lib/password"
	"esauth/lib/session"
	"esauth/lib/user"
)

// fastParams keep argon2id cheap under the race detector; the production
// parameters are tested in lib/password and used by the smoke test.
var fastParams = password.Params{MemoryKiB: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// harness is a running API on the real Elasticsearch, with its own indices.
type harness struct {
	t      testing.TB
	srv    *httptest.Server
	store  *elastic.Store
	hasher *password.Hasher
	codec  *session.Codec
	logs   *observer.ObservedLogs
	audit  *audit.Writer
	// codecKeys are the cookie keys the server signs with.
	codecKeys session.Keys
	// deps are what the server was made of; admin serves NewAdmin(deps),
	// started by adminURL on first use.
	deps  Deps
	admin *httptest.Server
}

// adminURL is the base URL of the admin address (probes and metrics) of
// the harness's server, with the same metrics.
func (h *harness) adminURL() string {
	if h.admin == nil {
		h.admin = httptest.NewServer(NewAdmin(h.deps))
		h.t.Cleanup(h.admin.Close)
	}
	return h.admin.URL
}

type harnessOption func(*Deps)

func newHarness(t testing.TB, opts ...harnessOption) *harness {
	t.Helper()
	return newHarnessOn(t, estest.New(t), opts...)
}

func newHarnessOn(t testing.TB, store *elastic.Store, opts ...harnessOption) *harness {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	keys := session.RandomKeys()
	codec, err := session.NewCodec("session", 30*24*time.Hour, keys)
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, store: store, hasher: password.New(fastParams, 0), codec: codec, codecKeys: keys, logs: logs}
	h.audit = audit.NewWriter(store, zap.New(core).Sugar(), 1024, 100, time.Hour)
	t.Cleanup(func() { _ = h.audit.Close(context.Background()) })
	d := Deps{
		Passwords: PasswordScreen{Common: testScreener(t)},
		Audit:     h.audit,
		Log:       zap.New(core),
		Store:     store,
		Hasher:    h.hasher,
		Cookies:   Cookies{Name: "session", Secure: false, Codec: codec},
		Policy:    session.Policy{TTL: 12 * time.Hour, Idle: 2 * time.Hour, RememberTTL: 720 * time.Hour, TouchEvery: time.Minute},
		Now:       time.Now,
	}
	for _, o := range opts {
		o(&d)
	}
	h.hasher = d.Hasher // addUser hashes as the server does
	if d.Metrics == nil {
		d.Metrics = metrics.New()
	}
	h.deps = d
	handler, err := NewServer(d)
	if err != nil {
		t.Fatal(err)
	}
	h.srv = httptest.NewServer(handler)
	t.Cleanup(h.srv.Close)
	return h
}

var screener = sync.OnceValues(breached.NewScreener)

// testScreener is the embedded common-password list, loaded once per run.
func testScreener(t testing.TB) *breached.Screener {
	t.Helper()
	s, err := screener()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// addUser stores a user directly, as "esauth user create" does.
func (h *harness) addUser(email, pw string, admin bool) {
	h.t.Helper()
	hash, err := h.hasher.Hash(context.Background(), pw)
	if err != nil {
		h.t.Fatal(err)
	}
	role := user.RoleUser
	if admin {
		role = user.RoleAdmin
	}
	t := time.Now().UTC()
	err = h.store.CreateUser(context.Background(), user.User{
		Email: email, FirstName: "Test", LastName: "User", PasswordHash: hash, Role: role,
		IsActive: true, CreatedAt: t, UpdatedAt: t, PasswordChangedAt: t, SessionEpoch: user.NewEpoch(),
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// fakeClock is a clock that tests move forward by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Now()} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// withClock makes the server read time from c.
func withClock(c *fakeClock) harnessOption {
	return func(d *Deps) { d.Now = c.Now }
}

// client is one browser: it keeps its own cookies.
type client struct {
	h   *harness
	jar *cookiejar.Jar
	c   *http.Client
	// t is the test that failures are reported to: the harness's test
	// unless in(t) says otherwise (a subtest reports to itself).
	t testing.TB
	// base, when set, is the server asked instead of the harness's (the
	// admin address).
	base string
	// bearer, when set, is sent as "Authorization: Bearer" (a native
	// client: see native).
	bearer string
}

func (c *client) url(path string) string {
	if c.base != "" {
		return c.base + path
	}
	return c.h.srv.URL + path
}

func (h *harness) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{h: h, jar: jar, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}, t: h.t}
}

// native is a client that keeps no cookies: it logs in with "token":
// true and sends the session token it got as a bearer token.
func (h *harness) native() *client {
	return &client{h: h, c: &http.Client{Timeout: 30 * time.Second}, t: h.t}
}

// tokenLogin logs c in asking for a token, keeps it as c's bearer token,
// and returns the answer.
func (c *client) tokenLogin(email, pw string) answer {
	c.t.Helper()
	a := c.do("POST", "/v1/auth/login", map[string]any{"email_address": email, "password": pw, "token": true})
	var tok struct {
		Token string `json:"session_token"`
	}
	if a.Status == http.StatusOK {
		if err := json.Unmarshal(a.Data, &tok); err != nil || tok.Token == "" {
			c.t.Fatalf("a token login answered no token: %s", a.Raw)
		}
		c.bearer = tok.Token
	}
	return a
}

// in returns the client reporting to t, sharing its cookies.
func (c *client) in(t testing.TB) *client {
	cp := *c
	cp.t = t
	return &cp
}

// try sends a request like do, but returns what went wrong instead of
// failing the test: for goroutines, which must not call t.Fatal.
func (c *client) try(method, path string, body any) (answer, error) {
	var r io.Reader
	if body != nil {
		j, err := json.Marshal(body)
		if err != nil {
			return answer{}, err
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.url(path), r)
	if err != nil {
		return answer{}, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	res, err := c.c.Do(req)
	if err != nil {
		return answer{}, err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := answer{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if err := json.Unmarshal(raw, &a); err != nil {
		return a, fmt.Errorf("%s %s: not JSON: %q", method, path, raw)
	}
	return a, nil
}

// answer is a decoded response.
type answer struct {
	Status  int
	Header  http.Header
	Raw     string
	Success bool              `json:"success"`
	Error   string            `json:"error"`
	Message string            `json:"message"`
	Data    json.RawMessage   `json:"data"`
	Fields  map[string]string `json:"fields"`
}

func (a answer) data(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(a.Data, v); err != nil {
		t.Fatalf("data %s: %v", a.Data, err)
	}
}

// do sends a JSON request (body may be nil, a string sent as is, or a value
// marshalled to JSON) and decodes the envelope, failing the test when the
// answer is not the JSON envelope.
func (c *client) do(method, path string, body any) answer {
	c.t.Helper()
	return c.doWith(method, path, body, nil)
}

func (c *client) doWith(method, path string, body any, header http.Header) answer {
	c.t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	case []byte:
		r = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			c.t.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.url(path), r)
	if err != nil {
		c.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+c.bearer)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if ct, ok := header["Content-Type"]; ok && ct[0] == "" {
		req.Header.Del("Content-Type") // a test of a request without one
	}
	res, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	a := answer{Status: res.StatusCode, Header: res.Header, Raw: string(raw)}
	if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		c.t.Fatalf("%s %s: Content-Type %q, body %q", method, path, ct, raw)
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		c.t.Fatalf("%s %s: not JSON: %q", method, path, raw)
	}
	if a.Success != (res.StatusCode < 400) {
		c.t.Errorf("%s %s: success=%v with status %d", method, path, a.Success, res.StatusCode)
	}
	if !a.Success && a.Error != errorLabel(res.StatusCode) {
		c.t.Errorf("%s %s: error label %q with status %d", method, path, a.Error, res.StatusCode)
	}
	c.h.checkNoSecrets(c.t, a)
	return a
}

// checkNoSecrets fails the test if an answer carries a password hash.
func (h *harness) checkNoSecrets(t testing.TB, a answer) {
	t.Helper()
	for _, bad := range []string{"password_hash", "$argon2id$"} {
		if strings.Contains(a.Raw, bad) {
			t.Errorf("answer carries %q: %s", bad, a.Raw)
		}
	}
}

func (c *client) signup(email, pw string) answer {
	c.t.Helper()
	return c.do("POST", "/v1/users", map[string]any{
		"email_address": email, "password": pw, "first_name": "Ada", "last_name": "Lovelace",
	})
}

func (c *client) login(email, pw string) answer {
	c.t.Helper()
	return c.do("POST", "/v1/auth/login", map[string]any{"email_address": email, "password": pw})
}

// mustLogin logs in and fails the test unless it worked.
func (c *client) mustLogin(email, pw string) {
	c.t.Helper()
	if a := c.login(email, pw); a.Status != http.StatusOK {
		c.t.Fatalf("login %s: %d %s", email, a.Status, a.Raw)
	}
}

// cookie returns the client's session cookie value ("" when none).
func (c *client) cookie() string {
	u, _ := url.Parse(c.h.srv.URL)
	for _, ck := range c.jar.Cookies(u) {
		if ck.Name == "session" {
			return ck.Value
		}
	}
	return ""
}

// setCookie replaces the client's session cookie, as an attacker replaying
// or forging one would.
func (c *client) setCookie(value string) {
	u, _ := url.Parse(c.h.srv.URL)
	c.jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: value, Path: "/"}})
}

func expectStatus(t *testing.T, a answer, want int) {
	t.Helper()
	if a.Status != want {
		t.Fatalf("status %d, want %d: %s", a.Status, want, a.Raw)
	}
}

// flushAudit writes the buffered audit events and makes them searchable.
func (h *harness) flushAudit() {
	h.t.Helper()
	if err := h.audit.Flush(context.Background()); err != nil {
		h.t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", estest.URL()+"/"+h.store.AuditIndex()+"/_refresh", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	res.Body.Close()
}

func jsonUnmarshal(raw string, v any) error { return json.Unmarshal([]byte(raw), v) }
