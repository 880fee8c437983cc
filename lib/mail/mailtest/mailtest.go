// Package mailtest runs a real SMTP server (github.com/emersion/go-smtp) on
// loopback for tests: a test points esauth's mail at URL(), waits for the
// mails with Wait, and follows their links with Link, exactly as a user
// would.
package mailtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configure a server; the zero value accepts any mail without
// authentication or TLS.
type Options struct {
	// Username and Password, when set, make AUTH PLAIN required before
	// MAIL FROM; URL() then carries them.
	Username, Password string
	// TLS offers STARTTLS with a fresh self-signed certificate for
	// 127.0.0.1; ClientTLS returns a configuration that trusts it. With TLS,
	// AUTH is accepted only after STARTTLS, as on a real submission server.
	TLS bool
	// ImplicitTLS makes the server speak TLS from the first byte (smtps://).
	ImplicitTLS bool
}

// Received is one message as the server got it.
type Received struct {
	From string   // MAIL FROM
	To   []string // RCPT TO
	Data []byte   // the raw message
	TLS  bool     // whether the conversation was encrypted
	User string   // who authenticated, if anyone
}

// Stage is where an injected failure happens.
type Stage int

const (
	AtRcpt Stage = iota // refuse RCPT TO
	AtData              // refuse the message at the end of DATA
)

// Server is a running test SMTP server. It stops when the test ends.
type Server struct {
	opts      Options
	url       string
	addr      string
	clientTLS *tls.Config

	mu       sync.Mutex
	received []Received
	changed  chan struct{} // closed and replaced whenever received grows
	attempts int           // transactions that reached RCPT TO
	failN    int
	failAt   Stage
	failCode int
}

// Start starts a server that accepts any mail.
func Start(t testing.TB) *Server { return StartWith(t, Options{}) }

// StartWith starts a server configured by o on 127.0.0.1 and a free port.
func StartWith(t testing.TB, o Options) *Server {
	t.Helper()
	s := &Server{opts: o, changed: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &session{srv: s, conn: c}, nil
	}))
	srv.Domain = "mailtest.localhost"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 1 << 20
	srv.ErrorLog = log.New(io.Discard, "", 0)
	srv.AllowInsecureAuth = !o.TLS && !o.ImplicitTLS

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: listen: %v", err)
	}
	scheme := "smtp"
	if o.TLS || o.ImplicitTLS {
		cert, pool := selfSigned(t)
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.clientTLS = &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
	}
	if o.ImplicitTLS {
		scheme = "smtps"
		ln = tls.NewListener(ln, srv.TLSConfig)
	}
	s.addr = ln.Addr().String()
	u := url.URL{Scheme: scheme, Host: s.addr}
	if o.Username != "" {
		u.User = url.UserPassword(o.Username, o.Password)
	}
	s.url = u.String()

	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		_ = srv.Close()
		// srv.Close misses the listener when Serve has not registered it
		// yet (a test that never connects can end that fast), and Serve
		// would then wait in Accept for ever; closing it here ends Serve
		// either way.
		_ = ln.Close()
		<-done
	})
	return s
}

// URL is the server's address as esauth's mail URL expects it:
// smtp://127.0.0.1:port, with user:pass when Options set them, and smtps://
// with ImplicitTLS.
func (s *Server) URL() string { return s.url }

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// ClientTLS trusts the server's certificate (nil without TLS).
func (s *Server) ClientTLS() *tls.Config {
	if s.clientTLS == nil {
		return nil
	}
	return s.clientTLS.Clone()
}

// FailNext makes the next n transactions fail at the given stage with the
// given reply code: 4xx for a temporary failure, 5xx for a permanent one.
func (s *Server) FailNext(n int, at Stage, code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failAt, s.failCode = n, at, code
}

// Attempts counts RCPT TO commands, refused or not: with one recipient per
// message, the delivery attempts that got past MAIL FROM.
func (s *Server) Attempts() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts
}

// Messages returns what has arrived so far.
func (s *Server) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received...)
}

// Wait waits until at least n messages have arrived and returns them all;
// the test fails if they do not arrive within timeout.
func (s *Server) Wait(t testing.TB, n int, timeout time.Duration) []Received {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		if len(s.received) >= n {
			got := append([]Received(nil), s.received...)
			s.mu.Unlock()
			return got
		}
		changed, have := s.changed, len(s.received)
		s.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("mailtest: %d of %d messages arrived within %v", have, n, timeout)
			return nil
		}
	}
}

// injected returns the failure to inject at stage, if any is pending.
func (s *Server) injected(at Stage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failN == 0 || s.failAt != at {
		return nil
	}
	s.failN--
	return &smtp.SMTPError{
		Code:         s.failCode,
		EnhancedCode: smtp.EnhancedCode{s.failCode / 100, 0, 0},
		Message:      "mailtest: injected failure",
	}
}

type session struct {
	srv  *Server
	conn *smtp.Conn
	user string
	from string
	to   []string
}

var _ smtp.AuthSession = (*session)(nil)

func (ss *session) AuthMechanisms() []string {
	if ss.srv.opts.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (ss *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != ss.srv.opts.Username || pass != ss.srv.opts.Password {
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}), nil
}

func (ss *session) Mail(from string, _ *smtp.MailOptions) error {
	if ss.srv.opts.Username != "" && ss.user == "" {
		return smtp.ErrAuthRequired
	}
	ss.from = from
	return nil
}

func (ss *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	ss.srv.mu.Lock()
	ss.srv.attempts++
	ss.srv.mu.Unlock()
	if err := ss.srv.injected(AtRcpt); err != nil {
		return err
	}
	ss.to = append(ss.to, to)
	return nil
}

func (ss *session) Data(r io.Reader) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	if err := ss.srv.injected(AtData); err != nil {
		return err
	}
	_, isTLS := ss.conn.TLSConnectionState()
	rec := Received{From: ss.from, To: ss.to, Data: data, TLS: isTLS, User: ss.user}
	s := ss.srv
	s.mu.Lock()
	s.received = append(s.received, rec)
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	return nil
}

func (ss *session) Reset()        { ss.from, ss.to = "", nil }
func (ss *session) Logout() error { return nil }

// Parsed is a received message decoded: headers, the decoded subject, and
// the text and HTML parts with their transfer encoding undone.
type Parsed struct {
	Header      mail.Header
	Subject     string
	ContentType string // of the whole message, e.g. multipart/alternative
	Text, HTML  string
}

// Parse decodes r's headers and its text/plain and text/html parts,
// whether the message is a single part or multipart, and whether the parts
// are quoted-printable, base64 or plain.
func (r Received) Parse() (Parsed, error) {
	m, err := mail.ReadMessage(strings.NewReader(string(r.Data)))
	if err != nil {
		return Parsed{}, fmt.Errorf("mailtest: read message: %w", err)
	}
	p := Parsed{Header: m.Header}
	var dec mime.WordDecoder
	if p.Subject, err = dec.DecodeHeader(m.Header.Get("Subject")); err != nil {
		return Parsed{}, fmt.Errorf("mailtest: subject: %w", err)
	}
	mediaType, params, err := mime.ParseMediaType(m.Header.Get("Content-Type"))
	if err != nil {
		return Parsed{}, fmt.Errorf("mailtest: content type: %w", err)
	}
	p.ContentType = mediaType
	if err := p.walk(mediaType, params, m.Header.Get("Content-Transfer-Encoding"), m.Body); err != nil {
		return Parsed{}, err
	}
	return p, nil
}

func (p *Parsed) walk(mediaType string, params map[string]string, cte string, body io.Reader) error {
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			part, err := mr.NextRawPart() // raw: we undo the encodings ourselves, all of them alike
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("mailtest: multipart: %w", err)
			}
			mt, ps, err := mime.ParseMediaType(part.Header.Get("Content-Type"))
			if err != nil {
				return fmt.Errorf("mailtest: part content type: %w", err)
			}
			if err := p.walk(mt, ps, part.Header.Get("Content-Transfer-Encoding"), part); err != nil {
				return err
			}
		}
	}
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body) // skips the line breaks itself
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("mailtest: decode %s part: %w", mediaType, err)
	}
	switch mediaType {
	case "text/plain":
		p.Text += string(b)
	case "text/html":
		p.HTML += string(b)
	}
	return nil
}

var linkRE = regexp.MustCompile(`https?://[^\s<>"']+`)

// Link returns the first link in the text part of r that starts with
// prefix; the test fails if there is none.
func Link(t testing.TB, r Received, prefix string) string {
	t.Helper()
	p, err := r.Parse()
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	for _, l := range linkRE.FindAllString(p.Text, -1) {
		l = strings.TrimRight(l, ".,;:)!?")
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
	t.Fatalf("mailtest: no link starting with %q in the text part:\n%s", prefix, p.Text)
	return ""
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(t testing.TB) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("mailtest: key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "mailtest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"localhost"},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatalf("mailtest: certificate: %v", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("mailtest: certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}
