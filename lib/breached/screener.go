// Package breached screens chosen passwords against passwords that attackers
// try first, as NIST SP 800-63B (5.1.1.2) and OWASP ASVS 2.1.7 ask: an
// embedded list of common passwords (Screener) and, optionally, the
// k-anonymity range API of Have I Been Pwned's Pwned Passwords (Pwned).
//
// Length rules are not here; they stay in lib/user. Pwned is the only code
// in the package that talks to the network, and like lib/elastic it is an
// edge: the domain packages do not import this one.
package breached

import (
	"bufio"
	"bytes"
	"compress/gzip"
	_ "embed"
	"fmt"
	"strings"
	"unicode/utf8"
)

// commonGz is Django's list of 19,640 common passwords, lower-cased, one a
// line, kept gzipped as Django ships it. Its source and licence are in NOTICE.
//
//go:embed common-passwords.txt.gz
var commonGz []byte

// Reasons Check gives. They are written for API clients.
const (
	ReasonCommon       = "This password is too common; choose another."
	ReasonContainsName = "The password must not contain your email address's name."
)

// minLocalPartLen is the shortest local part of an email address that a
// password may not contain. Shorter ones are left out on purpose: with
// "a@x.com" every password with an "a" in it would be refused, which
// forbids far more than it protects.
const minLocalPartLen = 3

// Screener refuses passwords from the embedded list of common passwords and
// passwords built on the user's email address. It is immutable once made and
// safe for concurrent use; make one per process, the list takes about a
// megabyte of memory.
type Screener struct {
	common map[string]struct{}
}

// NewScreener decompresses the embedded list into a set. It fails only if
// the embedded file is damaged, which the package's tests would catch first.
func NewScreener() (*Screener, error) {
	zr, err := gzip.NewReader(bytes.NewReader(commonGz))
	if err != nil {
		return nil, fmt.Errorf("breached: reading the common-password list: %w", err)
	}
	defer zr.Close()
	common := make(map[string]struct{}, 20000)
	sc := bufio.NewScanner(zr)
	for sc.Scan() {
		// The same normalization as Check's, so a stray space or a
		// capital in the file could never make an entry unreachable.
		if w := normalize(sc.Text()); w != "" {
			common[w] = struct{}{}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("breached: reading the common-password list: %w", err)
	}
	return &Screener{common: common}, nil
}

// Len returns the number of distinct passwords on the list.
func (s *Screener) Len() int { return len(s.common) }

// IsCommon reports whether password, lower-cased and trimmed, is on the list
// of common passwords. At login it tells that the user should change the
// password, without refusing the login.
func (s *Screener) IsCommon(password string) bool {
	_, ok := s.common[normalize(password)]
	return ok
}

// Check returns "" when password is acceptable for the user with the given
// email address, or the reason to give the client when it is not: it is on
// the list of common passwords (compared lower-cased and trimmed, as
// Django's list is lower-case), or it is or contains the email address's
// local part, compared case-insensitively. The local-part rule applies only
// when the local part is at least 3 characters long (see minLocalPartLen).
// An empty email skips that rule.
func (s *Screener) Check(password, email string) string {
	if s.IsCommon(password) {
		return ReasonCommon
	}
	if local := localPart(email); utf8.RuneCountInString(local) >= minLocalPartLen &&
		strings.Contains(strings.ToLower(password), local) {
		return ReasonContainsName
	}
	return ""
}

func normalize(password string) string {
	return strings.ToLower(strings.TrimSpace(password))
}

// localPart returns the lower-cased part of email before its last "@", or ""
// when there is none.
func localPart(email string) string {
	email = strings.ToLower(strings.TrimSpace(email))
	at := strings.LastIndexByte(email, '@')
	if at < 0 {
		return ""
	}
	return email[:at]
}
