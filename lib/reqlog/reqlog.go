// Package reqlog carries a request's logger (the one that stamps every
// line with the request id) in its context, so that code below the HTTP
// surfaces — the application layer, storage — logs with it without
// knowing HTTP.
package reqlog

import (
	"context"

	"go.uber.org/zap"
)

// Source gives the logger of a request. The HTTP surfaces make it lazily:
// most requests log nothing but their access line.
type Source interface {
	Logger() *zap.Logger
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

// From returns the logger of ctx's request; a no-op logger when there is
// none (a background job, a test).
func From(ctx context.Context) *zap.Logger {
	if src := SourceOf(ctx); src != nil {
		return src.Logger()
	}
	return zap.NewNop()
}
