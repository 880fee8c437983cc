package config_test

import (
	"bytes"
	"encoding/base64"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"esauth/config"
)

// env returns a getenv that reads only m, so the tests never see the
// environment of the machine running them.
func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func load(t *testing.T, m map[string]string) config.Config {
	t.Helper()
	c, err := config.Load(env(m))
	if err != nil {
		t.Fatalf("Load(%v): %v", m, err)
	}
	return c
}

func b64(n int) string { return base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{9}, n)) }

func TestLoadWithAnEmptyEnvironmentGivesTheDefaults(t *testing.T) {
	c := load(t, nil)
	checks := []struct {
		name      string
		got, want any
	}{
		{"Addr", c.Addr, "127.0.0.1:8000"},
		{"ESURLs", c.ESURLs, []string{"http://127.0.0.1:9200"}},
		{"ESUsername", c.ESUsername, ""},
		{"ESPassword", c.ESPassword, ""},
		{"ESAPIKey", c.ESAPIKey, ""},
		{"ESCACert", c.ESCACert, ""},
		{"ESTimeout", c.ESTimeout, 5 * time.Second},
		{"IndexPrefix", c.IndexPrefix, "esauth-"},
		{"CookieName", c.CookieName, "session"},
		{"CookieSecure", c.CookieSecure, true},
		{"CookieHashKey", c.CookieHashKey, []byte(nil)},
		{"CookieBlockKey", c.CookieBlockKey, []byte(nil)},
		{"CookiePrevHashKey", c.CookiePrevHashKey, []byte(nil)},
		{"CookiePrevBlockKey", c.CookiePrevBlockKey, []byte(nil)},
		{"SessionTTL", c.SessionTTL, 12 * time.Hour},
		{"SessionIdle", c.SessionIdle, 2 * time.Hour},
		{"RememberTTL", c.RememberTTL, 720 * time.Hour},
		{"HashConcurrency", c.HashConcurrency, 0},
		{"HashWait", c.HashWait, 2 * time.Second},
		{"RequestTimeout", c.RequestTimeout, 10 * time.Second},
		{"ESIdleConns", c.ESIdleConns, 256},
		{"ESGzip", c.ESGzip, false},
		{"IPv6Prefix", c.IPv6Prefix, 64},
		{"MaxSessions", c.MaxSessions, 100},
		{"LogLevel", c.LogLevel, "info"},
		{"ShutdownGracePeriod", c.ShutdownGracePeriod, 15 * time.Second},
		{"LoginPerMinute", c.LoginPerMinute, 10.0},
		{"LoginBurst", c.LoginBurst, 10},
		{"SignupPerMinute", c.SignupPerMinute, 5.0},
		{"SignupBurst", c.SignupBurst, 5},
		{"LockoutThreshold", c.LockoutThreshold, 5},
		{"LockoutBase", c.LockoutBase, time.Second},
		{"LockoutMax", c.LockoutMax, 15 * time.Minute},
		{"GCPercent", c.GCPercent, 200},
		{"IndexShards", c.IndexShards, 1},
		{"MailFrom", c.MailFrom, "esauth <no-reply@localhost>"},
		{"RequireVerifiedEmail", c.RequireVerifiedEmail, false},
		{"RequireTOTPForAdmins", c.RequireTOTPForAdmins, false},
		{"NewDeviceNotice", c.NewDeviceNotice, true},
		{"IndexReplicas", c.IndexReplicas, "0-1"},
		{"AdminAddr", c.AdminAddr, ""},
		{"PurgeInterval", c.PurgeInterval, time.Hour},
		{"LimitsSync", c.LimitsSync, time.Second},
	}
	for _, ck := range checks {
		if !reflect.DeepEqual(ck.got, ck.want) {
			t.Errorf("default %s = %#v; want %#v", ck.name, ck.got, ck.want)
		}
	}
}

func TestLoadReadsEverySetting(t *testing.T) {
	c := load(t, map[string]string{
		"ESAUTH_ADDR":                      ":9000",
		"ESAUTH_ADMIN_ADDR":                "127.0.0.1:9090",
		"ESAUTH_PURGE_INTERVAL":            "5m",
		"ESAUTH_MAIL_FROM":                 "Accounts <no-reply@example.com>",
		"ESAUTH_REQUIRE_VERIFIED_EMAIL":    "true",
		"ESAUTH_REQUIRE_TOTP_FOR_ADMINS":   "true",
		"ESAUTH_NEW_DEVICE_NOTICE":         "false",
		"ELASTICSEARCH_URL":                "https://es.example:9200",
		"ELASTICSEARCH_USERNAME":           "elastic",
		"ELASTICSEARCH_PASSWORD":           "changeme",
		"ELASTICSEARCH_API_KEY":            "aWQ6a2V5",
		"ELASTICSEARCH_CA_CERT":            "/etc/ca.pem",
		"ESAUTH_ES_TIMEOUT":                "750ms",
		"ESAUTH_INDEX_PREFIX":              "test-1-",
		"ESAUTH_INDEX_SHARDS":              "3",
		"ESAUTH_INDEX_REPLICAS":            "1-all",
		"ESAUTH_COOKIE_NAME":               "sid",
		"ESAUTH_COOKIE_SECURE":             "false",
		"ESAUTH_COOKIE_HASH_KEY":           b64(64),
		"ESAUTH_COOKIE_BLOCK_KEY":          b64(16),
		"ESAUTH_COOKIE_PREVIOUS_HASH_KEY":  b64(32),
		"ESAUTH_COOKIE_PREVIOUS_BLOCK_KEY": b64(24),
		"ESAUTH_SESSION_TTL":               "1h",
		"ESAUTH_SESSION_IDLE":              "10m",
		"ESAUTH_REMEMBER_TTL":              "48h",
		"ESAUTH_HASH_CONCURRENCY":          "3",
		"ESAUTH_HASH_WAIT":                 "500ms",
		"ESAUTH_REQUEST_TIMEOUT":           "3s",
		"ESAUTH_ES_IDLE_CONNS":             "32",
		"ESAUTH_ES_GZIP":                   "true",
		"ESAUTH_IPV6_PREFIX":               "56",
		"ESAUTH_MAX_SESSIONS":              "7",
		"ESAUTH_TRUSTED_ORIGINS":           "https://app.example.com, http://localhost:3000",
		"ESAUTH_CORS_ORIGINS":              "https://spa.example.net",
		"ESAUTH_TRUSTED_PROXIES":           "10.0.0.1, 192.168.0.0/16, ::1",
		"ESAUTH_FORWARD_PROXY":             "traefik",
		"ESAUTH_LOGIN_RATE":                "2.5",
		"ESAUTH_LOGIN_BURST":               "4",
		"ESAUTH_SIGNUP_RATE":               "0",
		"ESAUTH_SIGNUP_BURST":              "0",
		"ESAUTH_LOCKOUT_THRESHOLD":         "3",
		"ESAUTH_LOCKOUT_BASE":              "2s",
		"ESAUTH_LOCKOUT_MAX":               "1h",
		"ESAUTH_PWNED_URL":                 "https://pwned.example",
		"ESAUTH_LOG_LEVEL":                 "debug",
		"ESAUTH_SHUTDOWN_TIMEOUT":          "1m",
		"ESAUTH_LIMITS_SYNC":               "250ms",
		"ESAUTH_WEBAUTHN_RP_ID":            "Example.COM",
		"ESAUTH_WEBAUTHN_ORIGINS":          "https://auth.example.com, https://example.com",
		"ESAUTH_WEBAUTHN_RP_NAME":          "Example accounts",
		"GOGC":                             "150",
	})
	want := config.Config{
		Addr: ":9000", AdminAddr: "127.0.0.1:9090", PurgeInterval: 5 * time.Minute, LimitsSync: 250 * time.Millisecond, ForwardProxy: "traefik",
		MailFrom: "Accounts <no-reply@example.com>", RequireVerifiedEmail: true, RequireTOTPForAdmins: true, ESURLs: []string{"https://es.example:9200"}, ESUsername: "elastic", ESPassword: "changeme",
		ESAPIKey: "aWQ6a2V5", ESCACert: "/etc/ca.pem", ESTimeout: 750 * time.Millisecond, IndexPrefix: "test-1-", IndexShards: 3, IndexReplicas: "1-all",
		CookieName: "sid", CookieSecure: false,
		CookieHashKey: bytes.Repeat([]byte{9}, 64), CookieBlockKey: bytes.Repeat([]byte{9}, 16),
		CookiePrevHashKey: bytes.Repeat([]byte{9}, 32), CookiePrevBlockKey: bytes.Repeat([]byte{9}, 24),
		SessionTTL: time.Hour, SessionIdle: 10 * time.Minute, RememberTTL: 48 * time.Hour,
		HashConcurrency: 3, HashWait: 500 * time.Millisecond, RequestTimeout: 3 * time.Second, ESIdleConns: 32, ESGzip: true, IPv6Prefix: 56, MaxSessions: 7, LogLevel: "debug", ShutdownGracePeriod: time.Minute,
		TrustedOrigins: []string{"https://app.example.com", "http://localhost:3000"},
		CORSOrigins:    []string{"https://spa.example.net"},
		TrustedProxies: []netip.Prefix{
			netip.MustParsePrefix("10.0.0.1/32"), netip.MustParsePrefix("192.168.0.0/16"), netip.MustParsePrefix("::1/128"),
		},
		LoginPerMinute: 2.5, LoginBurst: 4,
		LockoutThreshold: 3, LockoutBase: 2 * time.Second, LockoutMax: time.Hour,
		PwnedURL: "https://pwned.example", GCPercent: 150,
		WebAuthnRPID: "example.com", WebAuthnOrigins: []string{"https://auth.example.com", "https://example.com"}, WebAuthnRPName: "Example accounts",
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load = %+v;\nwant %+v", c, want)
	}
}

func TestElasticsearchURLIsACommaSeparatedList(t *testing.T) {
	tests := []struct {
		name string
		v    string
		want []string
	}{
		{"one URL gives one node", "http://a:9200", []string{"http://a:9200"}},
		{"URLs separated by commas give several nodes", "http://a:9200,http://b:9200", []string{"http://a:9200", "http://b:9200"}},
		{"spaces around the URLs are trimmed", "  http://a:9200 ,\thttp://b:9200  , http://c:9200", []string{"http://a:9200", "http://b:9200", "http://c:9200"}},
		{"empty items are dropped", ",http://a:9200,, ,http://b:9200,", []string{"http://a:9200", "http://b:9200"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := load(t, map[string]string{"ELASTICSEARCH_URL": tt.v})
			if !reflect.DeepEqual(c.ESURLs, tt.want) {
				t.Errorf("ESURLs = %q; want %q", c.ESURLs, tt.want)
			}
		})
	}
}

func TestBadValuesGiveAnErrorNamingTheVariable(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		wants []string // each must appear in the error
	}{
		{"a session TTL that is not a duration", map[string]string{"ESAUTH_SESSION_TTL": "abc"}, []string{"ESAUTH_SESSION_TTL"}},
		{"a duration without a unit", map[string]string{"ESAUTH_SESSION_IDLE": "30"}, []string{"ESAUTH_SESSION_IDLE"}},
		{"a cookie-secure flag that is not a boolean", map[string]string{"ESAUTH_COOKIE_SECURE": "maybe"}, []string{"ESAUTH_COOKIE_SECURE"}},
		{"an upper-case index prefix", map[string]string{"ESAUTH_INDEX_PREFIX": "Upper"}, []string{"ESAUTH_INDEX_PREFIX"}},
		{"an index prefix with a slash", map[string]string{"ESAUTH_INDEX_PREFIX": "a/b-"}, []string{"ESAUTH_INDEX_PREFIX"}},
		{"an index prefix starting with an underscore", map[string]string{"ESAUTH_INDEX_PREFIX": "_x-"}, []string{"ESAUTH_INDEX_PREFIX"}},
		{"an unknown log level", map[string]string{"ESAUTH_LOG_LEVEL": "loud"}, []string{"ESAUTH_LOG_LEVEL"}},
		{"an origin with a path", map[string]string{"ESAUTH_TRUSTED_ORIGINS": "https://app.example.com/login"}, []string{"ESAUTH_TRUSTED_ORIGINS"}},
		{"a CORS wildcard", map[string]string{"ESAUTH_CORS_ORIGINS": "*"}, []string{"ESAUTH_CORS_ORIGINS", "wildcard"}},
		{"a CORS wildcard subdomain", map[string]string{"ESAUTH_CORS_ORIGINS": "https://*.example.com"}, []string{"ESAUTH_CORS_ORIGINS"}},
		{"a CORS origin with a path", map[string]string{"ESAUTH_CORS_ORIGINS": "https://app.example.com/"}, []string{"ESAUTH_CORS_ORIGINS"}},
		{"a proxy that is no address", map[string]string{"ESAUTH_TRUSTED_PROXIES": "proxy.internal"}, []string{"ESAUTH_TRUSTED_PROXIES"}},
		{"a forward proxy of no known kind", map[string]string{"ESAUTH_FORWARD_PROXY": "haproxy"}, []string{"ESAUTH_FORWARD_PROXY"}},
		{"a negative login rate", map[string]string{"ESAUTH_LOGIN_RATE": "-1"}, []string{"ESAUTH_LOGIN_RATE"}},
		{"a burst that is no number", map[string]string{"ESAUTH_SIGNUP_BURST": "lots"}, []string{"ESAUTH_SIGNUP_BURST"}},
		{"a breach API that is no URL", map[string]string{"ESAUTH_PWNED_URL": "ftp://x"}, []string{"ESAUTH_PWNED_URL"}},
		{"a log level in upper case", map[string]string{"ESAUTH_LOG_LEVEL": "INFO"}, []string{"ESAUTH_LOG_LEVEL"}},
		{"a cookie name with a space", map[string]string{"ESAUTH_COOKIE_NAME": "my session"}, []string{"ESAUTH_COOKIE_NAME"}},
		{"a cookie name with a semicolon", map[string]string{"ESAUTH_COOKIE_NAME": "a;b"}, []string{"ESAUTH_COOKIE_NAME"}},
		{"a hash concurrency that is not a number", map[string]string{"ESAUTH_HASH_CONCURRENCY": "many"}, []string{"ESAUTH_HASH_CONCURRENCY"}},
		{"a negative hash concurrency", map[string]string{"ESAUTH_HASH_CONCURRENCY": "-1"}, []string{"ESAUTH_HASH_CONCURRENCY"}},
		{"an IPv6 prefix longer than an address", map[string]string{"ESAUTH_IPV6_PREFIX": "129"}, []string{"ESAUTH_IPV6_PREFIX"}},
		{"an IPv6 prefix of zero", map[string]string{"ESAUTH_IPV6_PREFIX": "0"}, []string{"ESAUTH_IPV6_PREFIX"}},
		{"no idle connections", map[string]string{"ESAUTH_ES_IDLE_CONNS": "0"}, []string{"ESAUTH_ES_IDLE_CONNS"}},
		{"a GOGC that is not a number", map[string]string{"GOGC": "fast"}, []string{"GOGC"}},
		{"a GOGC of zero", map[string]string{"GOGC": "0"}, []string{"GOGC"}},
		{"an admin address equal to the public one", map[string]string{"ESAUTH_ADDR": ":8000", "ESAUTH_ADMIN_ADDR": ":8000"}, []string{"ESAUTH_ADMIN_ADDR"}},
		{"no shards", map[string]string{"ESAUTH_INDEX_SHARDS": "0"}, []string{"ESAUTH_INDEX_SHARDS"}},
		{"replicas that are no number", map[string]string{"ESAUTH_INDEX_REPLICAS": "two"}, []string{"ESAUTH_INDEX_REPLICAS"}},
		{"a replica range without an end", map[string]string{"ESAUTH_INDEX_REPLICAS": "0-"}, []string{"ESAUTH_INDEX_REPLICAS"}},
		{"a From that is no address", map[string]string{"ESAUTH_MAIL_FROM": "no-reply"}, []string{"ESAUTH_MAIL_FROM"}},
		{"a mail server without a public URL for the links", map[string]string{"ESAUTH_SMTP_URL": "smtp://mail.example.com"}, []string{"ESAUTH_PUBLIC_URL"}},
		{"a purge interval of zero", map[string]string{"ESAUTH_PURGE_INTERVAL": "0s"}, []string{"ESAUTH_PURGE_INTERVAL"}},
		{"a purge interval that is not a duration", map[string]string{"ESAUTH_PURGE_INTERVAL": "hourly"}, []string{"ESAUTH_PURGE_INTERVAL"}},
		{"a gzip flag that is not a boolean", map[string]string{"ESAUTH_ES_GZIP": "sometimes"}, []string{"ESAUTH_ES_GZIP"}},
		{"a zero hash wait", map[string]string{"ESAUTH_HASH_WAIT": "0s"}, []string{"ESAUTH_HASH_WAIT"}},
		{"a negative session cap", map[string]string{"ESAUTH_MAX_SESSIONS": "-1"}, []string{"ESAUTH_MAX_SESSIONS"}},
		{"an Elasticsearch URL list with no URL", map[string]string{"ELASTICSEARCH_URL": " , ,"}, []string{"ELASTICSEARCH_URL"}},
		{"a zero Elasticsearch timeout", map[string]string{"ESAUTH_ES_TIMEOUT": "0s"}, []string{"ESAUTH_ES_TIMEOUT"}},
		{"a negative session TTL", map[string]string{"ESAUTH_SESSION_TTL": "-1h"}, []string{"ESAUTH_SESSION_TTL"}},
		{"a zero idle timeout", map[string]string{"ESAUTH_SESSION_IDLE": "0s"}, []string{"ESAUTH_SESSION_IDLE"}},
		{"a zero remember-me TTL", map[string]string{"ESAUTH_REMEMBER_TTL": "0s"}, []string{"ESAUTH_REMEMBER_TTL"}},
		{"a shutdown timeout that is not a duration", map[string]string{"ESAUTH_SHUTDOWN_TIMEOUT": "soon"}, []string{"ESAUTH_SHUTDOWN_TIMEOUT"}},
		{"only the hash key set", map[string]string{"ESAUTH_COOKIE_HASH_KEY": b64(32)}, []string{"ESAUTH_COOKIE_BLOCK_KEY"}},
		{"only the block key set", map[string]string{"ESAUTH_COOKIE_BLOCK_KEY": b64(32)}, []string{"ESAUTH_COOKIE_HASH_KEY"}},
		{"only the previous hash key set", map[string]string{"ESAUTH_COOKIE_PREVIOUS_HASH_KEY": b64(32)},
			[]string{"ESAUTH_COOKIE_PREVIOUS_HASH_KEY", "ESAUTH_COOKIE_PREVIOUS_BLOCK_KEY"}},
		{"only the previous block key set", map[string]string{"ESAUTH_COOKIE_PREVIOUS_BLOCK_KEY": b64(32)},
			[]string{"ESAUTH_COOKIE_PREVIOUS_HASH_KEY", "ESAUTH_COOKIE_PREVIOUS_BLOCK_KEY"}},
		{"two bad values are both reported",
			map[string]string{"ESAUTH_SESSION_TTL": "abc", "ESAUTH_LOG_LEVEL": "loud"},
			[]string{"ESAUTH_SESSION_TTL", "ESAUTH_LOG_LEVEL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is an error naming the variable", func(t *testing.T) {
			c, err := config.Load(env(tt.env))
			if err == nil {
				t.Fatalf("Load(%v) = %+v, nil; want an error", tt.env, c)
			}
			for _, want := range tt.wants {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %s", err, want)
				}
			}
			if !reflect.DeepEqual(c, config.Config{}) {
				t.Errorf("Load returned %+v with its error; want the zero Config", c)
			}
		})
	}
}

func TestABadSecretIsNotEchoedInTheError(t *testing.T) {
	secrets := []string{
		"ESAUTH_COOKIE_HASH_KEY", "ESAUTH_COOKIE_BLOCK_KEY",
		"ESAUTH_COOKIE_PREVIOUS_HASH_KEY", "ESAUTH_COOKIE_PREVIOUS_BLOCK_KEY",
	}
	for _, name := range secrets {
		for _, value := range []string{"not base64!!", "Sup3r-S3cret/Value?"} {
			t.Run(name+"="+value, func(t *testing.T) {
				_, err := config.Load(env(map[string]string{name: value}))
				if err == nil {
					t.Fatalf("Load accepted %s=%q", name, value)
				}
				if !strings.Contains(err.Error(), name) {
					t.Errorf("error %q does not name %s", err, name)
				}
				if strings.Contains(err.Error(), value) {
					t.Errorf("error %q shows the secret value %q", err, value)
				}
			})
		}
	}
}

func TestABadPlainValueIsShownInTheError(t *testing.T) {
	// The counterpart of the secret test: for a setting that is not secret,
	// showing the value helps, so the hiding above is a choice, not an accident.
	_, err := config.Load(env(map[string]string{"ESAUTH_LOG_LEVEL": "loud"}))
	if err == nil || !strings.Contains(err.Error(), `"loud"`) {
		t.Errorf("error %v does not show the bad value \"loud\"", err)
	}
}

func TestMarkdownHasOneRowPerSettingThatLoadReads(t *testing.T) {
	var read []string
	seen := map[string]bool{}
	// With one provider listed, so that its variables are read too; their
	// rows name them with <P> for the provider.
	set := map[string]string{
		"ESAUTH_OAUTH_PROVIDERS": "acme", "ESAUTH_PUBLIC_URL": "https://auth.example.com",
		"ESAUTH_OAUTH_ACME_CLIENT_ID": "id", "ESAUTH_OAUTH_ACME_CLIENT_SECRET": "secret",
		"ESAUTH_OAUTH_ACME_ISSUER": "https://id.example.com",
	}
	if _, err := config.Load(func(k string) string {
		name := strings.Replace(k, "ESAUTH_OAUTH_ACME_", "ESAUTH_OAUTH_<P>_", 1)
		if !seen[name] {
			seen[name] = true
			read = append(read, name)
		}
		return set[k]
	}); err != nil {
		t.Fatal(err)
	}
	if len(read) < 20 {
		t.Fatalf("Load read only %d variables: %v", len(read), read)
	}

	md := config.Markdown()
	lines := strings.Split(strings.TrimSuffix(md, "\n"), "\n")
	if len(lines) < 2 || lines[0] != "| variable | default | meaning |" || lines[1] != "|---|---|---|" {
		t.Fatalf("Markdown does not start with the table header:\n%s", md)
	}
	rows := map[string]string{}
	for _, line := range lines[2:] {
		cells := strings.Split(line, "|")
		if len(cells) != 5 || cells[0] != "" || cells[4] != "" {
			t.Errorf("row %q does not have exactly three cells", line)
			continue
		}
		name := strings.Trim(strings.TrimSpace(cells[1]), "`")
		if _, dup := rows[name]; dup {
			t.Errorf("%s has two rows", name)
		}
		rows[name] = line
	}
	if len(rows) != len(read) {
		t.Errorf("Markdown has %d rows; Load reads %d variables", len(rows), len(read))
	}
	for _, name := range read {
		if _, ok := rows[name]; !ok {
			t.Errorf("Markdown has no row for %s, which Load reads", name)
		}
	}
	for name, want := range map[string]string{
		"ESAUTH_ADDR":            "| `ESAUTH_ADDR` | `127.0.0.1:8000` |",
		"ESAUTH_SESSION_TTL":     "| `ESAUTH_SESSION_TTL` | `12h` |",
		"ESAUTH_COOKIE_HASH_KEY": "| `ESAUTH_COOKIE_HASH_KEY` | (unset) |",
	} {
		if !strings.HasPrefix(rows[name], want) {
			t.Errorf("row for %s = %q; want it to start %q", name, rows[name], want)
		}
	}
}

func TestReadCACert(t *testing.T) {
	t.Run("no path gives no certificate and no error", func(t *testing.T) {
		b, err := config.Config{}.ReadCACert()
		if b != nil || err != nil {
			t.Errorf("ReadCACert = %q, %v; want nil, nil", b, err)
		}
	})
	t.Run("a path gives the file's bytes", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "ca.pem")
		want := []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
		if err := os.WriteFile(path, want, 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := config.Config{ESCACert: path}.ReadCACert()
		if err != nil || !bytes.Equal(b, want) {
			t.Errorf("ReadCACert = %q, %v; want %q, nil", b, err, want)
		}
	})
	t.Run("a missing file is an error naming the variable", func(t *testing.T) {
		_, err := config.Config{ESCACert: filepath.Join(t.TempDir(), "missing.pem")}.ReadCACert()
		if err == nil || !strings.Contains(err.Error(), "ELASTICSEARCH_CA_CERT") {
			t.Errorf("ReadCACert = %v; want an error naming ELASTICSEARCH_CA_CERT", err)
		}
	})
}

func TestCookieKeysOfTheWrongSizeAreRefusedNamingTheVariable(t *testing.T) {
	ten := "AAAAAAAAAAAAAA==" // 10 bytes
	k32 := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
	tests := []struct {
		name string
		vars map[string]string
		want string
	}{
		{"a short hash key", map[string]string{"ESAUTH_COOKIE_HASH_KEY": ten, "ESAUTH_COOKIE_BLOCK_KEY": k32}, "ESAUTH_COOKIE_HASH_KEY"},
		{"a short block key", map[string]string{"ESAUTH_COOKIE_HASH_KEY": k32, "ESAUTH_COOKIE_BLOCK_KEY": ten}, "ESAUTH_COOKIE_BLOCK_KEY"},
		{"a short previous hash key", map[string]string{"ESAUTH_COOKIE_PREVIOUS_HASH_KEY": ten, "ESAUTH_COOKIE_PREVIOUS_BLOCK_KEY": k32}, "ESAUTH_COOKIE_PREVIOUS_HASH_KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(func(k string) string { return tt.vars[k] })
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %s", err, tt.want)
			}
			if strings.Contains(err.Error(), ten) {
				t.Errorf("the error echoes the key: %v", err)
			}
		})
	}
	if _, err := config.Load(func(k string) string {
		return map[string]string{"ESAUTH_COOKIE_HASH_KEY": k32, "ESAUTH_COOKIE_BLOCK_KEY": k32}[k]
	}); err != nil {
		t.Errorf("32-byte keys refused: %v", err)
	}
}

func TestGOGCOffTurnsCollectionOff(t *testing.T) {
	if c := load(t, map[string]string{"GOGC": "off"}); c.GCPercent != -1 {
		t.Errorf("GOGC=off gave GCPercent %d; want -1 (debug.SetGCPercent's off)", c.GCPercent)
	}
}

func TestThePasskeysRelyingPartyDefaultsToThePublicURL(t *testing.T) {
	cases := []struct {
		env     map[string]string
		rpID    string
		origins []string
		on      bool
	}{
		{map[string]string{}, "", nil, false},
		{map[string]string{"ESAUTH_PUBLIC_URL": "https://auth.example.com:8443/esauth"}, "auth.example.com", []string{"https://auth.example.com:8443"}, true},
		{map[string]string{"ESAUTH_PUBLIC_URL": "https://auth.example.com", "ESAUTH_WEBAUTHN_RP_ID": "example.com"}, "example.com", []string{"https://auth.example.com"}, true},
		{map[string]string{"ESAUTH_WEBAUTHN_RP_ID": "localhost", "ESAUTH_WEBAUTHN_ORIGINS": "http://localhost:8000"}, "localhost", []string{"http://localhost:8000"}, true},
	}
	for _, tc := range cases {
		c, err := config.Load(func(k string) string { return tc.env[k] })
		if err != nil {
			t.Fatal(err)
		}
		rpID, origins, name, on := c.WebAuthn()
		if rpID != tc.rpID || !reflect.DeepEqual(origins, tc.origins) || on != tc.on || name != "esauth" {
			t.Errorf("%v: %q %q %q %v", tc.env, rpID, origins, name, on)
		}
	}
}
