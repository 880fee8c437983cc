// Package httpkit is what both HTTP surfaces — v1's JSON API and web's
// pages — need of HTTP, once: the request's info and access line, panic
// recovery, security headers, the client's address, the cross-origin
// check, per-IP limits, the session cookie and the user loader, the one
// table from error codes to statuses, and the Actor the application layer
// is called with. Each piece that can refuse a request takes the
// surface's way of writing a refusal (Refuse): the API answers its
// envelope, a page an HTML page, with the same status and headers.
package httpkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"regexp"
	"runtime/debug"
	"sync"
	"time"

	"github.com/gorilla/mux"
	"go.uber.org/zap"

	"esauth/lib/errs"
	"esauth/lib/metrics"
	"esauth/lib/reqlog"
	"esauth/lib/session"
)

// Middleware wraps a handler.
type Middleware func(http.Handler) http.Handler

// info is what the outer middleware learn about a request for the
// inner ones and for the access line, kept in the context once (each
// context value and request copy per middleware was a tenth of the
// allocations under load): the logger carrying the request id, the route
// template recordRoute finds, the client IP withClientIP finds.
type reqInfo struct {
	base     *zap.Logger // the server's logger
	id       string      // the request id
	logOnce  sync.Once
	log      *zap.Logger // base with the request id, made by Logger when first asked
	sugar    *zap.SugaredLogger
	template string
	ip       string
	hasIP    bool
	// cur is what the user loader found: a valid session and its user.
	cur    session.Current
	hasCur bool
	// pending is a half-authenticated session (the code still owed): for
	// the second factor's route only; everything else sees nobody.
	pending    session.Current
	hasPending bool
	// loadErr is why the pages' loader could not tell who is asking.
	loadErr error
}

// Logger returns the request's logger. It is made on first use: most
// requests log only their access line, which takes the id as a field.
func (i *reqInfo) Logger() *zap.Logger {
	i.logOnce.Do(func() {
		if i.log == nil {
			i.log = i.base.With(zap.String("request_id", i.id))
		}
		i.sugar = i.log.Sugar()
	})
	return i.log
}

// Log is Logger for the code below the surfaces (reqlog.Source), which
// knows no zap.
func (i *reqInfo) Log() reqlog.Logger {
	i.Logger()
	return i.sugar
}

// LoggerFrom returns the request's logger (carrying its request id); a
// no-op logger outside a request.
func LoggerFrom(ctx context.Context) *zap.Logger {
	if info := infoFrom(ctx); info != nil {
		return info.Logger()
	}
	return zap.NewNop()
}

// infoFrom returns the request's info. It travels as the request's
// reqlog.Source, so the application layer below logs with the request id
// through the same one context value.
func infoFrom(ctx context.Context) *reqInfo {
	info, _ := reqlog.SourceOf(ctx).(*reqInfo)
	return info
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// AccessLog gives each request an id (the caller's X-Request-Id when it is
// a sane token, else a random one), a logger carrying it, a deadline for
// all of its storage calls and hashing together (timeout, when above zero),
// and one log line when it ends: method, route template (never the raw
// path, which holds emails), status and duration. Cookies and bodies are
// never logged. The id, the logger and the deadline share one context and
// one request copy: a copy per middleware was a tenth of the allocations
// of a protected request.
func AccessLog(log *zap.Logger, timeout time.Duration, m *metrics.Metrics) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			id := r.Header.Get("X-Request-Id")
			if !requestIDPattern.MatchString(id) {
				var b [8]byte
				_, _ = rand.Read(b[:])
				id = hex.EncodeToString(b[:])
			}
			w.Header().Set("X-Request-Id", id)
			// One allocation for both.
			st := &struct {
				info reqInfo
				rec  statusRecorder
			}{reqInfo{base: log, id: id}, statusRecorder{ResponseWriter: w}}
			info, rec := &st.info, &st.rec
			ctx := reqlog.NewContext(r.Context(), info)
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			next.ServeHTTP(rec, r.WithContext(ctx))
			if info.template == "" {
				info.template = "(unmatched)"
			}
			took := time.Since(start)
			status := rec.status
			if status == 0 {
				status = http.StatusOK // nothing written: net/http answers 200
			}
			m.Request(info.template, r.Method, status, took)
			log.Info("request",
				zap.String("request_id", id),
				zap.String("method", r.Method),
				zap.String("route", info.template),
				zap.Int("status", status),
				zap.Duration("duration", took),
			)
		})
	}
}

var templateVar = regexp.MustCompile(`\{([^:}]+):[^}]*\}`)

// plainTemplates remembers PlainTemplate's answers: the routes are few
// and fixed.
var plainTemplates sync.Map

// PlainTemplate drops the patterns from a route template:
// "/v1/users/{email:[^/]*@[^/]*}" becomes "/v1/users/{email}".
func PlainTemplate(t string) string {
	if p, ok := plainTemplates.Load(t); ok {
		return p.(string)
	}
	p := templateVar.ReplaceAllString(t, "{$1}")
	plainTemplates.Store(t, p)
	return p
}

// RecordRoute runs inside the router (mux.Router.Use) and tells AccessLog
// which route matched.
func RecordRoute(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if info := infoFrom(r.Context()); info != nil {
			if cur := mux.CurrentRoute(r); cur != nil {
				if t, err := cur.GetPathTemplate(); err == nil {
					info.template = PlainTemplate(t)
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// RecoverPanics turns a panic into a logged error and a 500 written by
// refuse (the API's envelope, a page's page); the stack goes to the log,
// never to the client.
func RecoverPanics(refuse Refuse) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				if v := recover(); v != nil {
					if v == http.ErrAbortHandler {
						panic(v)
					}
					LoggerFrom(r.Context()).Error("panic", zap.Any("panic", v), zap.ByteString("stack", debug.Stack()))
					refuse(w, r, errs.E(errs.Internal, "Internal server error."))
				}
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// SecurityHeaders marks every answer as not to be sniffed, cached or
// followed by a referrer: they carry personal data and set cookies.
func SecurityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		h.Set("Referrer-Policy", "no-referrer")
		next.ServeHTTP(w, r)
	})
}

// MaxHeaderBytes bounds a request's line and headers (its URL included):
// LimitHeaders refuses more in the surface's language. The HTTP server's
// own bound (http.Server.MaxHeaderBytes) is set above it, so that only a
// request far over it meets Go's plain-text 431.
const MaxHeaderBytes = 16 << 10

// LimitHeaders refuses (431, written by refuse) a request whose URL and
// headers together are over MaxHeaderBytes: no filter, cursor or cookie is
// that long, and a query string of tens of kilobytes would otherwise be
// parsed and searched for.
func LimitHeaders(refuse Refuse) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := len(r.Method) + len(r.RequestURI) + len(r.Host)
			for k, vs := range r.Header {
				for _, v := range vs {
					n += len(k) + len(v) + 4
				}
			}
			if n > MaxHeaderBytes {
				refuse(w, r, errs.E(errs.HeadersTooLarge, "The request's address and headers are over 16 KiB."))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
