// Package reqlog carries a request's logger (the one that stamps every
// line with the request id) in its context, so that code below the HTTP
// surfaces — the application layer, the audit trail — logs with it
// without knowing HTTP or the logging library: Logger is the few methods
// they call (zap's SugaredLogger has them), and this package imports
// neither.
package reqlog

import "context"

// Logger logs a message with alternating keys and values
// ("error", err, "count", 3).
type Logger interface {
	Infow(msg string, keysAndValues ...any)
	Warnw(msg string, keysAndValues ...any)
	Errorw(msg string, keysAndValues ...any)
}

// Source gives the logger of a request. The HTTP surfaces make it lazily:
// most requests log nothing but their access line.
type Source interface {
	Log() Logger
}

type key struct{}

// NewContext returns ctx carrying src.
func NewContext(ctx context.Context, src Source) context.Context {
	return context.WithValue(ctx, key{}, src)
}

// SourceOf returns the source ctx carries, or nil.
func SourceOf(ctx context.Context) Source {
	src, _ := ctx.Value(key{}).(Source)
	return src
}

// From returns the logger of ctx's request; one that logs nothing when
// there is none (a background job, a test).
func From(ctx context.Context) Logger {
	if src := SourceOf(ctx); src != nil {
		return src.Log()
	}
	return Nop{}
}

// Nop logs nothing.
type Nop struct{}

func (Nop) Infow(string, ...any)  {}
func (Nop) Warnw(string, ...any)  {}
func (Nop) Errorw(string, ...any) {}
