// Package elastic stores esauth's users and sessions in Elasticsearch. It is
// the only package that knows the Elasticsearch client: it translates
// Elasticsearch answers into domain values and errs codes at its edge, so no
// Elasticsearch type or message leaks upward.
package elastic

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/elastic/go-elasticsearch/v8"
	"github.com/elastic/go-elasticsearch/v8/esapi"
	"go.uber.org/zap"

	"esauth/lib/errs"
)

// Config says how to reach Elasticsearch and which indices to use.
type Config struct {
	Addresses   []string
	Username    string
	Password    string
	APIKey      string
	CACert      []byte
	IndexPrefix string
	// Timeout bounds every call to Elasticsearch, so a slow cluster gives a
	// 503 in bounded time instead of a hung request.
	Timeout time.Duration
	// Transport, when set, replaces the HTTP transport (tests inject faults with it).
	Transport http.RoundTripper
}

// Store is the Elasticsearch implementation of esauth's user and session storage.
type Store struct {
	es       *elasticsearch.Client
	log      *zap.Logger
	timeout  time.Duration
	users    string
	sessions string
	audit    string
	attempts string

	ready   atomic.Bool
	setupMu sync.Mutex
}

// New returns a Store. It does not contact Elasticsearch: the server must
// start even when the cluster is down (see EnsureIndices).
func New(cfg Config, log *zap.Logger) (*Store, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	client, err := elasticsearch.NewClient(elasticsearch.Config{
		Addresses: cfg.Addresses,
		Username:  cfg.Username,
		Password:  cfg.Password,
		APIKey:    cfg.APIKey,
		CACert:    cfg.CACert,
		Transport: cfg.Transport,
		// One retry on another node is useful in a cluster; more would only
		// stretch the time before a clear 503 beyond the configured timeout.
		MaxRetries: 1,
	})
	if err != nil {
		return nil, fmt.Errorf("elasticsearch client: %w", err)
	}
	return &Store{
		es:       client,
		log:      log,
		timeout:  cfg.Timeout,
		users:    cfg.IndexPrefix + "users",
		sessions: cfg.IndexPrefix + "sessions",
		audit:    cfg.IndexPrefix + "audit",
		attempts: cfg.IndexPrefix + "attempts",
	}, nil
}

// UsersIndex and SessionsIndex name the indices the store uses (AuditIndex too).
func (s *Store) UsersIndex() string    { return s.users }
func (s *Store) SessionsIndex() string { return s.sessions }

// errUnavailable is the one client-facing message for every Elasticsearch
// failure; the cause goes to the logs only.
const msgUnavailable = "The user store is unavailable; try again later."

func unavailable(cause error) error {
	return errs.Wrap(errs.Unavailable, msgUnavailable, cause)
}

// result is an Elasticsearch answer read whole.
type result struct {
	status int
	body   []byte
}

// errorType returns the "error.type" of an Elasticsearch error answer.
func (r result) errorType() string {
	var e struct {
		Error struct {
			Type string `json:"type"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.body, &e)
	return e.Error.Type
}

// call runs one request with the store's timeout and reads the answer whole.
// Transport failures, timeouts and 5xx/429 answers become errs.Unavailable.
func (s *Store) call(ctx context.Context, op string, req esapi.Request) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	res, err := req.Do(ctx, s.es)
	if err != nil {
		return result{}, unavailable(fmt.Errorf("%s: %w", op, err))
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 32<<20))
	if err != nil {
		return result{}, unavailable(fmt.Errorf("%s: reading answer: %w", op, err))
	}
	r := result{status: res.StatusCode, body: body}
	if r.status >= 500 || r.status == http.StatusTooManyRequests {
		return r, unavailable(fmt.Errorf("%s: status %d: %s", op, r.status, r.errorType()))
	}
	return r, nil
}

// decode parses an answer body, treating garbage as an unavailable store.
func decode(op string, r result, v any) error {
	if err := json.Unmarshal(r.body, v); err != nil {
		return unavailable(fmt.Errorf("%s: unreadable answer (status %d): %w", op, r.status, err))
	}
	return nil
}

// unexpected wraps an answer the store did not expect; it is logged in full
// by the caller but the client only sees the generic message.
func unexpected(op string, r result) error {
	return errs.Wrap(errs.Internal, "Unexpected answer from the user store.",
		fmt.Errorf("%s: status %d: %s", op, r.status, r.errorType()))
}

func jsonBody(v any) io.Reader {
	b, err := json.Marshal(v)
	if err != nil {
		// Only the store's own document types are marshalled here.
		panic(fmt.Sprintf("elastic: marshal: %v", err))
	}
	return bytes.NewReader(b)
}

// Ping reports whether Elasticsearch answers and the indices exist.
func (s *Store) Ping(ctx context.Context) error {
	return s.ensure(ctx)
}

// ensure makes sure the indices exist before any read or write. Without it
// the first write after a cluster came up would let Elasticsearch
// auto-create the index with a guessed mapping, which would then store
// password hashes as searchable text. Once the indices are known to exist
// this is one atomic load.
func (s *Store) ensure(ctx context.Context) error {
	if s.ready.Load() {
		return nil
	}
	return s.EnsureIndices(ctx)
}

// EnsureIndices creates the users and sessions indices with their mappings
// when they are missing. It is safe when several instances start at once:
// an index another instance created first counts as success.
func (s *Store) EnsureIndices(ctx context.Context) error {
	s.setupMu.Lock()
	defer s.setupMu.Unlock()
	if s.ready.Load() {
		return nil
	}
	for _, idx := range []struct {
		name    string
		mapping string
	}{{s.users, usersMapping}, {s.sessions, sessionsMapping}, {s.audit, auditMapping}, {s.attempts, attemptsMapping}} {
		r, err := s.call(ctx, "create index", esapi.IndicesCreateRequest{
			Index: idx.name,
			Body:  strings.NewReader(idx.mapping),
		})
		if err != nil {
			return err
		}
		switch {
		case r.status == http.StatusOK:
			s.log.Info("created index", zap.String("index", idx.name))
		case r.status == http.StatusBadRequest && r.errorType() == "resource_already_exists_exception":
			// Made by another instance or an older version: add any field
			// this version maps and the index lacks (mappings only grow).
			if err := s.putMapping(ctx, idx.name, idx.mapping); err != nil {
				return err
			}
		default:
			return unexpected("create index "+idx.name, r)
		}
	}
	s.ready.Store(true)
	return nil
}

// putMapping applies the "mappings" part of an index definition to an
// existing index.
func (s *Store) putMapping(ctx context.Context, index, definition string) error {
	var def struct {
		Mappings json.RawMessage `json:"mappings"`
	}
	if err := json.Unmarshal([]byte(definition), &def); err != nil {
		return fmt.Errorf("mapping of %s: %w", index, err)
	}
	r, err := s.call(ctx, "put mapping", esapi.IndicesPutMappingRequest{
		Index: []string{index},
		Body:  bytes.NewReader(def.Mappings),
	})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return unexpected("put mapping "+index, r)
	}
	return nil
}

// SetupInBackground retries EnsureIndices until it succeeds or ctx ends, so
// a server started before its cluster sets up the indices once the cluster
// answers. Requests in the meantime get 503 (or do the setup themselves).
func (s *Store) SetupInBackground(ctx context.Context) {
	delay := 500 * time.Millisecond
	for {
		err := s.EnsureIndices(ctx)
		if err == nil {
			return
		}
		s.log.Warn("Elasticsearch is not ready; will retry", zap.Error(err), zap.Duration("in", delay))
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		if delay < 10*time.Second {
			delay *= 2
		}
	}
}

// DeleteIndices removes the store's indices. Tests use it to clean up.
func (s *Store) DeleteIndices(ctx context.Context) error {
	r, err := s.call(ctx, "delete indices", esapi.IndicesDeleteRequest{
		Index:             []string{s.users, s.sessions, s.audit, s.attempts},
		IgnoreUnavailable: boolPtr(true),
	})
	if err != nil {
		return err
	}
	if r.status != http.StatusOK {
		return unexpected("delete indices", r)
	}
	s.ready.Store(false)
	return nil
}

func boolPtr(b bool) *bool { return &b }
