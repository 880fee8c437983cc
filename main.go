// Command esauth is an authentication API whose users and sessions live in
// Elasticsearch.
//
//	esauth [serve]              run the HTTP server (the default)
//	esauth init [--sample-user] [--repair]
//	                            create (or repair) the indices (and a demo user)
//	esauth migrate              move the indices to this version's mappings
//	esauth user create|list|show|disable|enable|set-role|delete|set-password …
//	esauth sessions list|revoke --email E …
//	esauth audit --email E
//	esauth import --from-url URL --from-index INDEX
//	esauth version
//	esauth settings             print the settings table (Markdown)
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gorilla/securecookie"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"esauth/config"
	"esauth/lib/access"
	"esauth/lib/audit"
	"esauth/lib/breached"
	"esauth/lib/elastic"
	"esauth/lib/errs"
	"esauth/lib/flask"
	"esauth/lib/mail"
	"esauth/lib/metrics"
	"esauth/lib/oauth"
	"esauth/lib/password"
	"esauth/lib/session"
	"esauth/lib/user"
	v1 "esauth/v1"
	"esauth/web"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv, os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "esauth:", err)
		os.Exit(1)
	}
}

// errUsage is returned after usage has been printed.
var errUsage = errors.New("see usage above")

const usage = `usage:
  esauth [serve]                  run the HTTP server
  esauth init [--sample-user] [--repair]
                                  create the indices and their templates (and a
                                  demo user); --repair runs migrate first
  esauth migrate                  move every index to this version's layout and
                                  mapping (an alias over <alias>-00000n), keeping
                                  its documents; safe to run again
  esauth user create --email E --first-name F --last-name L [--admin]
                                  create a user; the password is read from
                                  standard input (prompted without echo on a terminal)
  esauth user list [--query Q] [--limit N]
  esauth user show --email E
  esauth user disable|enable --email E
  esauth user set-role --email E --role user|admin
  esauth user delete --email E
  esauth user set-password --email E
                                  look after accounts under the API's rules (the
                                  password from standard input, as for create)
  esauth sessions list --email E
  esauth sessions revoke --email E (--id ID | --all)
  esauth audit --email E [--limit N]
                                  a user's security events, newest first
  esauth import --from-url URL --from-index INDEX [--dry-run] [--json]
                                  copy the users of the Flask + Elasticsearch
                                  tutorial app (their werkzeug hashes keep working)
  esauth version                  the version and commit
  esauth settings                 print every setting as a Markdown table
Every command but serve, init and settings takes --json for scripts.
Settings come from the environment; see README.md or "esauth settings".
`

// run is the whole program, callable from tests with their own arguments,
// environment and streams.
func run(ctx context.Context, args []string, getenv func(string) string,
	stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 1 {
		cmd, args = args[1], args[2:]
	} else {
		args = nil
	}
	switch cmd {
	case "serve":
		return serve(ctx, getenv, stdout, stderr)
	case "init":
		return initIndices(ctx, args, getenv, stdout, stderr)
	case "migrate":
		return migrateCommand(ctx, args, getenv, stdout, stderr)
	case "user":
		if len(args) > 0 && args[0] == "create" {
			return createUser(ctx, args[1:], getenv, stdin, stdout, stderr)
		}
		return operate(ctx, "user", args, getenv, stdin, stdout, stderr)
	case "sessions":
		return operate(ctx, "sessions", args, getenv, stdin, stdout, stderr)
	case "audit":
		return operate(ctx, "audit", append([]string{"list"}, args...), getenv, stdin, stdout, stderr)
	case "version":
		return version(args, stdout, stderr)
	case "import":
		return importFlask(ctx, args, getenv, stdout, stderr)
	case "settings":
		fmt.Fprint(stdout, config.Markdown())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return errUsage
}

func newLogger(level string, w zapcore.WriteSyncer) *zap.Logger {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		lvl = zapcore.InfoLevel
	}
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	return zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), w, lvl))
}

// bufferedLog is the server's log output: one access line per request
// written straight to stderr was a write system call per request (a few
// per cent of the CPU under load). Lines are flushed every second, when
// 64 KiB are waiting, and at shutdown.
func bufferedLog(w io.Writer) *zapcore.BufferedWriteSyncer {
	return &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(w), Size: 64 << 10, FlushInterval: time.Second}
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
		sender = mail.NewLog(a.log)
	} else if sender, err = mail.NewSMTP(a.cfg.SMTPURL, a.cfg.MailFrom, 30*time.Second); err != nil {
		return v1.Mail{}, nil, fmt.Errorf("ESAUTH_SMTP_URL: %w", err)
	}
	q := mail.NewQueue(sender, a.log, mail.QueueOptions{Size: 1000, OnFailure: func(m mail.Message, err error) {
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

// auditRecorder builds the writer of security events, for the server and
// the commands alike. Events are written in the background, in batches; a
// full buffer drops events (counted in the log) rather than slow requests,
// so the server's is large and a command's fits what it records. done
// stores what is waiting, for up to within; given report (a command's
// stderr), it says there how many events could not be stored.
func (a *app) auditRecorder(buffer int, within time.Duration, report io.Writer) (*audit.Writer, func()) {
	w := audit.NewWriter(a.store, a.log, buffer, min(buffer, 500), time.Second)
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
func (a *app) passwordScreen() (v1.PasswordScreen, error) {
	common, err := breached.NewScreener()
	if err != nil {
		return v1.PasswordScreen{}, err
	}
	screen := v1.PasswordScreen{Common: common}
	if a.cfg.PwnedURL != "" {
		screen.Pwned = &breached.Pwned{BaseURL: a.cfg.PwnedURL, Client: &http.Client{Timeout: 3 * time.Second}}
	}
	return screen, nil
}

func serve(ctx context.Context, getenv func(string) string, stdout, stderr io.Writer) error {
	logOut := bufferedLog(stderr)
	defer func() { _ = logOut.Stop() }() // flushes
	a, err := newApp(getenv, logOut)
	if err != nil {
		return err
	}
	// The runtime has already read GOGC from the environment; this also
	// applies esauth's own default when it is unset (see config). The
	// previous value comes back when serve returns, for tests that call run.
	defer debug.SetGCPercent(debug.SetGCPercent(a.cfg.GCPercent))
	codec, keys, err := a.cookieCodec()
	if err != nil {
		return err
	}
	auditLog, closeAudit := a.auditRecorder(4096, 5*time.Second, nil)
	defer closeAudit()
	screen, err := a.passwordScreen()
	if err != nil {
		return err
	}
	pages, err := web.New(a.log)
	if err != nil {
		return err
	}
	rules, err := a.forwardRules()
	if err != nil {
		return err
	}
	mailer, closeMail, err := a.mail(auditLog)
	if err != nil {
		return err
	}
	defer closeMail()
	hasher := a.hasher()
	a.metrics.WatchHasher(hasher)
	deps := v1.Deps{
		Log:                  a.log,
		Store:                a.store,
		Hasher:               hasher,
		Cookies:              v1.Cookies{Name: a.cfg.CookieName, Secure: a.cfg.CookieSecure, Codec: codec},
		Policy:               a.sessionPolicy(),
		Now:                  time.Now,
		TrustedOrigins:       a.cfg.TrustedOrigins,
		TrustedProxies:       a.cfg.TrustedProxies,
		LoginLimit:           v1.RateLimit{PerMinute: a.cfg.LoginPerMinute, Burst: a.cfg.LoginBurst},
		SignupLimit:          v1.RateLimit{PerMinute: a.cfg.SignupPerMinute, Burst: a.cfg.SignupBurst},
		IPv6Prefix:           a.cfg.IPv6Prefix,
		MaxSessions:          a.cfg.MaxSessions,
		RequestTimeout:       a.cfg.RequestTimeout,
		Audit:                auditLog,
		Passwords:            screen,
		Lockout:              user.Lockout{Threshold: a.cfg.LockoutThreshold, Base: a.cfg.LockoutBase, Max: a.cfg.LockoutMax},
		OAuth:                a.oauthProviders(keys),
		Pages:                pages,
		Metrics:              a.metrics,
		ForwardRules:         rules,
		ForwardProxy:         a.cfg.ForwardProxy,
		Mail:                 mailer,
		RequireVerifiedEmail: a.cfg.RequireVerifiedEmail,
		RequireTOTPForAdmins: a.cfg.RequireTOTPForAdmins,
		SeparateAdmin:        a.cfg.AdminAddr != "",
	}
	handler, err := v1.NewServer(deps)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", a.cfg.Addr)
	if err != nil {
		return err
	}
	srv := newHTTPServer(handler, a.log)
	var adminSrv *http.Server
	var adminLn net.Listener
	if a.cfg.AdminAddr != "" {
		if adminLn, err = net.Listen("tcp", a.cfg.AdminAddr); err != nil {
			_ = ln.Close()
			return err
		}
		adminSrv = newHTTPServer(v1.NewAdmin(deps), a.log)
	}

	// Set the indices up before serving when Elasticsearch answers, so a
	// wrong mapping stops the start with its message instead of leaving a
	// server that answers 503 to every request. When Elasticsearch is down
	// or slow the server starts anyway and sets the indices up as soon as
	// it answers (a wrong mapping found then is logged as an error).
	probe, cancelProbe := context.WithTimeout(ctx, a.cfg.ESTimeout)
	err = a.store.EnsureIndices(probe)
	cancelProbe()
	var wrong *elastic.MappingError
	var newer *elastic.VersionError
	if errors.As(err, &wrong) || errors.As(err, &newer) {
		_ = ln.Close()
		if adminLn != nil {
			_ = adminLn.Close()
		}
		if newer != nil {
			return fmt.Errorf("not starting: %w", newer)
		}
		return fmt.Errorf("not starting: %w", wrong)
	}
	bg, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	go a.store.SetupInBackground(bg)
	go purgeSessions(bg, a.store, a.log, a.metrics, a.cfg.PurgeInterval)

	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	if adminSrv != nil {
		go func() { errc <- adminSrv.Serve(adminLn) }()
		a.log.Info("admin address listening", zap.String("addr", adminLn.Addr().String()))
		fmt.Fprintf(stdout, "esauth admin (probes, metrics) on http://%s\n", adminLn.Addr())
	} else {
		a.log.Info("metrics are off: set ESAUTH_ADMIN_ADDR to serve /metrics (never on the public address)")
	}
	// Only scheme://host:port: an Elasticsearch URL may carry user:password@.
	esURLs := make([]string, len(a.cfg.ESURLs))
	for i, u := range a.cfg.ESURLs {
		esURLs[i] = elastic.Redact(u)
	}
	a.log.Info("listening", zap.String("addr", ln.Addr().String()),
		zap.Strings("elasticsearch", esURLs), zap.String("index_prefix", a.cfg.IndexPrefix))
	fmt.Fprintf(stdout, "esauth listening on http://%s\n", ln.Addr())

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownGracePeriod)
	defer cancel()
	if adminSrv != nil {
		// Readiness goes first, so the orchestrator stops sending traffic.
		_ = adminSrv.Shutdown(shutdownCtx)
	}
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}

// newHTTPServer bounds every phase of a connection, so slow or idle
// clients (slowloris) cannot hold the server's resources.
func newHTTPServer(h http.Handler, log *zap.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          zap.NewStdLog(log),
	}
}

// purgeSessions deletes expired sessions every interval, on the instance
// that holds the purge lease at that moment: with many instances on one
// cluster, each would otherwise search and delete the same documents.
func purgeSessions(ctx context.Context, store *elastic.Store, log *zap.Logger, m *metrics.Metrics, interval time.Duration) {
	holder := instanceName()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			purgeOnce(ctx, store, log, m, holder, interval, time.Now())
		}
	}
}

// purgeOnce is one round of purgeSessions. The lease lasts one interval, so
// its holder renews it at its next round, and if that instance stops,
// another takes over at most one interval later.
func purgeOnce(ctx context.Context, store *elastic.Store, log *zap.Logger, m *metrics.Metrics,
	holder string, interval time.Duration, now time.Time) {
	mine, err := store.TakeLease(ctx, "purge", holder, interval, now)
	if err != nil {
		m.Purge(metrics.PurgeFailed)
		log.Warn("could not take the purge lease", zap.Error(err))
		return
	}
	if !mine {
		m.Purge(metrics.PurgeSkipped)
		log.Debug("another instance holds the purge lease")
		return
	}
	n, err := store.PurgeExpired(ctx, now)
	if err != nil {
		m.Purge(metrics.PurgeFailed)
		log.Warn("could not purge expired sessions", zap.Error(err))
		return
	}
	m.Purge(metrics.PurgeDone)
	log.Info("purged expired sessions and failed-login records", zap.Int("count", n))
}

// instanceName names this process among the instances sharing a cluster:
// the host's name, for the operator reading the lease, and random bits, so
// two processes on one host differ.
func instanceName() string {
	host, _ := os.Hostname()
	var b [6]byte
	_, _ = rand.Read(b[:])
	return host + "-" + base64.RawURLEncoding.EncodeToString(b[:])
}

// setUpIndices is EnsureIndices for the command line: a wrong mapping or a
// newer version comes back as the error that says what to do.
func setUpIndices(ctx context.Context, store *elastic.Store) error {
	err := store.EnsureIndices(ctx)
	var wrong *elastic.MappingError
	var newer *elastic.VersionError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &wrong):
		return wrong
	case errors.As(err, &newer):
		return newer
	}
	return fmt.Errorf("setting up the indices: %w", err)
}

// migrate runs Store.Migrate and prints a line per index.
func migrate(ctx context.Context, a *app, stdout io.Writer) error {
	reports, err := a.store.Migrate(ctx)
	for _, r := range reports {
		fmt.Fprintln(stdout, r)
	}
	return err
}

func migrateCommand(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	a, err := newApp(getenv, zapcore.AddSync(stderr))
	if err != nil {
		return err
	}
	if err := migrate(ctx, a, stdout); err != nil {
		return err
	}
	return setUpIndices(ctx, a.store)
}

func initIndices(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	fs.SetOutput(stderr)
	sample := fs.Bool("sample-user", false, "also create the demo user demo@example.com with a random password")
	repair := fs.Bool("repair", false, "the same as esauth migrate: move indices whose mapping is wrong into new ones, keeping their documents")
	if err := fs.Parse(args); err != nil {
		return err
	}
	a, err := newApp(getenv, zapcore.AddSync(stderr))
	if err != nil {
		return err
	}
	if *repair {
		if err := migrate(ctx, a, stdout); err != nil {
			return err
		}
	}
	if err := setUpIndices(ctx, a.store); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "indices %s are ready, with their index templates\n", strings.Join(a.store.IndexNames(), ", "))
	if !*sample {
		return nil
	}
	// A random password rather than a fixed one, so a demo user left on a
	// real cluster is not an open door. It is printed once, for the operator.
	var b [12]byte
	_, _ = rand.Read(b[:])
	pw := base64.RawURLEncoding.EncodeToString(b[:])
	if _, err := addUser(ctx, a, "demo@example.com", "Demo", "User", pw, false); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created demo@example.com with password %s\n", pw)
	return nil
}

func createUser(ctx context.Context, args []string, getenv func(string) string,
	stdin io.Reader, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("user create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	email := fs.String("email", "", "email address (required)")
	first := fs.String("first-name", "", "first name (required)")
	last := fs.String("last-name", "", "last name (required)")
	admin := fs.Bool("admin", false, "give the user the admin role")
	if err := fs.Parse(args); err != nil {
		return err
	}
	pw, err := readPassword(stdin, stderr)
	if err != nil {
		return err
	}
	a, err := newApp(getenv, zapcore.AddSync(stderr))
	if err != nil {
		return err
	}
	u, err := addUser(ctx, a, *email, *first, *last, pw, *admin)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "created %s (%s)\n", u.Email, u.Role)
	return nil
}

// readPassword reads one line from stdin, or prompts without echo when
// stdin is a terminal.
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("reading password: %w", err)
		}
		return string(b), nil
	}
	line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
	if err != nil && !(errors.Is(err, io.EOF) && line != "") {
		return "", errors.New("reading password: give it as one line on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// addUser makes an account through the same rule as the API's signup
// (v1.Signup: validation, password screening, hashing, one create), so the
// command line cannot make an account the API would refuse. Field problems
// come back as one line per field.
func addUser(ctx context.Context, a *app, email, first, last, pw string, admin bool) (user.User, error) {
	screen, err := a.passwordScreen()
	if err != nil {
		return user.User{}, err
	}
	role := user.RoleUser
	if admin {
		role = user.RoleAdmin
	}
	signup := v1.Signup{Store: a.store, Hasher: a.hasher(), Screen: screen, Now: time.Now}
	u, err := signup.Create(ctx, v1.SignupRequest{Email: email, Password: pw, FirstName: first, LastName: last}, role)
	return u, cliError(err)
}

// version prints the module's version and the commit it was built from.
func version(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("version", flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if err := fs.Parse(args); err != nil {
		return err
	}
	v := struct {
		Version  string `json:"version"`
		Revision string `json:"revision,omitempty"`
		Time     string `json:"time,omitempty"`
		Modified bool   `json:"modified,omitempty"`
		Go       string `json:"go"`
	}{Version: "(unknown)"}
	if info, ok := debug.ReadBuildInfo(); ok {
		v.Version, v.Go = info.Main.Version, info.GoVersion
		for _, s := range info.Settings {
			switch s.Key {
			case "vcs.revision":
				v.Revision = s.Value
			case "vcs.time":
				v.Time = s.Value
			case "vcs.modified":
				v.Modified = s.Value == "true"
			}
		}
	}
	if *asJSON {
		return json.NewEncoder(stdout).Encode(v)
	}
	line := "esauth " + v.Version
	if v.Revision != "" {
		line += " " + v.Revision
		if v.Modified {
			line += "-dirty"
		}
	}
	fmt.Fprintf(stdout, "%s (%s)\n", line, v.Go)
	return nil
}

// operate runs the operator commands: "user" (but create), "sessions" and
// "audit", through v1.Operator, so the command line changes accounts under
// the API's own rules and records the same audit events.
func operate(ctx context.Context, group string, args []string, getenv func(string) string,
	stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	sub := args[0]
	name := group + " " + sub
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	asJSON := fs.Bool("json", false, "print JSON, for scripts")
	email := fs.String("email", "", "the user's email address")
	query := fs.String("query", "", "only users whose email contains it or whose names start with it")
	limit := fs.Int("limit", 1000, "at most this many")
	role := fs.String("role", "", "user or admin")
	id := fs.String("id", "", "the session's id (from sessions list)")
	all := fs.Bool("all", false, "every session of the user")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	known := map[string]bool{
		"user list": true, "user show": true, "user disable": true, "user enable": true, "user set-role": true,
		"user delete": true, "user set-password": true, "sessions list": true, "sessions revoke": true, "audit list": true,
	}
	if !known[name] || fs.NArg() > 0 {
		fmt.Fprint(stderr, usage)
		return errUsage
	}
	if name != "user list" && *email == "" {
		return fmt.Errorf("%s: --email is required", name)
	}
	if *limit < 1 {
		return fmt.Errorf("%s: --limit must be at least 1", name)
	}
	var pw string
	if name == "user set-password" {
		var err error
		if pw, err = readPassword(stdin, stderr); err != nil {
			return err
		}
	}
	a, err := newApp(getenv, zapcore.AddSync(stderr))
	if err != nil {
		return err
	}
	events, closeEvents := a.auditRecorder(64, 10*time.Second, stderr)
	defer closeEvents()
	screen, err := a.passwordScreen()
	if err != nil {
		return err
	}
	op := v1.Operator{Store: a.store, Hasher: a.hasher(), Screen: screen, Audit: events, Now: time.Now}
	out := printer{w: stdout, json: *asJSON}
	switch name {
	case "user list":
		users, err := op.Users(ctx, *query, *limit)
		if err != nil {
			return cliError(err)
		}
		views := make([]user.Public, len(users))
		for i, u := range users {
			views[i] = u.Public()
		}
		return out.print(views, func(w io.Writer) {
			for _, u := range views {
				fmt.Fprintf(w, "%s\t%s %s\t%s\t%s\n", u.Email, u.FirstName, u.LastName, u.Role, activeWord(u.IsActive))
			}
		})
	case "user show":
		u, err := op.Get(ctx, *email)
		if err != nil {
			return cliError(err)
		}
		return out.user(u)
	case "user disable", "user enable":
		active := sub == "enable"
		u, err := op.Update(ctx, *email, v1.UserUpdate{IsActive: &active})
		if err != nil {
			return cliError(err)
		}
		return out.user(u)
	case "user set-role":
		u, err := op.Update(ctx, *email, v1.UserUpdate{Role: role})
		if err != nil {
			return cliError(err)
		}
		return out.user(u)
	case "user delete":
		if err := op.Delete(ctx, *email); err != nil {
			return cliError(err)
		}
		return out.print(map[string]string{"deleted": user.NormalizeEmail(*email)}, func(w io.Writer) {
			fmt.Fprintf(w, "deleted %s, with their sessions and linked accounts\n", user.NormalizeEmail(*email))
		})
	case "user set-password":
		n, err := op.SetPassword(ctx, *email, pw)
		if err != nil {
			return cliError(err)
		}
		return out.print(map[string]int{"revoked_sessions": n}, func(w io.Writer) {
			fmt.Fprintf(w, "password set for %s; every session ended (%d deleted)\n", user.NormalizeEmail(*email), n)
		})
	case "sessions list":
		list, err := op.Sessions(ctx, *email, a.sessionPolicy(), *limit)
		if err != nil {
			return cliError(err)
		}
		return out.print(list, func(w io.Writer) {
			for _, s := range list {
				fmt.Fprintf(w, "%s\t%s\tlast seen %s\t%s\t%q\n", s.ID, s.IP, s.LastSeenAt.Format(time.RFC3339), rememberWord(s.Remember), s.UserAgent)
			}
		})
	case "sessions revoke":
		if *all == (*id != "") {
			return fmt.Errorf("sessions revoke: give either --id ID or --all")
		}
		if *all {
			n, err := op.RevokeAll(ctx, *email)
			if err != nil {
				return cliError(err)
			}
			return out.print(map[string]int{"revoked_sessions": n}, func(w io.Writer) {
				fmt.Fprintf(w, "every session of %s ended (%d deleted)\n", user.NormalizeEmail(*email), n)
			})
		}
		if err := op.RevokeSession(ctx, *email, *id); err != nil {
			return cliError(err)
		}
		return out.print(map[string]string{"revoked": *id}, func(w io.Writer) { fmt.Fprintf(w, "session %s ended\n", *id) })
	case "audit list":
		list, err := op.Events(ctx, *email, *limit)
		if err != nil {
			return cliError(err)
		}
		return out.print(list, func(w io.Writer) {
			for _, e := range list {
				fmt.Fprintf(w, "%s\t%s\t%s\tby %s\tfrom %s\n", e.At.Format(time.RFC3339), e.Event, e.Outcome, e.Actor, e.IP)
			}
		})
	}
	return errUsage
}

// sessionPolicy is the server's session lifetimes, which say which
// sessions are still valid.
func (a *app) sessionPolicy() session.Policy {
	return session.Policy{TTL: a.cfg.SessionTTL, Idle: a.cfg.SessionIdle, RememberTTL: a.cfg.RememberTTL, TouchEvery: time.Minute}
}

func activeWord(active bool) string {
	if active {
		return "active"
	}
	return "disabled"
}

func rememberWord(remember bool) string {
	if remember {
		return "remember-me"
	}
	return "session"
}

// printer writes a command's result as JSON (--json) or as text.
type printer struct {
	w    io.Writer
	json bool
}

func (p printer) print(v any, text func(io.Writer)) error {
	if p.json {
		enc := json.NewEncoder(p.w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	}
	text(p.w)
	return nil
}

// user prints one user's public view, never the hash.
func (p printer) user(u user.User) error {
	pub := u.Public()
	return p.print(pub, func(w io.Writer) {
		fmt.Fprintf(w, "email:      %s\nname:       %s %s\nrole:       %s\nstatus:     %s\ncreated at: %s\nupdated at: %s\n",
			pub.Email, pub.FirstName, pub.LastName, pub.Role, activeWord(pub.IsActive),
			pub.CreatedAt.Format(time.RFC3339), pub.UpdatedAt.Format(time.RFC3339))
	})
}

// cliError turns an error of the domain into a line for the operator:
// field problems one per line, the message of the others (never a
// secret: the domain's messages are written for clients).
func cliError(err error) error {
	var e *errs.Error
	if !errors.As(err, &e) {
		return err
	}
	if len(e.Fields) > 0 {
		var problems []string
		for _, field := range slices.Sorted(maps.Keys(e.Fields)) {
			problems = append(problems, field+": "+e.Fields[field])
		}
		return errors.New(strings.Join(problems, "\n"))
	}
	if e.Code == errs.NotFound {
		return fmt.Errorf("not found: %s", e.Message)
	}
	return err
}

// importFlask copies the users of the Flask + Elasticsearch tutorial app
// (index --from-index on the cluster at --from-url) into esauth's users.
func importFlask(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("import", flag.ContinueOnError)
	fs.SetOutput(stderr)
	from := fs.String("from-url", "", "the Flask app's Elasticsearch URL (may carry user:password@)")
	index := fs.String("from-index", "", "the index of its users (the tutorial's is example)")
	dry := fs.Bool("dry-run", false, "report what would happen; write nothing")
	asJSON := fs.Bool("json", false, "print JSON, for scripts")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *from == "" || *index == "" || fs.NArg() > 0 {
		return errors.New("import: --from-url and --from-index are required")
	}
	a, err := newApp(getenv, zapcore.AddSync(stderr))
	if err != nil {
		return err
	}
	source, err := elastic.New(elastic.Config{Addresses: []string{*from}, Timeout: a.cfg.ESTimeout}, a.log)
	if err != nil {
		return err
	}
	if err := a.store.EnsureIndices(ctx); err != nil {
		return fmt.Errorf("setting up esauth's indices: %w", err)
	}
	events, closeEvents := a.auditRecorder(1024, 10*time.Second, stderr)
	defer closeEvents()
	im := flask.Importer{Source: source, Target: a.store, Audit: events, Actor: v1.OperatorActor, Now: time.Now, DryRun: *dry}
	var notable []flask.Outcome
	sum, err := im.Run(ctx, *index, func(o flask.Outcome) {
		if o.Result != flask.Imported {
			notable = append(notable, o)
		}
	})
	if err != nil {
		// The URL as scheme://host:port: it may carry a password.
		return fmt.Errorf("importing from %s index %s (what was imported stays; run it again to go on): %w", elastic.Redact(*from), *index, err)
	}
	out := printer{w: stdout, json: *asJSON}
	return out.print(struct {
		DryRun   bool            `json:"dry_run"`
		Summary  flask.Summary   `json:"summary"`
		Outcomes []flask.Outcome `json:"not_imported"`
	}{*dry, sum, notable}, func(w io.Writer) {
		for _, o := range notable {
			who := o.Email
			if who == "" {
				who = "document " + strconv.Quote(o.ID)
			}
			line := who + ": " + o.Result
			if o.Reason != "" {
				line += " (" + o.Reason + ")"
			}
			fmt.Fprintln(w, line)
		}
		verb := "imported"
		if *dry {
			verb = "would import"
		}
		fmt.Fprintf(w, "read %d: %s %d, already imported %d, conflicting %d, invalid %d\n",
			sum.Read, verb, sum.Imported, sum.Already, sum.Conflicts, sum.Invalid)
	})
}
