package web_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"esauth/lib/passkey/passkeytest"
)

// data is the "data" of an API answer.
func data(t *testing.T, body string) []byte {
	t.Helper()
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &env); err != nil || len(env.Data) == 0 {
		t.Fatalf("not an answer with data: %s", body)
	}
	return env.Data
}

// The code page offers "Use a passkey" to a half-authenticated user who
// has one, and only to them: to anyone else the button leads nowhere.
func TestTheCodePageOffersAPasskeyOnlyToWhoHasOne(t *testing.T) {
	b, origin := passkeyServer(t)
	expect(t, b.post("/signup", url.Values{"email_address": {"pk2f@example.com"}, "first_name": {"P"}, "last_name": {"K"}, "password": {pw}}), http.StatusSeeOther)
	expect(t, b.post("/login", url.Values{"email_address": {"pk2f@example.com"}, "password": {pw}}), http.StatusSeeOther)
	enrolByAPI(t, b)

	codePage := func() answer {
		t.Helper()
		half := b.another()
		a := half.post("/login", url.Values{"email_address": {"pk2f@example.com"}, "password": {pw}})
		if a.status != http.StatusSeeOther || !strings.HasPrefix(a.location, "/login/code") {
			t.Fatalf("login of a TOTP user: %d to %q", a.status, a.location)
		}
		page := half.get(a.location)
		expect(t, page, http.StatusOK, `autocomplete="one-time-code"`)
		// A wrong code shows the page again, with the same offer.
		again := half.post("/login/code", url.Values{"code": {"000000"}})
		expect(t, again, http.StatusUnauthorized, `id="code-error"`)
		if strings.Contains(page.body, "passkey-verify-box") != strings.Contains(again.body, "passkey-verify-box") {
			t.Errorf("the offer of a passkey changed after a wrong code")
		}
		return page
	}
	if page := codePage(); strings.Contains(page.body, "passkey-verify-box") || strings.Contains(page.body, "/static/passkeys.js") {
		t.Errorf("the code page offers a passkey to a user who has none:\n%s", page.body)
	}

	auth := passkeytest.New(origin)
	cred, err := auth.Create(data(t, b.doJSON("POST", "/v1/auth/passkeys/register/begin", `{"password":"`+pw+`"}`)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(map[string]any{"credential": json.RawMessage(cred), "name": "Laptop"})
	if fin := b.doJSON("POST", "/v1/auth/passkeys/register/finish", string(body)); !strings.Contains(fin, `"Laptop"`) {
		t.Fatalf("register: %s", fin)
	}
	expect(t, codePage(), http.StatusOK, "passkey-verify-box", "/static/passkeys.js")
}
