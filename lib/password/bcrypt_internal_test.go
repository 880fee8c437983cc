package password

import (
	"errors"
	"testing"
)

func TestDecodeBcryptBoundsTheCostAndRewrites2y(t *testing.T) {
	const rest = "$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"
	tests := []struct {
		name    string
		encoded string
		want    string // "" means ErrMalformed
	}{
		{"cost 04, bcrypt's minimum, is accepted", "$2a$04" + rest, "$2a$04" + rest},
		{"cost 16, the bound, is accepted", "$2b$16" + rest, "$2b$16" + rest},
		{"cost 17, over the bound, is refused", "$2b$17" + rest, ""},
		{"cost 99 is refused", "$2a$99" + rest, ""},
		{"$2y$ is rewritten to the equivalent $2a$", "$2y$10" + rest, "$2a$10" + rest},
		{"$2b$ is kept as it is", "$2b$10" + rest, "$2b$10" + rest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeBcrypt(tt.encoded)
			if tt.want == "" {
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("decodeBcrypt(%q) = %q, %v; want ErrMalformed", tt.encoded, got, err)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Errorf("decodeBcrypt(%q) = %q, %v; want %q, nil", tt.encoded, got, err, tt.want)
			}
		})
	}
}
