// Package config loads esauth's settings from the environment. Every setting
// is declared once, in settings, with its default and help text; Load reads
// them and Markdown renders the README's table from the same list, so the
// two cannot disagree (config_test checks the README).
package config

import (
	"encoding/base64"
	"esauth/lib/seal"
	"fmt"
	"net/http"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is every setting of esauth.
type Config struct {
	Addr string
	// AdminAddr, when set, serves the probes and metrics alone, off Addr.
	AdminAddr string
	// ForwardRules is the path of the forward-auth rules file.
	ForwardRules string
	// ForwardProxy is the kind of reverse proxy that asks forward-auth
	// (nginx, traefik, caddy): it says which headers carry the request.
	ForwardProxy string
	// PurgeInterval is how often expired sessions are purged (by one
	// instance at a time).
	PurgeInterval time.Duration
	// LimitsSync is how often each instance shares its rate limits' usage
	// with the others (through <prefix>limits).
	LimitsSync time.Duration

	ESURLs     []string
	ESUsername string
	ESPassword string
	ESAPIKey   string
	ESCACert   string // path to a PEM file
	ESTimeout  time.Duration
	// RequestTimeout bounds all of one request's storage calls together.
	RequestTimeout time.Duration
	ESIdleConns    int
	ESGzip         bool

	IndexPrefix   string
	IndexShards   int
	IndexReplicas string

	CookieName         string
	CookieSecure       bool
	CookieHashKey      []byte
	CookieBlockKey     []byte
	CookiePrevHashKey  []byte
	CookiePrevBlockKey []byte
	// DataKeys seal the secrets the users index must not hold in clear
	// (TOTP secrets); nil stores them as they are.
	DataKeys        *seal.Ring
	SessionTTL      time.Duration
	SessionIdle     time.Duration
	RememberTTL     time.Duration
	HashConcurrency int
	HashWait        time.Duration
	IPv6Prefix      int
	MaxSessions     int
	TrustedOrigins  []string
	// CORSOrigins may call the API from a browser on another origin.
	CORSOrigins         []string
	TrustedProxies      []netip.Prefix
	LoginPerMinute      float64
	LoginBurst          int
	SignupPerMinute     float64
	SignupBurst         int
	LockoutThreshold    int
	LockoutBase         time.Duration
	LockoutMax          time.Duration
	PwnedURL            string
	LogLevel            string
	ShutdownGracePeriod time.Duration
	// GCPercent is the garbage collector's target (GOGC); -1 is off.
	GCPercent int

	// PublicURL is esauth's external base URL (OAuth redirects, mailed links).
	PublicURL string
	// SMTPURL is the mail server (with credentials); empty: links go to the log.
	SMTPURL  string
	MailFrom string
	// RequireVerifiedEmail refuses the login of a user who has not
	// verified the address; RequireTOTPForAdmins lets an admin without a
	// second factor do nothing but enrol one.
	RequireVerifiedEmail bool
	RequireTOTPForAdmins bool
	// NewDeviceNotice compares each login with the account's recent ones
	// and mails a notice for a new device or network.
	NewDeviceNotice bool
	// OAuthNames lists ESAUTH_OAUTH_PROVIDERS; OAuth is each one's settings.
	OAuthNames []string
	OAuth      []OAuthProvider
	// OAuthTrustProviderMFA lets a provider login of a user with TOTP on
	// log in fully, without the code.
	OAuthTrustProviderMFA bool
	// WebAuthnRPID, WebAuthnOrigins and WebAuthnRPName are the passkeys'
	// relying party as set; see WebAuthn for the defaults.
	WebAuthnRPID    string
	WebAuthnOrigins []string
	WebAuthnRPName  string
}

// WebAuthn is the passkeys' relying party: the RP id (default: the host of
// ESAUTH_PUBLIC_URL), the origins (default: ESAUTH_PUBLIC_URL's) and the
// name. on is false when neither the RP id nor the public URL is set:
// passkeys are off.
func (c Config) WebAuthn() (rpID string, origins []string, name string, on bool) {
	rpID, origins, name = c.WebAuthnRPID, c.WebAuthnOrigins, c.WebAuthnRPName
	if u, err := url.Parse(c.PublicURL); err == nil && c.PublicURL != "" {
		if rpID == "" {
			rpID = u.Hostname()
		}
		if len(origins) == 0 {
			origins = []string{u.Scheme + "://" + u.Host}
		}
	}
	return rpID, origins, name, rpID != ""
}

// setting is one environment variable.
type setting struct {
	name   string
	def    string
	help   string
	secret bool
	set    func(c *Config, v string) error
}

var settings = []setting{
	{"ESAUTH_ADDR", "127.0.0.1:8000", "Address the HTTP server listens on.", false,
		func(c *Config, v string) error { c.Addr = v; return nil }},
	{"ESAUTH_ADMIN_ADDR", "", "Address for `/healthz`, `/readyz` and `/metrics` alone (e.g. `127.0.0.1:9090`), off the public one; unset, the probes are served on `ESAUTH_ADDR` and metrics nowhere (they are never on the public address).", false,
		func(c *Config, v string) error { c.AdminAddr = v; return nil }},
	{"ELASTICSEARCH_URL", "http://127.0.0.1:9200", "Elasticsearch URL; comma-separated for several nodes of a cluster.", false,
		func(c *Config, v string) error { c.ESURLs = splitList(v); return nil }},
	{"ELASTICSEARCH_USERNAME", "", "Basic-auth user for Elasticsearch.", false,
		func(c *Config, v string) error { c.ESUsername = v; return nil }},
	{"ELASTICSEARCH_PASSWORD", "", "Basic-auth password for Elasticsearch.", true,
		func(c *Config, v string) error { c.ESPassword = v; return nil }},
	{"ELASTICSEARCH_API_KEY", "", "Elasticsearch API key (base64 `id:key`); used instead of user and password.", true,
		func(c *Config, v string) error { c.ESAPIKey = v; return nil }},
	{"ELASTICSEARCH_CA_CERT", "", "Path to a PEM CA certificate that signed the cluster's TLS certificate.", false,
		func(c *Config, v string) error { c.ESCACert = v; return nil }},
	{"ESAUTH_ES_TIMEOUT", "5s", "Longest wait to connect to Elasticsearch and for it to begin answering one call (for background work: for the whole call); past it the request gets 503.", false,
		durationSetter(func(c *Config) *time.Duration { return &c.ESTimeout })},
	{"ESAUTH_ES_IDLE_CONNS", "256", "Idle keep-alive connections kept open to each Elasticsearch node; about the most concurrent requests you expect per instance.", false,
		func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("not a whole number of at least 1")
			}
			c.ESIdleConns = n
			return nil
		}},
	{"ESAUTH_ES_GZIP", "false", "Ask Elasticsearch for gzip-compressed answers: worth it for a remote cluster on a slow link, pure CPU cost on a local network.", false,
		func(c *Config, v string) (err error) { c.ESGzip, err = strconv.ParseBool(v); return err }},
	{"ESAUTH_REQUEST_TIMEOUT", "10s", "Deadline for all of one request's Elasticsearch calls and its wait for a hashing slot together; past it the request gets 503.", false,
		durationSetter(func(c *Config) *time.Duration { return &c.RequestTimeout })},
	{"ESAUTH_INDEX_PREFIX", "esauth-", "Prefix of the index names (`<prefix>users`, `<prefix>sessions`, `<prefix>audit`, `<prefix>attempts`, `<prefix>identities`, `<prefix>leases`, `<prefix>tokens`, `<prefix>limits`, `<prefix>credentials`) and of their index templates.", false,
		func(c *Config, v string) error { c.IndexPrefix = v; return checkPrefix(v) }},
	{"ESAUTH_INDEX_SHARDS", "1", "Primary shards of each index esauth creates (an existing index keeps its own; `esauth migrate` does not change it).", false,
		func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 1024 {
				return fmt.Errorf("not a whole number from 1 to 1024")
			}
			c.IndexShards = n
			return nil
		}},
	{"ESAUTH_INDEX_REPLICAS", "0-1", "Replicas of each index esauth creates: a number, or a range such as `0-1` or `1-all` that Elasticsearch expands with the number of data nodes.", false,
		func(c *Config, v string) error {
			c.IndexReplicas = v
			ok := false
			if lo, hi, cut := strings.Cut(v, "-"); cut {
				_, err1 := strconv.ParseUint(lo, 10, 16)
				_, err2 := strconv.ParseUint(hi, 10, 16)
				ok = err1 == nil && (err2 == nil || hi == "all")
			} else {
				_, err := strconv.ParseUint(v, 10, 16)
				ok = err == nil
			}
			if !ok {
				return fmt.Errorf("not a number or a range such as 0-1")
			}
			return nil
		}},
	{"ESAUTH_COOKIE_NAME", "session", "Name of the session cookie.", false,
		func(c *Config, v string) error { c.CookieName = v; return checkCookieName(v) }},
	{"ESAUTH_COOKIE_SECURE", "true", "Send the cookie only over HTTPS. Set `false` for plain-HTTP local use.", false,
		func(c *Config, v string) (err error) { c.CookieSecure, err = strconv.ParseBool(v); return err }},
	{"ESAUTH_COOKIE_HASH_KEY", "", "Base64 HMAC key (32 or 64 bytes) that signs cookies. Random at start when unset: sessions then do not survive a restart.", true,
		keySetter(func(c *Config) *[]byte { return &c.CookieHashKey })},
	{"ESAUTH_COOKIE_BLOCK_KEY", "", "Base64 AES key (16, 24 or 32 bytes) that encrypts cookies. Set together with the hash key.", true,
		keySetter(func(c *Config) *[]byte { return &c.CookieBlockKey })},
	{"ESAUTH_DATA_KEYS", "", "Keys that seal TOTP secrets in the users index (AES-256-GCM): `id:base64key,…`, each key 32 bytes (`openssl rand -base64 32`); the first seals, all open (rotate: put a new one first, run `esauth keys rotate`, then drop the old). Unset: secrets are stored in clear, and the server refuses to start once any user has a second factor.", true,
		func(c *Config, v string) (err error) { c.DataKeys, err = seal.Parse(v); return err }},
	{"ESAUTH_COOKIE_PREVIOUS_HASH_KEY", "", "Previous hash key, still accepted for decoding during a key rotation.", true,
		keySetter(func(c *Config) *[]byte { return &c.CookiePrevHashKey })},
	{"ESAUTH_COOKIE_PREVIOUS_BLOCK_KEY", "", "Previous block key, paired with the previous hash key.", true,
		keySetter(func(c *Config) *[]byte { return &c.CookiePrevBlockKey })},
	{"ESAUTH_SESSION_TTL", "12h", "Absolute lifetime of a login without remember-me.", false,
		durationSetter(func(c *Config) *time.Duration { return &c.SessionTTL })},
	{"ESAUTH_SESSION_IDLE", "2h", "A login without remember-me that is unused this long ends.", false,
		durationSetter(func(c *Config) *time.Duration { return &c.SessionIdle })},
	{"ESAUTH_REMEMBER_TTL", "720h", "Lifetime of a remember-me login and its persistent cookie (30 days).", false,
		durationSetter(func(c *Config) *time.Duration { return &c.RememberTTL })},
	{"ESAUTH_HASH_CONCURRENCY", "0", "Most password hashes computed at once (19 MiB each); 0 means GOMAXPROCS.", false,
		func(c *Config, v string) (err error) { c.HashConcurrency, err = strconv.Atoi(v); return err }},
	{"ESAUTH_HASH_WAIT", "2s", "Longest wait for a free hashing slot; past it the request gets 503 with `Retry-After`, so a flood of password checks cannot starve logins.", false,
		durationSetter(func(c *Config) *time.Duration { return &c.HashWait })},
	{"ESAUTH_TRUSTED_ORIGINS", "", "Comma-separated origins (`https://app.example.com`) allowed to send state-changing cross-origin requests.", false,
		func(c *Config, v string) error {
			c.TrustedOrigins = splitList(v)
			return checkOrigins(c.TrustedOrigins)
		}},
	{"ESAUTH_CORS_ORIGINS", "", "Comma-separated exact origins (`https://app.example.com`) of single-page apps that may call `/v1` from the browser with CORS (credentials allowed; no `*`). They are trusted by the cross-origin check too.", false,
		func(c *Config, v string) error {
			c.CORSOrigins = splitList(v)
			for _, o := range c.CORSOrigins {
				if strings.Contains(o, "*") {
					return fmt.Errorf("%q: CORS with credentials takes exact origins, never a wildcard", o)
				}
			}
			return checkOrigins(c.CORSOrigins)
		}},
	{"ESAUTH_TRUSTED_PROXIES", "", "Comma-separated IPs or CIDRs of reverse proxies whose `X-Forwarded-For` is believed, and the only peers forward-auth (`GET /v1/auth/forward`) answers; unset, forward-auth refuses every caller (403).", false,
		func(c *Config, v string) (err error) { c.TrustedProxies, err = parsePrefixes(v); return err }},
	{"ESAUTH_IPV6_PREFIX", "64", "Per-IP limits count IPv6 clients by this prefix length (a /64 is usually one subscriber); 128 counts single addresses.", false,
		func(c *Config, v string) error {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 || n > 128 {
				return fmt.Errorf("not a prefix length from 1 to 128")
			}
			c.IPv6Prefix = n
			return nil
		}},
	{"ESAUTH_LOGIN_RATE", "10", "Login attempts per minute allowed from one client IP (token bucket), and password checks per minute from one session (password change, self-delete); 0 turns both limits off.", false,
		floatSetter(func(c *Config) *float64 { return &c.LoginPerMinute })},
	{"ESAUTH_LOGIN_BURST", "10", "Login attempts one client IP (or password checks one session) may make at once before the rate applies.", false,
		intSetter(func(c *Config) *int { return &c.LoginBurst })},
	{"ESAUTH_SIGNUP_RATE", "5", "Signups per minute allowed from one client IP; 0 turns the limit off.", false,
		floatSetter(func(c *Config) *float64 { return &c.SignupPerMinute })},
	{"ESAUTH_SIGNUP_BURST", "5", "Signups one client IP may make at once before the rate applies.", false,
		intSetter(func(c *Config) *int { return &c.SignupBurst })},
	{"ESAUTH_LOCKOUT_THRESHOLD", "5", "Consecutive failed logins after which an account is locked (shared by all instances); 0 turns lockout off.", false,
		intSetter(func(c *Config) *int { return &c.LockoutThreshold })},
	{"ESAUTH_LOCKOUT_BASE", "1s", "First lock's length; each further failure doubles it.", false,
		durationSetter(func(c *Config) *time.Duration { return &c.LockoutBase })},
	{"ESAUTH_LOCKOUT_MAX", "15m", "Longest lock.", false,
		durationSetter(func(c *Config) *time.Duration { return &c.LockoutMax })},
	{"ESAUTH_MAX_SESSIONS", "100", "Most live sessions one user may have; a login beyond it ends the oldest. 0 means no cap.", false,
		intSetter(func(c *Config) *int { return &c.MaxSessions })},
	{"ESAUTH_FORWARD_RULES", "", "Path of a JSON file of forward-auth rules (`GET /v1/auth/forward`; README, \"Forward-auth\"). Unset: every request forwarded needs a logged-in user.", false,
		func(c *Config, v string) error { c.ForwardRules = v; return nil }},
	{"ESAUTH_FORWARD_PROXY", "nginx", "The reverse proxy that asks forward-auth: `nginx` (esauth reads `X-Original-Method`, `X-Original-URI`, `X-Original-Host`), or `traefik` or `caddy` (`X-Forwarded-Method`, `X-Forwarded-Uri`, `X-Forwarded-Host`). Only those headers are read, only from `ESAUTH_TRUSTED_PROXIES`, and a request that also carries the other kind's headers with other values is refused.", false,
		func(c *Config, v string) error {
			if !slices.Contains([]string{"nginx", "traefik", "caddy"}, v) {
				return fmt.Errorf("not nginx, traefik or caddy")
			}
			c.ForwardProxy = v
			return nil
		}},
	{"ESAUTH_PURGE_INTERVAL", "1h", "How often expired sessions and old failed-login records are deleted. One instance at a time does it: the first to take the purge lease (a document in `<prefix>leases`).", false,
		durationSetter(func(c *Config) *time.Duration { return &c.PurgeInterval })},
	{"ESAUTH_LIMITS_SYNC", "1s", "How often each instance publishes what its per-IP limits (login, signup) and the recovery mails' per-address limit took, and charges its own with what the other instances took (`<prefix>limits`). Every decision is made in memory; between two syncs each instance may let one client take a whole burst, then the instances share one rate.", false,
		durationSetter(func(c *Config) *time.Duration { return &c.LimitsSync })},
	{"ESAUTH_PWNED_URL", "", "Base URL of a Have I Been Pwned–style range API (e.g. `https://api.pwnedpasswords.com`) to screen new passwords online; off when unset. Only 5 hex characters of the password's SHA-1 are sent.", false,
		func(c *Config, v string) error { c.PwnedURL = v; return checkHTTPURL(v) }},
	{"ESAUTH_LOG_LEVEL", "info", "Log level: debug, info, warn or error.", false,
		func(c *Config, v string) error {
			c.LogLevel = v
			return checkOneOf(v, "debug", "info", "warn", "error")
		}},
	{"ESAUTH_SHUTDOWN_TIMEOUT", "15s", "On SIGTERM/SIGINT, how long in-flight requests may take to finish.", false,
		durationSetter(func(c *Config) *time.Duration { return &c.ShutdownGracePeriod })},
	{"ESAUTH_PUBLIC_URL", "", "esauth's external base URL (`https://auth.example.com`, with a path prefix if it is served under one): a provider sends the browser back to `<ESAUTH_PUBLIC_URL>/v1/auth/oauth/<provider>/callback`. Required with `ESAUTH_OAUTH_PROVIDERS`.", false,
		func(c *Config, v string) error { c.PublicURL = strings.TrimRight(v, "/"); return checkPublicURL(v) }},
	{"ESAUTH_WEBAUTHN_RP_ID", "", "The passkeys' relying party id: the domain they belong to, the host of every origin or a parent domain of it (`example.com` serves `https://auth.example.com`). Default: the host of `ESAUTH_PUBLIC_URL`; passkeys are off when neither is set. Changing it later orphans every passkey made under the old one.", false,
		func(c *Config, v string) error { c.WebAuthnRPID = strings.ToLower(v); return nil }},
	{"ESAUTH_WEBAUTHN_ORIGINS", "", "Comma-separated origins the passkey ceremonies may run at (`https://auth.example.com`): https, or http on localhost. Default: the origin of `ESAUTH_PUBLIC_URL`.", false,
		func(c *Config, v string) error { c.WebAuthnOrigins = splitList(v); return nil }},
	{"ESAUTH_WEBAUTHN_RP_NAME", "esauth", "The name authenticators show next to a passkey.", false,
		func(c *Config, v string) error { c.WebAuthnRPName = v; return nil }},
	{"ESAUTH_SMTP_URL", "", "Mail server for verification, recovery and security mails: `smtp://user:pass@host:587` (STARTTLS when offered; required to send credentials to a host that is not loopback; `?tls=required` always requires it) or `smtps://user:pass@host:465`. Unset: no mail is sent and the links are written to the log (development only; the log says so loudly).", true,
		func(c *Config, v string) error { c.SMTPURL = v; return nil }},
	{"ESAUTH_MAIL_FROM", "esauth <no-reply@localhost>", "The From address of esauth's mails.", false,
		func(c *Config, v string) error {
			c.MailFrom = v
			if _, err := mail.ParseAddress(v); err != nil {
				return fmt.Errorf("not an address such as \"Example <no-reply@example.com>\"")
			}
			return nil
		}},
	{"ESAUTH_REQUIRE_VERIFIED_EMAIL", "false", "Refuse the login (403) of a user who has not verified the email address.", false,
		func(c *Config, v string) (err error) { c.RequireVerifiedEmail, err = strconv.ParseBool(v); return err }},
	{"ESAUTH_NEW_DEVICE_NOTICE", "true", "Compare each login with the account's successful logins of the last 90 days (one search of the audit index) and, from a device family or network (/24, /64) not among them, mark the event `new_device` and mail the owner a notice. `false` skips the search and the mail.", false,
		func(c *Config, v string) (err error) { c.NewDeviceNotice, err = strconv.ParseBool(v); return err }},
	{"ESAUTH_REQUIRE_TOTP_FOR_ADMINS", "false", "An admin without a TOTP second factor may do nothing but enrol one.", false,
		func(c *Config, v string) (err error) { c.RequireTOTPForAdmins, err = strconv.ParseBool(v); return err }},
	{"ESAUTH_OAUTH_PROVIDERS", "", "Comma-separated names of the OAuth 2.0 / OpenID Connect providers to log in with. `facebook`, `github` and `google` are those providers; any other name is an OpenID Connect provider found by its `ESAUTH_OAUTH_<P>_ISSUER`. Each needs the variables below, with P the name upper-cased and `-` written `_`.", false,
		func(c *Config, v string) error { c.OAuthNames = splitList(v); return nil }},
	{"ESAUTH_OAUTH_TRUST_PROVIDER_MFA", "false", "A login with a provider of a user who has TOTP on logs in fully, without asking for the code. Only for providers that require a second factor of their own: esauth does not check the ID token's `acr` or `amr`. Off, such a login ends half-authenticated, as a password login does, until `POST /v1/auth/totp/verify`.", false,
		func(c *Config, v string) (err error) { c.OAuthTrustProviderMFA, err = strconv.ParseBool(v); return err }},
	{"GOGC", "200", "Go's garbage-collector target (the runtime's own variable; `off` turns collection off). esauth's default is 200, not Go's 100: its live heap is a few MiB, so at 100 it collects every few hundred requests (README, Performance).", false,
		func(c *Config, v string) error {
			if v == "off" {
				c.GCPercent = -1
				return nil
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return fmt.Errorf("not a whole number of at least 1, or off")
			}
			c.GCPercent = n
			return nil
		}},
}

// Load reads every setting through getenv, applying defaults, and checks them.
func Load(getenv func(string) string) (Config, error) {
	var c Config
	var problems []string
	for _, s := range settings {
		v := getenv(s.name)
		if v == "" {
			v = s.def
		}
		if err := s.set(&c, v); err != nil {
			// Never echo a secret's value, not even in an error.
			shown := strconv.Quote(v)
			if s.secret {
				shown = "(hidden)"
			}
			problems = append(problems, fmt.Sprintf("%s=%s: %v", s.name, shown, err))
		}
	}
	problems = append(problems, loadProviders(&c, getenv)...)
	if len(problems) == 0 {
		problems = c.check()
	}
	if len(problems) > 0 {
		return Config{}, fmt.Errorf("invalid settings:\n  %s", strings.Join(problems, "\n  "))
	}
	return c, nil
}

func (c Config) check() []string {
	var p []string
	if len(c.ESURLs) == 0 {
		p = append(p, "ELASTICSEARCH_URL must name at least one node")
	}
	if c.SMTPURL != "" && c.PublicURL == "" {
		p = append(p, "ESAUTH_PUBLIC_URL is required with ESAUTH_SMTP_URL: mailed links are built from it")
	}
	if c.LimitsSync < 100*time.Millisecond || c.LimitsSync > time.Minute {
		p = append(p, "ESAUTH_LIMITS_SYNC must be from 100ms to 1m")
	}
	if c.PurgeInterval < time.Second {
		p = append(p, "ESAUTH_PURGE_INTERVAL must be at least 1s")
	}
	if c.AdminAddr != "" && c.AdminAddr == c.Addr && !strings.HasSuffix(c.Addr, ":0") { // :0 is any free port
		p = append(p, "ESAUTH_ADMIN_ADDR must differ from ESAUTH_ADDR (leave it unset to serve the probes and metrics on ESAUTH_ADDR)")
	}
	if (c.CookieHashKey == nil) != (c.CookieBlockKey == nil) {
		p = append(p, "ESAUTH_COOKIE_HASH_KEY and ESAUTH_COOKIE_BLOCK_KEY must be set together")
	}
	if (c.CookiePrevHashKey == nil) != (c.CookiePrevBlockKey == nil) {
		p = append(p, "ESAUTH_COOKIE_PREVIOUS_HASH_KEY and ESAUTH_COOKIE_PREVIOUS_BLOCK_KEY must be set together")
	}
	for _, k := range []struct {
		name  string
		key   []byte
		sizes []int
	}{
		{"ESAUTH_COOKIE_HASH_KEY", c.CookieHashKey, []int{32, 64}},
		{"ESAUTH_COOKIE_PREVIOUS_HASH_KEY", c.CookiePrevHashKey, []int{32, 64}},
		{"ESAUTH_COOKIE_BLOCK_KEY", c.CookieBlockKey, []int{16, 24, 32}},
		{"ESAUTH_COOKIE_PREVIOUS_BLOCK_KEY", c.CookiePrevBlockKey, []int{16, 24, 32}},
	} {
		if k.key != nil && !slices.Contains(k.sizes, len(k.key)) {
			p = append(p, fmt.Sprintf("%s must decode to %s bytes", k.name, joinInts(k.sizes)))
		}
	}
	for name, d := range map[string]time.Duration{
		"ESAUTH_ES_TIMEOUT": c.ESTimeout, "ESAUTH_SESSION_TTL": c.SessionTTL,
		"ESAUTH_SESSION_IDLE": c.SessionIdle, "ESAUTH_REMEMBER_TTL": c.RememberTTL,
		"ESAUTH_LOCKOUT_BASE": c.LockoutBase, "ESAUTH_LOCKOUT_MAX": c.LockoutMax,
		"ESAUTH_HASH_WAIT": c.HashWait, "ESAUTH_REQUEST_TIMEOUT": c.RequestTimeout,
	} {
		if d <= 0 {
			p = append(p, name+" must be positive")
		}
	}
	if (c.LoginPerMinute > 0) != (c.LoginBurst > 0) || (c.SignupPerMinute > 0) != (c.SignupBurst > 0) {
		p = append(p, "a rate limit needs both its rate and its burst above 0 (or both 0 to turn it off)")
	}
	if c.HashConcurrency < 0 {
		p = append(p, "ESAUTH_HASH_CONCURRENCY must not be negative")
	}
	sort.Strings(p)
	return p
}

// ReadCACert returns the CA certificate's PEM bytes, or nil when none is set.
func (c Config) ReadCACert() ([]byte, error) {
	if c.ESCACert == "" {
		return nil, nil
	}
	b, err := os.ReadFile(c.ESCACert)
	if err != nil {
		return nil, fmt.Errorf("ELASTICSEARCH_CA_CERT: %w", err)
	}
	return b, nil
}

// Markdown renders the settings as the README's table.
func Markdown() string {
	var b strings.Builder
	b.WriteString("| variable | default | meaning |\n|---|---|---|\n")
	for _, s := range settings {
		def := "(unset)"
		if s.def != "" {
			def = "`" + s.def + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", s.name, def, s.help)
	}
	b.WriteString(providerMarkdown())
	return b.String()
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s[:len(s)-1], ", ") + " or " + s[len(s)-1]
}

func splitList(v string) []string {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func durationSetter(field func(*Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("not a duration such as 30s or 12h")
		}
		*field(c) = d
		return nil
	}
}

func floatSetter(field func(*Config) *float64) func(*Config, string) error {
	return func(c *Config, v string) error {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f < 0 {
			return fmt.Errorf("not a number of at least 0")
		}
		*field(c) = f
		return nil
	}
}

func intSetter(field func(*Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return fmt.Errorf("not a whole number of at least 0")
		}
		*field(c) = n
		return nil
	}
}

// checkOrigins validates origins the way the CSRF protection will use them.
func checkOrigins(origins []string) error {
	cop := http.NewCrossOriginProtection()
	for _, o := range origins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return fmt.Errorf("%q is not an origin such as https://app.example.com", o)
		}
	}
	return nil
}

func checkHTTPURL(v string) error {
	if v == "" {
		return nil
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("not an http(s) URL")
	}
	return nil
}

// parsePrefixes reads IPs (as /32 or /128) and CIDRs.
func parsePrefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range splitList(v) {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is neither an IP nor a CIDR", s)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

func keySetter(field func(*Config) *[]byte) func(*Config, string) error {
	return func(c *Config, v string) error {
		if v == "" {
			return nil
		}
		b, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return fmt.Errorf("not valid base64")
		}
		*field(c) = b
		return nil
	}
}

func checkOneOf(v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("must be one of %s", strings.Join(allowed, ", "))
}

// checkPrefix keeps index names valid: Elasticsearch wants them lower-case,
// without spaces or the characters \ / * ? " < > | , #.
func checkPrefix(v string) error {
	if v != strings.ToLower(v) || strings.ContainsAny(v, ` \/*?"<>|,#:`) || strings.HasPrefix(v, "_") ||
		strings.HasPrefix(v, "-") || strings.HasPrefix(v, "+") {
		return fmt.Errorf("must be lower-case and fit in an index name")
	}
	return nil
}

func checkCookieName(v string) error {
	if v == "" {
		return fmt.Errorf("must not be empty")
	}
	for _, r := range v {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) {
			return fmt.Errorf("must be a cookie token")
		}
	}
	return nil
}
