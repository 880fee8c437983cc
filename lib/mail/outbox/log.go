package outbox

import (
	"context"
	"regexp"
	"strings"

	"go.uber.org/zap"

	"esauth/lib/mail"
)

// Log is the development Sender: it sends nothing and writes each
// message's recipient, subject and links to the log, where a developer
// copies the verification or recovery link. The links are the whole point,
// so they are logged at WARN to show up in any log level; the bodies are not
// logged.
type Log struct {
	log *zap.Logger
}

var _ mail.Sender = (*Log)(nil)

// NewLog returns a Log sender and says once, loudly, that mail is not
// configured: in production this would mean no user ever gets a mail, and
// one-time links sit in the log.
func NewLog(log *zap.Logger) *Log {
	log.Warn("mail is not configured: no mail is sent, and verification and recovery links are " +
		"written to this log instead; for development only, configure SMTP in production")
	return &Log{log: log}
}

// Send logs m's recipient, subject and the links of its text body.
func (l *Log) Send(_ context.Context, m mail.Message) error {
	if err := m.Validate(); err != nil {
		return mail.Permanent(err)
	}
	l.log.Warn("mail not sent (mail is not configured); its links follow",
		zap.String("to", m.To), zap.String("subject", m.Subject), zap.Strings("links", links(m.Text)))
	return nil
}

var linkRE = regexp.MustCompile(`https?://[^\s<>"']+`)

// links returns the http(s) links of a text body, without the punctuation
// that may end a sentence after them.
func links(text string) []string {
	found := linkRE.FindAllString(text, -1)
	for i, l := range found {
		found[i] = strings.TrimRight(l, ".,;:)!?")
	}
	return found
}
