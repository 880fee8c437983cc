package elastic_test

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"esauth/lib/elastic/estest"
	"esauth/lib/errs"
	"esauth/lib/seal"
	"esauth/lib/user"
)

func ring(t *testing.T, spec string) *seal.Ring {
	t.Helper()
	r, err := seal.Parse(spec)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func dataKey(b byte) string {
	return base64.StdEncoding.EncodeToString([]byte(strings.Repeat(string(rune('A'+b)), 32)))
}

const clearSecret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"

func totpUser(email string) user.User {
	t := time.Now().UTC()
	return user.User{Email: email, Role: user.RoleUser, IsActive: true, CreatedAt: t, SessionEpoch: user.NewEpoch(),
		TOTPSecret: clearSecret, TOTPEnabledAt: t}
}

// rawUser is the user's document as Elasticsearch holds it.
func rawUser(t *testing.T, index, email string) string {
	t.Helper()
	return estest.MustDo(t, "GET", "/"+index+"/_doc/"+email+"?_source_includes=totp_secret", "")
}

// With ESAUTH_DATA_KEYS a TOTP secret is sealed in the document and opened
// on read; a document written in clear before the keys is read as it is,
// sealed on its next write or by ResealSecrets; rotation keeps it opening;
// a key the ring lacks, or a wrong one, is a 503 naming the problem, never
// a secret taken as it is (issue 19).
func TestTOTPSecretsAreSealedAtRestAndRotate(t *testing.T) {
	estest.Require(t)
	ctx := context.Background()
	k1, k2 := "k1:"+dataKey(1), "k2:"+dataKey(2)
	cfg := estest.Config()
	clear := estest.NewWith(t, cfg) // before the keys: stored as it is
	if err := clear.CreateUser(ctx, totpUser("old@example.com")); err != nil {
		t.Fatal(err)
	}
	cfg.Secrets = ring(t, k1)
	s1 := estest.NewWith(t, cfg)
	if err := s1.CreateUser(ctx, totpUser("new@example.com")); err != nil {
		t.Fatal(err)
	}
	if raw := rawUser(t, s1.UsersIndex(), "new@example.com"); strings.Contains(raw, clearSecret) || !strings.Contains(raw, "esauth-sealed:1:k1:") {
		t.Errorf("the stored document holds %s", raw)
	}
	if raw := rawUser(t, s1.UsersIndex(), "old@example.com"); !strings.Contains(raw, clearSecret) {
		t.Fatalf("the document from before the keys: %s", raw)
	}
	for _, email := range []string{"new@example.com", "old@example.com"} {
		if u, err := s1.GetUser(ctx, email); err != nil || u.TOTPSecret != clearSecret {
			t.Errorf("%s read with the keys: %q, %v", email, u.TOTPSecret, err)
		}
		if u, _, _, err := s1.LookupCode(ctx, email, false); err != nil || u.TOTPSecret != clearSecret {
			t.Errorf("%s looked up for its code: %q, %v", email, u.TOTPSecret, err)
		}
	}

	// Rotation: k2 first; ResealSecrets seals both with it; then k1 goes.
	cfg.Secrets = ring(t, k2+","+k1)
	s2 := estest.NewWith(t, cfg)
	n, err := s2.ResealSecrets(ctx)
	if err != nil || n != 2 {
		t.Fatalf("ResealSecrets = %d, %v; want both users", n, err)
	}
	if n, err := s2.ResealSecrets(ctx); err != nil || n != 0 {
		t.Errorf("a second ResealSecrets = %d, %v; want none left", n, err)
	}
	cfg.Secrets = ring(t, k2)
	s3 := estest.NewWith(t, cfg)
	for _, email := range []string{"new@example.com", "old@example.com"} {
		if raw := rawUser(t, s3.UsersIndex(), email); strings.Contains(raw, clearSecret) || !strings.Contains(raw, "esauth-sealed:1:k2:") {
			t.Errorf("%s after the rotation: %s", email, raw)
		}
		if u, err := s3.GetUser(ctx, email); err != nil || u.TOTPSecret != clearSecret {
			t.Errorf("%s with only the new key: %q, %v", email, u.TOTPSecret, err)
		}
	}

	// The old key alone, a wrong key under the right id, or no keys at all.
	for _, spec := range []string{k1, "k2:" + dataKey(3), ""} {
		cfg.Secrets = ring(t, spec)
		s := estest.NewWith(t, cfg)
		if _, err := s.GetUser(ctx, "new@example.com"); !errs.Is(err, errs.Unavailable) || !strings.Contains(err.Error(), "ESAUTH_DATA_KEYS") {
			t.Errorf("keys %q: GetUser = %v; want unavailable naming ESAUTH_DATA_KEYS", spec, err)
		}
		if _, _, _, err := s.LookupLogin(ctx, "new@example.com", false); !errs.Is(err, errs.Unavailable) {
			t.Errorf("keys %q: LookupLogin = %v; want unavailable", spec, err)
		}
	}
	if n, err := s3.UsersWithSecondFactor(ctx); err != nil || n != 2 {
		t.Errorf("UsersWithSecondFactor = %d, %v; want 2", n, err)
	}
}
