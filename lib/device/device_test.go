package device

import "testing"

func TestFamily(t *testing.T) {
	for _, c := range []struct{ ua, want string }{
		{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "Chrome on Windows"},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "Edge on Windows"},
		{"Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "Chrome on Android"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iOS"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "Safari on macOS"},
		{"curl/8.5.0", "curl"},
		{"MyApp/2.1 (build 7)", "MyApp"},
		{"", ""},
		{"Linux", "Linux"},
	} {
		if got := Family(c.ua); got != c.want {
			t.Errorf("Family(%q) = %q, want %q", c.ua, got, c.want)
		}
	}
	// A browser update is the same family.
	if Family("Mozilla/5.0 (X11; Linux x86_64; rv:129.0) Gecko/20100101 Firefox/129.0") != Family("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0") {
		t.Error("a new version of the same browser is another family")
	}
	long := "A" + string(make([]byte, 200))
	if got := Family(long); len(got) > maxFamily {
		t.Errorf("an unknown product of %d bytes gives a family of %d", len(long), len(got))
	}
}

func TestNetwork(t *testing.T) {
	for _, c := range []struct{ ip, want string }{
		{"203.0.113.77", "203.0.113.0/24"},
		{"::ffff:203.0.113.77", "203.0.113.0/24"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64"},
		{"fe80::1%eth0", "fe80::/64"},
		{"", ""},
		{"not an address", ""},
		{"10.0.0.0/8", ""},
	} {
		if got := Network(c.ip); got != c.want {
			t.Errorf("Network(%q) = %q, want %q", c.ip, got, c.want)
		}
	}
}
