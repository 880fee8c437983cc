package web_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
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
