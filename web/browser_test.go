package web_test

import (
	"context"
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"esauth/lib/audit"
	"esauth/lib/elastic/estest"
	"esauth/lib/user"
	"esauth/v1"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"go.uber.org/zap"
)

// chromium finds Debian's headless Chromium. Without it the browser tests
// fail under ESAUTH_REQUIRE_BROWSER=1 (make test sets it) and are skipped
// otherwise.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("ESAUTH_REQUIRE_BROWSER") == "1" {
		t.Fatal("no Chromium found (apt-get install chromium), and ESAUTH_REQUIRE_BROWSER=1")
	}
	t.Skip("no Chromium found (apt-get install chromium); set ESAUTH_REQUIRE_BROWSER=1 to make this a failure")
	return ""
}

// tab is one browser tab with what its pages reported: console errors,
// uncaught exceptions, and the browser's own log errors (which include
// Content-Security-Policy violations).
type tab struct {
	ctx      context.Context
	mu       sync.Mutex
	problems []string
	done     chan struct{}
}

func newTab(t *testing.T) *tab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)),
		chromedp.NoSandbox, // the CI runs as root
		chromedp.WindowSize(1280, 800),
	)
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	tb := &tab{ctx: ctx, done: make(chan struct{})}
	// Start the browser before subscribing (its first run must not carry
	// a timeout: see chromedp.Run).
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		cancelC()
		cancelA()
		t.Fatal(err)
	}
	listen, stopListening := context.WithCancel(ctx)
	messages := chromedp.Console(listen)
	go func() {
		defer close(tb.done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				tb.mu.Lock()
				tb.problems = append(tb.problems, m.String())
				tb.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { stopListening(); <-tb.done; cancelC(); cancelA() })
	return tb
}

// stepTimeout bounds each group of steps, so a page that never shows what
// a step waits for fails the test instead of hanging it.
const stepTimeout = 20 * time.Second

// do runs steps, failing the test on the first error.
func (tb *tab) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// get runs one action that returns a value.
func get[T any](t *testing.T, tb *tab, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// noProblems fails the test if any page reported an error.
func (tb *tab) noProblems(t *testing.T) {
	t.Helper()
	tb.mu.Lock()
	defer tb.mu.Unlock()
	for _, p := range tb.problems {
		// An answer's status (a 422 form, a 401 login, the favicon's 404)
		// is logged as an error too; the tests check statuses themselves.
		if !strings.Contains(p, "Failed to load resource: the server responded with a status of") {
			t.Errorf("the browser reported: %s", p)
		}
	}
}

// screenshot writes the page at two sizes into ESAUTH_SCREENSHOTS (default
// test-output/screenshots at the repository root, not committed).
func (tb *tab) screenshot(t *testing.T, name string) {
	t.Helper()
	dir := os.Getenv("ESAUTH_SCREENSHOTS")
	if dir == "" {
		dir = filepath.Join("..", "test-output", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, size := range [][2]int64{{1280, 800}, {375, 812}} {
		tb.do(t, chromedp.EmulateViewport(size[0], size[1]))
		png := get(t, tb, chromedp.FullScreenshot(100))
		file := filepath.Join(dir, fmt.Sprintf("%s-%dx%d.png", name, size[0], size[1]))
		if err := os.WriteFile(file, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tb.do(t, chromedp.EmulateViewport(1280, 800))
}

// submitAndWait presses Enter on the focused button and waits for sel on
// the page that answers. The page it leaves is marked first, because the
// answer may show the same selector (a second .flash): waiting for sel
// alone could read the old page while the form is still on its way, as a
// CI run once did.
func (tb *tab) submitAndWait(t *testing.T, sel string) {
	t.Helper()
	tb.do(t,
		chromedp.Evaluate[chromedp.Void](`document.body.dataset.left = "1"`),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(css("body:not([data-left]) "+sel)),
	)
}

func css(s string) chromedp.CSS { return chromedp.CSS(s) }

func TestInABrowserSignUpLogInWithTheKeyboardAndLogOut(t *testing.T) {
	srv := newServer(t)
	tb := newTab(t)

	// Signup with a field error first, then right.
	tb.do(t, chromedp.Navigate(srv.URL+"/signup"), chromedp.WaitVisible(css("#email_address")))
	tb.screenshot(t, "signup")
	tb.do(t,
		chromedp.SendKeys(css("#email_address"), "grace@example.com"),
		chromedp.SendKeys(css("#first_name"), "Grace"),
		chromedp.SendKeys(css("#password"), "short"),
		chromedp.Submit(css("#password")),
		chromedp.WaitVisible(css("#last_name-error")),
	)
	if msg := get(t, tb, chromedp.Text(css("#last_name-error"))); msg != "Last name is required." {
		t.Errorf("the last name's error reads %q", msg)
	}
	if focused := get(t, tb, chromedp.Evaluate[string](`document.activeElement.id`)); focused != "last_name" {
		t.Errorf("after the errors the focus is on %q; want the first invalid field", focused)
	}
	tb.do(t,
		chromedp.SendKeys(css("#last_name"), "Hopper"),
		chromedp.SendKeys(css("#password"), "correct horse battery 7"),
		chromedp.Submit(css("#password")),
		chromedp.WaitVisible(css(".flash")),
	)
	if url := get(t, tb, chromedp.Location()); !strings.HasSuffix(url, "/login") {
		t.Fatalf("after signup the browser is at %s", url)
	}
	tb.screenshot(t, "login")

	// A wrong password shows the message; then the keyboard alone logs in:
	// focus the email (the browser kept it), Tab, type, Enter.
	tb.do(t,
		chromedp.SendKeys(css("#email_address"), "grace@example.com"),
		chromedp.SendKeys(css("#password"), "wrong password 1"+kb.Enter),
		chromedp.WaitVisible(css("#form-error")),
	)
	if msg := get(t, tb, chromedp.Text(css("#form-error"))); msg != "The email address or password is wrong." {
		t.Errorf("a wrong password shows %q", msg)
	}
	tb.do(t,
		chromedp.Focus(css("#email_address")),
		chromedp.KeyEvent(kb.Tab),
		chromedp.KeyEvent("correct horse battery 7"),
		chromedp.KeyEvent(kb.Enter),
		chromedp.WaitVisible(css("#welcome")), // only the dashboard has it
	)
	url := get(t, tb, chromedp.Location())
	heading := get(t, tb, chromedp.Text(css("#welcome")))
	if !strings.HasSuffix(url, "/dashboard") || heading != "Welcome, Grace" {
		t.Fatalf("after a keyboard login: %s, %q", url, heading)
	}
	tb.screenshot(t, "dashboard")

	// Log out; the dashboard then sends the browser to the login page.
	tb.do(t,
		chromedp.Click(css(`header form[action="/logout"] button`)),
		chromedp.WaitVisible(css(".flash")),
		chromedp.Navigate(srv.URL+"/dashboard"),
		chromedp.WaitVisible(css("#email_address")),
	)
	if url := get(t, tb, chromedp.Location()); !strings.HasSuffix(url, "/login") {
		t.Errorf("the dashboard after logout is %s", url)
	}
	tb.do(t, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(css("main h1")))
	tb.screenshot(t, "start")
	tb.noProblems(t)
}

// inContext is another tab of tb's browser in a browser context of its own
// (its own cookies): a second browser, for a second session.
func (tb *tab) inContext(t *testing.T) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(tb.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	other := &tab{ctx: ctx, done: make(chan struct{})}
	close(other.done)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	return other
}

func (tb *tab) logIn(t *testing.T, base, email, password string) {
	t.Helper()
	tb.do(t,
		chromedp.Navigate(base+"/login"),
		chromedp.SendKeys(css("#email_address"), email),
		chromedp.SendKeys(css("#password"), password),
		chromedp.Submit(css("#password")),
		chromedp.WaitVisible(css("#welcome")),
	)
}

func TestInABrowserChangeThePasswordRevokeASessionAndRefuseACrossSiteForm(t *testing.T) {
	srv := newServer(t)
	http := newBrowser(t, srv)
	http.post("/signup", url.Values{"email_address": {"lin@example.com"}, "first_name": {"Lin"}, "last_name": {"Chen"}, "password": {pw}})
	a := newTab(t)
	b := a.inContext(t)
	a.logIn(t, srv.URL, "lin@example.com", pw)
	b.logIn(t, srv.URL, "lin@example.com", pw)

	// a changes the password: b's session ends.
	a.do(t,
		chromedp.SendKeys(css("#old_password"), pw),
		chromedp.SendKeys(css("#new_password"), "another horse battery 8"),
		chromedp.Submit(css("#new_password")),
		chromedp.WaitVisible(css(".flash")),
	)
	if msg := get(t, a, chromedp.Text(css(".flash"))); !strings.HasPrefix(msg, "Your password is changed") {
		t.Errorf("after the change: %q", msg)
	}
	b.do(t, chromedp.Navigate(srv.URL+"/dashboard"), chromedp.WaitVisible(css("#email_address")))

	// b logs in again; a logs b's session out from the list.
	b.logIn(t, srv.URL, "lin@example.com", "another horse battery 8")
	a.do(t,
		chromedp.Navigate(srv.URL+"/dashboard"),
		chromedp.Click(css(".sessions li:not(:has(.this)) button")),
		chromedp.WaitVisible(css(".flash")),
	)
	if msg := get(t, a, chromedp.Text(css(".flash"))); msg != "That session is logged out." {
		t.Errorf("after revoking: %q", msg)
	}
	b.do(t, chromedp.Navigate(srv.URL+"/dashboard"), chromedp.WaitVisible(css("#email_address")))
	a.screenshot(t, "dashboard-after-changes")

	// A page of another site posts a signup form to esauth: refused.
	evil := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/signup">
<input name="email_address" value="evil@example.com"><input name="first_name" value="E">
<input name="last_name" value="V"><input name="password" value="correct horse battery 9">
<button id="go">Go</button></form>`, srv.URL)
	}))
	t.Cleanup(evil.Close)
	// The answer is esauth's refusal page (issue 18: it was the API's
	// JSON), which the other site's page does not have.
	a.do(t, chromedp.Navigate(evil.URL), chromedp.Click(css("#go")), chromedp.WaitVisible(css("h1")))
	if body := get(t, a, chromedp.Text(css("body"))); !strings.Contains(body, "Not allowed") || !strings.Contains(body, "Cross-origin request refused.") {
		t.Errorf("the cross-site form's answer: %q", body)
	}
	if got := http.post("/login", url.Values{"email_address": {"evil@example.com"}, "password": {"correct horse battery 9"}}); got.status != nethttp.StatusUnauthorized {
		t.Errorf("the cross-site signup made an account: login %d", got.status)
	}
	a.noProblems(t)
}

func TestInABrowserAnAdminDisablesAUserAndPagesFit320Pixels(t *testing.T) {
	_, srv := withAdminAndUsers(t, "bob")
	admin := newTab(t)
	bob := admin.inContext(t)
	admin.logIn(t, srv.URL, "boss@example.com", pw)
	bob.logIn(t, srv.URL, "bob@example.com", pw)

	admin.do(t,
		chromedp.Navigate(srv.URL+"/admin?q=bob"),
		chromedp.Click(css(`button[aria-label="Disable bob@example.com"]`)),
		chromedp.WaitVisible(css(".flash")),
	)
	admin.screenshot(t, "admin")
	// Bob's next page view is the login page.
	bob.do(t, chromedp.Navigate(srv.URL+"/dashboard"), chromedp.WaitVisible(css("#email_address")))
	if url := get(t, bob, chromedp.Location()); !strings.HasSuffix(url, "/login") {
		t.Errorf("bob's next page after being disabled: %s", url)
	}

	// Every page is readable 320 pixels wide: nothing wider than the screen.
	admin.do(t, chromedp.EmulateViewport(320, 640))
	for _, path := range []string{"/", "/login", "/signup", "/dashboard", "/admin", "/nowhere"} {
		admin.do(t, chromedp.Navigate(srv.URL+path), chromedp.WaitVisible(css("main")))
		if w := get(t, admin, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 320 {
			t.Errorf("%s is %d pixels wide on a 320-pixel screen", path, w)
		}
	}
	admin.do(t, chromedp.Navigate(srv.URL+"/nowhere"), chromedp.WaitVisible(css("main h1")))
	admin.screenshot(t, "notfound")
	admin.noProblems(t)
	bob.noProblems(t)
}

// The security console in a browser: the events page draws its chart with
// no script and no inline style the policy would refuse; the sessions page
// counts, then ends, bob's sessions from the keyboard; every console page
// fits 320 pixels.
func TestInABrowserTheSecurityConsoleChartsCountsAndEndsSessions(t *testing.T) {
	store := estest.New(t)
	auditLog := audit.NewWriter(store, zap.NewNop().Sugar(), 1024, 100, time.Hour)
	t.Cleanup(func() { _ = auditLog.Close(context.Background()) })
	srv, _ := newServerOn(t, store, func(d *v1.Deps) {
		d.Audit = auditLog
		d.Lockout = user.Lockout{Threshold: 2, Base: time.Minute, Max: time.Hour}
	})
	addUser(t, store, "boss@example.com", "Boss", user.RoleAdmin)
	addUser(t, store, "bob@example.com", "Bob", user.RoleUser)
	addUser(t, store, "carol@example.com", "Carol", user.RoleUser)
	admin := newTab(t)
	bob := admin.inContext(t)
	admin.logIn(t, srv.URL, "boss@example.com", pw)
	bob.logIn(t, srv.URL, "bob@example.com", pw)
	http := newBrowser(t, srv)
	for range 2 {
		http.post("/login", url.Values{"email_address": {"carol@example.com"}, "password": {"wrong password 12"}})
	}
	if err := auditLog.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	estest.MustDo(t, "POST", "/"+store.AuditIndex()+"/_refresh", "")
	estest.MustDo(t, "POST", "/"+store.AttemptsIndex()+"/_refresh", "")

	admin.do(t, chromedp.Navigate(srv.URL+"/admin/events"), chromedp.WaitVisible(css("svg.chart")))
	if n := get(t, admin, chromedp.Evaluate[int](`document.querySelectorAll("svg.chart rect.bar-failure").length`)); n == 0 {
		t.Error("the chart draws no failed login")
	}
	// The stylesheet colours the bars: a bar with no fill would be black.
	if fill := get(t, admin, chromedp.Evaluate[string](`getComputedStyle(document.querySelector("svg.chart rect.bar-failure")).fill`)); fill == "rgb(0, 0, 0)" || fill == "" {
		t.Errorf("a failure's bar is filled %q: the stylesheet does not reach the chart", fill)
	}
	admin.screenshot(t, "events")

	// The keyboard alone: type the email, Tab to nothing else, Enter
	// searches; then the count button and the revoke button by focus.
	admin.do(t,
		chromedp.Navigate(srv.URL+"/admin/sessions"),
		chromedp.WaitVisible(css("#email")),
		chromedp.Focus(css("#email")),
		chromedp.KeyEvent("bob@example.com"+kb.Enter),
		chromedp.WaitReady(css(`form.revoke input[name="email"]`)),
		chromedp.Focus(css(`form.revoke button[value="count"]`)),
	)
	admin.submitAndWait(t, ".flash")
	if msg := get(t, admin, chromedp.Text(css(".flash"))); !strings.Contains(msg, "select 1 session of 1 account") {
		t.Errorf("the dry run says %q", msg)
	}
	admin.screenshot(t, "sessions")
	admin.do(t, chromedp.Focus(css(`form.revoke button[value="revoke"]`)))
	admin.submitAndWait(t, ".flash")
	if msg := get(t, admin, chromedp.Text(css(".flash"))); !strings.Contains(msg, "Ended 1 session of 1 account") {
		t.Errorf("the revocation says %q", msg)
	}
	bob.do(t, chromedp.Navigate(srv.URL+"/dashboard"), chromedp.WaitVisible(css("#email_address")))

	admin.do(t, chromedp.Navigate(srv.URL+"/admin/lockouts"), chromedp.WaitVisible(css(`button[aria-label="Lift the lock of carol@example.com"]`)))
	admin.screenshot(t, "lockouts")
	admin.do(t,
		chromedp.Click(css(`button[aria-label="Lift the lock of carol@example.com"]`)),
		chromedp.WaitVisible(css(".flash")),
	)

	admin.do(t, chromedp.EmulateViewport(320, 640))
	for _, path := range []string{"/admin/events", "/admin/sessions?email=bob@example.com", "/admin/lockouts", "/admin?role=user"} {
		admin.do(t, chromedp.Navigate(srv.URL+path), chromedp.WaitVisible(css("main")))
		if w := get(t, admin, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 320 {
			t.Errorf("%s is %d pixels wide on a 320-pixel screen", path, w)
		}
	}
	admin.screenshot(t, "events-narrow")
	admin.noProblems(t)
	bob.noProblems(t)
}
