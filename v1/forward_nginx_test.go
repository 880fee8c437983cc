package v1

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// startNginx runs Debian's nginx with the README's forward-auth server
// block (docs/nginx/forward-auth.conf), its esauth and application
// addresses replaced by esauthURL and appURL, and returns its base URL.
// Without nginx the test is skipped, or fails when ESAUTH_REQUIRE_NGINX=1
// (make test sets it).
func startNginx(t *testing.T, esauthURL, appURL string) string {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin = "/usr/sbin/nginx"
		if _, err := os.Stat(bin); err != nil {
			if os.Getenv("ESAUTH_REQUIRE_NGINX") == "1" {
				t.Fatal("nginx is required (ESAUTH_REQUIRE_NGINX=1) but not installed: apt-get install nginx")
			}
			t.Skip("nginx is not installed")
		}
	}
	server, err := os.ReadFile("../docs/nginx/forward-auth.conf")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	host := func(u string) string { p, _ := url.Parse(u); return p.Host }
	block := strings.NewReplacer(
		"127.0.0.1:8080", addr,
		"127.0.0.1:8000", host(esauthURL),
		"127.0.0.1:3000", host(appURL),
	).Replace(string(server))

	dir := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;" // workers would run as nobody, who cannot enter the test's directory
	}
	conf := fmt.Sprintf(`%s
worker_processes 1;
daemon off;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log warn;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[2]s/body;
    proxy_temp_path %[2]s/proxy;
    fastcgi_temp_path %[2]s/fastcgi;
    uwsgi_temp_path %[2]s/uwsgi;
    scgi_temp_path %[2]s/scgi;
%[3]s
}
`, user, dir, block)
	if err := os.WriteFile(filepath.Join(dir, "nginx.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "error.log"))
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			t.Logf("nginx error log:\n%s", log)
		}
	})
	// Wait until it accepts connections, or has exited with its reason.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return "http://" + addr
		}
		select {
		case err := <-exited:
			t.Fatalf("nginx exited: %v\n%s", err, out.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not listen on %s within 10s\n%s", addr, out.String())
		}
	}
}

// upstream is the application behind nginx: it records the identity
// headers of each request it gets.
type upstream struct {
	mu   sync.Mutex
	seen []http.Header
}

func (u *upstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	u.mu.Lock()
	u.seen = append(u.seen, r.Header.Clone())
	u.mu.Unlock()
	fmt.Fprintf(w, "hello %s", r.Header.Get("X-Auth-Email"))
}

func (u *upstream) requests() []http.Header {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]http.Header(nil), u.seen...)
}

func TestNginxAuthRequestInFrontOfAnApplication(t *testing.T) {
	h := newHarness(t, withForwardRules(t, `[]`))
	h.addUser("behind@example.com", pw, false)
	app := &upstream{}
	appSrv := httptest.NewServer(app)
	t.Cleanup(appSrv.Close)
	base := startNginx(t, h.srv.URL, appSrv.URL)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string, header http.Header) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		res, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, string(body)
	}

	// No cookie: sent to log in, and the application never sees the request,
	// even one that claims an identity in the headers nginx sets.
	// nginx makes the Location absolute; what matters is its path.
	to := func(res *http.Response) string {
		loc, err := res.Location()
		if err != nil {
			return ""
		}
		return loc.RequestURI()
	}
	res, _ := get("/app/report?year=2026", http.Header{"X-Auth-Email": {"boss@example.com"}})
	if res.StatusCode != http.StatusFound || to(res) != "/login?return_to=/app/report?year=2026" {
		t.Fatalf("without a cookie: %d to %q; want 302 to /login?return_to=/app/report?year=2026", res.StatusCode, res.Header.Get("Location"))
	}
	if n := len(app.requests()); n != 0 {
		t.Fatalf("the application got %d requests from nobody", n)
	}

	// Log in through nginx (the API is proxied on the same host).
	login, err := browser.Post(base+"/v1/auth/login", "application/json",
		strings.NewReader(`{"email_address":"behind@example.com","password":"`+pw+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	login.Body.Close()
	if login.StatusCode != http.StatusOK {
		t.Fatalf("login through nginx: %d", login.StatusCode)
	}
	baseURL, _ := url.Parse(base)
	stolen := jar.Cookies(baseURL)

	// A valid cookie: the application sees who it is, and not the claim.
	res, body := get("/app/report", http.Header{"X-Auth-Email": {"boss@example.com"}})
	if res.StatusCode != http.StatusOK || body != "hello behind@example.com" {
		t.Fatalf("with a cookie: %d %q", res.StatusCode, body)
	}
	seen := app.requests()
	if len(seen) != 1 || seen[0].Get("X-Auth-Email") != "behind@example.com" || seen[0].Get("X-Auth-Role") != "user" {
		t.Fatalf("the application saw %v", seen)
	}

	// The session is revoked (logout everywhere from this browser): the very
	// next request with the old cookie is refused.
	logout, err := browser.Post(base+"/v1/auth/logout/all", "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	logout.Body.Close()
	if logout.StatusCode != http.StatusOK {
		t.Fatalf("logout/all: %d", logout.StatusCode)
	}
	jar.SetCookies(baseURL, stolen) // a copy of the cookie kept from before
	res, _ = get("/app/report", nil)
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(to(res), "/login?") {
		t.Fatalf("with the revoked cookie: %d to %q; want 302 to /login", res.StatusCode, res.Header.Get("Location"))
	}
	if n := len(app.requests()); n != 1 {
		t.Errorf("the application got %d requests; want only the one made while logged in", n)
	}
}

// rawGet sends "GET <target> HTTP/1.1" byte for byte (Go's client would
// cut a "#" from the target), with the cookie when one is given, and
// returns the status.
func rawGet(t *testing.T, base, target string, header http.Header) int {
	t.Helper()
	u, _ := url.Parse(base)
	c, err := net.DialTimeout("tcp", u.Host, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	var req bytes.Buffer
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n", target, u.Host)
	_ = header.Write(&req)
	req.WriteString("\r\n")
	if _, err := c.Write(req.Bytes()); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// Issue 17: each way a client walked around the rules through the
// README's nginx config, tried in the real nginx. The application must
// never see the request.
func TestNginxForwardAuthCannotBeWalkedAroundByTheClient(t *testing.T) {
	h := newHarness(t, withForwardRules(t, `[
		{"paths": ["/public"], "policy": "anyone"},
		{"paths": ["/admin"], "policy": "admin"},
		{"methods": ["DELETE"], "policy": "deny"}
	]`))
	h.addUser("plain@example.com", pw, false)
	member := h.client()
	member.mustLogin("plain@example.com", pw)
	app := &upstream{}
	appSrv := httptest.NewServer(app)
	t.Cleanup(appSrv.Close)
	base := startNginx(t, h.srv.URL, appSrv.URL)
	cookie := http.Header{"Cookie": {"session=" + member.cookie()}}

	noRedirect := &http.Client{Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	send := func(method, path string, header http.Header) int {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		for k, v := range header {
			req.Header[k] = v
		}
		res, err := noRedirect.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	with := func(h http.Header, kv ...string) http.Header {
		out := h.Clone()
		if out == nil {
			out = http.Header{}
		}
		for i := 0; i < len(kv); i += 2 {
			out.Set(kv[i], kv[i+1])
		}
		return out
	}

	// The rules hold without tricks: the baseline of each case below.
	if got := send("GET", "/public/x", nil); got != http.StatusOK {
		t.Fatalf("GET /public/x anonymously: %d; want 200", got)
	}
	if got := send("GET", "/admin/secret", nil); got != http.StatusFound {
		t.Fatalf("GET /admin/secret anonymously: %d; want 302 to log in", got)
	}
	if got := send("DELETE", "/thing", cookie); got != http.StatusForbidden {
		t.Fatalf("DELETE /thing as a user: %d; want 403", got)
	}
	allowed := len(app.requests())

	for _, tt := range []struct {
		name string
		try  func() int
	}{
		{"an anonymous X-Forwarded-Uri of a public path does not open an admin path", func() int {
			return send("GET", "/admin/secret", with(nil, "X-Forwarded-Uri", "/public/x"))
		}},
		{"an anonymous X-Original-URI of a public path does not open an admin path", func() int {
			return send("GET", "/admin/secret", with(nil, "X-Original-URI", "/public/x", "X-Forwarded-Uri", "/public/x"))
		}},
		{"a user's X-Forwarded-Method: GET does not let a denied DELETE through", func() int {
			return send("DELETE", "/thing", with(cookie, "X-Forwarded-Method", "GET"))
		}},
		{"a user's X-Original-Method: GET does not let a denied DELETE through", func() int {
			return send("DELETE", "/thing", with(cookie, "X-Original-Method", "GET", "X-Forwarded-Method", "GET"))
		}},
		{"a user's X-Forwarded-Uri does not open an admin path", func() int {
			return send("GET", "/admin/secret", with(cookie, "X-Forwarded-Uri", "/public/x"))
		}},
		{"a raw # in the request line does not walk from a public path to an admin path", func() int {
			return rawGet(t, base, "/public/x#/../../admin/secret", nil)
		}},
		{"a user's raw # does not walk to an admin path either", func() int {
			return rawGet(t, base, "/public/x#/../../admin/secret", cookie)
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(app.requests())
			status := tt.try()
			if status == http.StatusOK {
				t.Errorf("status 200: the request went through")
			}
			if got := len(app.requests()); got != before {
				t.Errorf("the application got the request (status %d)", status)
			}
		})
	}
	if got := len(app.requests()); got != allowed {
		t.Errorf("the application got %d requests; want only the %d allowed", got, allowed)
	}
}
