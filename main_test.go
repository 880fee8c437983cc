package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"

	"esauth/lib/account"
	"esauth/lib/elastic"
	"esauth/lib/elastic/estest"
	"esauth/lib/mail/mailtest"
	"esauth/lib/metrics"
	"esauth/lib/oauth/oauthtest"
	"esauth/lib/session"
	"esauth/lib/user"
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
	url, _, stop := startServeWithAdmin(t, vars)
	return url, stop
}

// startServeWithAdmin is startServe that also returns the admin address's
// base URL ("" when ESAUTH_ADMIN_ADDR is unset).
func startServeWithAdmin(t *testing.T, vars map[string]string) (string, string, func() error) {
	t.Helper()
	return startServeTo(t, vars, io.Discard)
}

// startServeTo is startServeWithAdmin writing the server's log to logs.
func startServeTo(t *testing.T, vars map[string]string, logs io.Writer) (string, string, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	out, w := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"esauth", "serve"}, env(vars), strings.NewReader(""), w, logs)
		w.Close()
	}()
	lines := bufio.NewReader(out)
	var url, admin string
	for url == "" {
		line, err := lines.ReadString('\n')
		if err != nil {
			cancel()
			t.Fatalf("serve printed no address: %v (run: %v)", err, <-errc)
		}
		if a, ok := strings.CutPrefix(strings.TrimSpace(line), "esauth admin (probes, metrics) on "); ok {
			admin = a
		}
		if u, ok := strings.CutPrefix(strings.TrimSpace(line), "esauth listening on "); ok {
			url = u
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
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
	return url, admin, stop
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

func get(t *testing.T, url string) int {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestServeMovesProbesAndMetricsToTheAdminAddress(t *testing.T) {
	vars := testEnv(t)
	vars["ESAUTH_ADMIN_ADDR"] = "127.0.0.1:0"
	url, admin, stop := startServeWithAdmin(t, vars)
	if admin == "" {
		t.Fatal("serve printed no admin address")
	}
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		if got := get(t, admin+path); got != http.StatusOK {
			t.Errorf("admin %s: %d; want 200", path, got)
		}
		if got := get(t, url+path); got != http.StatusNotFound {
			t.Errorf("public %s: %d; want 404", path, got)
		}
	}
	if got := get(t, url+"/v1/test"); got != http.StatusUnauthorized {
		t.Errorf("public /v1/test: %d; want 401", got)
	}
	if err := stop(); err != nil {
		t.Fatalf("run returned %v after cancel", err)
	}
	if _, err := http.Get(admin + "/healthz"); err == nil {
		t.Error("the admin address still answers after shutdown")
	}
}

func TestServeStartsWhileElasticsearchIsDown(t *testing.T) {
	url, _ := startServe(t, map[string]string{
		"ELASTICSEARCH_URL": estest.DeadURL(t), "ESAUTH_ADDR": "127.0.0.1:0", "ESAUTH_ES_TIMEOUT": "500ms", "ESAUTH_LOG_LEVEL": "error",
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

// autoCreatedUsers writes a user document before esauth set anything up,
// so Elasticsearch makes the users index with a guessed mapping
// (email_address as text), as after an index deleted by hand under an
// older esauth.
func autoCreatedUsers(t *testing.T, vars map[string]string) string {
	t.Helper()
	index := vars["ESAUTH_INDEX_PREFIX"] + "users"
	estest.MustDo(t, "PUT", "/"+index+"/_doc/old@example.com",
		`{"email_address":"old@example.com","first_name":"Old","last_name":"Timer","password_hash":"$argon2id$x","role":"user","is_active":true,"password":"plain"}`)
	return index
}

func TestInitRefusesAWrongMappingAndMigrateFixesIt(t *testing.T) {
	for _, command := range [][]string{{"init", "--repair"}, {"migrate"}} {
		t.Run(strings.Join(command, " "), func(t *testing.T) { initRefusesAndMigrateFixes(t, command) })
	}
}

func initRefusesAndMigrateFixes(t *testing.T, command []string) {
	vars := testEnv(t)
	index := autoCreatedUsers(t, vars)

	err := run(context.Background(), []string{"esauth", "init"}, env(vars), nil, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "field email_address is text, want keyword") ||
		!strings.Contains(err.Error(), "esauth migrate") {
		t.Fatalf("init on a wrong mapping: %v; want the field named and migrate suggested", err)
	}

	var out bytes.Buffer
	if err := run(context.Background(), append([]string{"esauth"}, command...), env(vars), nil, &out, io.Discard); err != nil {
		t.Fatalf("%v: %v (output %q)", command, err, out.String())
	}
	want := []string{index + ": moved from " + index + " (mapping version 0", "to " + index + "-000001 (version " + strconv.Itoa(elastic.MappingVersion) + "), 1 documents copied",
		"dropped field password from 1 documents", vars["ESAUTH_INDEX_PREFIX"] + "sessions: up to date"}
	if command[0] == "init" {
		want = append(want, "are ready")
	}
	for _, want := range want {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output %q does not say %q", out.String(), want)
		}
	}
	var m map[string]struct {
		Mappings struct {
			Properties map[string]struct {
				Type string `json:"type"`
			} `json:"properties"`
		} `json:"mappings"`
	}
	if err := json.Unmarshal([]byte(estest.MustDo(t, "GET", "/"+index+"/_mapping", "")), &m); err != nil {
		t.Fatal(err)
	}
	if got := m[index+"-000001"].Mappings.Properties["email_address"].Type; got != "keyword" {
		t.Errorf("email_address is %q after the migration, want keyword (%v)", got, m)
	}
	if body := estest.MustDo(t, "GET", "/"+index+"/_doc/old@example.com", ""); !strings.Contains(body, `"first_name":"Old"`) || strings.Contains(body, "plain") {
		t.Errorf("the repaired document: %s", body)
	}
	if err := run(context.Background(), []string{"esauth", "init"}, env(vars), nil, io.Discard, io.Discard); err != nil {
		t.Errorf("init after the migration: %v", err)
	}
	out.Reset()
	if err := run(context.Background(), []string{"esauth", "migrate"}, env(vars), nil, &out, io.Discard); err != nil || strings.Contains(out.String(), "moved") {
		t.Errorf("a second migrate: %v, %q; want every index up to date", err, out.String())
	}
}

func TestServeRefusesToStartOnANewerMappingVersion(t *testing.T) {
	vars := testEnv(t)
	if err := run(context.Background(), []string{"esauth", "init"}, env(vars), nil, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	estest.MustDo(t, "PUT", "/"+vars["ESAUTH_INDEX_PREFIX"]+"audit/_mapping", `{"_meta":{"esauth_mapping_version":7}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, []string{"esauth", "serve"}, env(vars), nil, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "mapping version 7") || !strings.Contains(err.Error(), "newer") {
		t.Fatalf("serve on a newer mapping version: %v", err)
	}
	if strings.Contains(out.String(), "listening") {
		t.Errorf("serve started (output %q)", out.String())
	}
}

func TestServeRefusesToStartWithAWrongMapping(t *testing.T) {
	vars := testEnv(t)
	autoCreatedUsers(t, vars)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out bytes.Buffer
	err := run(ctx, []string{"esauth", "serve"}, env(vars), nil, &out, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "email_address") || !strings.Contains(err.Error(), "esauth migrate") {
		t.Fatalf("serve on a wrong mapping: %v; want a refusal naming the field and esauth migrate", err)
	}
	if ctx.Err() != nil || strings.Contains(out.String(), "listening") {
		t.Errorf("serve started (output %q)", out.String())
	}
}

// syncBuffer is a bytes.Buffer the server's goroutines may write at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestServeLogsTheElasticsearchURLWithoutItsCredentials(t *testing.T) {
	vars := testEnv(t)
	u, err := url.Parse(estest.URL())
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword("esauth", "s3cret-pw")
	vars["ELASTICSEARCH_URL"] = u.String()
	vars["ESAUTH_LOG_LEVEL"] = "info"
	var logs syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	out, w := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		errc <- run(ctx, []string{"esauth", "serve"}, env(vars), strings.NewReader(""), w, &logs)
		w.Close()
	}()
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		cancel()
		t.Fatalf("serve printed no address: %v (run: %v)", err, <-errc)
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	if strings.Contains(logs.String(), "s3cret-pw") {
		t.Errorf("the log carries the credentials:\n%s", logs.String())
	}
	if want := `"elasticsearch":["` + elastic.Redact(estest.URL()) + `"]`; !strings.Contains(logs.String(), want) {
		t.Errorf("the log does not name %s:\n%s", want, logs.String())
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

func TestServeWiresTheOAuthProviders(t *testing.T) {
	vars := testEnv(t)
	op := oauthtest.Start(t, nil, oauthtest.Client{ID: "web", Secret: "web-secret", RedirectURI: "https://auth.example.com/v1/auth/oauth/acme/callback"})
	vars["ESAUTH_PUBLIC_URL"] = "https://auth.example.com/"
	vars["ESAUTH_OAUTH_PROVIDERS"] = "acme,github"
	vars["ESAUTH_OAUTH_ACME_CLIENT_ID"] = "web"
	vars["ESAUTH_OAUTH_ACME_CLIENT_SECRET"] = "web-secret"
	vars["ESAUTH_OAUTH_ACME_ISSUER"] = op.URL
	vars["ESAUTH_OAUTH_GITHUB_CLIENT_ID"] = "gh"
	vars["ESAUTH_OAUTH_GITHUB_CLIENT_SECRET"] = "gh-secret"
	base, _ := startServe(t, vars)
	for name, wantPrefix := range map[string]string{"acme": op.URL + "/", "github": "https://github.com/login/oauth/authorize?"} {
		req, _ := http.NewRequest("GET", base+"/v1/auth/oauth/"+name, nil)
		req.Header.Set("Accept", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Data struct {
				URL string `json:"authorization_url"`
			} `json:"data"`
		}
		err = json.NewDecoder(res.Body).Decode(&env)
		res.Body.Close()
		if err != nil || res.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %v", name, res.StatusCode, err)
		}
		if !strings.HasPrefix(env.Data.URL, wantPrefix) ||
			!strings.Contains(env.Data.URL, "redirect_uri="+url.QueryEscape("https://auth.example.com/v1/auth/oauth/"+name+"/callback")) {
			t.Errorf("%s: authorization URL %s", name, env.Data.URL)
		}
	}
}

func TestServeRefusesIncompleteOAuthSettings(t *testing.T) {
	vars := testEnv(t)
	vars["ESAUTH_PUBLIC_URL"] = "https://auth.example.com"
	vars["ESAUTH_OAUTH_PROVIDERS"] = "github"
	vars["ESAUTH_OAUTH_GITHUB_CLIENT_SECRET"] = "gh-secret"
	err := run(context.Background(), []string{"esauth", "serve"}, env(vars), strings.NewReader(""), io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "ESAUTH_OAUTH_GITHUB_CLIENT_ID") || strings.Contains(err.Error(), "gh-secret") {
		t.Errorf("serve with no client id: %v; want an error naming ESAUTH_OAUTH_GITHUB_CLIENT_ID, without the secret", err)
	}
}

// Two instances on one cluster: only the one holding the purge lease
// purges; the other skips until the lease expires, then takes over.
func TestOnlyTheLeaseHolderPurges(t *testing.T) {
	m := metrics.New()
	cfg := estest.Config()
	cfg.Observer = m
	store := estest.NewWith(t, cfg)
	ctx := context.Background()
	now := time.Now()
	expire := func() {
		t.Helper()
		p := session.Policy{TTL: time.Hour, Idle: time.Hour, TouchEvery: time.Minute}
		s, _ := p.New(user.User{Email: "purged@example.com"}, false, now.Add(-2*time.Hour), "agent", "127.0.0.1")
		if err := store.CreateSession(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	count := func(family, label, value string) float64 {
		t.Helper()
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		parser := expfmt.NewTextParser(model.UTF8Validation)
		families, err := parser.TextToMetricFamilies(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range families[family].GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return s.GetCounter().GetValue()
				}
			}
		}
		return -1
	}
	log := zap.NewNop()
	expire()
	purgeOnce(ctx, store, log, m, "instance-a", time.Hour, now)
	expire()
	purgeOnce(ctx, store, log, m, "instance-b", time.Hour, now.Add(time.Minute))
	if got := count("esauth_session_purges_total", "outcome", "done"); got != 1 {
		t.Errorf("purges done = %v; want 1 (instance a)", got)
	}
	if got := count("esauth_session_purges_total", "outcome", "skipped"); got != 1 {
		t.Errorf("purges skipped = %v; want 1 (instance b, while a holds the lease)", got)
	}
	if got := count("esauth_sessions_total", "event", "purged"); got != 1 {
		t.Errorf("sessions purged = %v; want 1 (b left the second one)", got)
	}
	// a stopped: once its lease has expired, b takes over and purges.
	purgeOnce(ctx, store, log, m, "instance-b", time.Hour, now.Add(time.Hour+2*time.Minute))
	if got := count("esauth_sessions_total", "event", "purged"); got != 2 {
		t.Errorf("sessions purged = %v; want 2 after b took over the expired lease", got)
	}
}

// cli runs one command and returns what it printed and its error.
func cli(t *testing.T, vars map[string]string, stdin string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"esauth"}, args...), env(vars), strings.NewReader(stdin), &out, &errOut)
	return out.String(), err
}

// session logs email in on the server at base and returns the cookie.
func loginCookie(t *testing.T, base, email, pw string) *http.Cookie {
	t.Helper()
	res, err := http.Post(base+"/v1/auth/login", "application/json",
		strings.NewReader(`{"email_address":"`+email+`","password":"`+pw+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK || len(res.Cookies()) == 0 {
		t.Fatalf("login of %s: %d", email, res.StatusCode)
	}
	return res.Cookies()[0]
}

func statusWith(t *testing.T, url string, c *http.Cookie) int {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.AddCookie(c)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func TestTheOperatorCommandsLookAfterAccountsUnderTheAPIsRules(t *testing.T) {
	vars := testEnv(t)
	const oldPW, newPW = "the first long password", "another long password 2"
	if _, err := cli(t, vars, oldPW+"\n", "user", "create", "--email", "Op@Example.com", "--first-name", "Olga", "--last-name", "Op"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, vars, oldPW+"\n", "user", "create", "--email", "other@example.com", "--first-name", "Otto", "--last-name", "Other"); err != nil {
		t.Fatal(err)
	}
	base, _ := startServe(t, vars)
	test := base + "/v1/test"

	// list and show: the public view, never the hash. A search sees users
	// made up to a second ago (near-real-time), so refresh first.
	estest.MustDo(t, "POST", "/"+vars["ESAUTH_INDEX_PREFIX"]+"users/_refresh", "")
	out, err := cli(t, vars, "", "user", "list", "--query", "op", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var listed []map[string]any
	if err := json.Unmarshal([]byte(out), &listed); err != nil || len(listed) != 1 || listed[0]["email_address"] != "op@example.com" {
		t.Fatalf("user list --query op: %v %s", err, out)
	}
	out, err = cli(t, vars, "", "user", "show", "--email", "OP@example.com")
	if err != nil || !strings.Contains(out, "email:      op@example.com") || !strings.Contains(out, "active") {
		t.Fatalf("user show: %v %q", err, out)
	}
	for _, o := range []string{out} {
		if strings.Contains(o, "argon2") || strings.Contains(o, "password") {
			t.Errorf("output shows a hash or password: %q", o)
		}
	}

	// Sessions: listed, one revoked by id, all revoked.
	c1 := loginCookie(t, base, "op@example.com", oldPW)
	c2 := loginCookie(t, base, "op@example.com", oldPW)
	out, err = cli(t, vars, "", "sessions", "list", "--email", "op@example.com", "--json")
	var sessions []struct {
		ID string `json:"id"`
	}
	if err != nil || json.Unmarshal([]byte(out), &sessions) != nil || len(sessions) != 2 {
		t.Fatalf("sessions list: %v %s", err, out)
	}
	if _, err := cli(t, vars, "", "sessions", "revoke", "--email", "other@example.com", "--id", sessions[0].ID); err == nil {
		t.Error("revoking a session through another user's email worked")
	}
	if _, err := cli(t, vars, "", "sessions", "revoke", "--email", "op@example.com", "--id", sessions[0].ID); err != nil {
		t.Fatal(err)
	}
	if a, b := statusWith(t, test, c1), statusWith(t, test, c2); (a == http.StatusOK) == (b == http.StatusOK) {
		t.Errorf("after revoking one of two sessions: %d and %d; want one 200 and one 401", a, b)
	}
	if _, err := cli(t, vars, "", "sessions", "revoke", "--email", "op@example.com", "--all"); err != nil {
		t.Fatal(err)
	}
	if a, b := statusWith(t, test, c1), statusWith(t, test, c2); a != http.StatusUnauthorized || b != http.StatusUnauthorized {
		t.Errorf("after revoking all: %d and %d; want 401s", a, b)
	}
	if _, err := cli(t, vars, "", "sessions", "revoke", "--email", "op@example.com"); err == nil {
		t.Error("sessions revoke without --id or --all was accepted")
	}

	// Disable ends the sessions and refuses logins; enable lets logins back.
	c := loginCookie(t, base, "op@example.com", oldPW)
	if _, err := cli(t, vars, "", "user", "disable", "--email", "op@example.com"); err != nil {
		t.Fatal(err)
	}
	if s := statusWith(t, test, c); s != http.StatusUnauthorized {
		t.Errorf("a session of a disabled user: %d", s)
	}
	if s := post(t, base+"/v1/auth/login", `{"email_address":"op@example.com","password":"`+oldPW+`"}`); s != http.StatusForbidden {
		t.Errorf("login of a disabled user: %d; want 403", s)
	}
	if _, err := cli(t, vars, "", "user", "enable", "--email", "op@example.com"); err != nil {
		t.Fatal(err)
	}

	// Roles: validated as the API validates them.
	if _, err := cli(t, vars, "", "user", "set-role", "--email", "op@example.com", "--role", "root"); err == nil || !strings.Contains(err.Error(), "role:") {
		t.Errorf("set-role root: %v", err)
	}
	out, err = cli(t, vars, "", "user", "set-role", "--email", "op@example.com", "--role", "admin", "--json")
	if err != nil || !strings.Contains(out, `"role": "admin"`) {
		t.Errorf("set-role admin: %v %s", err, out)
	}

	// A new password: screened as at signup, ends every session.
	c = loginCookie(t, base, "op@example.com", oldPW)
	for _, bad := range []string{"short", "password123"} {
		if _, err := cli(t, vars, bad+"\n", "user", "set-password", "--email", "op@example.com"); err == nil || !strings.Contains(err.Error(), "password:") {
			t.Errorf("set-password %q: %v", bad, err)
		}
	}
	if _, err := cli(t, vars, newPW+"\n", "user", "set-password", "--email", "op@example.com"); err != nil {
		t.Fatal(err)
	}
	if s := statusWith(t, test, c); s != http.StatusUnauthorized {
		t.Errorf("a session from before the new password: %d", s)
	}
	if s := post(t, base+"/v1/auth/login", `{"email_address":"op@example.com","password":"`+oldPW+`"}`); s != http.StatusUnauthorized {
		t.Errorf("the old password: %d", s)
	}
	loginCookie(t, base, "op@example.com", newPW)

	// Every change is in the audit trail, by the operator (searched, so
	// refreshed first like the users).
	estest.MustDo(t, "POST", "/"+vars["ESAUTH_INDEX_PREFIX"]+"audit/_refresh", "")
	out, err = cli(t, vars, "", "audit", "--email", "op@example.com", "--json")
	var events []struct {
		Event, Actor string
	}
	if err != nil || json.Unmarshal([]byte(out), &events) != nil {
		t.Fatalf("audit: %v %s", err, out)
	}
	byOperator := map[string]bool{}
	for _, e := range events {
		if e.Actor == account.OperatorName {
			byOperator[e.Event] = true
		}
	}
	for _, want := range []string{"session_revoked", "logout_all", "user_disabled", "user_updated", "password_changed"} {
		if !byOperator[want] {
			t.Errorf("no %s event by the operator in %s", want, out)
		}
	}

	// Delete.
	if _, err := cli(t, vars, "", "user", "delete", "--email", "op@example.com"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli(t, vars, "", "user", "show", "--email", "op@example.com"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("show after delete: %v", err)
	}
}

func TestOperatorCommandsRefuseBadUsage(t *testing.T) {
	vars := testEnv(t)
	for _, args := range [][]string{
		{"user"}, {"user", "frobnicate"}, {"sessions", "list"}, {"user", "show"}, {"audit"},
		{"user", "list", "--limit", "0"}, {"user", "show", "--email", "a@example.com", "extra"},
	} {
		if _, err := cli(t, vars, "", args...); err == nil {
			t.Errorf("esauth %s succeeded", strings.Join(args, " "))
		}
	}
}

// cliStatus runs esauth with args and returns what it printed on stdout
// and stderr and the status main would exit with.
func cliStatus(t *testing.T, vars map[string]string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out, errOut bytes.Buffer
	err := run(ctx, append([]string{"esauth"}, args...), env(vars), strings.NewReader(""), &out, &errOut)
	return out.String(), errOut.String(), exitCode(err)
}

// deadES is a configuration whose Elasticsearch drops every connection, for
// command lines that must be refused before anything is asked of it.
func deadES(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{"ELASTICSEARCH_URL": estest.DeadURL(t), "ESAUTH_ADDR": "127.0.0.1:0", "ESAUTH_ES_TIMEOUT": "500ms", "ESAUTH_LOG_LEVEL": "error"}
}

func TestCommandLinesThatDoNotParseExitTwoWithTheirCommandsUsage(t *testing.T) {
	vars := deadES(t)
	tests := []struct {
		name    string
		args    []string
		usageOf []string // the command whose --help text must follow the problem
		problem string
	}{
		{"user delete refuses --all", []string{"user", "delete", "--email", "a@example.com", "--all"}, []string{"user", "delete"}, "-all"},
		{"user show refuses --role", []string{"user", "show", "--email", "a@example.com", "--role", "admin"}, []string{"user", "show"}, "-role"},
		{"user list refuses --email", []string{"user", "list", "--email", "a@example.com"}, []string{"user", "list"}, "-email"},
		{"user create refuses --json", []string{"user", "create", "--email", "a@example.com", "--json"}, []string{"user", "create"}, "-json"},
		{"sessions revoke refuses --role", []string{"sessions", "revoke", "--email", "a@example.com", "--all", "--role", "x"}, []string{"sessions", "revoke"}, "-role"},
		{"audit refuses --all", []string{"audit", "--email", "a@example.com", "--all"}, []string{"audit"}, "-all"},
		{"init refuses --json", []string{"init", "--json"}, []string{"init"}, "-json"},
		{"import refuses --all", []string{"import", "--from-url", "http://127.0.0.1:1", "--from-index", "example", "--all"}, []string{"import"}, "-all"},
		{"serve refuses any flag", []string{"serve", "--port", "8080"}, []string{"serve"}, "-port"},
		{"a stray argument is refused", []string{"user", "show", "--email", "a@example.com", "extra"}, []string{"user", "show"}, `"extra"`},
		{"version refuses an argument", []string{"version", "now"}, []string{"version"}, `"now"`},
		{"an unknown user subcommand", []string{"user", "frobnicate"}, []string{"user"}, `"frobnicate"`},
		{"user without a subcommand", []string{"user"}, []string{"user"}, "missing command"},
		{"an unknown sessions subcommand", []string{"sessions", "frobnicate", "--email", "a@example.com"}, []string{"sessions"}, `"frobnicate"`},
		{"an unknown command", []string{"frobnicate"}, nil, `"frobnicate"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			usage, _, _ := cliStatus(t, vars, append(tt.usageOf, "--help")...)
			out, errOut, code := cliStatus(t, vars, tt.args...)
			if code != 2 {
				t.Errorf("exit status %d; want 2 (stderr %q)", code, errOut)
			}
			if out != "" {
				t.Errorf("stdout %q; want nothing", out)
			}
			problem, rest, _ := strings.Cut(errOut, "\n")
			if want := strings.Join(append([]string{"esauth"}, tt.usageOf...), " ") + ": "; !strings.HasPrefix(problem, want) || !strings.Contains(problem, tt.problem) {
				t.Errorf("first line of stderr %q; want %q naming %s", problem, want, tt.problem)
			}
			if usage == "" || rest != usage {
				t.Errorf("after the problem, stderr holds\n%s\nwant the usage of esauth %s:\n%s", rest, strings.Join(tt.usageOf, " "), usage)
			}
		})
	}
}

func TestEachCommandsHelpListsOnlyItsFlags(t *testing.T) {
	tests := []struct {
		args  []string // the command and its help flag
		flags []string // sorted, as the flag package prints them
	}{
		{[]string{"user", "delete", "--help"}, []string{"email", "json"}},
		{[]string{"user", "list", "-h"}, []string{"json", "limit", "query"}},
		{[]string{"user", "show", "--help"}, []string{"email", "json"}},
		{[]string{"user", "set-role", "--help"}, []string{"email", "json", "role"}},
		{[]string{"user", "set-password", "--help"}, []string{"email", "json"}},
		{[]string{"user", "create", "--help"}, []string{"admin", "email", "first-name", "last-name"}},
		{[]string{"sessions", "list", "--help"}, []string{"email", "json", "limit"}},
		{[]string{"sessions", "revoke", "-help"}, []string{"all", "created-from", "created-to", "dry-run", "email", "id", "ip", "json", "seen-from", "seen-to", "user-agent"}},
		{[]string{"events", "search", "-help"}, []string{"actor", "email", "event", "from", "ip", "json", "limit", "new-device", "outcome", "to", "user-agent"}},
		{[]string{"lockouts", "clear", "-help"}, []string{"email", "json"}},
		{[]string{"audit", "--help"}, []string{"email", "json", "limit"}},
		{[]string{"init", "--help"}, []string{"repair", "sample-user"}},
		{[]string{"import", "--help"}, []string{"dry-run", "from-index", "from-url", "json"}},
		{[]string{"version", "--help"}, []string{"json"}},
		{[]string{"migrate", "--help"}, nil},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, code := cliStatus(t, deadES(t), tt.args...)
			if code != 0 || errOut != "" {
				t.Errorf("exit status %d, stderr %q; want 0 and nothing", code, errOut)
			}
			cmd := strings.Join(tt.args[:len(tt.args)-1], " ")
			if !strings.HasPrefix(out, "usage: esauth "+cmd) {
				t.Errorf("stdout does not start with the usage of esauth %s:\n%s", cmd, out)
			}
			var flags []string
			for _, line := range strings.Split(out, "\n") {
				if f, ok := strings.CutPrefix(line, "  -"); ok {
					flags = append(flags, strings.Fields(f)[0])
				}
			}
			if !slices.Equal(flags, tt.flags) {
				t.Errorf("flags %v; want %v in\n%s", flags, tt.flags, out)
			}
		})
	}
}

// A group's usage lists each of its subcommands as that subcommand's own
// --help gives it, so the two cannot drift apart.
func TestAGroupsHelpListsEachSubcommandsUsage(t *testing.T) {
	vars := deadES(t)
	for group, subs := range map[string][]string{
		"user":     {"create", "list", "show", "disable", "enable", "set-role", "delete", "set-password"},
		"sessions": {"list", "revoke"},
		"events":   {"search", "stats"},
		"lockouts": {"list", "clear"},
	} {
		usage, errOut, code := cliStatus(t, vars, group, "--help")
		if code != 0 || errOut != "" {
			t.Errorf("esauth %s --help: exit status %d, stderr %q; want 0 and nothing", group, code, errOut)
		}
		for _, sub := range subs {
			help, _, _ := cliStatus(t, vars, group, sub, "--help")
			synopsis, _, _ := strings.Cut(help, "\n")
			synopsis, ok := strings.CutPrefix(synopsis, "usage: ")
			if !ok || !strings.Contains(usage, "\n  "+synopsis+"\n") {
				t.Errorf("esauth %s --help does not list %q:\n%s", group, synopsis, usage)
			}
		}
	}
}

func TestVersionPrintsTheBuild(t *testing.T) {
	out, err := cli(t, nil, "", "version")
	if err != nil || !strings.HasPrefix(out, "esauth ") {
		t.Errorf("version: %v %q", err, out)
	}
	out, err = cli(t, nil, "", "version", "--json")
	var v map[string]any
	if err != nil || json.Unmarshal([]byte(out), &v) != nil || v["go"] == "" {
		t.Errorf("version --json: %v %q", err, out)
	}
}

// werkzeugFixture is one of the real werkzeug hashes in
// lib/password/testdata/werkzeug (see make_fixtures.py there).
type werkzeugFixture struct {
	Werkzeug, Method, Password, Hash string
}

func werkzeugFixtures(t *testing.T) []werkzeugFixture {
	t.Helper()
	b, err := os.ReadFile("lib/password/testdata/werkzeug/hashes.json")
	if err != nil {
		t.Fatal(err)
	}
	var f []werkzeugFixture
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestImportBringsTheFlaskAppsUsersOverOnceAndTheirPasswordsWork(t *testing.T) {
	vars := testEnv(t)
	source := vars["ESAUTH_INDEX_PREFIX"] + "flask-example"
	t.Cleanup(func() { estest.Do(t, "DELETE", "/"+source, "") })
	// The default hash of each werkzeug release, as the Flask app stores them.
	var defaults []werkzeugFixture
	for _, f := range werkzeugFixtures(t) {
		if f.Method == "default" {
			defaults = append(defaults, f)
		}
	}
	if len(defaults) < 4 {
		t.Fatalf("%d default fixtures", len(defaults))
	}
	put := func(id, body string) {
		t.Helper()
		estest.MustDo(t, "PUT", "/"+source+"/_doc/"+url.PathEscape(id), body)
	}
	for i, f := range defaults {
		email := fmt.Sprintf("flask%d@example.com", i)
		put(email, fmt.Sprintf(`{"email_address":%q,"first_name":"Flask","last_name":"User %d","password":%q,"is_active":true,"created_at":1700000000.%06d}`,
			email, i, f.Hash, i*111111))
	}
	put("gone@example.com", fmt.Sprintf(`{"email_address":"gone@example.com","first_name":"Gone","last_name":"Away","password":%q,"is_active":false,"created_at":1600000000.5}`, defaults[0].Hash))
	put("Taken@Example.com", fmt.Sprintf(`{"email_address":"Taken@Example.com","first_name":"T","last_name":"K","password":%q,"created_at":1600000000}`, defaults[0].Hash))
	put("broken@example.com", `{"email_address":"broken@example.com","first_name":"B","last_name":"","password":"hunter2"}`)
	estest.MustDo(t, "POST", "/"+source+"/_refresh", "")
	if _, err := cli(t, vars, "an esauth password 1\n", "user", "create", "--email", "taken@example.com", "--first-name", "Esauth", "--last-name", "User"); err != nil {
		t.Fatal(err)
	}

	from := []string{"import", "--from-url", estest.URL(), "--from-index", source}
	summary := func(out string) (s struct {
		Summary map[string]int `json:"summary"`
	}) {
		t.Helper()
		if err := json.Unmarshal([]byte(out), &s); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		return s
	}
	want := func(got map[string]int, read, imported, already, conflicts, invalid int) {
		t.Helper()
		w := map[string]int{"read": read, "imported": imported, "already_imported": already, "conflicts": conflicts, "invalid": invalid}
		for k, v := range w {
			if got[k] != v {
				t.Errorf("%s = %d; want %d (%v)", k, got[k], v, got)
			}
		}
	}
	// A dry run writes nothing.
	out, err := cli(t, vars, "", append(from, "--dry-run", "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	n := len(defaults) + 1 // and gone@
	want(summary(out).Summary, n+2, n, 0, 1, 1)
	if _, err := cli(t, vars, "", "user", "show", "--email", "flask0@example.com"); err == nil {
		t.Fatal("the dry run made a user")
	}
	// The import.
	out, err = cli(t, vars, "", append(from, "--json")...)
	if err != nil {
		t.Fatal(err)
	}
	want(summary(out).Summary, n+2, n, 0, 1, 1)
	if !strings.Contains(out, "taken@example.com") || !strings.Contains(out, "last_name:") {
		t.Errorf("the report does not name the conflict and the invalid document: %s", out)
	}
	if strings.Contains(out, "hunter2") || strings.Contains(out, defaults[0].Hash) {
		t.Error("the report shows a password or a hash")
	}

	// Every imported password works, and becomes argon2id at its login; a
	// disabled user stays disabled; the esauth user with the taken email
	// keeps its own password.
	base, _ := startServe(t, vars)
	for i, f := range defaults {
		email := fmt.Sprintf("flask%d@example.com", i)
		body, _ := json.Marshal(map[string]string{"email_address": email, "password": f.Password})
		if s := post(t, base+"/v1/auth/login", string(body)); s != http.StatusOK {
			t.Errorf("login with the werkzeug %s hash: %d", f.Werkzeug, s)
		}
		doc := estest.MustDo(t, "GET", "/"+vars["ESAUTH_INDEX_PREFIX"]+"users/_doc/"+email, "")
		if !strings.Contains(doc, `"password_hash":"$argon2id$`) {
			t.Errorf("the werkzeug %s hash was not replaced at login: %s", f.Werkzeug, doc)
		}
	}
	body, _ := json.Marshal(map[string]string{"email_address": "gone@example.com", "password": defaults[0].Password})
	if s := post(t, base+"/v1/auth/login", string(body)); s != http.StatusForbidden {
		t.Errorf("login of an imported inactive user: %d; want 403", s)
	}
	body, _ = json.Marshal(map[string]string{"email_address": "taken@example.com", "password": defaults[0].Password})
	if s := post(t, base+"/v1/auth/login", string(body)); s != http.StatusUnauthorized {
		t.Errorf("the Flask password of a taken email logged in: %d", s)
	}

	// A second run changes nothing, even after the hashes were replaced.
	before := estest.MustDo(t, "GET", "/"+vars["ESAUTH_INDEX_PREFIX"]+"users/_doc/flask1@example.com", "")
	out, err = cli(t, vars, "", from...)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, fmt.Sprintf("read %d: imported 0, already imported %d, conflicting 1, invalid 1", n+2, n)) {
		t.Errorf("second run: %q", out)
	}
	if after := estest.MustDo(t, "GET", "/"+vars["ESAUTH_INDEX_PREFIX"]+"users/_doc/flask1@example.com", ""); after != before {
		t.Errorf("the second run changed a user:\n%s\n%s", before, after)
	}
}

func TestImportFromAMissingIndexSaysSoWithoutTheURLsPassword(t *testing.T) {
	vars := testEnv(t)
	u, _ := url.Parse(estest.URL())
	u.User = url.UserPassword("flask", "s3cret-pass")
	_, err := cli(t, vars, "", "import", "--from-url", u.String(), "--from-index", vars["ESAUTH_INDEX_PREFIX"]+"no-such-index")
	if err == nil || !strings.Contains(err.Error(), "no-such-index") || strings.Contains(err.Error(), "s3cret-pass") {
		t.Errorf("err = %v", err)
	}
	if _, err := cli(t, vars, "", "import", "--from-url", estest.URL()); err == nil {
		t.Error("import without --from-index was accepted")
	}
}

func signupBody(email string) string {
	return `{"email_address":"` + email + `","password":"long enough pw 1","first_name":"M","last_name":"N"}`
}

// Without a mail server the links go to the log (development), loudly.
func TestServeWithoutSMTPWritesTheLinksToTheLog(t *testing.T) {
	vars := testEnv(t)
	vars["ESAUTH_LOG_LEVEL"] = "info"
	var logs syncBuffer
	base, _, stop := startServeTo(t, vars, &logs)
	if s := post(t, base+"/v1/users", signupBody("dev@example.com")); s != http.StatusCreated {
		t.Fatalf("signup: %d", s)
	}
	waitLog := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(logs.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("the log never said %q:\n%s", want, logs.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLog("/verify-email?token=")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "mail is not configured") {
		t.Error("no loud warning that mail is not configured")
	}
}

// With a mail server, the mail goes out; one the server refuses is logged
// and audited, and the request that caused it still succeeded.
func TestServeMailsThroughSMTPAndAuditsAFailure(t *testing.T) {
	smtp := mailtest.Start(t)
	vars := testEnv(t)
	vars["ESAUTH_SMTP_URL"] = smtp.URL()
	vars["ESAUTH_PUBLIC_URL"] = "https://auth.example.test"
	vars["ESAUTH_MAIL_FROM"] = "Accounts <no-reply@example.test>"
	base, _, stop := startServeTo(t, vars, io.Discard)
	if s := post(t, base+"/v1/users", signupBody("mailed@example.com")); s != http.StatusCreated {
		t.Fatalf("signup: %d", s)
	}
	got := smtp.Wait(t, 1, 10*time.Second)
	if link := mailtest.Link(t, got[0], "https://auth.example.test/verify-email?token="); link == "" {
		t.Fatal("no link")
	}
	if got[0].From != "no-reply@example.test" {
		t.Errorf("from %q", got[0].From)
	}
	smtp.FailNext(1, mailtest.AtRcpt, 550)
	if s := post(t, base+"/v1/users", signupBody("bounced@example.com")); s != http.StatusCreated {
		t.Fatalf("signup with a failing mail server: %d", s)
	}
	if err := stop(); err != nil { // sends what is queued, flushes the audit log
		t.Fatal(err)
	}
	estest.MustDo(t, "POST", "/"+vars["ESAUTH_INDEX_PREFIX"]+"audit/_refresh", "")
	body := estest.MustDo(t, "POST", "/"+vars["ESAUTH_INDEX_PREFIX"]+"audit/_search",
		`{"query":{"bool":{"filter":[{"term":{"event":"mail_failed"}},{"term":{"email":"bounced@example.com"}}]}}}`)
	if !strings.Contains(body, `"mail_failed"`) {
		t.Errorf("no mail_failed event: %s", body)
	}
}

// The passkeys' settings: on from ESAUTH_PUBLIC_URL alone, off with a
// warning when that URL cannot serve them (an IP address), and a wrong
// explicit setting stops the start naming it.
func TestServeWiresPasskeysFromTheirSettings(t *testing.T) {
	begin := func(base string) int {
		t.Helper()
		res, err := http.Post(base+"/v1/auth/passkeys/login/begin", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, tc := range []struct {
		name string
		vars map[string]string
		want int
		warn bool
	}{
		{"the public URL's host", map[string]string{"ESAUTH_PUBLIC_URL": "https://auth.example.com"}, http.StatusOK, false},
		{"an IP address as public URL", map[string]string{"ESAUTH_PUBLIC_URL": "http://127.0.0.1:8000"}, http.StatusNotFound, true},
		{"nothing set", map[string]string{}, http.StatusNotFound, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vars := testEnv(t)
			maps.Copy(vars, tc.vars)
			vars["ESAUTH_LOG_LEVEL"] = "info"
			var logs syncBuffer
			base, _, stop := startServeTo(t, vars, &logs)
			if got := begin(base); got != tc.want {
				t.Errorf("login/begin: %d, want %d", got, tc.want)
			}
			_ = stop()
			if warned := strings.Contains(logs.String(), "ESAUTH_PUBLIC_URL cannot serve them"); warned != tc.warn {
				t.Errorf("the log warns the public URL cannot serve passkeys: %v, want %v: %s", warned, tc.warn, logs.String())
			}
		})
	}
	for _, tc := range []struct {
		vars map[string]string
		want string
	}{
		{map[string]string{"ESAUTH_WEBAUTHN_RP_ID": "127.0.0.1", "ESAUTH_WEBAUTHN_ORIGINS": "http://127.0.0.1:8000"}, "ESAUTH_WEBAUTHN_RP_ID"},
		{map[string]string{"ESAUTH_PUBLIC_URL": "https://auth.example.com", "ESAUTH_WEBAUTHN_RP_ID": "example.org"}, "ESAUTH_WEBAUTHN_RP_ID"},
		{map[string]string{"ESAUTH_WEBAUTHN_RP_ID": "example.com", "ESAUTH_WEBAUTHN_ORIGINS": "http://auth.example.com"}, "ESAUTH_WEBAUTHN_ORIGINS"},
		{map[string]string{"ESAUTH_WEBAUTHN_RP_ID": "example.com"}, "ESAUTH_WEBAUTHN_ORIGINS"},
	} {
		vars := testEnv(t)
		maps.Copy(vars, tc.vars)
		err := run(context.Background(), []string{"esauth", "serve"}, env(vars), strings.NewReader(""), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v; want an error naming %s", tc.vars, err, tc.want)
		}
	}
}
