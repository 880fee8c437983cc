// Package errs is the one error type of esauth's domain. Domain and storage
// code return an *Error with a Code; the HTTP layer maps codes to statuses in
// one place (httpkit.StatusOf), so no handler picks a status for an error by hand.
package errs

import (
	"errors"
	"fmt"
	"time"
)

// Code says what kind of failure an error is, independent of transport.
type Code string

// The codes. Each maps to exactly one HTTP status (httpkit.StatusOf).
const (
	Invalid         Code = "invalid"         // 422, with field messages
	BadRequest      Code = "bad_request"     // 400: the request itself cannot be read
	Unauthenticated Code = "unauthenticated" // 401
	Forbidden       Code = "forbidden"       // 403
	NotFound        Code = "not_found"       // 404
	// MethodNotAllowed: a known path asked with another method (405, with
	// the Allow header).
	MethodNotAllowed Code = "method_not_allowed"
	Conflict         Code = "conflict"          // 409
	TooLarge         Code = "too_large"         // 413
	HeadersTooLarge  Code = "headers_too_large" // 431: request line and headers over the bound
	UnsupportedType  Code = "unsupported_type"  // 415
	TooMany          Code = "too_many"          // 429, with RetryAfter
	Unavailable      Code = "unavailable"       // 503: Elasticsearch unreachable, slow or broken
	Internal         Code = "internal"          // 500
)

// Error is a domain error. Message is safe to show to API clients: it never
// carries Elasticsearch internals or secrets. Err, when set, is the cause,
// kept for logs only.
type Error struct {
	Code    Code
	Message string
	Fields  map[string]string
	// RetryAfter, on TooMany, is how long the client should wait.
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Err }

// E makes an *Error with a code and a client-safe message.
func E(code Code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// Wrap makes an *Error that keeps cause for the logs.
func Wrap(code Code, message string, cause error) *Error {
	return &Error{Code: code, Message: message, Err: cause}
}

// InvalidFields makes a validation error with one message per field.
func InvalidFields(fields map[string]string) *Error {
	return &Error{Code: Invalid, Message: "Some fields are invalid.", Fields: fields}
}

// TooManyAttempts makes a TooMany error that tells when to retry.
func TooManyAttempts(message string, retryAfter time.Duration) *Error {
	return &Error{Code: TooMany, Message: message, RetryAfter: retryAfter}
}

// CodeOf returns the code of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// Is reports whether err carries the given code.
func Is(err error, code Code) bool {
	return err != nil && CodeOf(err) == code
}
