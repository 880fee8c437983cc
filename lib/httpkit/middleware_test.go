package httpkit

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/zap"
)

func TestRequestIDIsKeptWhenSaneAndReplacedOtherwise(t *testing.T) {
	tests := []struct {
		name, given string
		kept        bool
	}{
		{"a sane id is kept", "abc-123_X.y", true},
		{"an id with a newline is replaced", "abc\nINFO fake log line", false},
		{"an overlong id is replaced", strings.Repeat("a", 65), false},
		{"no id gets one", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := AccessLog(zap.NewNop(), 0, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
			req := httptest.NewRequest("GET", "/", nil)
			if tt.given != "" {
				req.Header["X-Request-Id"] = []string{tt.given}
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			got := rec.Header().Get("X-Request-Id")
			if (got == tt.given) != tt.kept || !requestIDPattern.MatchString(got) {
				t.Errorf("X-Request-Id %q for %q", got, tt.given)
			}
		})
	}
}
