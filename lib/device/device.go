// Package device names the client of a login coarsely enough to recognise
// it next time: the browser family and operating system from the user
// agent ("Firefox on Linux"), and the network of the address (the /24 of
// an IPv4 address, the /64 of an IPv6 one). A new sign-in notice compares
// these, not the exact strings, so a browser update or a new address from
// the same provider's pool is not "a new device".
package device

import (
	"net/netip"
	"strings"
)

// browsers are matched in order: the first token found names the family.
// Chromium-based browsers carry "Chrome/" and often "Safari/" too, so the
// more specific tokens come first.
var browsers = []struct{ token, name string }{
	{"Edg/", "Edge"}, {"EdgA/", "Edge"}, {"EdgiOS/", "Edge"},
	{"OPR/", "Opera"}, {"SamsungBrowser/", "Samsung Internet"},
	{"Firefox/", "Firefox"}, {"FxiOS/", "Firefox"},
	{"CriOS/", "Chrome"}, {"Chromium/", "Chromium"}, {"Chrome/", "Chrome"},
	{"Safari/", "Safari"},
	{"curl/", "curl"}, {"Wget/", "Wget"}, {"Go-http-client/", "Go"},
	{"python-requests/", "Python"}, {"okhttp/", "OkHttp"},
}

var systems = []struct{ token, name string }{
	{"Android", "Android"}, {"iPhone", "iOS"}, {"iPad", "iOS"}, {"CrOS", "ChromeOS"},
	{"Windows", "Windows"}, {"Macintosh", "macOS"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
}

// maxFamily bounds a family made of an unknown product name.
const maxFamily = 40

// Family is the browser (or client) family and operating system of a
// user agent: "Chrome on Android", "curl", "" for none.
func Family(ua string) string {
	name := ""
	for _, b := range browsers {
		if strings.Contains(ua, b.token) {
			name = b.name
			break
		}
	}
	if name == "" {
		// An unknown client: its first product token, without version.
		name, _, _ = strings.Cut(strings.TrimSpace(ua), "/")
		name, _, _ = strings.Cut(name, " ")
		if len(name) > maxFamily {
			name = name[:maxFamily]
		}
	}
	for _, s := range systems {
		if strings.Contains(ua, s.token) {
			if name == "" || name == s.name {
				return s.name
			}
			return name + " on " + s.name
		}
	}
	return name
}

// Network is the network of an address: "203.0.113.0/24", "2001:db8::/64",
// "" for what is not an address.
func Network(ip string) string {
	addr, err := netip.ParseAddr(ip)
	if err != nil {
		return ""
	}
	addr = addr.Unmap().WithZone("")
	bits := 64
	if addr.Is4() {
		bits = 24
	}
	p, _ := addr.Prefix(bits)
	return p.String()
}
