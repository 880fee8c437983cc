package totp_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"esauth/lib/totp"
)

func TestGenerateMakesAKeyAnAppCanRead(t *testing.T) {
	k, err := totp.Generate("esauth", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	u, err := url.Parse(k.URI)
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") != k.Secret || u.Query().Get("issuer") != "esauth" {
		t.Errorf("URI %q", k.URI)
	}
	if len(k.Secret) != 32 { // 160 bits in base32
		t.Errorf("secret of %d characters", len(k.Secret))
	}
	if !strings.HasPrefix(k.QRDataURL, "data:image/png;base64,iVBOR") {
		t.Errorf("QR code %.40q is not a PNG data URL", k.QRDataURL)
	}
	other, _ := totp.Generate("esauth", "ada@example.com")
	if other.Secret == k.Secret {
		t.Error("two keys share a secret")
	}
}

func TestCheckAcceptsOneStepOfSkewAndEachCodeOnce(t *testing.T) {
	k, err := totp.Generate("esauth", "ada@example.com")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 12, 0, 10, 0, time.UTC)
	code := func(d time.Duration) string {
		c, err := totp.Code(k.Secret, now.Add(d))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	cur := totp.Step(now)
	for _, tt := range []struct {
		name     string
		code     string
		lastStep int64
		want     bool
		step     int64
	}{
		{"the current code", code(0), 0, true, cur},
		{"the previous step's code (one step of skew)", code(-totp.Period), 0, true, cur - 1},
		{"the next step's code", code(totp.Period), 0, true, cur + 1},
		{"two steps back is refused", code(-2 * totp.Period), 0, false, 0},
		{"two steps ahead is refused", code(2 * totp.Period), 0, false, 0},
		{"a code already used (its step is the last one) is refused", code(0), cur, false, 0},
		{"an earlier step than the last one used is refused", code(-totp.Period), cur, false, 0},
		{"the next step after the last one used is accepted", code(totp.Period), cur, true, cur + 1},
		{"a wrong code", "000000", 0, code(0) == "000000", cur},
		{"five digits", code(0)[:5], 0, false, 0},
		{"seven digits", code(0) + "1", 0, false, 0},
		{"letters", "12a456", 0, false, 0},
		{"an empty code", "", 0, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			step, ok := totp.Check(k.Secret, tt.code, now, tt.lastStep)
			if ok != tt.want || (ok && step != tt.step) {
				t.Errorf("Check = %d, %v; want %d, %v", step, ok, tt.step, tt.want)
			}
		})
	}
}

func TestRecoveryCodesAreSingleFormsOfHighEntropy(t *testing.T) {
	codes, hashes := totp.RecoveryCodes()
	if len(codes) != totp.RecoveryCodeCount || len(hashes) != len(codes) {
		t.Fatalf("%d codes, %d hashes", len(codes), len(hashes))
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if len(c) != 19 || strings.Count(c, "-") != 3 || seen[c] {
			t.Errorf("code %q", c)
		}
		seen[c] = true
		if strings.Contains(hashes[i], c) || hashes[i] != totp.HashRecoveryCode(c) {
			t.Errorf("hash %q of %q", hashes[i], c)
		}
	}
	typed := strings.ToLower(strings.ReplaceAll(codes[3], "-", " "))
	if got := totp.MatchRecoveryCode(hashes, typed); got != 3 {
		t.Errorf("the fourth code typed in lower case with spaces matched %d", got)
	}
	if got := totp.MatchRecoveryCode(hashes, "AAAA-AAAA-AAAA-AAAA"); got != -1 {
		t.Errorf("a made-up code matched %d", got)
	}
}
