package passkey_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"esauth/lib/passkey"
	"esauth/lib/passkey/passkeytest"
	"esauth/lib/user"
)

const origin = "https://auth.example.com"

func newRP(t *testing.T) *passkey.RelyingParty {
	t.Helper()
	rp, err := passkey.New(passkey.Config{RPID: "example.com", Origins: []string{origin}, DisplayName: "esauth"})
	if err != nil {
		t.Fatal(err)
	}
	return rp
}

func ada() user.User {
	return user.User{Email: "ada@example.com", FirstName: "Ada", CreatedAt: time.Unix(1e9, 0).UTC(), WebAuthnID: user.NewWebAuthnID()}
}

// register makes a passkey of u on auth through rp, as the rules would
// store it.
func register(t *testing.T, rp *passkey.RelyingParty, auth *passkeytest.Authenticator, u user.User) user.Passkey {
	t.Helper()
	ch, err := rp.BeginRegistration(u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := auth.Create(ch.Options)
	if err != nil {
		t.Fatal(err)
	}
	p, err := rp.FinishRegistration(u, ch.State, resp)
	if err != nil {
		t.Fatalf("FinishRegistration: %v", err)
	}
	p.Email, p.UserCreatedAt = u.Email, u.CreatedAt
	return p
}

func finder(u user.User, keys ...user.Passkey) user.PasskeyFinder {
	return func(id, handle []byte) (user.User, []user.Passkey, error) { return u, keys, nil }
}

func reason(err error) string {
	var e *passkey.Error
	if errors.As(err, &e) {
		return e.Reason
	}
	return ""
}

func TestARegisteredPasskeyLogsInAndReportsItsFlags(t *testing.T) {
	rp, auth, u := newRP(t), passkeytest.New(origin), ada()
	auth.BackupEligible, auth.BackupState = true, true
	p := register(t, rp, auth, u)
	if !p.UserVerified || !p.BackupEligible || !p.BackupState || len(p.PublicKey) == 0 || p.AAGUID != "00000000-0000-0000-0000-000000000000" {
		t.Fatalf("registered %+v", p)
	}
	ch, err := rp.BeginLogin(nil)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(ch.Options), "allowCredentials") {
		t.Errorf("a discoverable login lists credentials: %s", ch.Options)
	}
	resp, err := auth.Get(ch.Options)
	if err != nil {
		t.Fatal(err)
	}
	got, err := rp.FinishLogin(ch.State, resp, finder(u, p))
	if err != nil {
		t.Fatalf("FinishLogin: %v", err)
	}
	if got.User.Email != u.Email || string(got.Passkey.ID) != string(p.ID) || got.SignCount != 1 || got.CloneWarning || !got.UserVerified {
		t.Errorf("assertion %+v", got)
	}
}

func TestLoginsTheLibraryMustRefuse(t *testing.T) {
	rp, u := newRP(t), ada()
	cases := []struct {
		name   string
		spoil  func(auth *passkeytest.Authenticator)
		answer func(t *testing.T, auth *passkeytest.Authenticator, options []byte, p user.Passkey) []byte
		want   string
	}{
		{"another origin", func(a *passkeytest.Authenticator) { a.Origin = "https://auth.example.com.evil.test" }, nil, passkey.ReasonOrigin},
		{"another RP id", func(a *passkeytest.Authenticator) { a.RPID = "evil.test" }, nil, passkey.ReasonRPID},
		{"another challenge", nil, func(t *testing.T, a *passkeytest.Authenticator, _ []byte, p user.Passkey) []byte {
			other, _ := rp.BeginLogin(nil)
			b, err := a.Get(other.Options)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, passkey.ReasonChallenge},
		{"a registration's answer", nil, func(t *testing.T, a *passkeytest.Authenticator, options []byte, _ user.Passkey) []byte {
			b, err := passkeytest.New(origin).Create([]byte(`{"publicKey":{"challenge":"` + passkeytest.Challenge(options) + `","rp":{"id":"example.com"},"user":{"id":"AAAA"}}}`))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}, passkey.ReasonMalformed},
		{"a forged signature", nil, func(t *testing.T, a *passkeytest.Authenticator, options []byte, p user.Passkey) []byte {
			b, err := a.Get(options)
			if err != nil {
				t.Fatal(err)
			}
			return []byte(strings.Replace(string(b), `"signature":"M`, `"signature":"N`, 1))
		}, passkey.ReasonVerify},
		{"not JSON", nil, func(*testing.T, *passkeytest.Authenticator, []byte, user.Passkey) []byte { return []byte("{") }, passkey.ReasonMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			auth := passkeytest.New(origin)
			p := register(t, rp, auth, u)
			if tc.spoil != nil {
				tc.spoil(auth)
			}
			ch, err := rp.BeginLogin([]user.Passkey{p})
			if err != nil {
				t.Fatal(err)
			}
			var resp []byte
			if tc.answer != nil {
				resp = tc.answer(t, auth, ch.Options, p)
			} else if resp, err = auth.Get(ch.Options); err != nil {
				t.Fatal(err)
			}
			_, err = rp.FinishLogin(ch.State, resp, finder(u, p))
			if got := reason(err); got != tc.want {
				t.Fatalf("refused for %q (%v), want %q", got, err, tc.want)
			}
		})
	}
}

func TestACounterThatDoesNotGoUpIsAClone(t *testing.T) {
	rp, auth, u := newRP(t), passkeytest.New(origin), ada()
	p := register(t, rp, auth, u)
	p.SignCount = 5 // the server saw 5 already
	ch, _ := rp.BeginLogin(nil)
	resp, err := auth.Get(ch.Options) // the authenticator says 1
	if err != nil {
		t.Fatal(err)
	}
	got, err := rp.FinishLogin(ch.State, resp, finder(u, p))
	if err != nil {
		t.Fatal(err)
	}
	if !got.CloneWarning {
		t.Fatal("a counter below the stored one raised no clone warning")
	}
}

func TestAPasskeyOfAnotherUserOrHandleIsUnknown(t *testing.T) {
	rp, auth, u := newRP(t), passkeytest.New(origin), ada()
	p := register(t, rp, auth, u)
	other := ada() // same email, another account (a new user handle)
	ch, _ := rp.BeginLogin(nil)
	resp, _ := auth.Get(ch.Options)
	if _, err := rp.FinishLogin(ch.State, resp, finder(other, p)); reason(err) != passkey.ReasonUserHandle {
		t.Errorf("another handle: %v", err)
	}
	ch, _ = rp.BeginLogin(nil)
	resp, _ = auth.Get(ch.Options)
	if _, err := rp.FinishLogin(ch.State, resp, finder(u)); reason(err) != passkey.ReasonUnknown {
		t.Errorf("not among the user's: %v", err)
	}
	// A login that asked for another passkey (a typed email's) refuses this one.
	decoy := user.Passkey{ID: []byte("0123456789abcdef")}
	ch, _ = rp.BeginLogin([]user.Passkey{decoy})
	cred := auth.Credentials()[0]
	cred.SignCount = 9
	resp, _ = auth.Sign(cred, passkeytest.Challenge(ch.Options))
	if _, err := rp.FinishLogin(ch.State, resp, finder(u, p)); reason(err) != passkey.ReasonUnknown {
		t.Errorf("not asked for: %v", err)
	}
}

func TestCheckNamesTheSetting(t *testing.T) {
	cases := []struct {
		cfg  passkey.Config
		want string
	}{
		{passkey.Config{RPID: "example.com", Origins: []string{"https://auth.example.com"}, DisplayName: "x"}, ""},
		{passkey.Config{RPID: "localhost", Origins: []string{"http://localhost:8080"}, DisplayName: "x"}, ""},
		{passkey.Config{RPID: "127.0.0.1", Origins: []string{"http://127.0.0.1:8080"}, DisplayName: "x"}, "ESAUTH_WEBAUTHN_RP_ID"},
		{passkey.Config{RPID: "example.com", Origins: []string{"http://auth.example.com"}, DisplayName: "x"}, "ESAUTH_WEBAUTHN_ORIGINS"},
		{passkey.Config{RPID: "example.com", Origins: []string{"https://example.org"}, DisplayName: "x"}, "ESAUTH_WEBAUTHN_RP_ID"},
		{passkey.Config{RPID: "example.com", Origins: []string{"https://notexample.com"}, DisplayName: "x"}, "ESAUTH_WEBAUTHN_RP_ID"},
		{passkey.Config{RPID: "example.com", Origins: []string{"https://auth.example.com/path"}, DisplayName: "x"}, "ESAUTH_WEBAUTHN_ORIGINS"},
		{passkey.Config{RPID: "https://example.com", Origins: []string{"https://example.com"}, DisplayName: "x"}, "ESAUTH_WEBAUTHN_RP_ID"},
		{passkey.Config{RPID: "example.com", DisplayName: "x"}, "ESAUTH_WEBAUTHN_ORIGINS"},
	}
	for _, tc := range cases {
		err := passkey.Check(tc.cfg)
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
