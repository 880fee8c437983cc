package mail

import (
	"strings"
	"testing"
	"time"
)

func newComposer(t *testing.T) *Composer {
	t.Helper()
	c, err := NewComposer(ComposerConfig{Product: "Example Accounts", PublicURL: "https://auth.example.com/"})
	if err != nil {
		t.Fatalf("NewComposer: %v", err)
	}
	return c
}

func TestComposerRendersEveryMail(t *testing.T) {
	c := newComposer(t)
	at := time.Date(2026, 3, 4, 5, 6, 0, 0, time.FixedZone("CET", 3600))
	const link = "https://auth.example.com/v1/verify?token=abc&u=1"
	const forgot = "https://auth.example.com/forgot-password"
	tests := []struct {
		name    string
		m       Message
		subject string
		says    []string // in both the text and the HTML
		link    string   // the link both must carry
	}{
		{"verification", c.Verification("ada@example.com", "Ada", link, 24*time.Hour),
			"Confirm your email address", []string{"Hello Ada,", "valid for 24 hours"}, link},
		{"recovery", c.Recovery("ada@example.com", "Ada", link, 30*time.Minute),
			"Reset your password", []string{"valid for 30 minutes", "If you did not ask for this, ignore this mail: your password is unchanged."}, link},
		{"password changed", c.Notice("ada@example.com", "Ada", PasswordChanged, at, "203.0.113.7", ""),
			"Your password was changed", []string{"password of your account was changed", "Wednesday 4 March 2026, 04:06 UTC", "203.0.113.7", "If this wasn't you"}, forgot},
		{"recovered", c.Notice("ada@example.com", "Ada", Recovered, at, "2001:db8::1", ""),
			"Your account was recovered", []string{"was recovered", "2001:db8::1"}, forgot},
		{"TOTP enabled", c.Notice("ada@example.com", "Ada", TOTPEnabled, at, "", ""),
			"Two-factor authentication was turned on", []string{"turned on"}, forgot},
		{"TOTP disabled", c.Notice("ada@example.com", "Ada", TOTPDisabled, at, "", ""),
			"Two-factor authentication was turned off", []string{"turned off"}, forgot},
		{"lockout", c.Notice("ada@example.com", "Ada", Lockout, at, "203.0.113.7", ""),
			"Your account was locked after failed logins", []string{"failed login attempts", "203.0.113.7"}, forgot},
		{"second-factor lockout", c.Notice("ada@example.com", "Ada", CodeLockout, at, "203.0.113.7", ""),
			"Your account was locked after wrong two-factor codes", []string{"wrong two-factor codes", "may know your password", "203.0.113.7"}, forgot},
		{"new device", c.Notice("ada@example.com", "Ada", NewDevice, at, "198.51.100.1", "Firefox on Linux"),
			"A new sign-in to your account", []string{"has not signed in from recently", "198.51.100.1", "With: Firefox on Linux", "If this wasn't you"}, forgot},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.m
			if m.To != "ada@example.com" || m.Subject != tt.subject {
				t.Errorf("To %q Subject %q", m.To, m.Subject)
			}
			for _, s := range tt.says {
				if !strings.Contains(m.Text, s) {
					t.Errorf("text lacks %q:\n%s", s, m.Text)
				}
				if !strings.Contains(m.HTML, s) && !strings.Contains(m.HTML, htmlEscaper.Replace(s)) {
					t.Errorf("HTML lacks %q:\n%s", s, m.HTML)
				}
			}
			if !strings.Contains(m.Text, tt.link) {
				t.Errorf("text lacks the link %s", tt.link)
			}
			escaped := strings.ReplaceAll(tt.link, "&", "&amp;")
			// The link is a real anchor, and visible as text too.
			if !strings.Contains(m.HTML, `<a href="`+escaped+`"`) || !strings.Contains(m.HTML, ">"+escaped+"</a>") {
				t.Errorf("HTML lacks the link as an anchor and as text:\n%s", m.HTML)
			}
			for _, s := range []string{`<html lang="en">`, "<title>" + htmlEscaper.Replace(tt.subject) + "</title>", "<h1"} {
				if !strings.Contains(m.HTML, s) {
					t.Errorf("HTML lacks %q", s)
				}
			}
			for _, s := range []string{"<script", "<img", "<link", "src=", "url("} {
				if strings.Contains(m.HTML, s) {
					t.Errorf("HTML contains %q: no remote content or scripts", s)
				}
			}
		})
	}
}

// htmlEscaper escapes as html/template does, for the strings of these
// tests that come from data rather than from the template's own text.
var htmlEscaper = strings.NewReplacer("'", "&#39;", "&", "&amp;", "<", "&lt;", ">", "&gt;")

func TestComposerEscapesWhatUsersWrite(t *testing.T) {
	c := newComposer(t)
	m := c.Verification("ada@example.com", "<script>alert(1)</script>", `javascript:alert("x")`, time.Hour)
	if strings.Contains(m.HTML, "<script>") {
		t.Errorf("the name reached the HTML unescaped:\n%s", m.HTML)
	}
	if !strings.Contains(m.HTML, "Hello &lt;script&gt;alert(1)&lt;/script&gt;,") {
		t.Errorf("the name is not in the HTML, escaped:\n%s", m.HTML)
	}
	if strings.Contains(m.HTML, `href="javascript:`) {
		t.Errorf("a javascript: link became clickable:\n%s", m.HTML)
	}
}

func TestNoticeLeavesOutWhatIsUnknown(t *testing.T) {
	m := newComposer(t).Notice("ada@example.com", "", PasswordChanged, time.Time{}, "not-an-ip", "")
	for _, s := range []string{"When:", "IP address", "not-an-ip", "<ul>"} {
		if strings.Contains(m.Text, s) || strings.Contains(m.HTML, s) {
			t.Errorf("notice says %q with no time and no valid IP:\n%s\n%s", s, m.Text, m.HTML)
		}
	}
	if !strings.Contains(m.Text, "Hello,\n") {
		t.Errorf("no plain greeting without a name:\n%s", m.Text)
	}
}

// The device family comes from the client's User-Agent: a logged-in
// stranger's text must not reach the owner's mailbox as a link.
func TestNoticeLeavesOutADeviceThatLooksLikeALink(t *testing.T) {
	for _, dev := range []string{"Visit evil.example", "http://x", "a@b", "bidi\u202eevil", strings.Repeat("A", 81)} {
		m := newComposer(t).Notice("ada@example.com", "", NewDevice, time.Now(), "", dev)
		if strings.Contains(m.Text, "With:") || strings.Contains(m.HTML, "With:") {
			t.Errorf("device %q shown:\n%s", dev, m.Text)
		}
	}
}

func TestNoticeWithAnUnknownKindPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic")
		}
	}()
	newComposer(t).Notice("ada@example.com", "Ada", NoticeKind("nope"), time.Now(), "", "")
}

func TestGreetingName(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"a plain name", "Ada", "Ada"},
		{"a name with spaces", "  Mary   Ann ", "Mary Ann"},
		{"line breaks become spaces", "Ada\r\nLovelace", "Ada Lovelace"},
		{"a bidi override is dropped", "\u202eAda", "Ada"},
		{"non-Latin names stay", "Zoë 李", "Zoë 李"},
		{"a link is no name", "Ada, claim your prize at https://evil.example", ""},
		{"a domain is no name", "visit evil.example", ""},
		{"www is no name", "www.evil", ""},
		{"an address is no name", "eve@evil.example", ""},
		{"an over-long name is left out", strings.Repeat("a", 41), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := greetingName(tt.in); got != tt.want {
				t.Errorf("greetingName(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestHumanDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{30 * time.Minute, "30 minutes"},
		{time.Minute, "1 minute"},
		{90 * time.Second, "2 minutes"},
		{time.Hour, "1 hour"},
		{90 * time.Minute, "90 minutes"},
		{24 * time.Hour, "24 hours"},
		{7 * 24 * time.Hour, "7 days"},
	}
	for _, tt := range tests {
		if got := HumanDuration(tt.d); got != tt.want {
			t.Errorf("HumanDuration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}

func TestNewComposerChecksItsConfig(t *testing.T) {
	tests := []struct {
		name string
		c    ComposerConfig
	}{
		{"no product", ComposerConfig{PublicURL: "https://auth.example.com"}},
		{"no public URL", ComposerConfig{Product: "X"}},
		{"a relative public URL", ComposerConfig{Product: "X", PublicURL: "auth.example.com"}},
		{"a public URL with a query", ComposerConfig{Product: "X", PublicURL: "https://auth.example.com/?a=1"}},
		{"a relative forgot-password path", ComposerConfig{Product: "X", PublicURL: "https://auth.example.com", ForgotPasswordPath: "forgot"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewComposer(tt.c); err == nil {
				t.Error("accepted")
			}
		})
	}
	c, err := NewComposer(ComposerConfig{Product: "X", PublicURL: "https://example.com/auth/", ForgotPasswordPath: "/account/forgot"})
	if err != nil {
		t.Fatal(err)
	}
	if m := c.Notice("a@example.com", "", Lockout, time.Now(), "", ""); !strings.Contains(m.Text, "https://example.com/auth/account/forgot ") {
		t.Errorf("the forgot-password link ignores the path prefix or the path:\n%s", m.Text)
	}
}
