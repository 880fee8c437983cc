package httpkit

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"esauth/lib/errs"
)

// Refuse is a surface's way of answering a refusal or a failure: the
// status of StatusOf(err), the Retry-After of a TooMany or Unavailable
// error, and a body in the surface's language (the API's envelope, an
// HTML page for the pages).
type Refuse func(w http.ResponseWriter, r *http.Request, err error)

// Refuser is a surface that writes its own refusals: the pages' handler
// is one, so the middleware in front of it answers a browser with a page.
type Refuser interface {
	Refuse(w http.ResponseWriter, r *http.Request, err error)
}

// StatusOf is the HTTP status an error is answered with: the one table
// from error codes to statuses, for every surface.
func StatusOf(err error) int {
	switch errs.CodeOf(err) {
	case errs.Invalid:
		return http.StatusUnprocessableEntity
	case errs.BadRequest:
		return http.StatusBadRequest
	case errs.Unauthenticated:
		return http.StatusUnauthorized
	case errs.Forbidden:
		return http.StatusForbidden
	case errs.NotFound:
		return http.StatusNotFound
	case errs.MethodNotAllowed:
		return http.StatusMethodNotAllowed
	case errs.Conflict:
		return http.StatusConflict
	case errs.TooLarge:
		return http.StatusRequestEntityTooLarge
	case errs.HeadersTooLarge:
		return http.StatusRequestHeaderFieldsTooLarge
	case errs.UnsupportedType:
		return http.StatusUnsupportedMediaType
	case errs.TooMany:
		return http.StatusTooManyRequests
	case errs.Unavailable:
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

// SetRetryAfter sets the Retry-After header err asks for, in whole
// seconds rounded up as the header requires; none when it asks none.
func SetRetryAfter(w http.ResponseWriter, err error) {
	var e *errs.Error
	if errors.As(err, &e) && e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
}

// NotAllowed is the refusal of a known path asked with another method: a
// 405 with the Allow header of the methods router has for the path.
func NotAllowed(w http.ResponseWriter, router *mux.Router, req *http.Request) error {
	allowed := AllowedMethods(router, req)
	if len(allowed) == 0 {
		return nil
	}
	w.Header().Set("Allow", strings.Join(allowed, ", "))
	return errs.E(errs.MethodNotAllowed, "This route does not take this method.")
}

// AllowedMethods lists the methods under which router has a route for
// req's path.
func AllowedMethods(router *mux.Router, req *http.Request) []string {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete} {
		probe := req.Clone(req.Context())
		probe.Method = m
		var match mux.RouteMatch
		if router.Match(probe, &match) && match.MatchErr == nil && match.Route != nil {
			allowed = append(allowed, m)
		}
	}
	return allowed
}
