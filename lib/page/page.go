// Package page is the keyset paging shared by every list esauth answers
// (sessions, audit events): a page ends at the sort values of its last
// item, newest first, and the next page starts after them. Clients see the
// cursor as an opaque string.
package page

import (
	"encoding/base64"
	"encoding/json"
	"errors"
)

// Cursor is where a page ends: the time of its last item in milliseconds,
// then the item's id, which breaks ties between items of the same
// millisecond.
type Cursor struct {
	AtMillis int64
	ID       string
}

// ErrBadCursor means a cursor string was not made by Encode.
var ErrBadCursor = errors.New("page: not a cursor")

// Encode makes c opaque for clients ("" for nil: there is no next page).
func Encode(c *Cursor) string {
	if c == nil {
		return ""
	}
	b, _ := json.Marshal([]any{c.AtMillis, c.ID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// Decode reads a cursor made by Encode; "" is nil (the first page).
func Decode(s string) (*Cursor, error) {
	if s == "" {
		return nil, nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) > 256 {
		return nil, ErrBadCursor
	}
	var v []json.RawMessage
	var c Cursor
	if json.Unmarshal(b, &v) != nil || len(v) != 2 || json.Unmarshal(v[0], &c.AtMillis) != nil ||
		json.Unmarshal(v[1], &c.ID) != nil || c.ID == "" {
		return nil, ErrBadCursor
	}
	return &c, nil
}

// MaxSize is the largest page a list answers.
const MaxSize = 200

// Collect pages through a list with fetch (at most MaxSize a page) until
// it has limit items or the list ends: for callers that want a number of
// items rather than a page (the command line).
func Collect[T any](limit int, fetch func(after *Cursor, size int) ([]T, *Cursor, error)) ([]T, error) {
	var out []T
	var after *Cursor
	for len(out) < limit {
		batch, next, err := fetch(after, min(limit-len(out), MaxSize))
		if err != nil {
			return nil, err
		}
		out = append(out, batch...)
		if next == nil {
			break
		}
		after = next
	}
	return out, nil
}
