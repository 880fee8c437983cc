package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"esauth/config"
	"esauth/lib/access"
	"esauth/lib/account"
	"esauth/lib/audit"
	"esauth/lib/breached"
	"esauth/lib/elastic"
	"esauth/lib/mail"
	"esauth/lib/mail/outbox"
	"esauth/lib/metrics"
	"esauth/lib/oauth"
	"esauth/lib/passkey"
	"esauth/lib/password"
	"esauth/lib/session"
	"esauth/lib/token"
	v1 "esauth/v1"
)

func newLogger(level string, w zapcore.WriteSyncer) *zap.Logger {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		lvl = zapcore.InfoLevel
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), w, lvl))
}

// app holds what every subcommand builds from the configuration.
type app struct {
	cfg     config.Config
	log     *zap.Logger
	store   *elastic.Store
	metrics *metrics.Metrics
}

func newApp(getenv func(string) string, logOut zapcore.WriteSyncer) (*app, error) {
	cfg, err := config.Load(getenv)
	if err != nil {
		return nil, err
	}
	log := newLogger(cfg.LogLevel, logOut)
	ca, err := cfg.ReadCACert()
	if err != nil {
		return nil, err
	}
	m := metrics.New()
	store, err := elastic.New(elastic.Config{
		Addresses:   cfg.ESURLs,
		Username:    cfg.ESUsername,
		Password:    cfg.ESPassword,
		APIKey:      cfg.ESAPIKey,
		CACert:      ca,
		IndexPrefix: cfg.IndexPrefix,
		Shards:      cfg.IndexShards,
		Replicas:    cfg.IndexReplicas,
		Timeout:     cfg.ESTimeout,
		IdleConns:   cfg.ESIdleConns,
		Gzip:        cfg.ESGzip,
		Observer:    m,
		Secrets:     cfg.DataKeys,
	}, log)
	if err != nil {
		return nil, err
	}
	return &app{cfg: cfg, log: log, store: store, metrics: m}, nil
}

func (a *app) hasher() *password.Hasher {
	return password.New(password.OWASP, a.cfg.HashConcurrency).WithMaxWait(a.cfg.HashWait).WithWaitObserver(a.metrics.HashWait)
}

// cookieCodec builds the cookie codec from the configured keys, or from
// random keys with a warning when none are configured. It also returns the
// current keys, which sign and encrypt the OAuth state cookie too.
func (a *app) cookieCodec() (*session.Codec, session.Keys, error) {
	cur := session.Keys{Hash: a.cfg.CookieHashKey, Block: a.cfg.CookieBlockKey}
	if cur.Hash == nil {
		a.log.Warn("ESAUTH_COOKIE_HASH_KEY and ESAUTH_COOKIE_BLOCK_KEY are not set: using random keys, so sessions will not survive a restart and instances will not accept each other's cookies")
		cur = session.RandomKeys()
	}
	var prev []session.Keys
	if a.cfg.CookiePrevHashKey != nil {
		prev = append(prev, session.Keys{Hash: a.cfg.CookiePrevHashKey, Block: a.cfg.CookiePrevBlockKey})
	}
	maxAge := max(a.cfg.RememberTTL, a.cfg.SessionTTL)
	c, err := session.NewCodec(a.cfg.CookieName, maxAge, cur, prev...)
	return c, cur, err
}

// oauthProviders builds the configured login providers. Their state cookie
// is signed and encrypted with the session cookie's keys under its own
// name (securecookie binds the name into the MAC, so neither cookie can
// stand for the other), and lives v1.StateTTL.
func (a *app) oauthProviders(keys session.Keys) v1.OAuth {
	if len(a.cfg.OAuth) == 0 {
		return v1.OAuth{}
	}
	state := securecookie.New(keys.Hash, keys.Block).MaxAge(int(v1.StateTTL / time.Second))
	state.SetSerializer(securecookie.JSONEncoder{})
	out := v1.OAuth{Providers: map[string]oauth.Provider{}, State: state, TrustProviderMFA: a.cfg.OAuthTrustProviderMFA}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, p := range a.cfg.OAuth {
		opts := oauth.Options{RedirectURL: a.cfg.PublicURL + "/v1/auth/oauth/" + p.Name + "/callback", Client: client}
		ep := oauth.Endpoints{AuthURL: p.AuthURL, TokenURL: p.TokenURL, UserInfoURL: p.UserInfoURL}
		switch p.Kind {
		case config.KindGitHub:
			out.Providers[p.Name] = oauth.NewGitHub(p.Name, p.ClientID, p.ClientSecret, ep, opts)
		case config.KindFacebook:
			out.Providers[p.Name] = oauth.NewFacebook(p.Name, p.ClientID, p.ClientSecret, ep, opts)
		default: // google and any OpenID Connect provider
			out.Providers[p.Name] = oauth.NewOIDC(p.Name, p.Issuer, p.ClientID, p.ClientSecret, p.Scopes, opts)
		}
	}
	return out
}

// passkeys builds the passkeys' relying party from the ESAUTH_WEBAUTHN_*
// settings (or ESAUTH_PUBLIC_URL); a wrong combination of them stops the
// start naming the setting, and a public URL passkeys cannot use alone
// turns them off with a warning. Their ceremony cookie is signed and encrypted with
// the session cookie's keys under its own name, and the decoys of an
// email without passkeys are keyed by a key derived from the hash key,
// so every instance gives the same ones.
func (a *app) passkeys(keys session.Keys) (v1.Passkeys, error) {
	rpID, origins, name, on := a.cfg.WebAuthn()
	if !on {
		a.log.Info("passkeys are off: set ESAUTH_PUBLIC_URL (or ESAUTH_WEBAUTHN_RP_ID) to turn them on")
		return v1.Passkeys{}, nil
	}
	rp, err := passkey.New(passkey.Config{RPID: rpID, Origins: origins, DisplayName: name})
	if err != nil && a.cfg.WebAuthnRPID == "" && len(a.cfg.WebAuthnOrigins) == 0 {
		// Only ESAUTH_PUBLIC_URL is set, and passkeys cannot work there
		// (an IP address, plain http off localhost): the rest of esauth can.
		a.log.Warn("passkeys are off: ESAUTH_PUBLIC_URL cannot serve them; set ESAUTH_WEBAUTHN_RP_ID and ESAUTH_WEBAUTHN_ORIGINS", zap.Error(err))
		return v1.Passkeys{}, nil
	}
	if err != nil {
		return v1.Passkeys{}, err
	}
	state := securecookie.New(keys.Hash, keys.Block).MaxAge(int(token.PasskeyCeremonyTTL / time.Second))
	state.SetSerializer(securecookie.JSONEncoder{})
	m := hmac.New(sha256.New, keys.Hash)
	m.Write([]byte("esauth passkey decoys"))
	return v1.Passkeys{RelyingParty: rp, State: state, DecoyKey: m.Sum(nil)}, nil
}

// mail builds the mail queue: over SMTP, or into the log when no server is
// configured (development). A mail that cannot be sent is logged and
// audited, never a failed request. The returned function sends what is
// queued, for up to ten seconds, at shutdown.
func (a *app) mail(rec audit.Recorder) (v1.Mail, func(), error) {
	public := a.cfg.PublicURL
	if public == "" {
		public = "http://" + a.cfg.Addr // development: links to this server
	}
	compose, err := mail.NewComposer(mail.ComposerConfig{Product: "esauth", PublicURL: public})
	if err != nil {
		return v1.Mail{}, nil, err
	}
	var sender mail.Sender
	if a.cfg.SMTPURL == "" {
		sender = outbox.NewLog(a.log)
	} else if sender, err = outbox.NewSMTP(a.cfg.SMTPURL, a.cfg.MailFrom, 30*time.Second); err != nil {
		return v1.Mail{}, nil, fmt.Errorf("ESAUTH_SMTP_URL: %w", err)
	}
	q := outbox.NewQueue(sender, a.log, outbox.QueueOptions{Size: 1000, OnFailure: func(m mail.Message, err error) {
		a.log.Warn("a mail could not be sent", zap.String("subject", m.Subject), zap.Error(err))
		rec.Record(audit.Event{Event: audit.MailFailed, Email: m.To, Actor: "esauth", UserAgent: "esauth mail", Outcome: audit.Failure})
	}})
	a.metrics.WatchMail(q)
	return v1.Mail{Queue: q, Compose: compose, PublicURL: public}, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = q.Close(ctx)
	}, nil
}

// forwardRules reads ESAUTH_FORWARD_RULES, when set; a file that cannot be
// read or holds a wrong rule stops the start with the rule's number.
func (a *app) forwardRules() (access.Rules, error) {
	if a.cfg.ForwardRules == "" {
		return access.Rules{}, nil
	}
	f, err := os.Open(a.cfg.ForwardRules)
	if err != nil {
		return access.Rules{}, fmt.Errorf("ESAUTH_FORWARD_RULES: %w", err)
	}
	defer f.Close()
	rules, err := access.Parse(f)
	if err != nil {
		return access.Rules{}, fmt.Errorf("ESAUTH_FORWARD_RULES %s: %w", a.cfg.ForwardRules, err)
	}
	a.log.Info("forward-auth rules loaded", zap.Int("rules", rules.Len()))
	return rules, nil
}

// sessionPolicy is the server's session lifetimes, which say which
// sessions are still valid.
func (a *app) sessionPolicy() session.Policy {
	return session.Policy{TTL: a.cfg.SessionTTL, Idle: a.cfg.SessionIdle, RememberTTL: a.cfg.RememberTTL, TouchEvery: time.Minute}
}

// auditRecorder builds the writer of security events, for the server and
// the commands alike. Events are written in the background, in batches; a
// full buffer drops events (counted in the log) rather than slow requests,
// so the server's is large and a command's fits what it records. done
// stores what is waiting, for up to within; given report (a command's
// stderr), it says there how many events could not be stored.
func (a *app) auditRecorder(buffer int, within time.Duration, report io.Writer) (*audit.Writer, func()) {
	w := audit.NewWriter(a.store, a.log.Sugar(), buffer, min(buffer, 500), time.Second)
	a.metrics.WatchAudit(w)
	return w, func() {
		ctx, cancel := context.WithTimeout(context.Background(), within)
		defer cancel()
		if err := w.Close(ctx); (err != nil || w.Dropped() > 0) && report != nil {
			fmt.Fprintf(report, "esauth: %d audit event(s) could not be stored (they are in the log above)\n", w.Dropped())
		}
	}
}

// passwordScreen screens new passwords the same way for the API, the
// pages and the command line: the embedded list of common passwords and
// the email's name, and the breach API when ESAUTH_PWNED_URL is set.
func (a *app) passwordScreen() (account.Screen, error) {
	common, err := breached.NewScreener()
	if err != nil {
		return account.Screen{}, err
	}
	screen := account.Screen{Common: common}
	if a.cfg.PwnedURL != "" {
		screen.Pwned = &breached.Pwned{BaseURL: a.cfg.PwnedURL, Client: &http.Client{Timeout: 3 * time.Second}}
	}
	return screen, nil
}
