package mail

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"net"
	"net/url"
	"regexp"
	"strings"
	texttemplate "text/template"
	"time"
	"unicode"
	"unicode/utf8"
)

// templateFS holds the mail templates: for each kind a text and an HTML
// content template, each wrapped in the layout of its format. Embedded, so
// the binary cannot start with a template missing.
//
//go:embed templates
var templateFS embed.FS

// DefaultForgotPasswordPath is where a security notice sends a user who did
// not make the change.
const DefaultForgotPasswordPath = "/forgot-password"

// ComposerConfig is what the mails say about the product.
type ComposerConfig struct {
	// Product names the service in the mails, e.g. "Example Accounts".
	Product string
	// PublicURL is esauth's external base URL (ESAUTH_PUBLIC_URL), with
	// its path prefix if it has one.
	PublicURL string
	// ForgotPasswordPath is appended to PublicURL in security notices
	// (default DefaultForgotPasswordPath).
	ForgotPasswordPath string
}

// Composer renders the mails. Links arrive fully built: the Composer knows
// no tokens and no routes, except where to reset a password.
type Composer struct {
	product   string
	forgotURL string
	kinds     map[string]templates
}

type templates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

// NewComposer parses the embedded templates and checks the configuration.
func NewComposer(c ComposerConfig) (*Composer, error) {
	if strings.TrimSpace(c.Product) == "" {
		return nil, errors.New("mail: the product name is empty")
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("mail: the public URL %q must be an http(s) URL without query or fragment", c.PublicURL)
	}
	path := c.ForgotPasswordPath
	if path == "" {
		path = DefaultForgotPasswordPath
	}
	if !strings.HasPrefix(path, "/") {
		return nil, fmt.Errorf("mail: the forgot-password path %q must start with /", path)
	}
	comp := &Composer{
		product:   c.Product,
		forgotURL: strings.TrimRight(c.PublicURL, "/") + path,
		kinds:     map[string]templates{},
	}
	for _, kind := range []string{"verification", "recovery", "notice"} {
		text, err := texttemplate.ParseFS(templateFS, "templates/layout.txt", "templates/"+kind+".txt")
		if err != nil {
			return nil, fmt.Errorf("mail: templates: %w", err)
		}
		html, err := htmltemplate.ParseFS(templateFS, "templates/layout.html", "templates/"+kind+".html")
		if err != nil {
			return nil, fmt.Errorf("mail: templates: %w", err)
		}
		comp.kinds[kind] = templates{text: text, html: html}
	}
	return comp, nil
}

// Verification asks the owner of to to confirm the address by opening
// link, valid for expires.
func (c *Composer) Verification(to, firstName, link string, expires time.Duration) Message {
	return c.render("verification", to, content{
		Subject: "Confirm your email address",
		Name:    greetingName(firstName),
		Link:    link,
		Expires: HumanDuration(expires),
	})
}

// Recovery sends a password-reset link, valid for expires.
func (c *Composer) Recovery(to, firstName, link string, expires time.Duration) Message {
	return c.render("recovery", to, content{
		Subject: "Reset your password",
		Name:    greetingName(firstName),
		Link:    link,
		Expires: HumanDuration(expires),
	})
}

// NoticeKind is a security event the account's owner is told about.
type NoticeKind string

// The notices. The values suit logs and audit records.
const (
	PasswordChanged NoticeKind = "password_changed"
	Recovered       NoticeKind = "account_recovered"
	TOTPEnabled     NoticeKind = "totp_enabled"
	TOTPDisabled    NoticeKind = "totp_disabled"
	Lockout         NoticeKind = "lockout"
	// CodeLockout: wrong second-factor codes after a right password, so
	// the owner learns that someone has the password.
	CodeLockout    NoticeKind = "second_factor_lockout"
	PasskeyAdded   NoticeKind = "passkey_added"
	PasskeyRemoved NoticeKind = "passkey_removed"
	// NewDevice: a login from a device and network the account had not
	// signed in from recently.
	NewDevice NoticeKind = "new_device"
)

// notices holds each notice's subject and what it says happened.
var notices = map[NoticeKind]struct{ subject, what string }{
	PasswordChanged: {"Your password was changed",
		"The password of your account was changed."},
	Recovered: {"Your account was recovered",
		"Your account was recovered with a password-reset link, and its password was replaced."},
	TOTPEnabled: {"Two-factor authentication was turned on",
		"Two-factor authentication was turned on for your account: logging in now also asks for a code from your authenticator app."},
	TOTPDisabled: {"Two-factor authentication was turned off",
		"Two-factor authentication was turned off for your account: logging in now asks only for your password."},
	PasskeyAdded: {"A passkey was added to your account",
		"A passkey was added to your account: it can now log in with no password, from the device or the password manager that holds it."},
	PasskeyRemoved: {"A passkey was removed from your account",
		"A passkey was removed from your account: it no longer logs in."},
	NewDevice: {"A new sign-in to your account",
		"Someone signed in to your account from a device or network it has not signed in from recently. If this was you, there is nothing to do."},
	Lockout: {"Your account was locked after failed logins",
		"Your account was locked after too many failed login attempts."},
	CodeLockout: {"Your account was locked after wrong two-factor codes",
		"Your account was locked after too many wrong two-factor codes. They were typed after your password was given correctly, so someone else may know your password: change it."},
}

// Notice tells the owner of to that kind happened at at (omitted when
// zero) from ip (omitted when empty or not an IP address) with the device
// family dev ("Firefox on Linux"; omitted when empty or when it looks like
// a link: it comes from the client's User-Agent), and where to reset the
// password if it was not them. An unknown kind is a programming error and
// panics.
func (c *Composer) Notice(to, firstName string, kind NoticeKind, at time.Time, ip, dev string) Message {
	n, ok := notices[kind]
	if !ok {
		panic(fmt.Sprintf("mail: unknown notice kind %q", kind))
	}
	d := content{Subject: n.subject, Name: greetingName(firstName), What: n.what, ForgotURL: c.forgotURL}
	if !at.IsZero() {
		d.When = at.UTC().Format("Monday 2 January 2006, 15:04 UTC")
	}
	if net.ParseIP(ip) != nil {
		d.IP = ip
	}
	if utf8.RuneCountInString(dev) <= 80 && !linkish.MatchString(dev) && greetingName(dev) == dev {
		d.Device = dev
	}
	return c.render("notice", to, d)
}

// content is what the templates see.
type content struct {
	Product, Subject, Name string
	Link, Expires          string
	What, When, IP, Device string
	ForgotURL              string
}

// render executes a kind's templates. The templates are embedded and their
// data are plain strings, so a failure is a bug in a template, caught by
// the tests; it panics rather than make every caller handle an error that
// cannot happen in a release.
func (c *Composer) render(kind, to string, d content) Message {
	d.Product = c.product
	t := c.kinds[kind]
	var text, html bytes.Buffer
	if err := t.text.ExecuteTemplate(&text, "layout", d); err != nil {
		panic(fmt.Sprintf("mail: %s text template: %v", kind, err))
	}
	if err := t.html.ExecuteTemplate(&html, "layout", d); err != nil {
		panic(fmt.Sprintf("mail: %s HTML template: %v", kind, err))
	}
	return Message{To: to, Subject: d.Subject, Text: text.String(), HTML: html.String()}
}

// linkish matches what a name has no business containing: a link, a
// domain, an address.
var linkish = regexp.MustCompile(`(?i)://|www\.|@|[a-z0-9-]\.[a-z]{2,}`)

// greetingName is the first name fit to greet someone with, or "" for a
// plain "Hello,". Anyone can sign up with someone else's address, so the
// name in a verification mail may be a stranger's text sent from our
// domain: spam ("Win a prize at evil.example") or a fake link. Such names,
// over-long ones, and control and bidi-override characters are left out.
func greetingName(name string) string {
	name = strings.Join(strings.FieldsFunc(name, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
	}), " ")
	if utf8.RuneCountInString(name) > 40 || linkish.MatchString(name) {
		return ""
	}
	return name
}

// HumanDuration says d as a person would: "30 minutes", "1 hour",
// "24 hours", "7 days".
func HumanDuration(d time.Duration) string {
	unit := func(n int64, one string) string {
		if n == 1 {
			return "1 " + one
		}
		return fmt.Sprintf("%d %ss", n, one)
	}
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return unit(int64(d/(24*time.Hour)), "day")
	case d >= time.Hour && d%time.Hour == 0:
		return unit(int64(d/time.Hour), "hour")
	default:
		return unit(int64((d+time.Minute-1)/time.Minute), "minute")
	}
}
