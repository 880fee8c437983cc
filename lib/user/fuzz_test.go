package user_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"esauth/lib/user"
)

// FuzzNormalizeEmail checks email normalization and validation on any
// input: normalizing is idempotent, and an address that validates is
// lower-case, valid UTF-8, at most 254 characters, has one local part and a
// dotted domain, and holds no space, control character or slash (it
// becomes a document id and a URL path segment).
func FuzzNormalizeEmail(f *testing.F) {
	for _, seed := range []string{
		"Ada@Example.com", "  ada@example.com\t", "a@b", "a@b.c", "\"quoted local\"@example.com",
		"Name <a@example.com>", "a/b@example.com", "a@example.com.", "\xff@example.com", "İ@example.com",
		strings.Repeat("a", 250) + "@example.com", "a@@example.com", "a@exa mple.com",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := user.NormalizeEmail(s)
		if user.NormalizeEmail(n) != n {
			t.Fatalf("not idempotent: %q → %q → %q", s, n, user.NormalizeEmail(n))
		}
		if user.ValidateEmail(n) != "" {
			return
		}
		switch {
		case !utf8.ValidString(n):
			t.Fatalf("accepted invalid UTF-8 %q", n)
		case utf8.RuneCountInString(n) > user.MaxEmailLen:
			t.Fatalf("accepted %d characters", utf8.RuneCountInString(n))
		case strings.ToLower(n) != n:
			t.Fatalf("accepted a normalized address that is not lower-case: %q", n)
		case strings.ContainsAny(n, "/\\"):
			t.Fatalf("accepted a slash: %q", n)
		}
		at := strings.LastIndexByte(n, '@')
		if at <= 0 || !strings.Contains(n[at+1:], ".") {
			t.Fatalf("accepted %q without a local part and a dotted domain", n)
		}
		for _, r := range n {
			if unicode.IsSpace(r) || unicode.IsControl(r) {
				t.Fatalf("accepted space or control %q in %q", r, n)
			}
		}
	})
}
