package v1

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestWriteJSONWritesWhatMarshalWould checks the pooled encoder against
// json.Marshal: the same bytes and a newline, HTML and line separators
// escaped alike, whatever the previous answer left in the buffer; and a
// value that cannot be encoded is a clean 500 envelope.
func TestWriteJSONWritesWhatMarshalWould(t *testing.T) {
	long := strings.Repeat("x", 100<<10) // larger than the pool keeps
	for _, tc := range []struct {
		name string
		v    any
	}{
		{"long answer first", envelope{Success: true, Message: long}},
		{"envelope with data", envelope{Success: true, Message: "Test", Data: map[string]any{"a": 1, "b": []string{"x"}}}},
		{"HTML and separators", envelope{Message: "<script>&\u2028\u2029</script>", Fields: map[string]string{"f": "é\"\\"}}},
		{"short after long", envelope{Success: true, Message: "ok"}},
		{"nil data", envelope{Success: true, Message: "Session revoked."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			writeJSON(rec, http.StatusOK, tc.v)
			want, err := json.Marshal(tc.v)
			if err != nil {
				t.Fatal(err)
			}
			if got := rec.Body.String(); got != string(want)+"\n" {
				t.Errorf("wrote %.200q; want %.200q", got, string(want)+"\n")
			}
			if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json; charset=utf-8" {
				t.Errorf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
			}
		})
	}
	t.Run("unencodable value", func(t *testing.T) {
		rec := httptest.NewRecorder()
		writeJSON(rec, http.StatusOK, envelope{Success: true, Data: math.Inf(1)})
		var env envelope
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || rec.Code != http.StatusInternalServerError || env.Success {
			t.Errorf("status %d, body %q (%v); want a 500 envelope", rec.Code, rec.Body.String(), err)
		}
		if strings.Count(rec.Body.String(), "{") != 1 {
			t.Errorf("body %q holds more than the error envelope", rec.Body.String())
		}
	})
}
