package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"esauth/lib/elastic"
	"esauth/lib/httpkit"
	"esauth/lib/limit"
	"esauth/lib/metrics"
	"esauth/lib/user"
	v1 "esauth/v1"
	"esauth/web"
)

// serve runs the HTTP server until ctx is done (SIGINT or SIGTERM), then
// shuts it down gracefully. It takes no flags: settings come from the
// environment.
func serve(ctx context.Context, args []string, getenv func(string) string,
	_ io.Reader, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "",
		"Runs the HTTP server (also what esauth with no command does). Settings come from the\nenvironment; see README.md or \"esauth settings\".")
	if err := parse(fs, args, stdout, stderr); err != nil {
		return err
	}
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
	passkeys, err := a.passkeys(keys)
	if err != nil {
		return err
	}
	hasher := a.hasher()
	a.metrics.WatchHasher(hasher)
	limits := limit.NewBoard(a.store, instanceName())
	deps := v1.Deps{
		Log:                  a.log,
		Store:                a.store,
		Hasher:               hasher,
		Cookies:              v1.Cookies{Name: a.cfg.CookieName, Secure: a.cfg.CookieSecure, Codec: codec},
		Policy:               a.sessionPolicy(),
		Now:                  time.Now,
		TrustedOrigins:       a.cfg.TrustedOrigins,
		CORSOrigins:          a.cfg.CORSOrigins,
		TrustedProxies:       a.cfg.TrustedProxies,
		LoginLimit:           v1.RateLimit{PerMinute: a.cfg.LoginPerMinute, Burst: a.cfg.LoginBurst},
		SignupLimit:          v1.RateLimit{PerMinute: a.cfg.SignupPerMinute, Burst: a.cfg.SignupBurst},
		IPv6Prefix:           a.cfg.IPv6Prefix,
		Limits:               limits,
		MaxSessions:          a.cfg.MaxSessions,
		RequestTimeout:       a.cfg.RequestTimeout,
		Audit:                auditLog,
		Passwords:            screen,
		Lockout:              user.Lockout{Threshold: a.cfg.LockoutThreshold, Base: a.cfg.LockoutBase, Max: a.cfg.LockoutMax},
		OAuth:                a.oauthProviders(keys),
		Passkeys:             passkeys,
		Pages:                pages,
		Metrics:              a.metrics,
		ForwardRules:         rules,
		ForwardProxy:         a.cfg.ForwardProxy,
		Mail:                 mailer,
		RequireVerifiedEmail: a.cfg.RequireVerifiedEmail,
		RequireTOTPForAdmins: a.cfg.RequireTOTPForAdmins,
		NoNewDeviceNotice:    !a.cfg.NewDeviceNotice,
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
	if err == nil && a.cfg.DataKeys == nil {
		// Sealed secrets could not be opened, and new ones would be
		// written in clear beside them (issue 19).
		probe, cancelProbe := context.WithTimeout(ctx, a.cfg.ESTimeout)
		n, cerr := a.store.UsersWithSecondFactor(probe)
		cancelProbe()
		if cerr == nil && n > 0 {
			_ = ln.Close()
			if adminLn != nil {
				_ = adminLn.Close()
			}
			return fmt.Errorf("not starting: %d user(s) have a second factor, whose secrets need ESAUTH_DATA_KEYS (set it, then run esauth keys rotate to seal any stored in clear)", n)
		}
	}
	if a.cfg.DataKeys == nil {
		a.log.Warn("ESAUTH_DATA_KEYS is unset: TOTP secrets are stored in clear in the users index (development only)")
	}
	bg, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	go a.store.SetupInBackground(bg)
	go purgeSessions(bg, a.store, a.log, a.metrics, a.cfg.PurgeInterval)
	go limits.Run(bg, a.cfg.LimitsSync, time.Now, func(err error) {
		if err != nil {
			a.log.Warn("could not share the rate limits with the other instances; this one limits alone until it can", zap.Error(err))
			return
		}
		a.log.Info("sharing the rate limits with the other instances again")
	})

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
	if adminSrv == nil {
		// Where the probes are, so a newcomer's make run says it.
		fmt.Fprintf(stdout, "esauth probes on http://%[1]s/healthz and http://%[1]s/readyz (status words only); metrics off: set ESAUTH_ADMIN_ADDR to serve them and the probes' reasons on an address of their own\n", ln.Addr())
	}

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

// bufferedLog is the server's log output: one access line per request
// written straight to stderr was a write system call per request (a few
// per cent of the CPU under load). Lines are flushed every second, when
// 64 KiB are waiting, and at shutdown.
func bufferedLog(w io.Writer) *zapcore.BufferedWriteSyncer {
	return &zapcore.BufferedWriteSyncer{WS: zapcore.AddSync(w), Size: 64 << 10, FlushInterval: time.Second}
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
		// Above httpkit.MaxHeaderBytes, which refuses in the envelope (or
		// a page): Go's own refusal of more is plain text.
		MaxHeaderBytes: 4 * httpkit.MaxHeaderBytes,
		ErrorLog:       zap.NewStdLog(log),
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
