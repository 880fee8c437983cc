package outbox

import (
	"context"
	"errors"
	"mime"
	"net"
	netmail "net/mail"
	"net/url"
	"strings"
	"testing"
	"time"

	gomail "github.com/wneessen/go-mail"

	"esauth/lib/mail"
	"esauth/lib/mail/mailtest"
)

const from = "Example Accounts <no-reply@example.com>"

func newSMTP(t *testing.T, rawURL string, opts ...SMTPOption) *SMTP {
	t.Helper()
	s, err := NewSMTP(rawURL, from, 5*time.Second, opts...)
	if err != nil {
		t.Fatalf("NewSMTP: %v", err)
	}
	return s
}

func newComposer(t *testing.T) *mail.Composer {
	t.Helper()
	c, err := mail.NewComposer(mail.ComposerConfig{Product: "Example Accounts", PublicURL: "https://auth.example.com/"})
	if err != nil {
		t.Fatalf("NewComposer: %v", err)
	}
	return c
}

func withPassword(t *testing.T, rawURL, user, pass string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(user, pass)
	return u.String()
}

func TestSMTPDeliversAMultipartMessage(t *testing.T) {
	srv := mailtest.Start(t)
	s := newSMTP(t, srv.URL())
	// Longer than a quoted-printable line, so the link arrives soft-broken
	// and only a proper decoder gets it back whole.
	link := "https://auth.example.com/verify?token=" + strings.Repeat("Ab3_-", 20) + "&next=%2Fhome"
	m := newComposer(t).Verification("ada@example.com", "Ada", link, 24*time.Hour)

	if err := s.Send(context.Background(), m); err != nil {
		t.Fatalf("Send: %v", err)
	}
	got := srv.Wait(t, 1, 5*time.Second)[0]

	if got.From != "no-reply@example.com" || len(got.To) != 1 || got.To[0] != "ada@example.com" {
		t.Errorf("envelope from %q to %q", got.From, got.To)
	}
	p, err := got.Parse()
	if err != nil {
		t.Fatal(err)
	}
	if p.ContentType != "multipart/alternative" {
		t.Errorf("content type %q, want multipart/alternative", p.ContentType)
	}
	if p.Subject != "Confirm your email address" {
		t.Errorf("subject %q", p.Subject)
	}
	if to, err := p.Header.AddressList("To"); err != nil || len(to) != 1 || to[0].Address != "ada@example.com" {
		t.Errorf("To header %v (%v)", to, err)
	}
	if f, err := p.Header.AddressList("From"); err != nil || len(f) != 1 || f[0].Address != "no-reply@example.com" || f[0].Name != "Example Accounts" {
		t.Errorf("From header %v (%v)", f, err)
	}
	if d, err := p.Header.Date(); err != nil || time.Since(d).Abs() > time.Minute {
		t.Errorf("Date header %v (%v)", d, err)
	}
	if id := p.Header.Get("Message-Id"); !strings.HasPrefix(id, "<") || !strings.HasSuffix(id, "@example.com>") {
		t.Errorf("Message-ID %q, want <random@example.com>", id)
	}
	if !strings.Contains(p.Text, link) {
		t.Errorf("text part lacks the link:\n%s", p.Text)
	}
	if !strings.Contains(p.HTML, `<a href="`+strings.ReplaceAll(link, "&", "&amp;")+`"`) {
		t.Errorf("HTML part lacks the link:\n%s", p.HTML)
	}
	if l := mailtest.Link(t, got, "https://auth.example.com/verify"); l != link {
		t.Errorf("mailtest.Link = %q, want %q", l, link)
	}
}

func TestSMTPAuthentication(t *testing.T) {
	const user, pass = "mailer", "S3cret/p?ss#wörd"
	srv := mailtest.StartWith(t, mailtest.Options{Username: user, Password: pass})
	tests := []struct {
		name      string
		url       string
		wantErr   bool
		permanent bool
	}{
		{"the right password authenticates on loopback without TLS", srv.URL(), false, false},
		{"a wrong password is refused for good", withPassword(t, srv.URL(), user, "Wrong-Pa55word"), true, true},
		{"no credentials where the server requires them is refused for good",
			strings.Replace(srv.URL(), url.UserPassword(user, pass).String()+"@", "", 1), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(srv.Messages())
			err := newSMTP(t, tt.url).Send(context.Background(),
				mail.Message{To: "ada@example.com", Subject: "Hello", Text: "hello"})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Send error = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				if got := srv.Wait(t, before+1, 5*time.Second)[before]; got.User != user {
					t.Errorf("authenticated as %q, want %q", got.User, user)
				}
				return
			}
			for _, secret := range []string{pass, "Wrong-Pa55word", "S3cret", "wörd"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains the password", err)
				}
			}
			if mail.IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", mail.IsPermanent(err), tt.permanent, err)
			}
			if n := len(srv.Messages()); n != before {
				t.Errorf("%d messages arrived, want none", n-before)
			}
		})
	}
}

func TestSMTPTLS(t *testing.T) {
	starttls := mailtest.StartWith(t, mailtest.Options{TLS: true, Username: "mailer", Password: "pw-over-tls"})
	implicit := mailtest.StartWith(t, mailtest.Options{ImplicitTLS: true, Username: "mailer", Password: "pw-over-tls"})
	plain := mailtest.StartWith(t, mailtest.Options{Username: "mailer", Password: "pw-in-clear"})
	plainNoAuth := mailtest.Start(t)
	tests := []struct {
		name    string
		srv     *mailtest.Server
		url     string
		opts    []SMTPOption
		wantErr string // "" for success
	}{
		{"STARTTLS is used when offered, then AUTH", starttls, starttls.URL(),
			[]SMTPOption{WithTLSConfig(starttls.ClientTLS())}, ""},
		{"tls=required works with a server that offers STARTTLS", starttls, starttls.URL() + "?tls=required",
			[]SMTPOption{WithTLSConfig(starttls.ClientTLS())}, ""},
		{"smtps:// speaks TLS from the start", implicit, implicit.URL(),
			[]SMTPOption{WithTLSConfig(implicit.ClientTLS())}, ""},
		{"an untrusted certificate fails", starttls, starttls.URL(), nil, "certificate"},
		{"smtps:// with an untrusted certificate fails", implicit, implicit.URL(), nil, "certificate"},
		{"tls=required fails without STARTTLS", plainNoAuth, plainNoAuth.URL() + "?tls=required", nil,
			"does not support STARTTLS"},
		// The server is on loopback but is reached by a name that is not,
		// as a real relay would be: credentials make STARTTLS mandatory.
		{"credentials to a host that is not loopback are not sent without TLS", plain,
			withPassword(t, "smtp://mail.example.test", "mailer", "pw-in-clear"), nil, "does not support STARTTLS"},
		{"credentials to a host that is not loopback go over STARTTLS", starttls,
			withPassword(t, "smtp://mail.example.test", "mailer", "pw-over-tls"),
			[]SMTPOption{WithTLSConfig(starttls.ClientTLS())}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(tt.srv.Messages())
			s := newSMTP(t, tt.url, tt.opts...)
			s.dialAddr = tt.srv.Addr()
			err := s.Send(context.Background(),
				mail.Message{To: "ada@example.com", Subject: "Hello", Text: "hello"})
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Send: %v", err)
				}
				got := tt.srv.Wait(t, before+1, 5*time.Second)[before]
				if !got.TLS || got.User != "mailer" {
					t.Errorf("received with TLS %v as %q, want TLS as mailer", got.TLS, got.User)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Send error = %v, want one containing %q", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "pw-") {
				t.Errorf("error %q contains the password", err)
			}
			if n := len(tt.srv.Messages()); n != before {
				t.Errorf("%d messages arrived, want none", n-before)
			}
		})
	}
}

func TestNewSMTPErrorsNeverContainThePassword(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"unknown scheme", "http://user:Hunter2Secret@mail.example.com", "smtp:// or smtps://"},
		{"no scheme", "user:Hunter2Secret@mail.example.com", "smtp:// or smtps://"},
		{"no host", "smtp://user:Hunter2Secret@", "no host"},
		{"a slash in the password", "smtp://user:Hunter2/Secret@mail.example.com", "percent-encode"},
		{"a numeric password with a slash", "smtp://user:4242/Hunter2Secret@mail.example.com", "percent-encode"},
		{"a question mark in the password", "smtp://user:Hunter2?Secret@mail.example.com", "percent-encode"},
		{"a hash in the password", "smtp://user:Hunter2#Secret@mail.example.com", "percent-encode"},
		{"a space in the password", "smtp://user:Hunter2 Secret@mail.example.com", "cannot be parsed"},
		{"a bad percent escape", "smtp://user:Hunter2%zzSecret@mail.example.com", "cannot be parsed"},
		{"a port out of range", "smtp://user:Hunter2Secret@mail.example.com:70000", "1 to 65535"},
		{"an unknown option", "smtp://user:Hunter2Secret@mail.example.com?starttls=yes", "only option"},
		{"an unknown tls mode", "smtp://user:Hunter2Secret@mail.example.com?tls=maybe", "required or opportunistic"},
		{"a tls option with smtps", "smtps://user:Hunter2Secret@mail.example.com?tls=required", "always uses TLS"},
		{"a user without a password", "smtp://user@mail.example.com", "both a user name and a password"},
		{"a password without a user", "smtp://:Hunter2Secret@mail.example.com", "both a user name and a password"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewSMTP(tt.url, from, time.Second)
			if err == nil {
				t.Fatal("NewSMTP accepted the URL")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
			for _, secret := range []string{"Hunter2", "Secret", "4242"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q contains (part of) the password", err)
				}
			}
		})
	}
}

func TestNewSMTPRejectsBadFromAndTimeout(t *testing.T) {
	if _, err := NewSMTP("smtp://mail.example.com", "not an address", time.Second); err == nil || !strings.Contains(err.Error(), "From") {
		t.Errorf("a bad From address: %v", err)
	}
	if _, err := NewSMTP("smtp://mail.example.com", from, 0); err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Errorf("a zero timeout: %v", err)
	}
}

func TestNewSMTPChoosesPortAndTLS(t *testing.T) {
	tests := []struct {
		name      string
		url       string
		port      int
		implicit  bool
		policy    gomail.TLSPolicy
		forced    bool
		loopback  bool
		describes string
	}{
		{"smtp defaults to 587 and opportunistic STARTTLS", "smtp://mail.example.com", 587, false, gomail.TLSOpportunistic, false, false, "smtp://mail.example.com:587"},
		{"tls=required makes STARTTLS mandatory", "smtp://mail.example.com?tls=required", 587, false, gomail.TLSMandatory, false, false, "smtp://mail.example.com:587?tls=required"},
		{"credentials to another machine make STARTTLS mandatory", "smtp://u:p@mail.example.com:2525", 2525, false, gomail.TLSMandatory, true, false, "smtp://mail.example.com:2525?tls=required"},
		{"credentials to 127.0.0.1 may go in the clear", "smtp://u:p@127.0.0.1:2525", 2525, false, gomail.TLSOpportunistic, false, true, "smtp://127.0.0.1:2525"},
		{"credentials to localhost may go in the clear", "smtp://u:p@LocalHost", 587, false, gomail.TLSOpportunistic, false, true, "smtp://LocalHost:587"},
		{"credentials to ::1 may go in the clear", "smtp://u:p@[::1]:25", 25, false, gomail.TLSOpportunistic, false, true, "smtp://[::1]:25"},
		{"smtps defaults to 465 with implicit TLS", "smtps://u:p@mail.example.com", 465, true, gomail.TLSOpportunistic, false, false, "smtps://mail.example.com:465"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := NewSMTP(tt.url, from, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if s.port != tt.port || s.implicitTLS != tt.implicit || s.policy != tt.policy || s.forcedTLS != tt.forced || s.loopback != tt.loopback {
				t.Errorf("port %d implicit %v policy %v forced %v loopback %v", s.port, s.implicitTLS, s.policy, s.forcedTLS, s.loopback)
			}
			if s.String() != tt.describes {
				t.Errorf("String() = %q, want %q", s.String(), tt.describes)
			}
		})
	}
}

func TestSendRefusesHeaderInjection(t *testing.T) {
	srv := mailtest.Start(t)
	s := newSMTP(t, srv.URL())
	tests := []struct {
		name string
		m    mail.Message
	}{
		{"a line break in the recipient", mail.Message{To: "ada@example.com\r\nBcc: eve@example.com", Subject: "Hi", Text: "hi"}},
		{"a bare LF in the recipient", mail.Message{To: "ada@example.com\nBcc: eve@example.com", Subject: "Hi", Text: "hi"}},
		{"two recipients", mail.Message{To: "ada@example.com, eve@example.com", Subject: "Hi", Text: "hi"}},
		{"a line break in the subject", mail.Message{To: "ada@example.com", Subject: "Hi\r\nBcc: eve@example.com", Text: "hi"}},
		{"a bare CR in the subject", mail.Message{To: "ada@example.com", Subject: "Hi\rBcc: eve@example.com", Text: "hi"}},
		{"no text", mail.Message{To: "ada@example.com", Subject: "Hi"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.Send(context.Background(), tt.m)
			if err == nil || !mail.IsPermanent(err) {
				t.Fatalf("Send error = %v, want a permanent one", err)
			}
		})
	}
	if n := srv.Attempts(); n != 0 {
		t.Errorf("%d transactions reached the server, want none", n)
	}
}

// TestGoMailEncodesLineBreaksInHeaders checks the layer beneath Validate:
// even a subject that got past it could not start a new header line, and
// go-mail itself refuses a recipient with a line break.
func TestGoMailEncodesLineBreaksInHeaders(t *testing.T) {
	s := newSMTP(t, "smtp://127.0.0.1")
	if _, err := s.build(mail.Message{To: "ada@example.com\r\nBcc: eve@example.com", Subject: "Hi", Text: "hi"}); err == nil {
		t.Error("go-mail accepted a recipient with a line break")
	}
	msg, err := s.build(mail.Message{To: "ada@example.com", Subject: "Hi\r\nBcc: eve@example.com", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	var raw strings.Builder
	if _, err := msg.WriteTo(&raw); err != nil {
		t.Fatal(err)
	}
	m, err := netmail.ReadMessage(strings.NewReader(raw.String()))
	if err != nil {
		t.Fatal(err)
	}
	if bcc := m.Header.Get("Bcc"); bcc != "" {
		t.Errorf("the subject injected a Bcc header %q", bcc)
	}
	var dec mime.WordDecoder
	if subj, _ := dec.DecodeHeader(m.Header.Get("Subject")); subj != "Hi\r\nBcc: eve@example.com" {
		t.Errorf("subject %q did not survive as one encoded header", subj)
	}
}

func TestSendGivesUpOnAStalledServerWhenTheContextEnds(t *testing.T) {
	// A server that accepts and never greets: go-mail would wait for its
	// own timeout (here a minute); the context must end the wait.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			conns <- c
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		select {
		case c := <-conns:
			_ = c.Close()
		default:
		}
	})
	s, err := NewSMTP("smtp://"+ln.Addr().String(), from, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = s.Send(ctx, mail.Message{To: "ada@example.com", Subject: "Hi", Text: "hi"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Send error = %v, want the context's", err)
	}
	if mail.IsPermanent(err) {
		t.Errorf("a timeout is marked permanent: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Send took %v after its context ended", d)
	}
}

func TestComposedMailArrivesAndItsLinkCanBeFollowed(t *testing.T) {
	srv := mailtest.Start(t)
	link := "https://auth.example.com/v1/auth/recover?token=" + strings.Repeat("x", 90)
	m := newComposer(t).Recovery("ada@example.com", "Ada", link, 30*time.Minute)
	if err := newSMTP(t, srv.URL()).Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	got := srv.Wait(t, 1, 5*time.Second)[0]
	if l := mailtest.Link(t, got, "https://auth.example.com/v1/auth/recover"); l != link {
		t.Errorf("followed %q, want %q", l, link)
	}
}
