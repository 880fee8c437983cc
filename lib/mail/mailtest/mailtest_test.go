package mailtest

import (
	"net/smtp"
	"strings"
	"testing"
	"time"
)

// send delivers a raw message with the standard library's client, so these
// tests check the server and the parser without esauth's sender.
func send(t *testing.T, s *Server, raw string) {
	t.Helper()
	raw = strings.ReplaceAll(raw, "\n", "\r\n")
	if err := smtp.SendMail(s.Addr(), nil, "from@example.com", []string{"to@example.com"}, []byte(raw)); err != nil {
		t.Fatalf("SendMail: %v", err)
	}
}

func TestParseDecodesEveryTransferEncoding(t *testing.T) {
	const link = "https://auth.example.com/v1/verify?token=0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz"
	tests := []struct {
		name, raw, text, html string
	}{
		{"single part, 8bit", "Subject: plain\nContent-Type: text/plain; charset=utf-8\n\nopen " + link + "\n",
			"open " + link + "\n", ""},
		{"multipart, base64 text and quoted-printable HTML", `Subject: =?UTF-8?q?Caf=C3=A9?=
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary=b1

--b1
Content-Type: text/plain; charset=utf-8
Content-Transfer-Encoding: base64

b3BlbiBodHRwczovL2F1dGguZXhhbXBsZS5jb20vdjEvdmVyaWZ5P3Rva2VuPTAxMjM0NTY3ODlh
YmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODlhYmNkZWZnaGlqa2xtbm9wcXJzdHV2
d3h5eg==
--b1
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: quoted-printable

<a href=3D"x">caf=C3=A9</a> long line soft-=
broken
--b1--
`, "open " + link, `<a href="x">café</a> long line soft-broken`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := Start(t)
			send(t, s, tt.raw)
			got := s.Wait(t, 1, 5*time.Second)[0]
			p, err := got.Parse()
			if err != nil {
				t.Fatal(err)
			}
			if strings.TrimRight(p.Text, "\r\n") != strings.TrimRight(tt.text, "\n") {
				t.Errorf("text %q, want %q", p.Text, tt.text)
			}
			if strings.TrimRight(p.HTML, "\r\n") != tt.html {
				t.Errorf("HTML %q, want %q", p.HTML, tt.html)
			}
			if p.Subject != "plain" && p.Subject != "Café" {
				t.Errorf("subject %q", p.Subject)
			}
			if l := Link(t, got, "https://auth.example.com/v1/verify"); l != link {
				t.Errorf("Link = %q", l)
			}
		})
	}
}

func TestFailNextRefusesThenAccepts(t *testing.T) {
	s := Start(t)
	s.FailNext(1, AtData, 451)
	raw := strings.ReplaceAll("Subject: x\n\nhi\n", "\n", "\r\n")
	err := smtp.SendMail(s.Addr(), nil, "from@example.com", []string{"to@example.com"}, []byte(raw))
	if err == nil || !strings.HasPrefix(err.Error(), "451") {
		t.Fatalf("first send: %v, want a 451", err)
	}
	send(t, s, "Subject: x\n\nhi\n")
	if got := s.Wait(t, 1, 5*time.Second); len(got) != 1 || got[0].From != "from@example.com" || got[0].To[0] != "to@example.com" {
		t.Errorf("received %+v", got)
	}
	if s.Attempts() != 2 {
		t.Errorf("Attempts = %d, want 2", s.Attempts())
	}
}
