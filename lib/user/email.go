package user

import (
	"net/mail"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// NormalizeEmail folds an email address to the one form that is the user's
// document id, so every lookup must go through it: addresses that differ only
// in case, width or Unicode composition are one account everywhere in esauth.
//
// NFKC maps compatibility characters to what they stand for (fullwidth
// "ａｄａ" to "ada", the Kelvin sign to "K", "ﬁ" to "fi") and composes
// decomposed accents ("e" + U+0301 to "é"). It runs again after lower-casing
// because lowering can make a pair composable that was not before ("J" +
// U+030C has no composed form, "j" + U+030C is "ǰ"); without the second pass
// normalizing twice would not equal normalizing once. Invisible characters
// are left in place for ValidateEmail to refuse: silently dropping them would
// hide from the user that what they typed is not what we store.
func NormalizeEmail(s string) string {
	return strings.TrimSpace(norm.NFKC.String(strings.ToLower(norm.NFKC.String(s))))
}

// ValidateEmail checks a normalized email address and returns a message for
// the client, or "" when it is acceptable.
func ValidateEmail(email string) string {
	switch {
	case email == "":
		return "Email address is required."
	case !utf8.ValidString(email):
		return "Email address must be valid UTF-8."
	case utf8.RuneCountInString(email) > MaxEmailLen:
		return "Email address must be at most 254 characters."
	}
	addr, err := mail.ParseAddress(email)
	// ParseAddress accepts "Name <a@b.c>"; only a bare address is an email here.
	if err != nil || addr.Address != email || addr.Name != "" {
		return "Email address is not valid."
	}
	at := strings.LastIndexByte(email, '@')
	local, domain := email[:at], email[at+1:]
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "Email address must have a domain with a dot."
	}
	for _, r := range email {
		// Ids and paths carry the email; keep out characters that only cause trouble there.
		if r == '/' || r == '\\' || unicode.IsSpace(r) || unicode.IsControl(r) {
			return "Email address is not valid."
		}
	}
	for _, r := range email {
		if isInvisible(r) {
			return "Email address must not contain invisible characters."
		}
	}
	// A look-alike mixes scripts inside one word ("аda" with a Cyrillic а), so
	// each word is checked on its own: a Cyrillic local part at a Latin
	// domain is a real address, "pаypal" is not.
	if mixesScripts(local) {
		return "Email address mixes letters from different scripts."
	}
	for _, label := range strings.Split(domain, ".") {
		if mixesScripts(label) {
			return "Email address mixes letters from different scripts."
		}
	}
	return ""
}

// isInvisible reports whether r is drawn as nothing, so that two addresses
// differing only by it look the same: the format characters (category Cf:
// zero-width space and joiners, word joiner, byte-order mark, soft hyphen,
// bidirectional controls, tag characters), and the other default-ignorable
// code points NFKC keeps (variation selectors, the combining grapheme joiner,
// Hangul fillers).
func isInvisible(r rune) bool {
	return unicode.In(r, unicode.Cf, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point)
}

// mixesScripts reports whether the letters of s come from more than one
// script. Common and Inherited characters (digits, punctuation, most
// combining marks) belong to every script and are not counted. Every other
// character is, not only letters, because a digit of another script can pose
// as a Latin letter too (Arabic-Indic one "١" as "l").
func mixesScripts(s string) bool {
	seen := map[string]bool{}
	for _, r := range s {
		if sc := scriptOf(r); sc != "" {
			seen[sc] = true
		}
	}
	return len(seen) > 1 && !writtenTogether(seen)
}

// writtenTogether reports whether a set of several scripts is one that a
// language writes words in: Japanese mixes Han, Hiragana and Katakana,
// Chinese Han and Bopomofo, Korean Han and Hangul. These are the
// combinations Unicode's "highly restrictive" identifier profile (UTS #39,
// section 5.2) allows; without them a Japanese name could not be an address.
func writtenTogether(scripts map[string]bool) bool {
	japanese, chinese, korean := true, true, true
	for sc := range scripts {
		switch sc {
		case "Han":
		case "Hiragana", "Katakana":
			chinese, korean = false, false
		case "Bopomofo":
			japanese, korean = false, false
		case "Hangul":
			japanese, chinese = false, false
		default:
			return false
		}
	}
	return japanese || chinese || korean
}

// scriptOf returns the name of the script r belongs to, or "" for Common,
// Inherited and unassigned code points. The scripts of most addresses are
// tried first, so the full table is walked only for the rest.
func scriptOf(r rune) string {
	if r < utf8.RuneSelf {
		if unicode.IsLetter(r) {
			return "Latin"
		}
		return ""
	}
	for _, name := range []string{"Common", "Inherited", "Latin", "Cyrillic", "Greek"} {
		if unicode.Is(unicode.Scripts[name], r) {
			return scriptName(name)
		}
	}
	for name, table := range unicode.Scripts {
		if unicode.Is(table, r) {
			return scriptName(name)
		}
	}
	return ""
}

// scriptName maps the two scripts that mean "any script" to "".
func scriptName(name string) string {
	if name == "Common" || name == "Inherited" {
		return ""
	}
	return name
}
