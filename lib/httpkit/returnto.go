package httpkit

import (
	"net/url"
	"strings"
)

// SafeReturnTo accepts only a path on this site: "/…" but not "//…" or
// "/\…" (which browsers read as another host), no scheme, no host, no
// control characters. Empty is "/".
func SafeReturnTo(v string) (string, bool) {
	if v == "" {
		return "/", true
	}
	if len(v) > 2048 || !strings.HasPrefix(v, "/") || strings.HasPrefix(v, "//") || strings.HasPrefix(v, "/\\") || strings.ContainsRune(v, '\\') {
		return "", false
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return "", false
		}
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "", false
	}
	return v, true
}
