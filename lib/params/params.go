// Package params reads the typed values of the console's filters (times,
// networks, yes-or-no) from the text that the API's query strings, the
// pages' forms and the command line's flags all give: one reading for
// every surface, so a value means the same wherever it is typed.
package params

import (
	"net/netip"
	"strings"
	"time"
)

// Network reads an address (as its own /32 or /128) or a CIDR
// network, masked to its prefix.
func Network(s string) (netip.Prefix, bool) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, false
		}
		return p.Masked(), true
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, false
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), true
}

// MaxTime is the last instant a filter names: RFC 3339 writes no year
// after 9999.
var MaxTime = time.Date(9999, 12, 31, 23, 59, 59, 999_999_999, time.UTC)

// Time reads RFC 3339 or a date; a date that ends a range (end)
// means the end of its day. "" is the zero time. Years outside 1970–9999
// are refused: no event is older than Unix time, and the store's dates
// end at 9999.
func Time(s string, end bool) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		d, derr := time.Parse(time.DateOnly, s)
		if derr != nil {
			return time.Time{}, false
		}
		t = d
		if end {
			if t = t.AddDate(0, 0, 1); t.After(MaxTime) {
				t = MaxTime
			}
		}
	}
	t = t.UTC()
	if t.Year() < 1970 || t.After(MaxTime) {
		return time.Time{}, false
	}
	return t, true
}

// Bool reads "true" or "false"; "" is nil (no preference).
func Bool(s string) (*bool, bool) {
	switch strings.TrimSpace(s) {
	case "":
		return nil, true
	case "true":
		b := true
		return &b, true
	case "false":
		b := false
		return &b, true
	}
	return nil, false
}
