package v1

// The attack suite: hostile requests against a running server backed by
// the real Elasticsearch.

import (
	"context"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"esauth/lib/session"
	"esauth/lib/user"
)

func TestCrossSiteRequestsAreRefused(t *testing.T) {
	h := newHarness(t, func(d *Deps) { d.TrustedOrigins = []string{"https://app.example.com"} })
	h.addUser("csrf@example.com", pw, false)
	host := h.srv.URL // http://127.0.0.1:port
	tests := []struct {
		name   string
		method string
		path   string
		header http.Header
		want   int
	}{
		{"a cross-site POST is 403", "POST", "/v1/auth/logout", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403},
		{"a same-site POST is 403", "POST", "/v1/auth/logout", http.Header{"Sec-Fetch-Site": {"same-site"}}, 403},
		{"a same-origin POST passes", "POST", "/v1/auth/logout", http.Header{"Sec-Fetch-Site": {"same-origin"}}, 200},
		{"a user-initiated POST passes", "POST", "/v1/auth/logout", http.Header{"Sec-Fetch-Site": {"none"}}, 200},
		{"a POST from a foreign Origin is 403", "POST", "/v1/auth/logout", http.Header{"Origin": {"https://evil.example"}}, 403},
		{"a POST from the server's own Origin passes", "POST", "/v1/auth/logout", http.Header{"Origin": {host}}, 200},
		{"a POST without browser headers (curl) passes", "POST", "/v1/auth/logout", nil, 200},
		{"a trusted origin passes", "POST", "/v1/auth/logout", http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://app.example.com"}}, 200},
		{"a cross-site login is 403", "POST", "/v1/auth/login", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403},
		{"a cross-site signup is 403", "POST", "/v1/users", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403},
		{"a cross-site DELETE is 403", "DELETE", "/v1/users/csrf@example.com", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 403},
		{"a cross-site GET is not refused as CSRF", "GET", "/v1/test", http.Header{"Sec-Fetch-Site": {"cross-site"}}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body any
			if tt.method != "GET" {
				body = map[string]any{"email_address": "csrf@example.com", "password": pw}
			}
			expectStatus(t, h.client().in(t).doWith(tt.method, tt.path, body, tt.header), tt.want)
		})
	}
	// A refused cross-site login wrote no session.
	c := h.client()
	a := c.doWith("POST", "/v1/auth/login", map[string]any{"email_address": "csrf@example.com", "password": pw},
		http.Header{"Sec-Fetch-Site": {"cross-site"}})
	expectStatus(t, a, 403)
	if c.cookie() != "" {
		t.Error("a refused login set a cookie")
	}
}

func TestLoginFloodFromOneIPIsThrottledAlikeForKnownAndUnknownEmails(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock), func(d *Deps) {
		d.LoginLimit = RateLimit{PerMinute: 6, Burst: 3}
		d.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}
	})
	h.addUser("flood@example.com", pw, false)
	from := func(ip string) http.Header { return http.Header{"X-Forwarded-For": {ip}} }
	login := func(email, ip string) answer {
		return h.client().doWith("POST", "/v1/auth/login", map[string]any{"email_address": email, "password": "wrong password"}, from(ip))
	}
	for i := 0; i < 3; i++ {
		expectStatus(t, login("nobody@example.com", "198.51.100.1"), http.StatusUnauthorized)
	}
	unknown := login("nobody@example.com", "198.51.100.1")
	known := login("flood@example.com", "198.51.100.1")
	for _, a := range []answer{unknown, known} {
		expectStatus(t, a, http.StatusTooManyRequests)
		if s, err := strconv.Atoi(a.Header.Get("Retry-After")); err != nil || s < 1 {
			t.Errorf("Retry-After = %q", a.Header.Get("Retry-After"))
		}
	}
	if unknown.Raw != known.Raw {
		t.Errorf("429 differs for known and unknown emails: %s vs %s", unknown.Raw, known.Raw)
	}
	// Another client behind the same proxy is not affected.
	expectStatus(t, login("flood@example.com", "198.51.100.2"), http.StatusUnauthorized)
	// After waiting, the first client may try again.
	clock.Advance(10 * time.Second)
	expectStatus(t, login("flood@example.com", "198.51.100.1"), http.StatusUnauthorized)
}

func TestSignupFloodFromOneIPIsThrottled(t *testing.T) {
	h := newHarness(t, func(d *Deps) { d.SignupLimit = RateLimit{PerMinute: 1, Burst: 2} })
	expectStatus(t, h.client().signup("s1@example.com", pw), http.StatusCreated)
	expectStatus(t, h.client().do("POST", "/v1/users/new", map[string]any{"email_address": "bad"}), http.StatusUnprocessableEntity)
	expectStatus(t, h.client().signup("s3@example.com", pw), http.StatusTooManyRequests)
}

func TestAccountLockoutAfterRepeatedFailures(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock), func(d *Deps) {
		d.Lockout = user.Lockout{Threshold: 5, Base: time.Second, Max: 15 * time.Minute}
	})
	h.addUser("lock@example.com", pw, false)
	for i := 0; i < 5; i++ {
		expectStatus(t, h.client().login("lock@example.com", "wrong password"), http.StatusUnauthorized)
	}
	t.Run("during the lock even the right password gets 429", func(t *testing.T) {
		right := h.client().in(t).login("lock@example.com", pw)
		wrong := h.client().in(t).login("lock@example.com", "wrong password")
		for _, a := range []answer{right, wrong} {
			expectStatus(t, a, http.StatusTooManyRequests)
			if a.Header.Get("Retry-After") != "1" {
				t.Errorf("Retry-After = %q, want 1", a.Header.Get("Retry-After"))
			}
		}
		if right.Raw != wrong.Raw {
			t.Errorf("the lock tells right from wrong: %s vs %s", right.Raw, wrong.Raw)
		}
	})
	t.Run("another failure after the lock doubles it", func(t *testing.T) {
		clock.Advance(time.Second)
		expectStatus(t, h.client().in(t).login("lock@example.com", "wrong password"), http.StatusUnauthorized)
		a := h.client().in(t).login("lock@example.com", pw)
		expectStatus(t, a, http.StatusTooManyRequests)
		if a.Header.Get("Retry-After") != "2" {
			t.Errorf("Retry-After = %q, want 2", a.Header.Get("Retry-After"))
		}
	})
	t.Run("a success after the lock resets the count", func(t *testing.T) {
		clock.Advance(2 * time.Second)
		h.client().in(t).mustLogin("lock@example.com", pw)
		_, _, a, err := h.store.LookupLogin(context.Background(), "lock@example.com", true)
		if err != nil {
			t.Fatal(err)
		}
		if a.Failures != 0 || !a.LockedUntil.IsZero() {
			t.Errorf("count not reset: %d, %v", a.Failures, a.LockedUntil)
		}
		expectStatus(t, h.client().in(t).login("lock@example.com", "wrong password"), http.StatusUnauthorized)
		h.client().in(t).mustLogin("lock@example.com", pw) // one failure is far from the threshold
	})
}

// TestConcurrentWrongPasswordsAreCountedExactly: during a burst of guesses
// at one account, every guess that was checked (401) is counted; a guess
// whose count lost too many races is refused unchecked (429), never
// checked uncounted.
func TestConcurrentWrongPasswordsAreCountedExactly(t *testing.T) {
	h := newHarness(t, func(d *Deps) {
		d.Lockout = user.Lockout{Threshold: 1000, Base: time.Second, Max: time.Minute}
	})
	h.addUser("count@example.com", pw, false)
	const n = 20
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := h.client().try("POST", "/v1/auth/login", map[string]any{"email_address": "count@example.com", "password": "wrong password"})
			if err != nil {
				t.Error(err)
			}
			statuses <- a.Status
		}()
	}
	wg.Wait()
	close(statuses)
	checked := 0
	for s := range statuses {
		switch s {
		case http.StatusUnauthorized:
			checked++
		case http.StatusTooManyRequests:
		default:
			t.Errorf("status %d, want 401 or 429", s)
		}
	}
	_, _, a, err := h.store.LookupLogin(context.Background(), "count@example.com", true)
	if err != nil {
		t.Fatal(err)
	}
	if a.Failures != checked || checked == 0 {
		t.Fatalf("counted %d failures; %d guesses were checked (401)", a.Failures, checked)
	}
}

func TestCookiesSignedWithARotatedOutKeyAreRefused(t *testing.T) {
	h := newHarness(t)
	h.addUser("rot@example.com", pw, false)
	c := h.client()
	c.mustLogin("rot@example.com", pw)
	oldKeys := h.codecKeys
	newKeys := session.RandomKeys()

	during, err := session.NewCodec("session", time.Hour, newKeys, oldKeys)
	if err != nil {
		t.Fatal(err)
	}
	after, err := session.NewCodec("session", time.Hour, newKeys)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		codec *session.Codec
		want  int
	}{
		{"while the old key is still listed as previous, its cookies work", during, http.StatusOK},
		{"once the old key is dropped, its cookies are 401", after, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rotated := newHarnessOn(t, h.store, func(d *Deps) { d.Cookies.Codec = tt.codec })
			x := rotated.client()
			x.setCookie(c.cookie())
			expectStatus(t, x.in(t).do("GET", "/v1/test", nil), tt.want)
		})
	}
}

func TestAPlantedCookieIsNeverTheOneValidAfterLogin(t *testing.T) {
	h := newHarness(t)
	h.addUser("victim@example.com", pw, false)
	h.addUser("attacker@example.com", pw, false)
	// The attacker's own valid session cookie, planted in the victim's browser.
	attacker := h.client()
	attacker.mustLogin("attacker@example.com", pw)
	planted := attacker.cookie()

	victim := h.client()
	victim.setCookie(planted)
	victim.mustLogin("victim@example.com", pw)
	if victim.cookie() == planted {
		t.Fatal("login kept the planted cookie")
	}
	a := victim.do("GET", "/v1/test", nil)
	expectStatus(t, a, http.StatusOK)
	var tv testView
	a.data(t, &tv)
	if tv.Email != "victim@example.com" {
		t.Errorf("after login the browser is %s", tv.Email)
	}
	// The planted session is dead: nobody holding it rides the victim's login.
	x := h.client()
	x.setCookie(planted)
	expectStatus(t, x.do("GET", "/v1/test", nil), http.StatusUnauthorized)
}

func TestHostilePaths(t *testing.T) {
	h := newHarness(t)
	h.addUser("root@example.com", pw, true)
	h.addUser("p@example.com", pw, false)
	admin := h.client()
	admin.mustLogin("root@example.com", pw)
	for _, path := range []string{
		"/v1/users/../users/p@example.com",
		"/v1/users/..%2Fusers%2Fp@example.com",
		"/v1/users/p@example.com%00",
		"/v1/users/p%00@example.com",
		"/v1/users/%2e%2e%2f@example.com",
		"/v1/users/p@example.com%2F..%2F..%2F_cluster",
		"/v1/auth/sessions/..%2F..%2F_all",
		"/v1/auth/sessions/x%3Frefresh=true",
		"/v1/users/" + strings.Repeat("a", 10000) + "@example.com",
	} {
		t.Run(path[:min(len(path), 60)], func(t *testing.T) {
			method := "GET"
			if strings.HasPrefix(path, "/v1/auth/sessions/") {
				method = "DELETE"
			}
			a := admin.in(t).do(method, path, nil)
			if a.Status != http.StatusNotFound {
				t.Errorf("status %d, want 404: %s", a.Status, a.Raw)
			}
		})
	}
	// Nothing was deleted or leaked along the way.
	if _, err := h.store.GetUser(context.Background(), "p@example.com"); err != nil {
		t.Errorf("user gone: %v", err)
	}
}

func TestVeryLongInputIsRefusedCleanly(t *testing.T) {
	h := newHarness(t)
	long := strings.Repeat("x", 200_000)
	tests := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"a 200 kB email", map[string]any{"email_address": long + "@example.com", "password": pw, "first_name": "A", "last_name": "B"}, "email_address"},
		{"a 200 kB name", map[string]any{"email_address": "l@example.com", "password": pw, "first_name": long, "last_name": "B"}, "first_name"},
		{"a 200 kB password", map[string]any{"email_address": "l@example.com", "password": long, "first_name": "A", "last_name": "B"}, "password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := h.client().in(t).do("POST", "/v1/users", tt.body)
			expectStatus(t, a, http.StatusUnprocessableEntity)
			if a.Fields[tt.field] == "" || len(a.Raw) > 1000 {
				t.Errorf("answer %.200s", a.Raw)
			}
		})
	}
	a := h.client().do("POST", "/v1/auth/login", map[string]any{"email_address": long, "password": long})
	expectStatus(t, a, http.StatusUnauthorized)
}

func TestNoServerBanner(t *testing.T) {
	h := newHarness(t)
	a := h.client().do("GET", "/v1/test", nil)
	if s := a.Header.Get("Server"); s != "" {
		t.Errorf("Server: %q", s)
	}
}

func TestAHostileLoginEmailIsStillAudited(t *testing.T) {
	h := newHarness(t)
	long := strings.Repeat("é", 100_000)
	expectStatus(t, h.client().login(long+"@example.com", "whatever pw"), http.StatusUnauthorized)
	h.flushAudit()
	if d := h.audit.Dropped(); d != 0 {
		t.Fatalf("%d audit events dropped", d)
	}
}

func TestLockoutLooksTheSameForUnknownEmails(t *testing.T) {
	clock := newFakeClock()
	h := newHarness(t, withClock(clock), func(d *Deps) {
		d.Lockout = user.Lockout{Threshold: 3, Base: time.Second, Max: time.Minute}
	})
	h.addUser("real@example.com", pw, false)
	var last [2]answer
	for i, email := range []string{"real@example.com", "ghost@example.com"} {
		for j := 0; j < 3; j++ {
			expectStatus(t, h.client().login(email, "wrong password"), http.StatusUnauthorized)
		}
		last[i] = h.client().login(email, "wrong password")
		expectStatus(t, last[i], http.StatusTooManyRequests)
	}
	if last[0].Raw != last[1].Raw || last[0].Header.Get("Retry-After") != last[1].Header.Get("Retry-After") {
		t.Errorf("a locked real account and a locked unknown email answer differently:\n%s %s\n%s %s",
			last[0].Raw, last[0].Header.Get("Retry-After"), last[1].Raw, last[1].Header.Get("Retry-After"))
	}
	clock.Advance(time.Second)
	expectStatus(t, h.client().login("ghost@example.com", "wrong password"), http.StatusUnauthorized)
}
