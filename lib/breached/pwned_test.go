package breached_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"regexp"
	"strings"
	"testing"

	"esauth/lib/breached"
)

// sha1Hex returns the upper-case hex SHA-1 of pw, computed here rather than
// taken from the code under test.
func sha1Hex(pw string) string {
	sum := sha1.Sum([]byte(pw))
	return strings.ToUpper(hex.EncodeToString(sum[:]))
}

// request is what the fake range API saw of one request.
type request struct {
	method, path, rawQuery, addPadding string
	dump                               string // the whole request as it came over the wire
}

// rangeServer starts a fake range API that answers every request with
// handler and records each request on the returned channel.
func rangeServer(t *testing.T, handler http.HandlerFunc) (*httptest.Server, <-chan request) {
	t.Helper()
	seen := make(chan request, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		dump, err := httputil.DumpRequest(r, true)
		if err != nil {
			t.Errorf("DumpRequest: %v", err)
		}
		seen <- request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Add-Padding"), string(dump)}
		handler(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, seen
}

// answer serves body with a 200.
func answer(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, body)
	}
}

func TestOnlyTheFirstFiveHexCharactersOfTheHashLeaveTheProcess(t *testing.T) {
	const pw = "violet-kettle-ransom-41"
	full := sha1Hex(pw)
	srv, seen := rangeServer(t, answer(""))
	p := &breached.Pwned{BaseURL: srv.URL, Client: srv.Client()}
	if _, err := p.Breached(context.Background(), pw); err != nil {
		t.Fatalf("Breached: %v", err)
	}
	r := <-seen
	if r.method != http.MethodGet {
		t.Errorf("method = %s; want GET", r.method)
	}
	if want := "/range/" + full[:5]; r.path != want {
		t.Errorf("path = %q; want %q", r.path, want)
	}
	if !regexp.MustCompile(`^/range/[0-9A-F]{5}$`).MatchString(r.path) {
		t.Errorf("path = %q; want /range/ and 5 upper-case hex characters", r.path)
	}
	if r.rawQuery != "" {
		t.Errorf("query = %q; want none", r.rawQuery)
	}
	if r.addPadding != "true" {
		t.Errorf("Add-Padding = %q; want true", r.addPadding)
	}
	// Nothing but the prefix: not the full hash, not its suffix, in either
	// case, and not the password, anywhere in the request line, headers or body.
	for _, secret := range []string{full, full[5:], full[5:20], pw} {
		for _, s := range []string{secret, strings.ToLower(secret)} {
			if strings.Contains(r.dump, s) {
				t.Errorf("the request contains %q:\n%s", s, r.dump)
			}
		}
	}
	if len(seen) != 0 {
		t.Errorf("%d more requests were made; want exactly one", len(seen))
	}
}

func TestThePrefixIsTheSHA1OfThePassword(t *testing.T) {
	// The example of the Pwned Passwords documentation: SHA-1("password") is
	// 5BAA61E4C9B93F3F0682250B6CF8331B7EE68FD8.
	srv, seen := rangeServer(t, answer(""))
	p := &breached.Pwned{BaseURL: srv.URL + "/hibp/", Client: srv.Client()}
	if _, err := p.Breached(context.Background(), "password"); err != nil {
		t.Fatalf("Breached: %v", err)
	}
	if r := <-seen; r.path != "/hibp/range/5BAA6" {
		t.Errorf("path = %q; want /hibp/range/5BAA6 (BaseURL's path kept, its trailing slash not doubled)", r.path)
	}
}

func TestBreached(t *testing.T) {
	const pw = "violet-kettle-ransom-41"
	suffix := sha1Hex(pw)[5:]
	other := sha1Hex("another password")[5:] // a suffix that is not pw's
	tests := []struct {
		name string
		body string
		want bool
	}{
		{"the suffix with a count is breached", other + ":12\r\n" + suffix + ":3861493\r\n", true},
		{"the suffix in lower case is breached", strings.ToLower(suffix) + ":2\r\n", true},
		{"the suffix as the last line without a line end is breached", other + ":1\r\n" + suffix + ":7", true},
		{"the suffix with LF line ends is breached", other + ":1\n" + suffix + ":7\n", true},
		{"the suffix as a padding line with count 0 is not breached", other + ":12\r\n" + suffix + ":0\r\n", false},
		{"an answer without the suffix is not breached", other + ":12\r\n", false},
		{"an empty answer is not breached", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := rangeServer(t, answer(tt.body))
			p := &breached.Pwned{BaseURL: srv.URL, Client: srv.Client()}
			got, err := p.Breached(context.Background(), pw)
			if err != nil {
				t.Fatalf("Breached: %v", err)
			}
			if got != tt.want {
				t.Errorf("Breached = %v; want %v for the answer %q", got, tt.want, tt.body)
			}
		})
	}
}

func TestBreachedReturnsAnErrorItCannotAnswer(t *testing.T) {
	const pw = "violet-kettle-ransom-41"
	suffix := sha1Hex(pw)[5:]
	status := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			// A body that would say "breached" if the status were ignored.
			w.WriteHeader(code)
			fmt.Fprint(w, suffix+":5\r\n")
		}
	}
	// Valid padding lines past 2 MiB, then the suffix: without the bound
	// this would read as breached.
	var huge strings.Builder
	for huge.Len() <= 2<<20 {
		huge.WriteString(strings.Repeat("0", 35) + ":0\r\n")
	}
	huge.WriteString(suffix + ":5\r\n")
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"a 503 is an error", status(http.StatusServiceUnavailable)},
		{"a 429 is an error", status(http.StatusTooManyRequests)},
		{"a 404 is an error", status(http.StatusNotFound)},
		{"a 204 is an error", status(http.StatusNoContent)},
		{"an HTML page served with a 200 is an error", answer("<html><body>Please log in to the Wi-Fi</body></html>")},
		{"a line whose count is not a number is an error", answer(suffix + ":lots\r\n")},
		{"a line without a count is an error", answer(suffix + "\r\n")},
		{"a line with a negative count is an error", answer(suffix + ":-1\r\n")},
		{"a line with a short suffix is an error", answer(suffix[:34] + ":3\r\n")},
		{"an answer over 2 MiB is an error", answer(huge.String())},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, _ := rangeServer(t, tt.handler)
			p := &breached.Pwned{BaseURL: srv.URL, Client: srv.Client()}
			got, err := p.Breached(context.Background(), pw)
			if err == nil {
				t.Errorf("Breached = %v, nil; want an error", got)
			}
			if got {
				t.Error("Breached = true with an error; want false")
			}
		})
	}
}

func TestBreachedReturnsANetworkErrorAsAnError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url, client := srv.URL, srv.Client()
	srv.Close() // nothing listens at url any more
	p := &breached.Pwned{BaseURL: url, Client: client}
	if got, err := p.Breached(context.Background(), "violet-kettle-ransom-41"); err == nil || got {
		t.Errorf("Breached = %v, %v; want false and an error", got, err)
	}
}

func TestBreachedRespectsTheContext(t *testing.T) {
	t.Run("a cancelled context makes no request", func(t *testing.T) {
		srv, seen := rangeServer(t, answer(""))
		p := &breached.Pwned{BaseURL: srv.URL, Client: srv.Client()}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		got, err := p.Breached(ctx, "violet-kettle-ransom-41")
		if !errors.Is(err, context.Canceled) || got {
			t.Errorf("Breached = %v, %v; want false, context.Canceled", got, err)
		}
		if len(seen) != 0 {
			t.Error("the server got a request; want none")
		}
	})
	t.Run("cancelling the context while the answer is on its way returns context.Canceled", func(t *testing.T) {
		started, release := make(chan struct{}), make(chan struct{})
		srv, _ := rangeServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
			fmt.Fprint(w, strings.Repeat("0", 35)+":0\r\n")
			w.(http.Flusher).Flush()
			close(started)
			select { // hold the answer open until the client goes away
			case <-r.Context().Done():
			case <-release:
			}
		})
		t.Cleanup(func() { close(release) }) // runs before srv.Close
		p := &breached.Pwned{BaseURL: srv.URL, Client: srv.Client()}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() {
			_, err := p.Breached(ctx, "violet-kettle-ransom-41")
			done <- err
		}()
		<-started
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Breached = %v; want context.Canceled", err)
		}
	})
}
