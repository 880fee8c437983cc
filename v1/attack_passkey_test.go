package v1

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"esauth/lib/elastic/estest"
	"esauth/lib/passkey/passkeytest"
)

// Passkeys attacked from outside (issue 20): copies of one ceremony
// racing, hostile bodies, a storage that fails, and the per-IP budget.

// TestCopiesOfOneCeremonyRacingLogInOnce: eight browsers finish the same
// login ceremony (a copied cookie) with the same answer at once: exactly
// one session. The authenticator keeps no counter (as synced passkeys),
// so only the ceremony's one-use record can tell the copies apart.
func TestCopiesOfOneCeremonyRacingLogInOnce(t *testing.T) {
	h := newHarness(t, withPasskeys(t))
	const email = "ada@example.com"
	h.addUser(email, pw, false)
	owner := h.client()
	owner.mustLogin(email, pw)
	auth := passkeytest.New(passkeyOrigin)
	auth.NoCounter, auth.BackupEligible, auth.BackupState = true, true, true
	expectStatus(t, owner.addPasskey(t, auth, pw), http.StatusCreated)

	for round := range 3 {
		starter := h.client()
		opts := options(t, starter.do("POST", "/v1/auth/passkeys/login/begin", map[string]any{}))
		ck := ceremonyCookie(starter)
		cred, err := auth.Get(opts)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		statuses := make(chan int, 8)
		for range 8 {
			c := h.client()
			setCeremonyCookie(c, ck)
			wg.Go(func() {
				a, err := c.try("POST", "/v1/auth/passkeys/login/finish", map[string]any{"credential": json.RawMessage(cred)})
				if err != nil {
					t.Error(err)
				}
				statuses <- a.Status
			})
		}
		wg.Wait()
		close(statuses)
		ok := 0
		for s := range statuses {
			switch s {
			case http.StatusOK:
				ok++
			case http.StatusUnauthorized:
			default:
				t.Errorf("round %d: a racing finish got %d", round, s)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: %d of 8 copies of one ceremony logged in; want 1", round, ok)
		}
	}
}

// TestHostileBodiesAtThePasskeyRoutes: each gets the envelope with a 4xx,
// never a 5xx, and leaves no passkey behind.
func TestHostileBodiesAtThePasskeyRoutes(t *testing.T) {
	h := newHarness(t, withPasskeys(t))
	const email = "ada@example.com"
	h.addUser(email, pw, false)
	c := h.client()
	c.mustLogin(email, pw)
	huge := `{"credential":{"id":"` + strings.Repeat("A", 1<<20) + `"}}`
	cases := []struct {
		name, path, body string
		want             int
	}{
		{"not JSON", "/v1/auth/passkeys/login/finish", `{"credential":`, http.StatusBadRequest},
		{"the credential a string", "/v1/auth/passkeys/login/finish", `{"credential":"eyJ9"}`, http.StatusUnprocessableEntity},
		{"the credential null", "/v1/auth/passkeys/register/finish", `{"credential":null}`, http.StatusUnprocessableEntity},
		{"an unknown field", "/v1/auth/passkeys/login/begin", `{"email":"x@example.com"}`, http.StatusBadRequest},
		{"a body of null", "/v1/auth/passkeys/login/begin", `null`, http.StatusBadRequest},
		{"a field of null", "/v1/auth/passkeys/login/begin", `{"remember_me":null}`, http.StatusUnprocessableEntity},
		{"a field of the wrong type", "/v1/auth/passkeys/login/begin", `{"remember_me":"yes"}`, http.StatusBadRequest},
		{"a body over 1 MiB", "/v1/auth/passkeys/register/finish", huge, http.StatusRequestEntityTooLarge},
		{"an empty credential", "/v1/auth/passkeys/login/finish", `{"credential":{}}`, http.StatusUnauthorized},
		{"a credential of garbage", "/v1/auth/passkeys/register/finish", `{"credential":{"id":"!!","rawId":"%%","type":"public-key","response":{"clientDataJSON":"e30","attestationObject":"AAAA"}}}`, http.StatusUnprocessableEntity},
		{"a name too long", "/v1/auth/passkeys/register/finish", `{"credential":{"id":"x"},"name":"` + strings.Repeat("n", 65) + `"}`, http.StatusUnprocessableEntity},
		{"a login email that is no address", "/v1/auth/passkeys/login/begin", `{"email_address":"not an address\u0000"}`, http.StatusUnprocessableEntity},
		{"a second factor with no pending session", "/v1/auth/passkeys/verify/begin", `{}`, http.StatusUnauthorized},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.path, "finish") {
				// With a ceremony begun, so the refusal is the body's.
				begin := "/v1/auth/passkeys/login/begin"
				var body any = map[string]any{}
				if strings.Contains(tc.path, "register") {
					begin, body = "/v1/auth/passkeys/register/begin", map[string]any{"password": pw}
				}
				expectStatus(t, c.in(t).do("POST", begin, body), http.StatusOK)
			}
			a := c.in(t).do("POST", tc.path, tc.body)
			expectStatus(t, a, tc.want)
		})
	}
	if n := len(passkeysOf(t, c)); n != 0 {
		t.Fatalf("hostile bodies left %d passkeys", n)
	}
}

func TestPasskeysWhenTheStoreFails(t *testing.T) {
	h := newHarness(t, withPasskeys(t))
	const email = "ada@example.com"
	h.addUser(email, pw, false)
	c := h.client()
	c.mustLogin(email, pw)
	auth := passkeytest.New(passkeyOrigin)

	t.Run("credentials index write-blocked", func(t *testing.T) {
		opts := options(t, c.in(t).do("POST", "/v1/auth/passkeys/register/begin", map[string]any{"password": pw}))
		cred, err := auth.Create(opts)
		if err != nil {
			t.Fatal(err)
		}
		blockWrites(t, estest.Concrete(t, h.store.CredentialsIndex()))
		expectStatus(t, c.in(t).finish("/v1/auth/passkeys/register/finish", cred, "x"), http.StatusServiceUnavailable)
	})
	auth.Forget()
	if n := len(passkeysOf(t, c)); n != 0 {
		t.Fatalf("a refused registration left %d passkeys", n)
	}
	expectStatus(t, c.addPasskey(t, auth, pw), http.StatusCreated)

	t.Run("a login with the index write-blocked writes no counter and starts no session", func(t *testing.T) {
		blockWrites(t, estest.Concrete(t, h.store.CredentialsIndex()))
		in := h.client().in(t)
		opts := options(t, in.do("POST", "/v1/auth/passkeys/login/begin", map[string]any{}))
		cred, _ := auth.Get(opts)
		expectStatus(t, in.finish("/v1/auth/passkeys/login/finish", cred, ""), http.StatusServiceUnavailable)
		expectStatus(t, in.do("GET", "/v1/test", nil), http.StatusUnauthorized)
	})
	// The counter the blocked login could not store does not lock the key
	// out: the next login's counter is higher still.
	expectStatus(t, h.client().passkeyLogin(t, auth, ""), http.StatusOK)

	t.Run("credentials index deleted under the running store", func(t *testing.T) {
		estest.MustDo(t, "DELETE", "/"+estest.Concrete(t, h.store.CredentialsIndex()), "")
		// The passkeys are gone with their index: the login is refused
		// (or 503 while the index is set up again), never a 500.
		in := h.client().in(t)
		var a answer
		for range 2 {
			opts := options(t, in.do("POST", "/v1/auth/passkeys/login/begin", map[string]any{}))
			cred, _ := auth.Get(opts)
			if a = in.finish("/v1/auth/passkeys/login/finish", cred, ""); a.Status != http.StatusServiceUnavailable {
				break
			}
		}
		expectStatus(t, a, http.StatusUnauthorized)
		// And a new one can be added to the index made again.
		auth.Forget()
		expectStatus(t, c.in(t).addPasskey(t, auth, pw), http.StatusCreated)
		expectStatus(t, h.client().in(t).passkeyLogin(t, auth, ""), http.StatusOK)
	})
}

func TestPasskeysWhenElasticsearchIsDown(t *testing.T) {
	h := newHarnessOn(t, storeAt(t, deadAddress(t), 500*time.Millisecond), withPasskeys(t))
	c := h.client()
	for _, path := range []string{"/v1/auth/passkeys/login/begin", "/v1/auth/passkeys/login/finish"} {
		body := map[string]any{}
		if strings.HasSuffix(path, "finish") {
			body["credential"] = map[string]any{"id": "x"}
		}
		a := c.do("POST", path, body)
		if a.Status != http.StatusServiceUnavailable && !(strings.HasSuffix(path, "finish") && a.Status == http.StatusUnauthorized) {
			t.Errorf("%s with Elasticsearch down: %d %s", path, a.Status, a.Raw)
		}
	}
}

// TestEveryPasskeyCeremonyStepTakesFromTheLoginBudget: a flood of begins
// (each writes a record) from one address is cut off like a flood of
// password logins, and shares their budget.
func TestEveryPasskeyCeremonyStepTakesFromTheLoginBudget(t *testing.T) {
	h := newHarness(t, withPasskeys(t), func(d *Deps) { d.LoginLimit = RateLimit{PerMinute: 1, Burst: 3} })
	c := h.client()
	got := []int{}
	for range 2 {
		got = append(got, c.do("POST", "/v1/auth/passkeys/login/begin", map[string]any{}).Status)
	}
	got = append(got, c.login("nobody@example.com", "a wrong password").Status)
	got = append(got, c.do("POST", "/v1/auth/passkeys/login/begin", map[string]any{}).Status)
	got = append(got, c.do("POST", "/v1/auth/passkeys/login/finish", map[string]any{"credential": map[string]any{}}).Status)
	want := []int{200, 200, 401, 429, 429}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v", got, want)
		}
	}
}

// deadAddress is the address of a server that is gone.
func deadAddress(t *testing.T) string {
	t.Helper()
	return estest.DeadURL(t)
}
