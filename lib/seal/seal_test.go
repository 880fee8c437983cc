package seal

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func key(b byte) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(rune('a'+b%26)), 32)))
}

func TestSealedValuesOpenWithTheirKeyAndContextOnly(t *testing.T) {
	old, err := Parse("k1:" + key(1))
	if err != nil {
		t.Fatal(err)
	}
	v, err := old.Seal("JBSWY3DPEHPK3PXP", "totp:a@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if !IsSealed(v) || KeyOf(v) != "k1" || strings.Contains(v, "JBSWY3DPEHPK3PXP") {
		t.Fatalf("sealed %q", v)
	}
	rotated, _ := Parse("k2:" + key(2) + ",k1:" + key(1))
	tests := []struct {
		name    string
		ring    *Ring
		context string
		want    string
		err     error
	}{
		{"its key opens it", old, "totp:a@example.com", "JBSWY3DPEHPK3PXP", nil},
		{"a ring that still holds its key opens it", rotated, "totp:a@example.com", "JBSWY3DPEHPK3PXP", nil},
		{"another user's context does not", old, "totp:b@example.com", "", ErrOpen},
		{"a ring without its key does not", mustParse(t, "k2:"+key(2)), "totp:a@example.com", "", ErrNoKey},
		{"another key under the same id does not", mustParse(t, "k1:"+key(3)), "totp:a@example.com", "", ErrOpen},
		{"no ring does not", nil, "totp:a@example.com", "", ErrNoKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.ring.Open(v, tt.context)
			if got != tt.want || !errors.Is(err, tt.err) && !(err == nil && tt.err == nil) {
				t.Errorf("Open = %q, %v; want %q, %v", got, err, tt.want, tt.err)
			}
		})
	}
	if again, _ := rotated.Seal("JBSWY3DPEHPK3PXP", "totp:a@example.com"); KeyOf(again) != "k2" {
		t.Errorf("a rotated ring seals with %q; want its first key k2", KeyOf(again))
	}
	if _, err := old.Open(v[:len(v)-2]+"AA", "totp:a@example.com"); !errors.Is(err, ErrOpen) {
		t.Errorf("a changed value: %v", err)
	}
}

func mustParse(t *testing.T, s string) *Ring {
	t.Helper()
	r, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestParseRefusesBadRings(t *testing.T) {
	for _, s := range []string{"nokey", "k1:short", "k1:" + key(1) + ",k1:" + key(2), "bad id:" + key(1), ":" + key(1)} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted it", s)
		}
	}
	if r, err := Parse(""); r != nil || err != nil {
		t.Errorf("Parse(\"\") = %v, %v; want no ring", r, err)
	}
}
