package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"esauth/lib/elastic"
	"esauth/lib/elastic/estest"
)

// env returns a getenv over the given variables.
func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// testEnv is a configuration on the test cluster with a fresh index
// prefix, whose indices are deleted when the test ends.
func testEnv(t *testing.T) map[string]string {
	t.Helper()
	estest.Require(t)
	prefix := estest.Prefix()
	t.Cleanup(func() {
		s, err := elastic.New(elastic.Config{Addresses: []string{estest.URL()}, IndexPrefix: prefix}, zap.NewNop())
		if err == nil {
			_ = s.DeleteIndices(context.Background())
		}
	})
	return map[string]string{
		"ELASTICSEARCH_URL":    estest.URL(),
		"ESAUTH_INDEX_PREFIX":  prefix,
		"ESAUTH_ADDR":          "127.0.0.1:0",
		"ESAUTH_COOKIE_SECURE": "false",
		"ESAUTH_LOG_LEVEL":     "warn",
	}
}

// startServe runs "esauth serve" in the background and returns its base URL
// and a function that stops it and returns run's error.
func startServe(t *testing.T, vars map[string]string) (string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, w := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"esauth", "serve"}, env(vars), strings.NewReader(""), w, io.Discard)
		w.Close()
	}()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cancel()
		t.Fatalf("serve printed no address: %v (run: %v)", err, <-errc)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	url := strings.TrimSpace(strings.TrimPrefix(line, "esauth listening on "))
	stopped := false
	stop := func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-errc
	}
	t.Cleanup(func() { _ = stop() })
	return url, stop
}

func post(t *testing.T, url, body string) int {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestServeAnswersAndShutsDownOnCancel(t *testing.T) {
	url, stop := startServe(t, testEnv(t))
	status := post(t, url+"/v1/users", `{"email_address":"m@example.com","password":"long enough pw","first_name":"M","last_name":"N"}`)
	if status != http.StatusCreated {
		t.Fatalf("signup: %d", status)
	}
	if err := stop(); err != nil {
		t.Fatalf("run returned %v after cancel, want nil", err)
	}
	if _, err := http.Get(url + "/v1/test"); err == nil {
		t.Error("server still answers after shutdown")
	}
}

func TestServeStartsWhileElasticsearchIsDown(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	dead.Close()
	url, _ := startServe(t, map[string]string{
		"ELASTICSEARCH_URL": dead.URL, "ESAUTH_ADDR": "127.0.0.1:0", "ESAUTH_ES_TIMEOUT": "500ms", "ESAUTH_LOG_LEVEL": "error",
	})
	status := post(t, url+"/v1/auth/login", `{"email_address":"m@example.com","password":"long enough pw"}`)
	if status != http.StatusServiceUnavailable {
		t.Fatalf("login with Elasticsearch down: %d, want 503", status)
	}
}

func TestUserCreateReadsThePasswordFromStdinAndMakesAnAdmin(t *testing.T) {
	vars := testEnv(t)
	var out bytes.Buffer
	err := run(context.Background(),
		[]string{"esauth", "user", "create", "--email", "Boss@Example.com", "--first-name", "Big", "--last-name", "Boss", "--admin"},
		env(vars), strings.NewReader("a long admin password\n"), &out, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "boss@example.com (admin)") {
		t.Errorf("output %q", out.String())
	}
	if strings.Contains(out.String(), "a long admin password") {
		t.Error("the password was echoed")
	}
	url, _ := startServe(t, vars)
	status := post(t, url+"/v1/auth/login", `{"email_address":"boss@example.com","password":"a long admin password"}`)
	if status != http.StatusOK {
		t.Fatalf("admin login: %d", status)
	}
}

func TestUserCreateRefusesBadInput(t *testing.T) {
	vars := testEnv(t)
	tests := []struct {
		name  string
		args  []string
		stdin string
	}{
		{"a short password", []string{"--email", "a@example.com", "--first-name", "A", "--last-name", "B"}, "short\n"},
		{"no password at all", []string{"--email", "a@example.com", "--first-name", "A", "--last-name", "B"}, ""},
		{"a bad email", []string{"--email", "nope", "--first-name", "A", "--last-name", "B"}, "long enough pw\n"},
		{"a missing name", []string{"--email", "a@example.com", "--first-name", "A"}, "long enough pw\n"},
		// The same screening as the API's signup: the CLI makes admins.
		{"a common password for an admin", []string{"--email", "a@example.com", "--first-name", "A", "--last-name", "B", "--admin"}, "password\n"},
		{"a password holding the email's name", []string{"--email", "margaret@example.com", "--first-name", "A", "--last-name", "B"}, "margaret-1234\n"},
		{"a look-alike email", []string{"--email", "\u0430dmin@example.com", "--first-name", "A", "--last-name", "B"}, "long enough pw\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"esauth", "user", "create"}, tt.args...)
			if err := run(context.Background(), args, env(vars), strings.NewReader(tt.stdin), io.Discard, io.Discard); err == nil {
				t.Fatal("no error")
			}
		})
	}
	// None of them made an account.
	url, _ := startServe(t, vars)
	for _, email := range []string{"a@example.com", "margaret@example.com"} {
		if status := post(t, url+"/v1/auth/login", `{"email_address":"`+email+`","password":"password"}`); status != http.StatusUnauthorized {
			t.Errorf("login as %s after refused creates: %d, want 401", email, status)
		}
	}
}

func TestInitCreatesIndicesAndTheSampleUser(t *testing.T) {
	vars := testEnv(t)
	var out bytes.Buffer
	if err := run(context.Background(), []string{"esauth", "init", "--sample-user"}, env(vars), nil, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), vars["ESAUTH_INDEX_PREFIX"]+"users") {
		t.Errorf("output %q", out.String())
	}
	// The demo password is printed once, for the operator; it must work.
	var pw string
	for _, line := range strings.Split(out.String(), "\n") {
		if i := strings.Index(line, "with password "); i >= 0 {
			pw = line[i+len("with password "):]
		}
	}
	if len(pw) < 8 {
		t.Fatalf("no demo password in %q", out.String())
	}
	url, _ := startServe(t, vars)
	if status := post(t, url+"/v1/auth/login", `{"email_address":"demo@example.com","password":"`+pw+`"}`); status != http.StatusOK {
		t.Fatalf("demo login: %d", status)
	}
	// Running init again is harmless for the indices, and refuses a second demo user.
	if err := run(context.Background(), []string{"esauth", "init"}, env(vars), nil, io.Discard, io.Discard); err != nil {
		t.Errorf("second init: %v", err)
	}
	var again bytes.Buffer
	if err := run(context.Background(), []string{"esauth", "init", "--sample-user"}, env(vars), nil, &again, io.Discard); err == nil {
		t.Errorf("a second --sample-user made another demo user: %q", again.String())
	}
	if status := post(t, url+"/v1/auth/login", `{"email_address":"demo@example.com","password":"`+pw+`"}`); status != http.StatusOK {
		t.Fatalf("the first demo password stopped working: %d", status)
	}
}

func TestRunRefusesUnknownCommandsAndBadSettings(t *testing.T) {
	tests := []struct {
		name string
		args []string
		vars map[string]string
	}{
		{"an unknown command", []string{"esauth", "frobnicate"}, nil},
		{"user without create", []string{"esauth", "user"}, nil},
		{"a bad duration", []string{"esauth", "serve"}, map[string]string{"ESAUTH_SESSION_TTL": "forever"}},
		{"a bad cookie key", []string{"esauth", "serve"}, map[string]string{"ESAUTH_COOKIE_HASH_KEY": "c2hvcnQ=", "ESAUTH_COOKIE_BLOCK_KEY": "c2hvcnQ="}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := run(ctx, tt.args, env(tt.vars), nil, io.Discard, io.Discard); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func TestTheHTTPServerBoundsEveryPhase(t *testing.T) {
	srv := newHTTPServer(http.NotFoundHandler(), zap.NewNop())
	for name, d := range map[string]time.Duration{
		"ReadHeaderTimeout": srv.ReadHeaderTimeout, "ReadTimeout": srv.ReadTimeout,
		"WriteTimeout": srv.WriteTimeout, "IdleTimeout": srv.IdleTimeout,
	} {
		if d <= 0 {
			t.Errorf("%s is not set", name)
		}
	}
	if srv.MaxHeaderBytes <= 0 || srv.MaxHeaderBytes > 64<<10 {
		t.Errorf("MaxHeaderBytes = %d", srv.MaxHeaderBytes)
	}
}
