package outbox

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base32"
	"errors"
	"fmt"
	"net"
	netmail "net/mail"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"esauth/lib/mail"
)

// Default ports: submission with STARTTLS (RFC 6409) and implicit TLS
// (RFC 8314).
const (
	DefaultPort    = 587
	DefaultTLSPort = 465
)

// SMTP sends each message over its own SMTP connection, built with go-mail.
// A new connection per message is slower than a kept-alive one, but there is
// no connection state to go stale between the rare mails an auth service
// sends, and one send cannot disturb another.
type SMTP struct {
	host        string // as in the URL, without IPv6 brackets
	port        int
	implicitTLS bool // smtps://
	policy      gomail.TLSPolicy
	forcedTLS   bool // STARTTLS required because of credentials, not because the URL asked
	loopback    bool
	user, pass  string
	from        *netmail.Address
	fromDomain  string
	timeout     time.Duration
	tlsConfig   *tls.Config
	// dialAddr, when set, is dialed instead of host:port: tests use it to
	// reach a loopback server under a name that is not loopback.
	dialAddr string
}

// SMTPOption adjusts an SMTP sender.
type SMTPOption func(*SMTP)

// WithTLSConfig sets the TLS configuration used for STARTTLS and smtps://,
// for example a pool that trusts a test server's certificate. ServerName
// and MinVersion (TLS 1.2) are filled in when left empty.
func WithTLSConfig(c *tls.Config) SMTPOption {
	return func(s *SMTP) { s.tlsConfig = c }
}

// NewSMTP checks its arguments and returns a sender; it does not connect.
//
// rawURL is smtp://[user:pass@]host[:port][?tls=required] (port 587;
// STARTTLS when the server offers it, or always with tls=required) or
// smtps://[user:pass@]host[:port] (implicit TLS, port 465). Special
// characters in the user name and password must be percent-encoded.
//
// Credentials never travel unencrypted to another machine: with a user
// name and a host that is not loopback, smtp:// requires STARTTLS, as if
// tls=required were given, and sending fails if the server does not offer
// it. Only to a loopback host (a local relay) may they go in the clear.
//
// from is the From address, e.g. "Example <no-reply@example.com>". No error
// ever contains the password, or any part of the URL that could hold it.
func NewSMTP(rawURL, from string, timeout time.Duration, opts ...SMTPOption) (*SMTP, error) {
	s, err := parseSMTPURL(rawURL)
	if err != nil {
		return nil, err
	}
	if timeout <= 0 {
		return nil, errors.New("mail: the SMTP timeout must be positive")
	}
	s.timeout = timeout
	addr, err := netmail.ParseAddress(from)
	if err != nil {
		return nil, fmt.Errorf("mail: the From address %q is not valid: %w", from, err)
	}
	s.from = addr
	s.fromDomain = addr.Address[strings.LastIndexByte(addr.Address, '@')+1:]
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// parseSMTPURL validates the URL. Its errors name only the scheme and the
// host: when a password holds an unencoded '/', '?' or '#', url.Parse puts
// the rest of it in the port, path or query, so those are never echoed, and
// neither are url.Parse's own errors, which quote the whole URL.
func parseSMTPURL(rawURL string) (*SMTP, error) {
	const encodeHint = " (percent-encode '/', '?', '#', '@' and ':' in the user name and password)"
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, errors.New("mail: the SMTP URL cannot be parsed" + encodeHint)
	}
	s := &SMTP{}
	switch u.Scheme {
	case "smtp":
		s.port = DefaultPort
	case "smtps":
		s.port, s.implicitTLS = DefaultTLSPort, true
	default:
		return nil, errors.New("mail: the SMTP URL must start with smtp:// or smtps://")
	}
	if u.Opaque != "" {
		return nil, errors.New("mail: the SMTP URL must be smtp://host or smtps://host")
	}
	s.host = u.Hostname()
	if s.host == "" {
		return nil, errors.New("mail: the SMTP URL has no host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("mail: the port of SMTP host %s is not a number from 1 to 65535"+encodeHint, s.host)
		}
		s.port = n
	}
	if (u.Path != "" && u.Path != "/") || u.Fragment != "" {
		return nil, errors.New("mail: the SMTP URL must not have a path or a fragment" + encodeHint)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return nil, errors.New("mail: the SMTP URL's query cannot be parsed" + encodeHint)
	}
	s.policy = gomail.TLSOpportunistic
	for k, v := range q {
		if k != "tls" || len(v) != 1 {
			return nil, errors.New("mail: the SMTP URL's only option is ?tls=required" + encodeHint)
		}
		switch {
		case s.implicitTLS:
			return nil, errors.New("mail: smtps:// always uses TLS; drop the ?tls option")
		case v[0] == "required":
			s.policy = gomail.TLSMandatory
		case v[0] == "opportunistic":
		default:
			return nil, errors.New("mail: the SMTP URL's tls option must be required or opportunistic")
		}
	}
	if u.User != nil {
		s.user = u.User.Username()
		pass, ok := u.User.Password()
		if s.user == "" || !ok || pass == "" {
			return nil, errors.New("mail: the SMTP URL needs both a user name and a password, or neither")
		}
		s.pass = pass
	}
	s.loopback = strings.EqualFold(s.host, "localhost")
	if ip := net.ParseIP(s.host); ip != nil {
		s.loopback = ip.IsLoopback()
	}
	if s.user != "" && !s.implicitTLS && !s.loopback && s.policy != gomail.TLSMandatory {
		s.policy, s.forcedTLS = gomail.TLSMandatory, true
	}
	return s, nil
}

// String describes the server without credentials, for logs and errors.
func (s *SMTP) String() string {
	scheme := "smtp"
	if s.implicitTLS {
		scheme = "smtps"
	}
	d := scheme + "://" + net.JoinHostPort(s.host, strconv.Itoa(s.port))
	if s.policy == gomail.TLSMandatory {
		d += "?tls=required"
	}
	return d
}

// Send delivers m, bounded by the sender's timeout and by ctx: when either
// ends, the connection is closed, even in the middle of the conversation.
// Failures that a retry cannot fix are marked Permanent.
func (s *SMTP) Send(ctx context.Context, m mail.Message) error {
	if err := m.Validate(); err != nil {
		return mail.Permanent(err)
	}
	msg, err := s.build(m)
	if err != nil {
		return mail.Permanent(err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel() // also closes the connection if go-mail left it open after an error
	client, err := gomail.NewClient(s.host, s.clientOptions(ctx)...)
	if err != nil {
		return mail.Permanent(fmt.Errorf("mail: %s: %w", s, err))
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if err == nil || msg.IsDelivered() {
		// A message the server accepted is sent, even if the RSET or QUIT
		// after it failed: sending it again would deliver it twice.
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		err = fmt.Errorf("%w: %w", ctxErr, err)
	}
	where := s.String()
	if s.forcedTLS {
		where += " (STARTTLS is required because credentials are set: esauth sends them in the clear only to a loopback host)"
	}
	err = fmt.Errorf("mail: send to %s via %s: %w", m.To, where, err)
	if rejected(err) {
		return mail.Permanent(err)
	}
	return err
}

// clientOptions configures one go-mail client for one send. The dialer is
// ours so that the connection closes when ctx ends: go-mail honours its
// context only while dialing and holds a lock while it waits for a reply, so
// closing the socket is the only way to interrupt it.
func (s *SMTP) clientOptions(ctx context.Context) []gomail.Option {
	cfg := &tls.Config{}
	if s.tlsConfig != nil {
		cfg = s.tlsConfig.Clone()
	}
	if cfg.ServerName == "" {
		cfg.ServerName = s.host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	addr := net.JoinHostPort(s.host, strconv.Itoa(s.port))
	if s.dialAddr != "" {
		addr = s.dialAddr
	}
	dial := func(dialCtx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		raw, err := d.DialContext(dialCtx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		context.AfterFunc(ctx, func() { _ = raw.Close() })
		if !s.implicitTLS {
			return raw, nil
		}
		// go-mail recognises an encrypted connection by its type, so
		// return the *tls.Conn itself, not a wrapper.
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(dialCtx); err != nil {
			_ = raw.Close()
			return nil, err
		}
		return tc, nil
	}
	// With smtps:// the connection is already TLS; the opportunistic policy
	// then finds no STARTTLS to do and sees the encryption, which the
	// mandatory one would refuse for want of STARTTLS.
	policy := s.policy
	if s.implicitTLS {
		policy = gomail.TLSOpportunistic
	}
	opts := []gomail.Option{
		gomail.WithPort(s.port),
		gomail.WithTimeout(s.timeout),
		gomail.WithTLSPolicy(policy),
		gomail.WithTLSConfig(cfg),
		gomail.WithDialContextFunc(dial),
	}
	if s.user == "" {
		return opts
	}
	opts = append(opts, gomail.WithUsername(s.user), gomail.WithPassword(s.pass))
	if s.loopback {
		// A local relay may not offer STARTTLS; the *-NOENC mechanisms are
		// go-mail's way of allowing PLAIN and LOGIN without it, and we
		// allow it only here, on loopback.
		return append(opts, gomail.WithOpportunisticSMTPAuth(
			gomail.SMTPAuthSCRAMSHA256, gomail.SMTPAuthSCRAMSHA1,
			gomail.SMTPAuthPlainNoEnc, gomail.SMTPAuthLoginNoEnc))
	}
	// Elsewhere TLS is certain (smtps, or STARTTLS required), and go-mail
	// picks the strongest mechanism the server offers.
	return append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover))
}

// build turns m into a multipart/alternative go-mail message.
func (s *SMTP) build(m mail.Message) (*gomail.Msg, error) {
	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	msg.FromMailAddress(s.from)
	if err := msg.To(m.To); err != nil {
		return nil, fmt.Errorf("mail: recipient: %w", err)
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	id, err := messageID(s.fromDomain)
	if err != nil {
		return nil, err
	}
	msg.SetMessageIDWithValue(id)
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	return msg, nil
}

// messageID is random@<the From domain>: mail filters score a Message-ID
// whose domain matches the sender's better than one naming our host.
func messageID(domain string) (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("mail: message id: %w", err)
	}
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:])) + "@" + domain, nil
}

// rejected reports whether the server refused with a 5xx reply (unknown
// mailbox, relaying denied, credentials refused): sending again would get
// the same answer.
func rejected(err error) bool {
	var se *gomail.SendError
	if errors.As(err, &se) && se.ErrorCode() >= 500 && se.ErrorCode() < 600 {
		return true
	}
	var te *textproto.Error
	return errors.As(err, &te) && te.Code >= 500 && te.Code < 600
}
