package elastic

import (
	"encoding/json"
	"strconv"
	"time"
)

// The loader's _mget answer is decoded on every request with a cookie, and
// encoding/json (which validates the whole answer, then walks it again by
// reflection) was the largest piece of esauth's own CPU on that path. This
// file decodes exactly that answer, two entries of mgetDoc[loadSource], in
// one pass without reflection.
//
// It is a fast path, not a second JSON decoder: whatever it is not sure
// of (a null, a key with escapes, a repeated or case-folded key, an
// entry's error, deep nesting) makes it give up, and
// the caller decodes the same bytes with encoding/json. When it succeeds,
// its result is what encoding/json would have produced, and it accepts
// only valid JSON; FuzzLoadAnswer checks both against encoding/json.

// decodeLoadDocs decodes an answer of exactly two entries (the loader's)
// into docs, reporting false (with docs left zero) when the caller must
// use encoding/json instead.
func decodeLoadDocs(b []byte, docs *[2]mgetDoc[loadSource]) bool {
	d := loadDecoder{b: b}
	n, _, ok := d.answer(docs[:])
	ok = ok && d.end() && n == len(docs)
	if !ok {
		*docs = [2]mgetDoc[loadSource]{}
	}
	return ok
}

// maxDepth bounds the nesting the decoder follows in values it skips; an
// answer deeper than that goes to encoding/json.
const maxDepth = 32

type loadDecoder struct {
	b []byte
	i int
}

func (d *loadDecoder) ws() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips white space and returns the next byte (0 at the end).
func (d *loadDecoder) next() byte {
	d.ws()
	if d.i < len(d.b) {
		return d.b[d.i]
	}
	return 0
}

func (d *loadDecoder) eat(c byte) bool {
	if d.next() == c {
		d.i++
		return true
	}
	return false
}

// end reports whether only white space is left.
func (d *loadDecoder) end() bool {
	d.ws()
	return d.i == len(d.b)
}

// str scans a string and returns its bytes between the quotes, and
// whether they are plain: printable ASCII without escapes, so they are the
// string's value as they stand. ok is false for invalid JSON.
func (d *loadDecoder) str() (raw []byte, plain, ok bool) {
	if !d.eat('"') {
		return nil, false, false
	}
	start := d.i
	plain = true
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			raw = d.b[start:d.i]
			d.i++
			return raw, plain, true
		case c < 0x20:
			return nil, false, false
		case c == '\\':
			plain = false
			d.i++
			if d.i >= len(d.b) {
				return nil, false, false
			}
			switch d.b[d.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.i++
			case 'u':
				if d.i+5 > len(d.b) {
					return nil, false, false
				}
				for _, h := range d.b[d.i+1 : d.i+5] {
					if !isHex(h) {
						return nil, false, false
					}
				}
				d.i += 5
			default:
				return nil, false, false
			}
		case c >= 0x80:
			plain = false
			d.i++
		default:
			d.i++
		}
	}
	return nil, false, false
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// number scans a JSON number and returns its text.
func (d *loadDecoder) number() ([]byte, bool) {
	d.ws()
	start := d.i
	digits := func() bool {
		n := d.i
		for d.i < len(d.b) && '0' <= d.b[d.i] && d.b[d.i] <= '9' {
			d.i++
		}
		return d.i > n
	}
	if d.i < len(d.b) && d.b[d.i] == '-' {
		d.i++
	}
	if d.i < len(d.b) && d.b[d.i] == '0' {
		d.i++
	} else if !digits() {
		return nil, false
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if !digits() {
			return nil, false
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if !digits() {
			return nil, false
		}
	}
	return d.b[start:d.i], true
}

func (d *loadDecoder) literal(word string) bool {
	d.ws()
	if len(d.b)-d.i >= len(word) && string(d.b[d.i:d.i+len(word)]) == word {
		d.i += len(word)
		return true
	}
	return false
}

// skip scans any value and reports whether it is valid JSON.
func (d *loadDecoder) skip(depth int) bool {
	if depth > maxDepth {
		return false
	}
	switch d.next() {
	case '"':
		_, _, ok := d.str()
		return ok
	case '{':
		d.i++
		if d.eat('}') {
			return true
		}
		for {
			if _, _, ok := d.str(); !ok || !d.eat(':') || !d.skip(depth+1) {
				return false
			}
			if d.eat('}') {
				return true
			}
			if !d.eat(',') {
				return false
			}
		}
	case '[':
		d.i++
		if d.eat(']') {
			return true
		}
		for {
			if !d.skip(depth + 1) {
				return false
			}
			if d.eat(']') {
				return true
			}
			if !d.eat(',') {
				return false
			}
		}
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		_, ok := d.number()
		return ok
	}
}

// object scans an object, calling field for each key with the decoder
// before the value; field consumes the value and reports success. Keys
// that are not plain give up.
func (d *loadDecoder) object(field func(key []byte) bool) bool {
	if !d.eat('{') {
		return false
	}
	if d.eat('}') {
		return true
	}
	for {
		key, plain, ok := d.str()
		if !ok || !plain || !d.eat(':') || !field(key) {
			return false
		}
		if d.eat('}') {
			return true
		}
		if !d.eat(',') {
			return false
		}
	}
}

// unknown handles a key the target has no field for: encoding/json would
// ignore it, unless it matches a field case-insensitively, in which case
// the fast path gives up.
func (d *loadDecoder) unknown(key []byte, known []string) bool {
	for _, k := range known {
		if asciiEqualFold(key, k) {
			return false
		}
	}
	return d.skip(1)
}

// asciiEqualFold is strings.EqualFold for an ASCII key (object only
// reaches here with plain keys), without converting it to a string.
func asciiEqualFold(key []byte, k string) bool {
	if len(key) != len(k) {
		return false
	}
	for i := range len(key) {
		a, b := key[i], k[i]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
	}
	return true
}

// seen records key number n of an object, giving up on a repeated one
// (encoding/json's merging of repeated keys is not worth copying).
func seen(mask *uint32, n int) bool {
	if *mask&(1<<n) != 0 {
		return false
	}
	*mask |= 1 << n
	return true
}

// text decodes a string. One with escapes or non-ASCII bytes (a name
// like José) is handed to encoding/json alone, which unescapes it and
// replaces invalid UTF-8 exactly as it would in the whole answer.
func (d *loadDecoder) text(dst *string) bool {
	d.ws()
	start := d.i
	raw, plain, ok := d.str()
	switch {
	case !ok:
		return false
	case plain:
		*dst = string(raw)
		return true
	}
	var v string // not dst itself, which would then escape on every call
	if json.Unmarshal(d.b[start:d.i], &v) != nil {
		return false
	}
	*dst = v
	return true
}

func (d *loadDecoder) boolean(dst *bool) bool {
	switch d.next() {
	case 't':
		*dst = true
		return d.literal("true")
	case 'f':
		*dst = false
		return d.literal("false")
	}
	return false
}

func (d *loadDecoder) int64(dst *int64) bool {
	text, ok := d.number()
	if !ok {
		return false
	}
	n, err := strconv.ParseInt(string(text), 10, 64)
	*dst = n
	return err == nil
}

// time decodes a timestamp as time.Time's own UnmarshalJSON does.
func (d *loadDecoder) time(dst *time.Time) bool {
	d.ws()
	start := d.i
	if _, plain, ok := d.str(); !ok || !plain {
		return false
	}
	return dst.UnmarshalJSON(d.b[start:d.i]) == nil
}

var (
	answerKeys = []string{"docs"}
	docKeys    = []string{"_id", "found", "_seq_no", "_primary_term", "_source", "error"}
	sourceKeys = []string{
		"id", "email_address", "created_at", "expires_at", "last_seen_at", "remember", "user_agent", "ip", "user_epoch",
		"first_name", "last_name", "role", "is_active", "updated_at", "session_epoch",
		"second_factor", "pending", "email_verified_at", "totp_enabled_at",
	}
)

// answer walks the answer's object, decoding its entries into slots and
// giving up when there are more. It returns how many it decoded and
// whether the answer had a "docs" key.
func (d *loadDecoder) answer(slots []mgetDoc[loadSource]) (n int, hasDocs, ok bool) {
	var keys uint32
	ok = d.object(func(key []byte) bool {
		if string(key) != "docs" {
			return d.unknown(key, answerKeys)
		}
		if !seen(&keys, 0) || !d.eat('[') {
			return false
		}
		if d.eat(']') {
			return true
		}
		for {
			if n == len(slots) || !d.doc(&slots[n]) {
				return false
			}
			n++
			if d.eat(']') {
				return true
			}
			if !d.eat(',') {
				return false
			}
		}
	})
	return n, keys&1 != 0, ok
}

func (d *loadDecoder) doc(doc *mgetDoc[loadSource]) bool {
	var keys uint32
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "_id":
			return seen(&keys, 0) && d.text(&doc.ID)
		case "found":
			return seen(&keys, 1) && d.boolean(&doc.Found)
		case "_seq_no":
			return seen(&keys, 2) && d.int64(&doc.SeqNo)
		case "_primary_term":
			return seen(&keys, 3) && d.int64(&doc.PrimaryTerm)
		case "_source":
			return seen(&keys, 4) && d.source(&doc.Source)
		case "error":
			return false // a failed entry is rare: encoding/json reads it
		}
		return d.unknown(key, docKeys)
	})
}

func (d *loadDecoder) source(s *loadSource) bool {
	var keys uint32
	return d.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return seen(&keys, 0) && d.text(&s.ID)
		case "email_address":
			return seen(&keys, 1) && d.text(&s.Email)
		case "created_at":
			return seen(&keys, 2) && d.time(&s.CreatedAt)
		case "expires_at":
			return seen(&keys, 3) && d.time(&s.ExpiresAt)
		case "last_seen_at":
			return seen(&keys, 4) && d.time(&s.LastSeenAt)
		case "remember":
			return seen(&keys, 5) && d.boolean(&s.Remember)
		case "user_agent":
			return seen(&keys, 6) && d.text(&s.UserAgent)
		case "ip":
			return seen(&keys, 7) && d.text(&s.IP)
		case "user_epoch":
			return seen(&keys, 8) && d.text(&s.UserEpoch)
		case "first_name":
			return seen(&keys, 9) && d.text(&s.FirstName)
		case "last_name":
			return seen(&keys, 10) && d.text(&s.LastName)
		case "role":
			return seen(&keys, 11) && d.text(&s.Role)
		case "is_active":
			return seen(&keys, 12) && d.boolean(&s.IsActive)
		case "updated_at":
			return seen(&keys, 13) && d.time(&s.UpdatedAt)
		case "session_epoch":
			return seen(&keys, 14) && d.text(&s.SessionEpoch)
		case "second_factor":
			return seen(&keys, 15) && d.boolean(&s.SecondFactor)
		case "pending":
			return seen(&keys, 16) && d.boolean(&s.Pending)
		case "email_verified_at":
			return seen(&keys, 17) && d.time(&s.EmailVerifiedAt)
		case "totp_enabled_at":
			return seen(&keys, 18) && d.time(&s.TOTPEnabledAt)
		}
		return d.unknown(key, sourceKeys)
	})
}
