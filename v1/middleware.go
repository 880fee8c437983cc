package v1

import (
	"context"

	"go.uber.org/zap"

	"esauth/lib/httpkit"
	"esauth/lib/limit"
)

// The HTTP pieces the API shares with the pages live in lib/httpkit; these
// are the names the API's code (and its tests) know them by.
type (
	// Middleware wraps a handler.
	Middleware = httpkit.Middleware
	// Cookies writes and reads the session cookie.
	Cookies = httpkit.Cookies
	// SessionLoader is what the user loader needs from storage.
	SessionLoader = httpkit.SessionLoader
	// RateLimit is a per-key token bucket: PerMinute on average, up to
	// Burst at once; the zero value is no limit.
	RateLimit = limit.Rate
)

// loggerFrom returns the request's logger (carrying its request id).
func loggerFrom(ctx context.Context) *zap.Logger { return httpkit.LoggerFrom(ctx) }
