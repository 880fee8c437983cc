package user_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"esauth/lib/user"
)

// FuzzNormalizeEmail checks email normalization and validation on any
// input: normalizing is idempotent, and an address that validates is
// lower-case, in NFKC, valid UTF-8, at most 254 characters, has one local
// part and a dotted domain, and holds no space, control character or slash
// (it becomes a document id and a URL path segment) and no format character
// (those are invisible, so an address holding one would look like another).
func FuzzNormalizeEmail(f *testing.F) {
	for _, seed := range []string{
		"Ada@Example.com", "  ada@example.com\t", "a@b", "a@b.c", "\"quoted local\"@example.com",
		"Name <a@example.com>", "a/b@example.com", "a@example.com.", "\xff@example.com", "İ@example.com",
		strings.Repeat("a", 250) + "@example.com", "a@@example.com", "a@exa mple.com",
		"ａｄａ@ｅｘａｍｐｌｅ.ｃｏｍ", "jose\u0301@example.com", "J\u030cosh@example.com", "\u212aelvin@example.com",
		"\ufb01nn@example.com", "\u0430da@example.com", "ada@example.com\u200b", "\u202eada@example.com",
		"иван@пример.рф", "山田たろう@example.jp",
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
		case !norm.NFKC.IsNormalString(n):
			t.Fatalf("accepted an address that is not in NFKC: %q", n)
		}
		at := strings.LastIndexByte(n, '@')
		if at <= 0 || !strings.Contains(n[at+1:], ".") {
			t.Fatalf("accepted %q without a local part and a dotted domain", n)
		}
		for _, r := range n {
			if unicode.IsSpace(r) || unicode.IsControl(r) {
				t.Fatalf("accepted space or control %q in %q", r, n)
			}
			if unicode.Is(unicode.Cf, r) {
				t.Fatalf("accepted format character %U in %q", r, n)
			}
		}
	})
}
