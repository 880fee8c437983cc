package v1

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"unicode/utf8"

	"go.uber.org/zap"

	"esauth/lib/errs"
	"esauth/lib/httpkit"
	"esauth/lib/user"
)

// envelope is every answer's shape, kept from the Flask app esauth replaces:
// {"success": true, "message": ..., "data": ...} or
// {"success": false, "error": "401: Unauthorized", "message": ..., "fields": {...}}.
type envelope struct {
	Success bool              `json:"success"`
	Error   string            `json:"error,omitempty"`
	Message string            `json:"message"`
	Data    any               `json:"data,omitempty"`
	Fields  map[string]string `json:"fields,omitempty"`
	// NextCursor, on a paged answer, fetches the next page (absent on the last).
	NextCursor string `json:"next_cursor,omitempty"`
	// Facets, on the user search, counts each facet's values.
	Facets *user.Facets `json:"facets,omitempty"`
}

// MaxBodyBytes bounds every request body.
const MaxBodyBytes = 1 << 20

func errorLabel(status int) string {
	return fmt.Sprintf("%d: %s", status, http.StatusText(status))
}

// answerBuffers holds the buffers answers are encoded into, sparing the
// garbage collector json.Marshal's copy and the second one that appending
// the newline made.
var answerBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// maxPooledAnswer is the largest buffer put back in the pool, so that one
// long session list does not stay in memory for good.
const maxPooledAnswer = 64 << 10

// writeJSON encodes v before writing anything, so an encoding failure is
// still a clean 500 envelope rather than a half-written 200. The bytes are
// json.Marshal's followed by a newline (json.Encoder writes exactly that,
// escaping HTML as Marshal does).
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := answerBuffers.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooledAnswer {
			buf.Reset()
			answerBuffers.Put(buf)
		}
	}()
	buf.Reset()
	if err := json.NewEncoder(buf).Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		_ = json.NewEncoder(buf).Encode(envelope{Error: errorLabel(status), Message: "Internal server error."})
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// writeOK writes a success envelope.
func writeOK(w http.ResponseWriter, status int, message string, data any) {
	writeJSON(w, status, envelope{Success: true, Message: message, Data: data})
}

// writeError turns err into the error envelope and its status. Messages of
// errs.Error are written for clients; anything else is logged and answered
// with a generic message, so internals never reach the client.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	log := loggerFrom(r.Context())
	code := errs.CodeOf(err)
	status := httpkit.StatusOf(err)
	env := envelope{Error: errorLabel(status)}
	var e *errs.Error
	if errors.As(err, &e) && code != errs.Internal {
		env.Message, env.Fields = e.Message, e.Fields
		httpkit.SetRetryAfter(w, err)
	} else {
		env.Message = "Internal server error."
	}
	switch {
	case status >= 500:
		log.Error("request failed", zap.Int("status", status), zap.Error(err))
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		log.Info("request refused", zap.Int("status", status), zap.String("reason", env.Message))
	}
	writeJSON(w, status, env)
}

// handlerFunc is a handler that returns its error instead of writing it, so
// errors are written in exactly one place.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

func (f handlerFunc) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if err := f(w, r); err != nil {
		writeError(w, r, err)
	}
}

// validator is a request body that can check itself; Valid returns one
// message per invalid field.
type validator interface {
	Valid() map[string]string
}

// decode reads a JSON request body into a T: it demands
// Content-Type: application/json (415), at most MaxBodyBytes (413), valid
// UTF-8, one well-formed JSON object without unknown fields (400), and then
// runs T's validation (422).
func decode[T validator](r *http.Request) (T, error) {
	var v T
	if err := checkJSONType(r); err != nil {
		return v, err
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return v, errs.E(errs.TooLarge, "The request body is larger than 1 MiB.")
		}
		return v, errs.E(errs.BadRequest, "The request body could not be read.")
	}
	if err := decodeBytes(body, &v); err != nil {
		return v, err
	}
	if fields := v.Valid(); len(fields) > 0 {
		return v, errs.InvalidFields(fields)
	}
	return v, nil
}

func checkJSONType(r *http.Request) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return errs.E(errs.UnsupportedType, "Send the body as JSON with Content-Type: application/json.")
	}
	return nil
}

// decodeBytes is the pure part of decode, fuzzed on its own.
func decodeBytes(body []byte, v any) error {
	if !utf8.Valid(body) {
		return errs.E(errs.BadRequest, "The request body is not valid UTF-8.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return errs.E(errs.BadRequest, jsonProblem(err))
	}
	if dec.More() {
		return errs.E(errs.BadRequest, "The request body must hold one JSON object.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errs.E(errs.BadRequest, "The request body must hold one JSON object.")
	}
	return nil
}

// jsonProblem describes a decoding error without echoing the body back.
func jsonProblem(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "The request body is empty; send a JSON object."
	case errors.As(err, &syntax):
		return fmt.Sprintf("The request body is not valid JSON (at byte %d).", syntax.Offset)
	case errors.As(err, &typ):
		if typ.Field != "" {
			return fmt.Sprintf("Field %q has the wrong type; expected %s.", typ.Field, typ.Type)
		}
		return "The request body must be a JSON object."
	case len(err.Error()) > 0 && bytes.HasPrefix([]byte(err.Error()), []byte("json: unknown field ")):
		name := err.Error()[len("json: unknown field "):]
		if len(name) > 66 {
			name = name[:64] + `…"`
		}
		return fmt.Sprintf("Unknown field %s.", name)
	}
	return "The request body is not valid JSON."
}
