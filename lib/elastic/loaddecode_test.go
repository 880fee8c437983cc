package elastic

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// loadAnswerSample is a real answer of the loader's _mget (Elasticsearch
// 8.19), session first, then user.
const loadAnswerSample = `{"docs":[{"_index":"esauth-sessions","_id":"ceb57d009f73f41c4cac3e649d09688cf32c8f33cab3f09034d2a142ec6c517c","_version":1,"_seq_no":0,"_primary_term":1,"found":true,"_source":{"id":"ceb57d009f73f41c4cac3e649d09688cf32c8f33cab3f09034d2a142ec6c517c","email_address":"ada@example.com","created_at":"2026-12-01T10:05:08.828570924Z","expires_at":"2026-12-01T22:05:08.828570924Z","last_seen_at":"2026-12-01T10:05:08.828570924Z","remember":false,"user_agent":"curl/7.88.1","ip":"127.0.0.1","user_epoch":"981035e0b4f0bbc3ea9d1947c52ff9cb"}},{"_index":"esauth-users","_id":"ada@example.com","_version":1,"_seq_no":0,"_primary_term":1,"found":true,"_source":{"email_address":"ada@example.com","first_name":"A","last_name":"L","password_hash":"$argon2id$v=19$m=19456,t=2,p=1$sZBKFuvv9A+wtAln73X/fQ$rXlF28DVAPX4eMFVvMwf0iYU8uQn7reYY1R9+PrBEKo","role":"user","is_active":true,"created_at":"2026-12-01T10:05:08.75421692Z","updated_at":"2026-12-01T10:05:08.75421692Z","password_changed_at":"2026-12-01T10:05:08.75421692Z","session_epoch":"981035e0b4f0bbc3ea9d1947c52ff9cb"}}]}`

// decodeLoadAnswer is the fast path over answers of up to 64 entries,
// decoding into a slice as encoding/json does (nil without "docs", empty
// for "docs":[]), so that answers of any length, not only the loader's
// two, can be compared with encoding/json. It reports false (with a left
// zero) when the fast path gives up.
func decodeLoadAnswer(b []byte, a *mgetAnswer[loadSource]) bool {
	d := loadDecoder{b: b}
	slots := make([]mgetDoc[loadSource], 64)
	n, hasDocs, ok := d.answer(slots)
	if !ok || !d.end() {
		*a = mgetAnswer[loadSource]{}
		return false
	}
	if hasDocs {
		a.Docs = slots[:n:n]
	}
	return true
}

// checkLoadAnswer decodes b both ways and fails when the fast path
// succeeds where encoding/json fails or disagrees with it. It returns
// whether the fast path took b.
func checkLoadAnswer(t *testing.T, b []byte) bool {
	t.Helper()
	var fast, slow mgetAnswer[loadSource]
	ok := decodeLoadAnswer(b, &fast)
	err := json.Unmarshal(b, &slow)
	if !ok {
		if !reflect.DeepEqual(fast, mgetAnswer[loadSource]{}) {
			t.Fatalf("gave up on %q but left %+v behind", b, fast)
		}
		var arr [2]mgetDoc[loadSource]
		if decodeLoadDocs(b, &arr) {
			t.Fatalf("decodeLoadDocs took %q, which the slice variant gives up on", b)
		}
		if arr != ([2]mgetDoc[loadSource]{}) {
			t.Fatalf("decodeLoadDocs gave up on %q but left %+v behind", b, arr)
		}
		return false
	}
	if err != nil {
		t.Fatalf("fast path accepted %q, which encoding/json refuses: %v", b, err)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("fast path and encoding/json disagree on %q:\nfast %+v\nslow %+v", b, fast, slow)
	}
	// The loader's own variant decodes into an array of exactly two, and
	// must take every answer of two entries the slice variant takes.
	var arr [2]mgetDoc[loadSource]
	okArr := decodeLoadDocs(b, &arr)
	if okArr != (len(slow.Docs) == 2) {
		t.Fatalf("decodeLoadDocs took %q: %v, with %d entries", b, okArr, len(slow.Docs))
	}
	if okArr && !reflect.DeepEqual(arr[:], slow.Docs) {
		t.Fatalf("decodeLoadDocs and encoding/json disagree on %q:\narray %+v\nslow %+v", b, arr, slow.Docs)
	}
	return true
}

func TestLoadAnswerFastPath(t *testing.T) {
	sample := loadAnswerSample
	for _, tc := range []struct {
		name string
		body string
		fast bool // whether the fast path must take it
	}{
		{"real answer", sample, true},
		{"pretty printed", strings.NewReplacer(`,"`, ",\n  \"", `":`, "\" :\t", `{"`, "{ \"", `}`, "\r\n}").Replace(sample), true},
		{"user missing", `{"docs":[{"_index":"s","_id":"x","found":true,"_source":{"remember":true}},{"_index":"u","_id":"a@b.c","found":false}]}`, true},
		{"empty", `{"docs":[]}`, true},
		{"a half-authenticated session and a user with a second factor", strings.NewReplacer(
			`"user_epoch":"981035e0b4f0bbc3ea9d1947c52ff9cb"}`, `"user_epoch":"981035e0b4f0bbc3ea9d1947c52ff9cb","second_factor":false,"pending":true}`,
			`"session_epoch":"981035e0b4f0bbc3ea9d1947c52ff9cb"}`, `"session_epoch":"981035e0b4f0bbc3ea9d1947c52ff9cb","email_verified_at":"2026-12-01T10:06:00Z","totp_enabled_at":"2026-12-01T10:07:00Z","totp_secret":"JBSWY3DPEHPK3PXP","totp_last_step":59123,"recovery_codes":["a","b"]}`,
		).Replace(sample), true},
		{"no docs", `{}`, true},
		{"names with accents and escapes", strings.Replace(sample, `"first_name":"A"`, `"first_name":"Jos\u00e9 \"J\" `+"Ångström\xff"+`"`, 1), true},
		{"unknown nested values", strings.Replace(sample, `"_version":1`, `"_version":{"a":[1,-2.5e+3,true,false,null,"x\n"],"b":{}}`, 1), true},
		{"an entry's error", `{"docs":[{"_index":"s","_id":"x","error":{"type":"index_closed_exception","reason":"closed"}},{"_index":"u","_id":"a","found":false}]}`, false},
		{"repeated key", strings.Replace(sample, `"role":"user"`, `"role":"user","role":"admin"`, 1), false},
		{"case-folded key", strings.Replace(sample, `"is_active":true`, `"IS_ACTIVE":true`, 1), false},
		{"null value", strings.Replace(sample, `"remember":false`, `"remember":null`, 1), false},
		{"wrong type", strings.Replace(sample, `"is_active":true`, `"is_active":"yes"`, 1), false},
		{"bad timestamp", strings.Replace(sample, `"updated_at":"2026-12-01T10:05:08.75421692Z"`, `"updated_at":"yesterday"`, 1), false},
		{"fractional sequence number", strings.Replace(sample, `"_seq_no":0`, `"_seq_no":0.5`, 1), false},
		{"trailing data", sample + `{}`, false},
		{"truncated", sample[:len(sample)-3], false},
		{"control character in a string", strings.Replace(sample, `curl/7.88.1`, "curl\x01", 1), false},
		{"leading zero", strings.Replace(sample, `"_version":1`, `"_version":01`, 1), false},
		{"deep nesting", strings.Replace(sample, `"_version":1`, `"_version":`+strings.Repeat("[", 100)+strings.Repeat("]", 100), 1), false},
		{"not an object", `[]`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkLoadAnswer(t, []byte(tc.body)); got != tc.fast {
				t.Errorf("fast path took it: %v, want %v", got, tc.fast)
			}
		})
	}
}

// FuzzLoadAnswer checks the fast path against encoding/json on any input:
// whatever it accepts, encoding/json accepts and decodes the same way.
func FuzzLoadAnswer(f *testing.F) {
	for _, seed := range []string{
		loadAnswerSample, `{"docs":[]}`, `{}`, `{"docs":[{"found":true,"_source":{"first_name":"\u00e9"}}]}`,
		`{"docs":[{"_seq_no":-0,"_source":{"created_at":"2026-12-01T10:05:08Z"}}]}`, `{"docs":[{"Found":true}]}`,
		`{"x":[1e5,-0.0,"\ud800"]}`, `{"docs":[{"_source":{"ip":"\xff"}}]}`,
		`{"docs":[{"_source":{"pending":true,"second_factor":true,"totp_enabled_at":"2026-12-01T10:07:00Z"}}]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkLoadAnswer(t, b) })
}

// BenchmarkLoadAnswer decodes the same real answer with the fast path and
// with encoding/json in every iteration, and reports both times and their
// ratio.
func BenchmarkLoadAnswer(b *testing.B) {
	body := []byte(loadAnswerSample)
	var fast, slow time.Duration
	for b.Loop() {
		start := time.Now()
		var f mgetAnswer[loadSource]
		if !decodeLoadAnswer(body, &f) {
			b.Fatal("fast path gave up on the real answer")
		}
		fast += time.Since(start)
		start = time.Now()
		var s mgetAnswer[loadSource]
		if err := json.Unmarshal(body, &s); err != nil {
			b.Fatal(err)
		}
		slow += time.Since(start)
	}
	b.ReportMetric(float64(fast.Nanoseconds())/float64(b.N), "fast-ns/op")
	b.ReportMetric(float64(slow.Nanoseconds())/float64(b.N), "encoding-json-ns/op")
	b.ReportMetric(float64(fast)/float64(slow), "fast/encoding-json")
}
